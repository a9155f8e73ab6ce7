"""FOCUS (FinOps Open Cost and Usage Specification) Cost and Usage contracts, versions 1.0-1.3.

One pandera DataFrameModel per FOCUS version, for the *typed* frame the FOCUS parser produces
(costs, prices and quantities Decimal(38, 18), periods Datetime("us", "UTC"), Tags a list of key/value
structs). Each newer version inherits the older one and adds its columns, so a model's columns are
exactly that version's column set and its required columns are the version's mandatory ones
(spec table "Feature level: Mandatory"). Conditional and recommended columns are `Optional`.

The models hold the *hard* tier of the spec: what makes a row unusable for cost attribution
(allowed values, never-null money and periods, non-negative unit prices, period order). Spec MUSTs
that real provider exports are documented to break (AWS leaves PublisherName / InvoiceIssuerName
null; recommended columns left null) are listed in `SOFT_NOT_NULL` and reported as warnings by the
parser instead of rejecting the row, because rejecting them would drop real cost.

Sources: FOCUS_Spec `specification/columns/*.md` at tags v1.0, v1.1, v1.2 and the 1.3 additions as
summarised in /work/shared/notes/focus-spec.md (§2.2-§2.7).
"""

from __future__ import annotations

from typing import Annotated, Final

import pandera.polars as pa
import polars as pl

FOCUS_VERSIONS: Final[tuple[str, ...]] = ("1.0", "1.1", "1.2", "1.3")

FOCUS_DECIMAL: Final = pl.Decimal(38, 18)
"""Money, unit prices and quantities. The spec sets no precision; real exports write 11-15
fractional digits (BilledCost 11, ConsumedQuantity 15, ListUnitPrice 12; generated data often 14),
so 18 places hold every one exactly and leave 20 integer digits, enough for any sum of costs.
A value with more places (or more integer digits) is never rounded: see FOCUS_PRECISION_RULE."""
FOCUS_SCALE: Final = 18
FOCUS_INTEGER_DIGITS: Final = 20
FOCUS_DATETIME: Final = pl.Datetime("us", "UTC")
KEY_VALUE: Final = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))

# Annotated forms so pandera builds the parametrised polars dtypes (an instance such as
# pl.Decimal(38, 18) cannot sit inside Optional[...]).
Money = Annotated[pl.Decimal, 38, 18]
UtcTime = Annotated[pl.Datetime, "us", "UTC"]
KeyValue = Annotated[pl.List, pl.Struct({"key": pl.String, "value": pl.String})]

# --- allowed values (case-sensitive in the spec; the parser repairs case and records it) ---------
CHARGE_CATEGORIES: Final = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
CHARGE_CLASSES: Final = ("Correction",)
CHARGE_FREQUENCIES: Final = ("One-Time", "Recurring", "Usage-Based")
PRICING_CATEGORIES: Final = ("Standard", "Dynamic", "Committed", "Other")
COMMITMENT_DISCOUNT_CATEGORIES: Final = ("Spend", "Usage")
COMMITMENT_DISCOUNT_STATUSES: Final = ("Used", "Unused")
CAPACITY_RESERVATION_STATUSES: Final = ("Used", "Unused")
SERVICE_CATEGORIES: Final = (
    "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
    "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
    "Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security",
    "Storage", "Web", "Other",
)  # fmt: skip
# ServiceSubcategory (1.1+): each value has exactly one parent ServiceCategory.
SERVICE_SUBCATEGORIES_BY_CATEGORY: Final[dict[str, tuple[str, ...]]] = {
    "AI and Machine Learning": ("AI Platforms", "Bots", "Generative AI", "Machine Learning",
                                "Natural Language Processing", "Other (AI and Machine Learning)"),
    "Analytics": ("Analytics Platforms", "Business Intelligence", "Data Processing", "Search",
                  "Streaming Analytics", "Other (Analytics)"),
    "Business Applications": ("Productivity and Collaboration", "Other (Business Applications)"),
    "Compute": ("Containers", "End User Computing", "Quantum Compute", "Serverless Compute",
                "Virtual Machines", "Other (Compute)"),
    "Databases": ("Caching", "Data Warehouses", "Ledger Databases", "NoSQL Databases",
                  "Relational Databases", "Time Series Databases", "Other (Databases)"),
    "Developer Tools": ("Developer Platforms", "Continuous Integration and Deployment",
                        "Development Environments", "Source Code Management", "Quality Assurance",
                        "Other (Developer Tools)"),
    "Identity": ("Identity and Access Management", "Other (Identity)"),
    "Integration": ("API Management", "Messaging", "Workflow Orchestration", "Other (Integration)"),
    "Internet of Things": ("IoT Analytics", "IoT Platforms", "Other (Internet of Things)"),
    "Management and Governance": ("Architecture", "Compliance", "Cost Management",
                                  "Data Governance", "Disaster Recovery", "Endpoint Management",
                                  "Observability", "Support", "Other (Management and Governance)"),
    "Media": ("Content Creation", "Gaming", "Media Streaming", "Mixed Reality", "Other (Media)"),
    "Migration": ("Data Migration", "Resource Migration", "Other (Migration)"),
    "Mobile": ("Other (Mobile)",),
    "Multicloud": ("Multicloud Integration", "Other (Multicloud)"),
    "Networking": ("Application Networking", "Content Delivery", "Network Connectivity",
                   "Network Infrastructure", "Network Routing", "Network Security",
                   "Other (Networking)"),
    "Security": ("Secret Management", "Security Posture Management",
                 "Threat Detection and Response", "Other (Security)"),
    "Storage": ("Backup Storage", "Block Storage", "File Storage", "Object Storage",
                "Storage Platforms", "Other (Storage)"),
    "Web": ("Application Platforms", "Other (Web)"),
    "Other": ("Other (Other)",),
}  # fmt: skip
SERVICE_SUBCATEGORIES: Final = tuple(
    sub for subs in SERVICE_SUBCATEGORIES_BY_CATEGORY.values() for sub in subs
)

# Pre-1.0 spellings still emitted by some tools; the parser maps them to the 1.0 value and says so.
LEGACY_VALUE_ALIASES: Final[dict[str, dict[str, str]]] = {
    "PricingCategory": {"on-demand": "Standard", "commitment-based": "Committed"},
}

CURRENCY_CODE_PATTERN: Final = r"^[A-Z]{3}$"


class FocusCostAndUsage10(pa.DataFrameModel):
    """FOCUS 1.0 Cost and Usage dataset (43 columns, 21 mandatory), typed."""

    # Mandatory columns (present in every FOCUS 1.x file).
    BilledCost: Money = pa.Field(nullable=False)
    BillingAccountId: str = pa.Field(nullable=False)
    BillingAccountName: str = pa.Field(nullable=True)
    BillingCurrency: str = pa.Field(nullable=False, str_matches=CURRENCY_CODE_PATTERN)
    BillingPeriodEnd: UtcTime = pa.Field(nullable=False)
    BillingPeriodStart: UtcTime = pa.Field(nullable=False)
    ChargeCategory: str = pa.Field(nullable=False, isin=list(CHARGE_CATEGORIES))
    ChargeClass: str = pa.Field(nullable=True, isin=list(CHARGE_CLASSES))
    ChargeDescription: str = pa.Field(nullable=True)
    ChargePeriodEnd: UtcTime = pa.Field(nullable=False)
    ChargePeriodStart: UtcTime = pa.Field(nullable=False)
    ContractedCost: Money = pa.Field(nullable=False)
    EffectiveCost: Money = pa.Field(nullable=False)
    InvoiceIssuerName: str = pa.Field(nullable=True)  # spec: not null; see SOFT_NOT_NULL
    ListCost: Money = pa.Field(nullable=False)
    PricingQuantity: Money = pa.Field(nullable=True)
    PricingUnit: str = pa.Field(nullable=True)
    ProviderName: str = pa.Field(nullable=False)
    PublisherName: str = pa.Field(nullable=True)  # spec: not null; see SOFT_NOT_NULL
    ServiceCategory: str = pa.Field(nullable=False, isin=list(SERVICE_CATEGORIES))
    ServiceName: str = pa.Field(nullable=False)
    # Recommended and conditional columns.
    AvailabilityZone: str | None = pa.Field(nullable=True)
    ChargeFrequency: str | None = pa.Field(nullable=True, isin=list(CHARGE_FREQUENCIES))
    CommitmentDiscountCategory: str | None = pa.Field(
        nullable=True, isin=list(COMMITMENT_DISCOUNT_CATEGORIES)
    )
    CommitmentDiscountId: str | None = pa.Field(nullable=True)
    CommitmentDiscountName: str | None = pa.Field(nullable=True)
    CommitmentDiscountStatus: str | None = pa.Field(
        nullable=True, isin=list(COMMITMENT_DISCOUNT_STATUSES)
    )
    CommitmentDiscountType: str | None = pa.Field(nullable=True)
    ConsumedQuantity: Money | None = pa.Field(nullable=True)
    ConsumedUnit: str | None = pa.Field(nullable=True)
    # "MUST be a non-negative decimal value" (ContractedUnitPrice, ListUnitPrice).
    ContractedUnitPrice: Money | None = pa.Field(nullable=True, ge=0)
    ListUnitPrice: Money | None = pa.Field(nullable=True, ge=0)
    PricingCategory: str | None = pa.Field(nullable=True, isin=list(PRICING_CATEGORIES))
    RegionId: str | None = pa.Field(nullable=True)
    RegionName: str | None = pa.Field(nullable=True)
    ResourceId: str | None = pa.Field(nullable=True)
    ResourceName: str | None = pa.Field(nullable=True)
    ResourceType: str | None = pa.Field(nullable=True)
    SkuId: str | None = pa.Field(nullable=True)
    SkuPriceId: str | None = pa.Field(nullable=True)
    SubAccountId: str | None = pa.Field(nullable=True)
    SubAccountName: str | None = pa.Field(nullable=True)
    Tags: KeyValue | None = pa.Field(nullable=True)

    class Config:
        # Other versions' columns, x_extra and lineage ride along; they are not this model's concern.
        strict = False
        coerce = False

    @pa.dataframe_check
    @classmethod
    def billing_period_order(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """BillingPeriodStart < BillingPeriodEnd (the end is exclusive)."""
        return _starts_before_end(data, "BillingPeriodStart", "BillingPeriodEnd")

    @pa.dataframe_check
    @classmethod
    def charge_period_order(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """ChargePeriodStart < ChargePeriodEnd (the end is exclusive)."""
        return _starts_before_end(data, "ChargePeriodStart", "ChargePeriodEnd")


class FocusCostAndUsage11(FocusCostAndUsage10):
    """FOCUS 1.1 Cost and Usage dataset (50 columns): 1.0 plus seven conditional/recommended."""

    CapacityReservationId: str | None = pa.Field(nullable=True)
    CapacityReservationStatus: str | None = pa.Field(
        nullable=True, isin=list(CAPACITY_RESERVATION_STATUSES)
    )
    CommitmentDiscountQuantity: Money | None = pa.Field(nullable=True)
    CommitmentDiscountUnit: str | None = pa.Field(nullable=True)
    ServiceSubcategory: str | None = pa.Field(nullable=True, isin=list(SERVICE_SUBCATEGORIES))
    SkuMeter: str | None = pa.Field(nullable=True)
    # Key-value JSON object, kept as canonical JSON text.
    SkuPriceDetails: str | None = pa.Field(nullable=True)


class FocusCostAndUsage12(FocusCostAndUsage11):
    """FOCUS 1.2 Cost and Usage dataset (57 columns): 1.1 plus invoice and pricing-currency columns."""

    BillingAccountType: str | None = pa.Field(nullable=True)
    InvoiceId: str | None = pa.Field(nullable=True)
    PricingCurrency: str | None = pa.Field(nullable=True)  # virtual currencies allowed
    PricingCurrencyContractedUnitPrice: Money | None = pa.Field(nullable=True, ge=0)
    PricingCurrencyEffectiveCost: Money | None = pa.Field(nullable=True)
    PricingCurrencyListUnitPrice: Money | None = pa.Field(nullable=True, ge=0)
    SubAccountType: str | None = pa.Field(nullable=True)


class FocusCostAndUsage13(FocusCostAndUsage12):
    """FOCUS 1.3 Cost and Usage dataset (65 columns).

    ServiceProviderName and HostProviderName become mandatory; ProviderName and PublisherName stay
    (deprecated). ContractApplied and AllocatedMethodDetails are JSON kept as text.
    """

    ServiceProviderName: str = pa.Field(nullable=False)
    HostProviderName: str = pa.Field(nullable=True)  # text says not null; see SOFT_NOT_NULL
    AllocatedMethodDetails: str | None = pa.Field(nullable=True)
    AllocatedMethodId: str | None = pa.Field(nullable=True)
    AllocatedResourceId: str | None = pa.Field(nullable=True)
    AllocatedResourceName: str | None = pa.Field(nullable=True)
    AllocatedTags: KeyValue | None = pa.Field(nullable=True)
    ContractApplied: str | None = pa.Field(nullable=True)


def _starts_before_end(data: pa.PolarsData, start: str, end: str) -> pl.LazyFrame:
    # Nulls are the not-null check's business; reporting them twice would blur the reason.
    s, e = pl.col(start), pl.col(end)
    return data.lazyframe.select((s < e) | s.is_null() | e.is_null())


FOCUS_MODELS: Final[dict[str, type[FocusCostAndUsage10]]] = {
    "1.0": FocusCostAndUsage10,
    "1.1": FocusCostAndUsage11,
    "1.2": FocusCostAndUsage12,
    "1.3": FocusCostAndUsage13,
}


def focus_columns(version: str) -> tuple[str, ...]:
    """All Cost and Usage column names of a FOCUS version, in model order."""
    return tuple(FOCUS_MODELS[version].to_schema().columns)


def mandatory_columns(version: str) -> tuple[str, ...]:
    """The columns a FOCUS file of this version must contain (feature level Mandatory)."""
    columns = FOCUS_MODELS[version].to_schema().columns
    return tuple(name for name, col in columns.items() if col.required)


def column_dtypes(version: str = "1.3") -> dict[str, pl.DataType]:
    """Column name -> polars dtype of the typed frame, for a FOCUS version (default: all columns)."""
    columns = FOCUS_MODELS[version].to_schema().columns
    return {name: col.dtype.type for name, col in columns.items()}


# Row-level dataframe checks (pandera reports them by method name) -> (start column, end column).
PERIOD_CHECKS: Final[dict[str, tuple[str, str]]] = {
    "billing_period_order": ("BillingPeriodStart", "BillingPeriodEnd"),
    "charge_period_order": ("ChargePeriodStart", "ChargePeriodEnd"),
}

# Never-null in the spec, but documented provider conformance gaps: warn, do not reject.
SOFT_NOT_NULL: Final[dict[str, tuple[str, ...]]] = {
    "1.0": ("InvoiceIssuerName", "PublisherName", "ChargeFrequency"),
    "1.1": ("InvoiceIssuerName", "PublisherName", "ChargeFrequency", "ServiceSubcategory"),
    "1.2": ("InvoiceIssuerName", "PublisherName", "ChargeFrequency", "ServiceSubcategory",
            "BillingAccountType"),
    "1.3": ("InvoiceIssuerName", "PublisherName", "ChargeFrequency", "ServiceSubcategory",
            "BillingAccountType", "HostProviderName"),
}  # fmt: skip

# What places and prices a line item: its money, its periods, its currency, and what identifies
# it (billing account, provider). A value in one of these that is missing, malformed or cannot be
# held exactly rejects the row; a violation in any other column is a conformance finding and the
# row is kept (real exports break the spec in secondary columns; dropping the row drops money).
PLACING_COLUMNS: Final[dict[str, frozenset[str]]] = {
    version: frozenset({
        "BilledCost", "EffectiveCost", "BillingCurrency", "BillingPeriodStart",
        "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "BillingAccountId",
        "ServiceProviderName" if version == "1.3" else "ProviderName",
    })
    for version in FOCUS_VERSIONS
}  # fmt: skip

# Unit columns checked against the FOCUS UnitFormat attribute (a finding, never a reject).
UNIT_COLUMNS: Final = ("PricingUnit", "ConsumedUnit", "CommitmentDiscountUnit")

# Columns whose values come from a closed list, for the parser's case repair.
ALLOWED_VALUES: Final[dict[str, tuple[str, ...]]] = {
    "ChargeCategory": CHARGE_CATEGORIES,
    "ChargeClass": CHARGE_CLASSES,
    "ChargeFrequency": CHARGE_FREQUENCIES,
    "PricingCategory": PRICING_CATEGORIES,
    "CommitmentDiscountCategory": COMMITMENT_DISCOUNT_CATEGORIES,
    "CommitmentDiscountStatus": COMMITMENT_DISCOUNT_STATUSES,
    "CapacityReservationStatus": CAPACITY_RESERVATION_STATUSES,
    "ServiceCategory": SERVICE_CATEGORIES,
    "ServiceSubcategory": SERVICE_SUBCATEGORIES,
}


FOCUS_COLUMNS: Final[tuple[str, ...]] = tuple(sorted(column_dtypes("1.3")))
"""Every column of the newest FOCUS version this project reads (older versions are subsets)."""

FOCUS_LINE_ITEM_SCHEMA: Final[dict[str, pl.DataType]] = {
    **{name: column_dtypes("1.3")[name] for name in FOCUS_COLUMNS},
    "x_extra": KEY_VALUE,
    "x_focus_version": pl.String(),
    "source_uri": pl.String(),
    "source_row": pl.Int64(),
}
"""Every FOCUS file's line items have exactly this schema (columns a file lacks are null)."""

"""What a FOCUS file's header and path tell: is it FOCUS, which version, which export."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from contracts.focus import focus_columns, mandatory_columns
from etl.errors import ContractViolation
from etl.formats.focus.columns import F, canonical_name, clean_header

_VERSION_ONLY_COLUMNS: Final = {
    "1.3": frozenset(focus_columns("1.3")) - frozenset(focus_columns("1.2")),
    "1.2": frozenset(focus_columns("1.2")) - frozenset(focus_columns("1.1")),
    "1.1": frozenset(focus_columns("1.1")) - frozenset(focus_columns("1.0")),
}
# FinOps-toolkit's 1.0 markers (IngestionSetup_v1_2.kql): columns that 1.0 introduced.
_V10_MARKERS: Final = frozenset({
    F.ChargeClass, F.CommitmentDiscountStatus, F.ConsumedQuantity, F.ConsumedUnit,
    F.ContractedCost, F.ContractedUnitPrice, F.RegionId, F.RegionName,
})  # fmt: skip
# 0.5 / 1.0-preview spellings (renamed or removed in 1.0).
_PRE_10_COLUMNS: Final = frozenset(
    {"chargesubcategory", "region", "usagequantity", "usageunit", "amortizedcost", "chargetype"}
)


def is_focus_header(columns: Sequence[str]) -> bool:
    """True if these column names look like a FOCUS export (case-insensitive).

    At least five of the 21 columns every FOCUS 1.x file must have are present. A file missing a
    mandatory column still counts as FOCUS, so it fails with a precise contract error instead of
    "unknown format".
    """
    present = {canonical_name(c) for c in columns}
    return len(present & set(mandatory_columns("1.0"))) >= 5


def detect_focus_version(columns: Sequence[str]) -> str:
    """The lowest FOCUS version whose column set explains the columns present.

    1.3 if any 1.3-only column (ServiceProviderName, HostProviderName, ContractApplied,
    Allocated*); else 1.2 if any 1.2-only column (InvoiceId, PricingCurrency*, BillingAccountType,
    SubAccountType); else 1.1 if any 1.1-only column (SkuMeter, SkuPriceDetails, CapacityReservation*,
    CommitmentDiscountQuantity/Unit, ServiceSubcategory); else 1.0. This refines FinOps-toolkit's
    heuristic, which treats SkuMeter as 1.2 although the spec introduced it in 1.1. Files with
    0.5 / 1.0-preview columns (ChargeType, AmortizedCost, UsageQuantity, Region...) and none of the
    1.0 markers raise ContractViolation: only 1.0+ is supported.
    """
    present = {c for c in (canonical_name(name) for name in columns) if c is not None}
    for version in ("1.3", "1.2", "1.1"):
        if present & _VERSION_ONLY_COLUMNS[version]:
            return version
    legacy = sorted(clean_header(c) for c in columns if clean_header(c).lower() in _PRE_10_COLUMNS)
    if legacy and not present & _V10_MARKERS:
        raise ContractViolation(
            f"columns {', '.join(legacy)} are FOCUS 0.5/1.0-preview names; only FOCUS 1.0-1.3 "
            "is supported: re-export the data as FOCUS 1.0 or later"
        )
    return "1.0"


_BILLING_PERIOD_DIR = re.compile(r"/billing_period=[^/]*(/|$)", re.IGNORECASE)


def focus_delivery_key(source_uri: str) -> str:
    """Identity of the export a file belongs to, for replacing a billing period on re-delivery.

    The path before a `BILLING_PERIOD=`/`billing_period=` folder (AWS Data Exports layout:
    `<prefix>/<export>/data/BILLING_PERIOD=2024-09/part.csv.gz` -> `<prefix>/<export>/data`), else
    the file's parent folder.
    """
    match = _BILLING_PERIOD_DIR.search(source_uri)
    if match:
        return source_uri[: match.start()]
    head, sep, _ = source_uri.rstrip("/").rpartition("/")
    return head if sep else ""

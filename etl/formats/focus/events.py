"""Accepted FOCUS line items -> canonical meter events (content-derived ids, context dimensions)."""

from __future__ import annotations

import hashlib
from typing import Final

import polars as pl

from contracts.focus import FOCUS_DATETIME, FOCUS_DECIMAL, KEY_VALUE
from contracts.meter_event import EVENT_COLUMNS, EVENT_SCHEMA
from etl.formats.focus.columns import ALL_DTYPES, F
from etl.formats.focus.rejects import Work

# FOCUS context copied into every event's dimensions (key, source column). A tag with one of
# these keys is shadowed in `dimensions` (it stays in line_items.Tags).
CONTEXT_DIMENSIONS: Final[tuple[tuple[str, str], ...]] = (
    ("provider", "_provider"),
    ("billing_account_id", F.BillingAccountId),
    ("sub_account_id", F.SubAccountId),
    ("service_category", F.ServiceCategory),
    ("service_name", F.ServiceName),
    ("region_id", F.RegionId),
    ("resource_id", F.ResourceId),
    ("charge_category", F.ChargeCategory),
    ("charge_class", F.ChargeClass),
    ("pricing_category", F.PricingCategory),
    ("sku_id", F.SkuId),
)
CONTEXT_KEYS: Final = tuple(key for key, _ in CONTEXT_DIMENSIONS)

# The row content that identifies a charge, independent of file name, row position and format.
# InvoiceId and x_ columns are left out: providers fill them in later or stamp export times there.
EVENT_ID_COLUMNS: Final = (
    "_provider", F.BillingAccountId, F.SubAccountId, F.BillingPeriodStart, F.ChargePeriodStart,
    F.ChargePeriodEnd, F.ChargeCategory, F.ChargeClass, F.ChargeFrequency, F.ServiceName,
    F.ResourceId, F.SkuId, F.SkuPriceId, F.SkuMeter, F.ChargeDescription, F.RegionId,
    F.AvailabilityZone, F.CommitmentDiscountId, F.CommitmentDiscountStatus,
    F.CapacityReservationId, F.PricingCategory, F.BillingCurrency, F.BilledCost,
    F.EffectiveCost, F.ListCost, F.ContractedCost, F.PricingQuantity, F.PricingUnit,
    F.ConsumedQuantity, F.ConsumedUnit, F.Tags,
)  # fmt: skip


def _text_expr(name: str) -> pl.Expr:
    dtype = ALL_DTYPES.get(name, pl.String())
    col = pl.col(name)
    if dtype == FOCUS_DATETIME:
        text = col.dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
    elif dtype == FOCUS_DECIMAL:
        # Written as when money had 12 places whenever the value fits them, so the ids of rows
        # loaded before money had 18 places stay the same on re-delivery.
        twelve = col.cast(pl.Decimal(38, 12))
        text = (
            pl.when(twelve.cast(FOCUS_DECIMAL) == col)
            .then(twelve.cast(pl.String))
            .otherwise(col.cast(pl.String))
        )
    elif dtype == KEY_VALUE:
        pair = pl.concat_str(
            [
                pl.element().struct.field("key"),
                pl.element().struct.field("value").fill_null("\x00"),
            ],
            separator="=",
        )
        text = col.list.eval(pair).list.sort().list.join("\x1e")
    else:
        text = col.cast(pl.String)
    return text.fill_null("\x00")


def _per_distinct(items: pl.DataFrame, expr: pl.Expr, name: str) -> pl.Series:
    """`expr` over column `name`, evaluated once per distinct value and joined back in row order.

    For columns whose text form is slow to build per row and whose values repeat a lot: Tags
    (`list.eval`) and timestamps (`strftime`).
    """
    distinct = items.select(pl.col(name).unique()).with_columns(expr.alias("__text"))
    return (
        items.select(name)
        .join(distinct, on=name, how="left", nulls_equal=True, maintain_order="left")
        .get_column("__text")
    )


def _ordinal_among_equals(keys: pl.Series) -> pl.Series:
    """Per row, how many earlier rows have the same key (0 for the first of each key)."""
    frame = pl.DataFrame({"key": keys})
    # A key whose 64-bit hash is unique in the file is certainly unique; only rows whose hash
    # repeats (true duplicates, or a collision) are counted on the full text.
    repeated = frame.select(pl.col("key").hash().is_duplicated()).to_series()
    ordinal = pl.repeat(0, keys.len(), dtype=pl.Int64, eager=True)
    if repeated.any():
        among = frame.filter(repeated).select(pl.int_range(pl.len(), dtype=pl.Int64).over("key"))
        ordinal = ordinal.scatter(repeated.arg_true(), among.to_series())
    return ordinal


class RowKeyCounts:
    """How many rows of each content key earlier chunks of the same file held, so that
    identical rows keep their file-wide position among equals when a file is read in chunks.
    Keys are kept as 64-bit hashes (16 bytes per distinct row seen)."""

    def __init__(self) -> None:
        self.counts = pl.DataFrame(schema={"h": pl.UInt64, "n": pl.Int64})

    def offsets(self, keys: pl.Series) -> pl.Series:
        """Per row, how many earlier chunks' rows had its key; then counts this chunk's rows."""
        hashes = pl.DataFrame({"h": keys.hash()})
        before = (
            hashes.join(self.counts, on="h", how="left", maintain_order="left")
            .get_column("n")
            .fill_null(0)
        )
        self.counts = (
            pl.concat([self.counts, hashes.group_by("h").agg(pl.len().cast(pl.Int64).alias("n"))])
            .group_by("h")
            .agg(pl.col("n").sum())
        )
        return before


def _event_ids(items: pl.DataFrame, seen: RowKeyCounts | None = None) -> pl.Series:
    repeated_text = {
        c: _per_distinct(items, _text_expr(c), c)
        for c in EVENT_ID_COLUMNS
        if ALL_DTYPES.get(c) in (KEY_VALUE, FOCUS_DATETIME)
    }
    parts = [
        pl.lit(repeated_text[c]) if c in repeated_text else _text_expr(c) for c in EVENT_ID_COLUMNS
    ]
    keys = items.select(key=pl.concat_str(parts, separator="\x1f")).to_series()
    # Identical rows in one file are distinct charges; their position among equals keeps
    # them apart and is the same on every re-delivery of the file.
    ordinal = _ordinal_among_equals(keys)
    if seen is not None:
        ordinal = ordinal + seen.offsets(keys)
    texts = pl.select(
        pl.concat_str([pl.lit(keys), pl.lit(ordinal).cast(pl.String)], separator="\x1d")
    ).to_series()
    ids = ["focus:" + hashlib.sha256(text.encode()).hexdigest() for text in texts.to_list()]
    return pl.Series("event_id", ids, dtype=pl.String)


def _dimensions(items: pl.DataFrame) -> pl.Series:
    """Per row: its tags (minus those shadowed by a context key), then the non-null FOCUS context
    values in `CONTEXT_DIMENSIONS` order.

    Built long-form (explode/unpivot, drop, group back) because concatenating struct lists row
    by row is an order of magnitude slower in polars. `group_by(maintain_order=True)` keeps each
    row's entries in the order they are stacked: tags in list order, then context keys in order.
    """
    rows = items.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"),
        pl.col(F.Tags),
        *[pl.col(c).cast(pl.String).alias(k) for k, c in CONTEXT_DIMENSIONS],
    )
    tags = (
        rows.select("_row", F.Tags)
        .filter(pl.col(F.Tags).list.len() > 0)
        .explode(F.Tags)
        .select("_row", pl.col(F.Tags).struct.field("key"), pl.col(F.Tags).struct.field("value"))
        .filter(~pl.col("key").is_in(CONTEXT_KEYS))
    )
    context = (
        rows.select("_row", *CONTEXT_KEYS)
        .unpivot(index="_row", variable_name="key", value_name="value")
        .drop_nulls("value")
    )
    grouped = (
        pl.concat([tags, context])
        .group_by("_row", maintain_order=True)
        .agg(pl.struct("key", "value").alias("dimensions"))
    )
    return (
        rows.select("_row")
        .join(grouped, on="_row", how="left", maintain_order="left")
        .get_column("dimensions")
        .fill_null(pl.lit([], dtype=KEY_VALUE))
        .cast(KEY_VALUE)
    )


def focus_events(
    items: pl.DataFrame,
    customer_from: str,
    source_format: str,
    work: Work,
    seen: RowKeyCounts | None = None,
) -> pl.DataFrame:
    """Accepted line items -> canonical meter events (see etl.formats.focus.parse.parse_focus)."""
    with_provider = items.with_columns(_provider=pl.coalesce(F.ServiceProviderName, F.ProviderName))
    tags = pl.col(F.Tags).fill_null(pl.lit([], dtype=KEY_VALUE))
    shadowed = (
        with_provider.select(
            tags.list.eval(pl.element().struct.field("key").is_in(CONTEXT_KEYS).any()).list.first()
        )
        .to_series()
        .fill_null(False)
        .sum()
    )
    if shadowed:
        work.notes.append(
            f"dimensions: a tag named like a FOCUS context key ({', '.join(CONTEXT_KEYS)}) is "
            f"shadowed by the context value ({shadowed} rows); line_items.Tags keeps it"
        )
    consumed = pl.col(F.ConsumedQuantity).is_not_null()
    priced = pl.col(F.PricingQuantity).is_not_null()
    events = with_provider.with_columns(
        event_id=_event_ids(with_provider, seen),
        dimensions=_dimensions(with_provider),
    ).select(
        "event_id",
        # Stored in NFC, like Amberflo ids: Unicode forms of one name are one customer, one meter.
        customer_id=pl.coalesce(customer_from, F.BillingAccountId).str.normalize("NFC"),
        meter_name=pl.coalesce(F.SkuMeter, F.SkuId, F.ServiceName).str.normalize("NFC"),
        quantity=pl.when(consumed).then(pl.col(F.ConsumedQuantity))
        .when(priced).then(pl.col(F.PricingQuantity))
        .otherwise(pl.lit(0).cast(FOCUS_DECIMAL)),
        unit=pl.when(consumed).then(pl.col(F.ConsumedUnit))
        .when(priced).then(pl.col(F.PricingUnit))
        .otherwise(pl.lit(None, dtype=pl.String)),
        event_time=pl.col(F.ChargePeriodStart),
        event_date=pl.col(F.ChargePeriodStart).dt.date(),
        dimensions="dimensions",
        billed_cost=pl.col(F.BilledCost),
        effective_cost=pl.col(F.EffectiveCost),
        list_cost=pl.col(F.ListCost),
        contracted_cost=pl.col(F.ContractedCost),
        currency=pl.col(F.BillingCurrency),
        source_format=pl.lit(source_format),
        source_uri="source_uri",
        source_row="source_row",
    )  # fmt: skip
    return events.cast(pl.Schema(EVENT_SCHEMA)).select(EVENT_COLUMNS)

"""FOCUS cost-and-usage exports (CSV or Parquet, versions 1.0-1.3) -> typed line items, meter events.

Pure: bytes in, frames out. The shape of the work:

1. Read every value as text (CSV: all columns String; Parquet: each column rendered as text, maps
   and structs as JSON), so CSV and Parquet share one typed cast layer and money never passes
   through float.
2. Map headers case-insensitively to canonical FOCUS PascalCase; everything else (provider `x_`
   columns and unknown columns) goes into `x_extra`.
3. Detect the FOCUS version from the columns present; a missing mandatory column is a
   `ContractViolation` for the whole file.
4. Cast: null tokens, decimals (Decimal(38, 18), exact or failed, never rounded), timestamps
   (UTC), key-value JSON, allowed-value case repair.
5. Validate the typed rows against the version's pandera model (`contracts.focus`).
   A failure in a column that places or prices the row (`contracts.focus.PLACING_COLUMNS`) rejects
   it with the check's rule name; a failure anywhere else is a conformance finding and the row is
   kept (the failed value becomes null where it could not be typed).
6. Map accepted rows to canonical meter events; keep every row's BillingCurrency, BilledCost and
   EffectiveCost text for reconciliation.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from contracts.focus import (
    FOCUS_COLUMNS,
    FOCUS_LINE_ITEM_SCHEMA,
    KEY_VALUE,
    SOFT_NOT_NULL,
    mandatory_columns,
)
from contracts.focus_conformance import FINDING_SCHEMA, SOURCE_AMOUNT_SCHEMA
from etl.errors import ContractViolation
from etl.formats.focus.cast import cast_column, clean_null_tokens, clear_microsoft_placeholders
from etl.formats.focus.columns import ALL_DTYPES, CANONICAL_BY_LOWER, F, canonical_name
from etl.formats.focus.events import RowKeyCounts, focus_events
from etl.formats.focus.header import detect_focus_version
from etl.formats.focus.read import read_csv_text, read_parquet_text
from etl.formats.focus.rejects import Work, build_findings, build_rejects, contract_failures

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FocusParseResult:
    """What one FOCUS file became.

    `line_items` and `events` hold the same accepted rows (one event per line item); `rejects`
    holds one row per source row that was turned away; `findings` one row per rule a kept row
    breaks (contracts.focus_conformance); `amounts` every source row's currency and cost text.
    `warnings` counts the findings per rule.
    """

    line_items: pl.DataFrame
    events: pl.DataFrame
    rejects: pl.DataFrame
    focus_version: str
    normalizations: list[str]
    rows_in: int
    warnings: list[str] = field(default_factory=list)
    findings: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FINDING_SCHEMA))
    amounts: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SOURCE_AMOUNT_SCHEMA))


def parse_focus(
    data: bytes,
    source_uri: str,
    *,
    kind: Literal["csv", "parquet"],
    customer_from: str = "SubAccountId",
    seen: RowKeyCounts | None = None,
) -> FocusParseResult:
    """Parse one FOCUS 1.0-1.3 export (already gunzipped) into line items, events and rejects.

    Raises FormatError when the bytes are not a readable CSV/Parquet file and ContractViolation
    when a mandatory column of the detected FOCUS version is missing (or the file is pre-1.0).
    A row with a bad value is rejected (rule `focus.<Column>.<check>`); every other row is kept.

    Events: `customer_id` is `customer_from` (default SubAccountId) falling back to
    BillingAccountId; `meter_name` is the first non-null of SkuMeter, SkuId, ServiceName;
    `quantity`/`unit` come from ConsumedQuantity/ConsumedUnit, else PricingQuantity/PricingUnit,
    else 0 and null; `event_time` is ChargePeriodStart; `dimensions` are the Tags plus FOCUS
    context keys (provider, billing_account_id, sub_account_id, service_category, service_name,
    region_id, resource_id, charge_category, charge_class, pricing_category, sku_id), which win
    over a tag of the same name. `event_id` is a SHA-256 of the row's FOCUS content (never of
    the file name or position), so a re-delivered row keeps its id; identical rows are told
    apart by their position among equals, counted across chunks through `seen` when a file is
    parsed in chunks.
    """
    notes: list[str] = []
    if kind == "csv":
        raw = read_csv_text(data, source_uri)
    elif kind == "parquet":
        raw, notes = read_parquet_text(data, source_uri)
    else:
        raise ValueError(f"kind must be 'csv' or 'parquet', not {kind!r}")
    return parse_focus_text(
        raw, source_uri, kind=kind, customer_from=customer_from, seen=seen, notes=notes
    )


def parse_focus_text(
    raw: pl.DataFrame,
    source_uri: str,
    *,
    kind: Literal["csv", "parquet"] = "csv",
    customer_from: str = "SubAccountId",
    seen: RowKeyCounts | None = None,
    notes: list[str] | None = None,
) -> FocusParseResult:
    """`parse_focus` of a file already read as text: one String column per header cell, one
    row per source row (numbered from 1 in the results); `notes` on the reading."""
    primary = CANONICAL_BY_LOWER.get(customer_from.lower())
    if primary is None or ALL_DTYPES[primary] != pl.String:
        raise ValueError(f"customer_from={customer_from!r} is not a FOCUS text column")
    notes = list(notes or [])
    rows_in = raw.height

    duplicated = [c for c in raw.columns if re.search(r"_duplicated_\d+$", c)]
    if duplicated:
        raise ContractViolation(
            f"{source_uri}: column {duplicated[0].rsplit('_duplicated_', 1)[0]!r} appears more "
            "than once in the header; fix the export so each column appears once"
        )
    header_of: dict[str, str] = {}
    extras: list[str] = []
    for header in raw.columns:
        canonical = canonical_name(header)
        if canonical is None:
            extras.append(header)
        elif canonical in header_of:
            raise ContractViolation(
                f"{source_uri}: columns {header_of[canonical]!r} and {header!r} both map to FOCUS "
                f"column {canonical} (headers are matched case-insensitively); keep one"
            )
        else:
            header_of[canonical] = header
    try:
        version = detect_focus_version(raw.columns)
    except ContractViolation as exc:
        raise ContractViolation(f"{source_uri}: {exc}") from exc
    missing = [c for c in mandatory_columns(version) if c not in header_of]
    if missing:
        raise ContractViolation(
            f"{source_uri}: FOCUS {version} export is missing mandatory column(s) "
            f"{', '.join(missing)} (version detected from the columns present); re-export with "
            f"all mandatory FOCUS {version} columns or add {'them' if len(missing) > 1 else 'it'} "
            "(values may be null only where the spec allows)"
        )
    renamed = {canonical: header for canonical, header in header_of.items() if canonical != header}
    if renamed:
        notes.append(
            "headers renamed to canonical FOCUS names: "
            + ", ".join(f"{h!r} -> {c}" for c, h in sorted(renamed.items()))
        )

    work = Work(version=version, idx=pl.Series("__idx", range(rows_in), dtype=pl.Int64))
    work.notes.extend(notes)
    typed_columns = [work.idx]
    for canonical in FOCUS_COLUMNS:
        if canonical in header_of:
            typed_columns.append(cast_column(raw[header_of[canonical]], canonical, work))
        else:
            typed_columns.append(
                pl.repeat(None, rows_in, dtype=ALL_DTYPES[canonical], eager=True).alias(canonical)
            )
    typed = pl.DataFrame(typed_columns)
    typed = clear_microsoft_placeholders(typed, version, work)
    if extras:
        cleaned = [clean_null_tokens(raw[h], h, work) for h in extras]
        x_extra = (
            pl.DataFrame(cleaned)
            .select(
                pl.concat_list(
                    [pl.struct(key=pl.lit(h), value=pl.col(h)) for h in extras]
                ).list.eval(pl.element().filter(pl.element().struct.field("value").is_not_null()))
            )
            .to_series()
        )
    else:
        x_extra = pl.repeat(pl.lit([], dtype=KEY_VALUE), rows_in, eager=True)
    typed = typed.with_columns(x_extra.alias("x_extra"))

    cast_failed = (
        pl.concat(work.failures)["__idx"].unique()
        if work.failures
        else pl.Series([], dtype=pl.Int64)
    )
    contract_failures(typed.filter(~pl.col("__idx").is_in(cast_failed.implode())), work)

    for column in SOFT_NOT_NULL[version]:
        if column in header_of:
            work.find(typed[column].is_null(), f"focus.{column}.not_null", column, None)
    if F.PricingCurrency in header_of:
        # Conformant, but the PricingCurrency* amounts are in another denomination than the
        # row's money: flagged so nobody adds them to billing-currency totals.
        pricing, billing = typed[F.PricingCurrency], typed[F.BillingCurrency]
        work.find(
            (pricing.str.strip_chars().str.to_uppercase() != billing).fill_null(False),
            f"focus.{F.PricingCurrency}.differs_from_billing_currency",
            F.PricingCurrency,
            pricing,
        )
    rejects, rejected = build_rejects(raw, work, source_uri)
    findings = _as_written(build_findings(work, source_uri, rejected), raw, header_of)
    accepted = typed.filter(
        ~pl.col("__idx").is_in(pl.Series(sorted(rejected), dtype=pl.Int64).implode())
    )
    for rule, count in findings.group_by("rule").len().sort("rule").iter_rows():
        work.warnings.append(f"{rule}: {count} rows (conformance finding; rows kept)")
    line_items = (
        accepted.with_columns(
            x_focus_version=pl.lit(version),
            source_uri=pl.lit(source_uri),
            source_row=pl.col("__idx") + 1,
        )
        .select(list(FOCUS_LINE_ITEM_SCHEMA))
        .cast(pl.Schema(FOCUS_LINE_ITEM_SCHEMA))
    )
    source_format = "focus_csv" if kind == "csv" else "focus_parquet"
    events = focus_events(line_items, primary, source_format, work, seen)

    log.info(
        "step=parse_focus source=%s focus_version=%s rows_in=%d rows_out=%d rejected=%d "
        "normalizations=%d warnings=%d",
        source_uri, version, rows_in, line_items.height, rejects.height, len(work.notes),
        len(work.warnings),
    )  # fmt: skip
    return FocusParseResult(
        line_items=line_items,
        events=events,
        rejects=rejects,
        focus_version=version,
        normalizations=work.notes,
        rows_in=rows_in,
        warnings=work.warnings,
        findings=findings,
        amounts=_source_amounts(raw, header_of),
    )


def _as_written(
    findings: pl.DataFrame, raw: pl.DataFrame, header_of: dict[str, str]
) -> pl.DataFrame:
    """Findings with each non-null value as the file wrote it (a typed check sees `-2.5` as
    `-2.500000000000000000`)."""
    if not findings.height:
        return findings
    parts = []
    for (column,), part in findings.group_by("column_name", maintain_order=True):
        if column in header_of:
            text = raw.select(
                source_row=pl.int_range(1, raw.height + 1, dtype=pl.Int64),
                text=pl.col(header_of[str(column)]).str.slice(0, 200),
            )
            part = part.join(text, on="source_row", how="left", maintain_order="left").select(
                *[c for c in findings.columns if c != "value"],
                value=pl.when(pl.col("value").is_null()).then(None).otherwise(pl.col("text")),
            )
        parts.append(part.select(findings.columns))
    return pl.concat(parts).sort("source_row", maintain_order=True)


def _source_amounts(raw: pl.DataFrame, header_of: dict[str, str]) -> pl.DataFrame:
    """Every row's BillingCurrency, BilledCost and EffectiveCost as the file wrote them."""
    return raw.select(
        source_row=pl.int_range(1, raw.height + 1, dtype=pl.Int64),
        currency=pl.col(header_of[F.BillingCurrency]).str.strip_chars().str.to_uppercase(),
        billed_cost=pl.col(header_of[F.BilledCost]),
        effective_cost=pl.col(header_of[F.EffectiveCost]),
    ).cast(pl.Schema(SOURCE_AMOUNT_SCHEMA))

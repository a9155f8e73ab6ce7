"""Rate cards: parse and validate a card file (CSV or YAML), and find the dates a new card reprices.

Pure functions, no I/O. Files are read as text and amounts parsed with `decimal`, never through
float; a card that breaks its contract (contracts.rate_card) or contradicts itself raises
`RateCardError` naming the row and column, and nothing of it is loaded.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import polars as pl

from contracts.rate_card import (
    ADJUSTMENT_COLUMNS,
    ADJUSTMENT_SCHEMA,
    PRICE_COLUMNS,
    PRICE_SCHEMA,
    PRICING_KINDS,
    TIER_PERIODS,
    RateAdjustment,
    RatePrice,
)
from etl.costs.tiers import MONEY_PLACES
from etl.errors import TerminalError

log = logging.getLogger("meterhouse.rating")

_CSV_COLUMNS = (
    "kind",
    "rate_id",
    "meter_name",
    "unit",
    "currency",
    "unit_price",
    "pricing",
    "tier_from",
    "tier_period",
    "match",
    "customer_id",
    "team",
    "adjustment_pct",
    "effective_from",
    "effective_to",
    "description",
)
_RULE_FIELDS = (
    "meter_name",
    "unit",
    "currency",
    "pricing",
    "tier_period",
    "dimension_match",
    "effective_from",
    "effective_to",
)


class RateCardError(TerminalError):
    """A rate card file is malformed or contradicts itself; nothing of it was loaded."""


@dataclass(frozen=True)
class RateCard:
    """A validated rate card: price tiers (`RatePrice`) and adjustments (`RateAdjustment`)."""

    prices: pl.DataFrame
    adjustments: pl.DataFrame
    version: str

    @classmethod
    def empty(cls) -> RateCard:
        """A card with no prices and no adjustments (every event it rates is unrated)."""
        return cls(
            pl.DataFrame(schema=PRICE_SCHEMA), pl.DataFrame(schema=ADJUSTMENT_SCHEMA), "none"
        )

    def tiers(self) -> dict[str, list[tuple[Decimal, Decimal]]]:
        """rate_id -> [(tier_from, unit_price), ...] in ascending tier order."""
        out: dict[str, list[tuple[Decimal, Decimal]]] = {}
        for rate_id, start, price in (
            self.prices.sort("rate_id", "tier_from")
            .select("rate_id", "tier_from", "unit_price")
            .iter_rows()
        ):
            out.setdefault(rate_id, []).append((start, price))
        return out

    def rules(self) -> pl.DataFrame:
        """One row per price rule (the rule-level fields of its first tier)."""
        return (
            self.prices.sort("priority", "tier_from")
            .group_by("rate_id", maintain_order=True)
            .first()
            .select("rate_id", *_RULE_FIELDS, "priority")
        )

    def tiered_rules(self) -> pl.DataFrame:
        """Rules whose price depends on other events of the same period (graduated, volume)."""
        return self.rules().filter(pl.col("pricing") != "flat")


def _none_if_blank(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text in ("", "null", "~") else text


def _decimal(value: str | None, where: str, column: str, *, default: str | None = None) -> Decimal:
    text = value if value is not None else default
    if text is None:
        raise RateCardError(f"{where}: column {column} is required")
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise RateCardError(f"{where}: {column} {text!r} is not a decimal number") from exc
    if not number.is_finite():
        raise RateCardError(f"{where}: {column} {text!r} is not a finite number")
    if number != number.quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN):
        raise RateCardError(
            f"{where}: {column} {text!r} has more than 12 decimal places; the warehouse keeps 12"
        )
    return number


def _date(value: str | None, where: str, column: str, *, required: bool) -> date | None:
    if value is None:
        if required:
            raise RateCardError(f"{where}: column {column} is required (YYYY-MM-DD)")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise RateCardError(f"{where}: {column} {value!r} is not a date (YYYY-MM-DD)") from exc


def _parse_match(text: str | None, where: str) -> list[dict[str, str]]:
    """`datacenter=fra1;gpu_model=H100-SXM-80GB` -> key/value pairs, sorted by key."""
    if text is None:
        return []
    pairs: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise RateCardError(
                f"{where}: match {text!r} must be key=value pairs separated by ';' "
                "(e.g. datacenter=fra1;gpu_model=H100-SXM-80GB)"
            )
        if key in pairs:
            raise RateCardError(f"{where}: match {text!r} names dimension {key!r} twice")
        pairs[key] = value
    return [{"key": k, "value": pairs[k]} for k in sorted(pairs)]


def _price_row(raw: Mapping[str, str | None], where: str, priority: int) -> dict[str, Any]:
    for column in ("rate_id", "meter_name", "currency", "unit_price", "effective_from"):
        if raw.get(column) is None:
            raise RateCardError(f"{where}: column {column} is required for a price")
    pricing = (raw.get("pricing") or "flat").lower()
    period = (raw.get("tier_period") or "month").lower()
    if pricing not in PRICING_KINDS:
        raise RateCardError(
            f"{where}: pricing {pricing!r} is not one of {', '.join(PRICING_KINDS)}"
        )
    if period not in TIER_PERIODS:
        raise RateCardError(
            f"{where}: tier_period {period!r} is not one of {', '.join(TIER_PERIODS)}"
        )
    return {
        "rate_id": raw["rate_id"],
        "meter_name": raw["meter_name"],
        "unit": raw.get("unit"),
        "currency": (raw["currency"] or "").upper(),
        "pricing": pricing,
        "tier_period": period,
        "tier_from": _decimal(raw.get("tier_from"), where, "tier_from", default="0"),
        "unit_price": _decimal(raw.get("unit_price"), where, "unit_price"),
        "dimension_match": _parse_match(raw.get("match"), where),
        "effective_from": _date(raw.get("effective_from"), where, "effective_from", required=True),
        "effective_to": _date(raw.get("effective_to"), where, "effective_to", required=False),
        "priority": priority,
        "source_row": where,
    }


def _adjustment_row(raw: Mapping[str, str | None], where: str, priority: int) -> dict[str, Any]:
    adjustment_id = raw.get("adjustment_id") or raw.get("rate_id")
    if adjustment_id is None:
        raise RateCardError(f"{where}: an adjustment needs an id (rate_id / adjustment_id)")
    if raw.get("customer_id") is None and raw.get("team") is None:
        raise RateCardError(
            f"{where}: adjustment {adjustment_id!r} names neither customer_id nor team; "
            "a change for everyone belongs in the prices"
        )
    return {
        "adjustment_id": adjustment_id,
        "customer_id": raw.get("customer_id"),
        "team": raw.get("team"),
        "meter_name": raw.get("meter_name"),
        "adjustment_pct": _decimal(raw.get("adjustment_pct"), where, "adjustment_pct"),
        "effective_from": _date(raw.get("effective_from"), where, "effective_from", required=True),
        "effective_to": _date(raw.get("effective_to"), where, "effective_to", required=False),
        "priority": priority,
        "source_row": where,
    }


def _read_csv(text: str, name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    unknown = sorted(set(header) - set(_CSV_COLUMNS))
    if unknown:
        raise RateCardError(
            f"{name}: unknown column(s) {', '.join(unknown)}; known: {', '.join(_CSV_COLUMNS)}"
        )
    prices: list[dict[str, Any]] = []
    adjustments: list[dict[str, Any]] = []
    for index, row in enumerate(reader, start=1):
        raw = {k.strip(): _none_if_blank(v) for k, v in row.items() if k is not None}
        where = f"{name} row {index}"
        kind = (raw.get("kind") or "price").lower()
        if kind == "price":
            prices.append(_price_row(raw, where, index))
        elif kind == "adjustment":
            adjustments.append(_adjustment_row(raw, where, index))
        else:
            raise RateCardError(f"{where}: kind {kind!r} is not 'price' or 'adjustment'")
    return prices, adjustments


def _read_yaml(text: str, name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    import yaml

    # BaseLoader resolves no implicit types: `0.05` stays the text "0.05", never a float.
    try:
        doc = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds only str/list/dict
    except yaml.YAMLError as exc:
        raise RateCardError(f"{name}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or "prices" not in doc:
        raise RateCardError(f"{name}: a YAML rate card is a mapping with a 'prices' list")
    default_currency = _none_if_blank(doc.get("currency"))
    prices: list[dict[str, Any]] = []
    adjustments: list[dict[str, Any]] = []
    priority = 0
    for index, entry in enumerate(doc.get("prices") or [], start=1):
        where = f"{name} prices[{index}]"
        if not isinstance(entry, dict):
            raise RateCardError(f"{where}: each price is a mapping")
        base = {k: _none_if_blank(v) for k, v in entry.items() if k not in ("tiers", "match")}
        base.setdefault("currency", default_currency)
        if base.get("currency") is None:
            base["currency"] = default_currency
        match = entry.get("match") or {}
        if not isinstance(match, dict):
            raise RateCardError(f"{where}: match is a mapping of dimension: value")
        base["match"] = ";".join(f"{k}={v}" for k, v in match.items()) or None
        tiers = entry.get("tiers")
        priority += 1
        if tiers is None:
            prices.append(_price_row(base, where, priority))
            continue
        if not isinstance(tiers, list) or not tiers:
            raise RateCardError(f"{where}: tiers is a non-empty list of {{tier_from, unit_price}}")
        for t_index, tier in enumerate(tiers, start=1):
            if not isinstance(tier, dict):
                raise RateCardError(f"{where}.tiers[{t_index}]: each tier is a mapping")
            row = {**base, **{k: _none_if_blank(v) for k, v in tier.items()}}
            prices.append(_price_row(row, f"{where}.tiers[{t_index}]", priority))
    for index, entry in enumerate(doc.get("adjustments") or [], start=1):
        where = f"{name} adjustments[{index}]"
        if not isinstance(entry, dict):
            raise RateCardError(f"{where}: each adjustment is a mapping")
        priority += 1
        adjustments.append(
            _adjustment_row({k: _none_if_blank(v) for k, v in entry.items()}, where, priority)
        )
    return prices, adjustments


def _validate(model: Any, frame: pl.DataFrame, name: str) -> pl.DataFrame:
    import pandera.errors as pa_errors

    try:
        return model.validate(frame, lazy=True)  # type: ignore[no-any-return]
    except pa_errors.SchemaErrors as exc:
        cases = exc.failure_cases.head(5)
        lines = []
        for row in cases.iter_rows(named=True):
            index = row.get("index")
            where = frame["source_row"][int(index)] if index is not None else name
            lines.append(f"{where}: {row['column']} {row['failure_case']!r} fails {row['check']}")
        raise RateCardError(
            f"{name}: rate card breaks its contract:\n  " + "\n  ".join(lines)
        ) from exc


def _overlaps(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    return (a_to is None or b_from < a_to) and (b_to is None or a_from < b_to)


def _check_rules(prices: pl.DataFrame, adjustments: pl.DataFrame, name: str) -> None:
    rules: dict[str, dict[str, Any]] = {}
    tier_starts: dict[str, list[Decimal]] = {}
    for row in prices.iter_rows(named=True):
        rule = {f: row[f] for f in _RULE_FIELDS}
        first = rules.setdefault(row["rate_id"], {**rule, "source_row": row["source_row"]})
        differing = [f for f in _RULE_FIELDS if first[f] != rule[f]]
        if differing:
            raise RateCardError(
                f"{row['source_row']}: tiers of rate {row['rate_id']!r} disagree with "
                f"{first['source_row']} on {', '.join(differing)}; every tier of a rate repeats its rule"
            )
        tier_starts.setdefault(row["rate_id"], []).append(row["tier_from"])
    for rate_id, starts in tier_starts.items():
        rule = rules[rate_id]
        if len(set(starts)) != len(starts):
            raise RateCardError(
                f"{rule['source_row']}: rate {rate_id!r} has two tiers with the same tier_from"
            )
        if min(starts) != 0:
            raise RateCardError(
                f"{rule['source_row']}: the first tier of rate {rate_id!r} must start at tier_from 0"
            )
        if rule["pricing"] == "flat" and len(starts) > 1:
            raise RateCardError(
                f"{rule['source_row']}: rate {rate_id!r} is flat but has {len(starts)} tiers; "
                "use pricing graduated or volume"
            )
    listed = list(rules.items())
    for i, (a_id, a) in enumerate(listed):
        for b_id, b in listed[i + 1 :]:
            if (
                a["meter_name"] == b["meter_name"]
                and a["dimension_match"] == b["dimension_match"]
                and _overlaps(
                    a["effective_from"], a["effective_to"], b["effective_from"], b["effective_to"]
                )
            ):
                raise RateCardError(
                    f"{b['source_row']}: rates {a_id!r} and {b_id!r} both price {a['meter_name']} "
                    f"for the same match on overlapping dates; end the older one with effective_to"
                )
    seen: dict[str, str] = {}
    scopes: list[dict[str, Any]] = []
    for row in adjustments.iter_rows(named=True):
        if row["adjustment_id"] in seen:
            raise RateCardError(
                f"{row['source_row']}: adjustment id {row['adjustment_id']!r} is already used at "
                f"{seen[row['adjustment_id']]}"
            )
        seen[row["adjustment_id"]] = row["source_row"]
        for other in scopes:
            if all(other[k] == row[k] for k in ("customer_id", "team", "meter_name")) and _overlaps(
                other["effective_from"],
                other["effective_to"],
                row["effective_from"],
                row["effective_to"],
            ):
                raise RateCardError(
                    f"{row['source_row']}: adjustments {other['adjustment_id']!r} and "
                    f"{row['adjustment_id']!r} have the same scope on overlapping dates"
                )
        scopes.append(row)


def parse_rate_card(data: bytes, name: str) -> RateCard:
    """Parse and validate a rate card file (CSV, or YAML by `.yaml`/`.yml` suffix or content).

    Raises RateCardError naming the row and column of the first problems; a card that fails
    validation loads nothing.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RateCardError(f"{name}: rate card is not UTF-8 text") from exc
    stripped = text.lstrip()
    is_yaml = name.lower().endswith((".yaml", ".yml")) or stripped.startswith(
        ("prices:", "currency:", "#", "---")
    )
    prices_raw, adjustments_raw = (_read_yaml if is_yaml else _read_csv)(text, name)
    if not prices_raw:
        raise RateCardError(f"{name}: the rate card has no prices")
    prices = _validate(
        RatePrice, pl.DataFrame(prices_raw, schema=PRICE_SCHEMA, orient="row"), name
    ).select(PRICE_COLUMNS)
    adjustments = _validate(
        RateAdjustment,
        pl.DataFrame(adjustments_raw, schema=ADJUSTMENT_SCHEMA, orient="row"),
        name,
    ).select(ADJUSTMENT_COLUMNS)
    _check_rules(prices, adjustments, name)
    version = hashlib.sha256(data).hexdigest()[:16]
    log.info(
        "step=rate_card source=%s version=%s prices=%d rules=%d adjustments=%d",
        name,
        version,
        prices.height,
        prices["rate_id"].n_unique(),
        adjustments.height,
    )
    return RateCard(prices, adjustments, version)


def _canonical_rows(frame: pl.DataFrame, drop: Iterable[str]) -> set[tuple[Any, ...]]:
    kept = frame.drop(list(drop))
    rows = set()
    for row in kept.iter_rows():
        rows.add(
            tuple(
                tuple((p["key"], p["value"]) for p in v) if isinstance(v, list) else v for v in row
            )
        )
    return rows


def changed_period(old: RateCard | None, new: RateCard) -> tuple[date, date | None] | None:
    """The event dates whose price may differ between two rate cards, as [from, to) with an
    open end as None; None when the cards price everything the same. Without an old card,
    everything is affected (from date.min)."""
    if old is None:
        return date.min, None
    windows: list[tuple[date, date | None]] = []
    for attr, drop in (("prices", ("source_row",)), ("adjustments", ("source_row",))):
        a = _canonical_rows(getattr(old, attr), drop)
        b = _canonical_rows(getattr(new, attr), drop)
        frame_cols = [c for c in getattr(new, attr).columns if c not in drop]
        start_i, end_i = frame_cols.index("effective_from"), frame_cols.index("effective_to")
        windows.extend((row[start_i], row[end_i]) for row in a ^ b)
    if not windows:
        return None
    start = min(w[0] for w in windows)
    ends = [w[1] for w in windows]
    return start, (None if any(e is None for e in ends) else max(e for e in ends if e is not None))

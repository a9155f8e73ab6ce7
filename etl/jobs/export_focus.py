"""`meterhouse export focus`: the data center's rated costs of one month as a FOCUS 1.2 dataset.

Reads the warehouse (read-only), builds the FOCUS rows (etl.costs.focus_export) and writes
`<out>/focus-<YYYY-MM>.csv` and/or `.parquet` to a local folder or an s3:// prefix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

import polars as pl

from etl.costs.focus_export import (
    FocusAccount,
    csv_bytes,
    focus_frame,
    parquet_bytes,
    query_rows,
)
from etl.settings import Settings
from etl.sources.stores import S3Config, open_target
from etl.warehouse import Warehouse

log = logging.getLogger("meterhouse.export")

ExportFormat = Literal["csv", "parquet", "both"]


@dataclass(frozen=True)
class FocusExport:
    """What an export wrote: the files, its rows and its BilledCost per currency."""

    month: str
    uris: list[str]
    rows: int
    billed_cost: dict[str, Decimal] = field(default_factory=dict)


def account_of(settings: Settings) -> FocusAccount:
    """The provider and billing account the settings name."""
    return FocusAccount(
        provider=settings.focus_provider_name,
        billing_account_id=settings.focus_billing_account_id,
        billing_account_name=settings.focus_billing_account_name
        or settings.focus_billing_account_id,
    )


def export_focus(
    settings: Settings,
    month: date,
    out: str,
    fmt: ExportFormat = "both",
    s3: S3Config | None = None,
) -> FocusExport:
    """Write the month's FOCUS 1.2 dataset under `out`; returns the files and the totals."""
    wh = Warehouse.of(settings, create=False)
    with wh.reader() as con:
        rows = query_rows(con, month)
    frame = focus_frame(rows, month, account_of(settings))
    store, prefix = open_target(out, s3)
    name = f"focus-{month:%Y-%m}"
    uris: list[str] = []
    if fmt in ("csv", "both"):
        uris.append(store.write(f"{prefix}{name}.csv", csv_bytes(frame)))
    if fmt in ("parquet", "both"):
        uris.append(store.write(f"{prefix}{name}.parquet", parquet_bytes(frame)))
    totals = {
        str(currency): Decimal(total)
        for currency, total in frame.group_by("BillingCurrency")
        .agg(pl.col("BilledCost").sum())
        .iter_rows()
    }
    log.info("step=export_focus month=%s rows=%d files=%s", f"{month:%Y-%m}", frame.height, uris)
    return FocusExport(f"{month:%Y-%m}", uris, frame.height, totals)

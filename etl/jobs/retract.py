"""Retracting sources on purpose: their rows leave the warehouse and the lake.

An object deleted from the bucket keeps its rows (the warehouse is not a mirror of the
bucket: a lifecycle rule that expires old exports must not erase billed usage); `retract` is
how an operator removes a source's rows deliberately.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

from etl.errors import TerminalError
from etl.settings import Settings
from etl.warehouse import Retraction, Warehouse, retract_source

log = logging.getLogger("meterhouse.pipeline")


def source_uri_of(source: str) -> str:
    """The ledger's URI of `source`: an s3:// URI as given, a local path made absolute."""
    if source.startswith("s3://"):
        return source
    return str(Path(source).expanduser().resolve())


def retract(sources: Sequence[str], settings: Settings) -> list[Retraction]:
    """Retract each source (one transaction each), then publish the lake.

    Every URI is checked against the ledger before anything is removed: an unknown one
    raises TerminalError and nothing changes.
    """
    uris = [source_uri_of(s) for s in sources]
    warehouse = Warehouse.of(settings)
    with warehouse.writer():
        known = warehouse.ledger(uris)
        unknown = [u for u in uris if u not in known]
        if unknown:
            raise TerminalError(
                f"not in the ingest ledger of {warehouse.describe()}: {', '.join(unknown)}; "
                "nothing was retracted. Give each source_uri exactly as `meterhouse status` or "
                "the ingest_ledger table shows it"
            )
        results = []
        for uri in uris:
            with warehouse.writer() as con:
                # on a DuckLake, under the writers' commit lock like a load
                result = warehouse.serialized(
                    functools.partial(
                        retract_source, con, uri, dedup_window_days=settings.dedup_window_days
                    )
                )
            log.info(
                "step=retract source=%s events=%d duplicates=%d rejected=%d dates=%d",
                uri,
                result.events,
                result.duplicates,
                result.rejected,
                len(result.touched_dates),
            )
            results.append(result)
        warehouse.publish_lake()
    return results

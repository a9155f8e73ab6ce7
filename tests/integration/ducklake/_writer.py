"""`python -m tests.integration.ducklake._writer PREFIX URIS_FILE [kill-at:N]`: one warehouse
writer in its own process (an Airflow `ingest_batch` task): loads the objects under PREFIX listed
in URIS_FILE (one URI a line) with the environment's settings: groups of 10 small files per
transaction, each file all or nothing (METERHOUSE_GROUP_FILES).

`kill-at:N` SIGKILLs the process inside its N-th load transaction (rows inserted, ledger rows
not committed), while it holds the DuckLake commit lock.

Every load transaction lingers 0.3 s after its duplicate lookup and inserts, before it commits:
the window in which another writer's lookup would miss these rows is wide, so writers that
were not serialized would store shared ids twice, every time, not by chance.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


def main() -> None:
    prefix, uris = sys.argv[1], Path(sys.argv[2]).read_text().split()
    os.environ["METERHOUSE_GROUP_FILES"] = "10"
    from etl.jobs.ingest import ingest_batch
    from etl.settings import Settings
    from etl.sources.discovery import list_sources
    from etl.warehouse import ledger
    from etl.warehouse import load as loading

    insert_events = loading.insert_events

    def insert_then_linger(*args: Any, **kwargs: Any) -> Any:
        inserted = insert_events(*args, **kwargs)
        time.sleep(0.3)
        return inserted

    loading.insert_events = insert_then_linger

    if len(sys.argv) > 3:
        target = int(sys.argv[3].removeprefix("kill-at:"))
        calls = {"n": 0}
        original = ledger.upsert_ledger

        def upsert_then_die(con: Any, rows: Any, lineage: Any = None) -> None:
            calls["n"] += 1
            if calls["n"] == target:
                os.kill(os.getpid(), signal.SIGKILL)
            original(con, rows, lineage)

        ledger.upsert_ledger = upsert_then_die

    wanted = set(uris)
    objects = sorted((o for o in list_sources([prefix]) if o.uri in wanted), key=lambda o: o.uri)
    report = ingest_batch(objects, Settings.from_env())
    print(json.dumps(report.totals()))


if __name__ == "__main__":
    main()

"""`python -m tests.integration._ingest_child WAREHOUSE SOURCE MODE [BARRIER_DIR]`: one ingest
run in its own process, for the crash and concurrency tests.

MODE `clean` runs normally; `kill-mid-load:N` SIGKILLs the process inside the N-th file's load
transaction (its events inserted, its ledger row not yet committed); `kill-in-publish` SIGKILLs
it halfway through writing the first lake partition. With BARRIER_DIR, the process waits until
two processes have reached the barrier, so that two runs really start together.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    warehouse, source, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    from etl.jobs.ingest import ingest
    from etl.settings import Settings
    from etl.warehouse import ledger

    if mode.startswith("kill-mid-load:"):
        target = int(mode.split(":", 1)[1])
        calls = {"n": 0}
        original = ledger.upsert_ledger

        def upsert_then_die(con: Any, rows: Any, lineage: Any = None) -> None:
            calls["n"] += 1
            if calls["n"] == target:
                _kill()
            original(con, rows, lineage)

        # Small groups: several commits happen before the kill (one ledger write per group).
        os.environ["METERHOUSE_GROUP_FILES"] = "2"

        ledger.upsert_ledger = upsert_then_die
    elif mode == "kill-in-publish":
        import pyarrow.parquet as pq

        def half_written_then_die(table: Any, where: Any, **kwargs: Any) -> None:
            with open(where, "wb") as fh:
                fh.write(b"PAR1\x00\x00half a parquet file")
                fh.flush()
                os.fsync(fh.fileno())
            _kill()

        pq.write_table = half_written_then_die
        # Files DuckDB COPYs to a temp name die the same way before they are renamed into place.
        replace = os.replace

        def replace_or_die(src: Any, dst: Any) -> None:
            if str(src).endswith(".tmp") and ".parquet." in str(src):
                half_written_then_die(None, src)
            replace(src, dst)

        os.replace = replace_or_die
    elif mode != "clean":
        raise SystemExit(f"unknown mode {mode}")

    if len(sys.argv) > 4:
        barrier = Path(sys.argv[4])
        (barrier / str(os.getpid())).touch()
        deadline = time.monotonic() + 60
        while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)

    report = ingest([source], Settings.from_env(warehouse))
    print(json.dumps(report.totals()))


if __name__ == "__main__":
    main()

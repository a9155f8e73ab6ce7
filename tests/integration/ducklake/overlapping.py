"""Small Amberflo NDJSON files whose event ids overlap across files (retries re-sent in other
files), some copies with different content (conflicts): the concurrent writers' input."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import BUCKET

PREFIX = "ingest/usage/dt=2026-09-21/"
BASE_MS = 1_790_000_000_000


def overlapping_files(files: int, id_space: int = 1200) -> dict[str, bytes]:
    """`files` NDJSON objects of 12 records. File f carries 8 rolling ids f*5 .. f*5+7 (mod
    `id_space`, so neighbouring files share ids, and the last files share ids with the first)
    and 4 ids of its block of three files (3b, 3b+1, 3b+2) that no other file carries: given to
    three writers round-robin, a block's files sit at the same place in each writer's list, so
    their loads run at the same time, and a later load never ranks those ids again. Every 10th
    file sends its copies with another value (a conflicting duplicate)."""
    out = {}
    for f in range(files):
        lines = []
        ids = [(f * 5 + i) % id_space for i in range(8)]
        ids += [id_space + (f // 3) * 4 + i for i in range(4)]
        for n in ids:
            lines.append(
                json.dumps(
                    {
                        "customerId": f"c{n % 4}",
                        "meterApiName": "api_calls",
                        "meterValue": f"{n % 7 + (1 if f % 10 == 0 else 0)}.25",
                        "meterTimeInMillis": BASE_MS + n * 1000,
                        "uniqueId": f"ev-{n}",
                        "dimensions": {"team": f"t{n % 3}"},
                    }
                )
            )
        out[f"{PREFIX}batch-{f:04d}.ndjson"] = "\n".join(lines).encode()
    return out


def put_files(s3: Any, files: dict[str, bytes]) -> None:
    for key, body in files.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)

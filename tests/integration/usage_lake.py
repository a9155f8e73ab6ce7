"""A tiny usage lake built by the real ingest + rollup: two months (September and October
2026) of four customers on four meters, priced in USD and EUR except one meter no price
matches, plus a file with three rejected rows, a file that fails and an empty file."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from etl.jobs.ingest import ingest
from etl.jobs.rollup import load_rate_card, rollup
from etl.settings import Settings

CARD = """rate_id,meter_name,unit,currency,unit_price,pricing,tier_from,tier_period,match,effective_from,effective_to
cpu,cpu_core_hours,core_hour,USD,0.031,flat,0,month,,2024-01-01,
power,power_kwh,kwh,USD,0.15,flat,0,month,,2024-01-01,
power-fra1,power_kwh,kwh,USD,0.21,flat,0,month,datacenter=fra1,2024-01-01,
gpu,gpu_hours,hour,EUR,2.5,flat,0,month,,2024-01-01,
"""
METERS = ("cpu_core_hours", "power_kwh", "gpu_hours", "quantum_hours")  # quantum: no price


def _ms(day: date, hour: int) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() * 1000)


def _records() -> list[dict[str, Any]]:
    out = []
    for month, days in ((9, 30), (10, 25)):
        for d in range(1, days + 1):
            day = date(2026, month, d)
            for c in range(1, 5):
                for m, meter in enumerate(METERS):
                    if (d + c + m) % 3 == 0:
                        continue
                    dims = {"team": f"t{c % 2}"}
                    if meter == "power_kwh" and c == 2:
                        dims["datacenter"] = "fra1"
                    out.append({
                        "uniqueId": f"{day}-{c}-{meter}", "customerId": f"c{c}",
                        "meterApiName": meter, "meterValue": (d * 7 + c * 13 + m * 5 + month * c) % 40 + 0.5,
                        "meterTimeInMillis": _ms(day, (c * 5 + m) % 24), "dimensions": dims,
                    })  # fmt: skip
    return out


def build_usage_lake(root: Path) -> Settings:
    """Load the exports into a warehouse under `root`, rate and roll them up."""
    settings = Settings.from_env(root / "wh" / "warehouse.duckdb")
    src = root / "src"
    src.mkdir()
    records = _records()
    half = len(records) // 2
    (src / "a.ndjson").write_text("\n".join(json.dumps(r) for r in records[:half]) + "\n")
    bad = [
        {**records[0], "uniqueId": "neg", "meterValue": -3},
        {**records[1], "uniqueId": "neg2", "meterValue": -4},
        {k: v for k, v in records[2].items() if k != "customerId"} | {"uniqueId": "nocust"},
    ]
    (src / "b.ndjson").write_text("\n".join(json.dumps(r) for r in records[half:] + bad) + "\n")
    (src / "broken.bin").write_bytes(b"\x00\x01 this is not a usage export \x02")
    (src / "empty.ndjson").write_text("")
    ingest([str(src)], settings)
    card = root / "card.csv"
    card.write_text(CARD)
    load_rate_card(str(card), settings=settings)
    rollup(settings=settings)
    return settings

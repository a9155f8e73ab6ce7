"""Dimensions reach DuckDB as JSON text where that is exact, and as key/value lists otherwise:
either way the stored MAP is the one `map_from_entries` builds from the lists."""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl
import pytest

from contracts.meter_event import DIMENSIONS
from etl.warehouse.maps import as_map_input


def _maps(rows: list[list[dict[str, Any]] | None]) -> tuple[str, list[Any], list[Any]]:
    """How `as_map_input` sent the column, the MAPs DuckDB built from that, and the MAPs
    `map_from_entries` builds from the lists themselves."""
    frame = pl.DataFrame({"dimensions": rows}, schema={"dimensions": DIMENSIONS})
    ready, sql = as_map_input(frame, ["dimensions"])
    with duckdb.connect() as con:
        con.register("ready", ready.to_arrow())
        con.register("lists", frame.to_arrow())
        got = [r[0] for r in con.execute(f"SELECT {sql['dimensions']} FROM ready").fetchall()]  # noqa: S608 - own SQL
        want = [
            r[0] for r in con.execute("SELECT map_from_entries(dimensions) FROM lists").fetchall()
        ]
    return sql["dimensions"].split("(")[0], got, want


def _kv(**pairs: str) -> list[dict[str, Any]]:
    return [{"key": k, "value": v} for k, v in pairs.items()]


def test_plain_dimensions_go_as_json_text_and_give_the_same_maps() -> None:
    rows = [
        _kv(datacenter="lon1", rack="r29", team="analytics"),
        [],
        _kv(t="12:30", url="https://x/{a}", note="caf\u00e9 \u2028 \U0001f600", empty=""),
        [{"key": "", "value": "empty key"}],
        None,
    ]
    how, got, want = _maps(rows)
    assert how == "json_transform_strict"
    assert got == want
    assert got[0] == {"datacenter": "lon1", "rack": "r29", "team": "analytics"}
    assert list(got[2]) == ["t", "url", "note", "empty"]  # the lists' order is kept


@pytest.mark.parametrize(
    "odd",
    [
        _kv(a='say "hi"'),
        _kv(**{'k"ey': "v"}),
        _kv(a="back\\slash"),
        _kv(a="line\nbreak"),
        _kv(a="tab\there"),
        _kv(a="nul\x00"),
        [{"key": "a", "value": None}],
        _kv(a='x","b":"y'),  # would read as two entries if written unescaped
    ],
)
def test_anything_else_goes_as_lists_and_gives_the_same_maps(odd: list[dict[str, Any]]) -> None:
    how, got, want = _maps([_kv(rack="r1"), odd])
    assert how == "map_from_entries"
    assert got == want
    assert got[1] == {e["key"]: e["value"] for e in odd}

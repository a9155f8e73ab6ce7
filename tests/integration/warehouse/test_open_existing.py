"""A mistyped --warehouse fails at once with a clear message and creates nothing (issue 19,
finding 4); a folder or a file that is not DuckDB says so instead of waiting for a lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl.cli import main
from etl.jobs.ingest import ingest
from etl.settings import Settings
from etl.warehouse import NotAWarehouse, Warehouse, WarehouseMissing

pytestmark = [pytest.mark.integration]

COMMANDS = [
    ["status"],
    ["sql", "SELECT count(*) FROM meter_events", "--live"],
    ["sql", "SELECT count(*) FROM meter_events"],
    ["rollup"],
    ["rate-card", "show"],
]


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _run(capsys: pytest.CaptureFixture[str], argv: list[str], warehouse: Path) -> tuple[int, str]:
    capsys.readouterr()
    code = main([*argv, "--warehouse", str(warehouse)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_mistyped_warehouse_fails_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    typo = tmp_path / "wh" / "warehuose.duckdb"
    code, err = _run(capsys, argv, typo)
    assert code == 2
    assert (
        f"no warehouse at {typo}; run `meterhouse ingest` first or check --warehouse / METERHOUSE_WAREHOUSE"
        in err
    )
    assert len(err.strip().splitlines()) == 1
    assert _tree(tmp_path) == []


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_directory_is_not_a_warehouse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    code, err = _run(capsys, argv, folder)
    assert code == 2
    assert f"{folder} is a directory, not a DuckDB warehouse file" in err
    assert "locked" not in err
    assert _tree(tmp_path) == ["data"]


@pytest.mark.parametrize(
    "argv",
    [c for c in COMMANDS if c != ["sql", "SELECT count(*) FROM meter_events"]],
    ids=lambda a: " ".join(a[:2]),
)
def test_a_file_that_is_not_duckdb_says_so_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("not a database\n" * 100)
    code, err = _run(capsys, argv, other)
    assert code == 2
    assert (
        f"{other} is not a DuckDB warehouse file; check --warehouse / METERHOUSE_WAREHOUSE" in err
    )
    assert other.read_text() == "not a database\n" * 100
    assert _tree(tmp_path) == ["notes.txt"]


def test_readers_open_existing_files_only_and_ingest_still_creates(tmp_path: Path) -> None:
    path = tmp_path / "wh" / "warehouse.duckdb"
    warehouse = Warehouse(path, tmp_path / "wh" / "lake")
    with pytest.raises(WarehouseMissing):
        warehouse.query("SELECT 1")
    with pytest.raises(WarehouseMissing):
        Warehouse(path, tmp_path / "wh" / "lake", create=False).writer().__enter__()
    assert warehouse.ledger() == {}
    assert _tree(tmp_path) == []
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "a.ndjson").write_text(
        json.dumps(
            {
                "customerId": "c",
                "meterApiName": "m",
                "meterValue": 1,
                "meterTimeInMillis": 1_790_000_000_000,
                "uniqueId": "u",
            }
        )
    )
    ingest([str(exports)], Settings.from_env(path))
    assert warehouse.query("SELECT count(*) FROM meter_events")[1] == [(1,)]
    with pytest.raises(NotAWarehouse):
        Warehouse(tmp_path / "wh", tmp_path / "lake2").query("SELECT 1")

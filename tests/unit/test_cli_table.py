"""The CLI's table output never prints control characters from data raw."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.cli import main
from etl.warehouse import Warehouse


def test_terminal_escapes_in_data_are_shown_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = (
        "SELECT chr(27) || '[2J' || chr(27) || ']0;pwned' || chr(7) AS value, "
        "'a' || chr(13) || 'b' || chr(8238) || 'c' || chr(155) AS other"
    )

    warehouse = tmp_path / "w.duckdb"
    with Warehouse(warehouse, tmp_path / "lake").writer():
        pass  # an empty warehouse: `meterhouse sql` reads existing ones only

    assert main(["sql", query, "--warehouse", str(warehouse)]) == 0

    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out and "\u202e" not in out
    lines = out.splitlines()
    assert lines[2].split() == ["\\x1b[2J\\x1b]0;pwned\\x07", "a\\x0db\\u202ec\\x9b"]

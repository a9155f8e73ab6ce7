"""The Airflow UI in headless Chromium (playwright-core from npm, Chromium from apt).

Logs in, opens usage_ingest, triggers it through the Params form for one day and sees the run
succeed; screenshots land in test-artifacts/browser/. `make test` installs Chromium and the npm
package first (`make browser-deps`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from tests.live_stack import LiveStack, sample_keys

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
DAY = "2026-09-08"  # a sample day the e2e tests leave alone


def _require_browser_deps() -> str:
    node = shutil.which("node")
    missing = [
        what
        for what, ok in [
            ("node", node is not None),
            (CHROMIUM, Path(CHROMIUM).exists()),
            ("node_modules/playwright-core", (ROOT / "node_modules" / "playwright-core").exists()),
        ]
        if not ok
    ]
    if missing:
        pytest.fail(f"browser test needs {', '.join(missing)}: run `make browser-deps`")
    assert node is not None
    return node


def test_trigger_usage_ingest_from_the_ui_form(live_stack: LiveStack) -> None:
    from stack import PASSWORD, USERNAME

    node = _require_browser_deps()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [node, str(Path(__file__).with_name("trigger_usage_ingest.js"))],
        env={
            **os.environ,
            "NODE_PATH": str(ROOT / "node_modules"),
            "AIRFLOW_URL": live_stack.url,
            "AIRFLOW_USER": USERNAME,
            "AIRFLOW_PASSWORD": PASSWORD,
            "DAY": DAY,
            "ARTIFACTS": str(ARTIFACTS),
            "CHROMIUM": CHROMIUM,
        },
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["state"] == "success", seen
    assert (ARTIFACTS / "ui-run-success.png").stat().st_size > 10_000

    # What the browser saw is what the API and the warehouse say.
    run = live_stack.run(seen["run_id"])
    assert (run["state"], run["run_type"], run["conf"]["start_date"]) == ("success", "manual", DAY)
    live_stack.wait_idle()
    expected = sample_keys(date.fromisoformat(DAY), date.fromisoformat(DAY))
    loaded = {
        k
        for (k,) in live_stack.query("SELECT source_key FROM ingest_ledger WHERE status = 'loaded'")
    }
    assert expected and set(expected) <= loaded

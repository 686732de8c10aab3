"""benchmarks/pooler.py runs end to end (tiny sizes) and accounts for every measurement.

No timing is asserted: figures live in benchmarks/, not in pass/fail tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.pooler_measure import RTT_VARIANTS, STRESS_CLIENTS, W1_DRIVERS

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_pooler_run_end_to_end(tmp_path: Path) -> None:
    from pgjet.testing import PostgresNotFoundError, find_pgbouncer

    try:
        find_pgbouncer()
    except PostgresNotFoundError as exc:
        pytest.skip(f"PgBouncer is not installed (apt-get install pgbouncer): {exc}")
    paths = [str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.pooler", "--quick", "--output-dir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert "pooler-latest.json" in saved and len(saved) == 2, saved
    doc = json.loads((tmp_path / "pooler-latest.json").read_text())

    assert {(m["kind"], m["driver"]) for m in doc["measurements"]} == {
        *(("w1", d) for d in W1_DRIVERS),
        *(("rtt", v) for v in RTT_VARIANTS),
    }
    assert all(m["status"] == "ok" for m in doc["measurements"]), doc["measurements"]
    w1 = doc["summary"]["w1"]
    assert w1["asyncpg"]["ratio_to_asyncpg"] == 1.0
    assert w1["pgjet"]["statement_mode"] == ["unnamed"]  # auto found PgBouncer
    rtt = doc["summary"]["rtt"]
    # Round trips are counted, not timed to a bound: 10 awaited one by one are at least
    # 10 round trips, anything at all at least one.
    assert rtt["asyncpg-sequential"]["round_trips"] >= 9.5
    assert all(cell["round_trips"] >= 0.9 for cell in rtt.values())

    stress = {row["client"]: row for row in doc["stress"]}
    assert set(stress) == set(STRESS_CLIENTS)
    for name, row in stress.items():
        assert row["status"] == "ok" and row["queries"] == 80, row
        if name.startswith("pgjet"):
            assert row["errors"] == row["wrong"] == row["bad_rows"] == 0, row

    # The printed table has its three sections.
    assert "| W1 through PgBouncer" in done.stdout
    assert "round trips |" in done.stdout
    assert "| errors | wrong results |" in done.stdout

"""The benchmark harness runs end to end (tiny sizes) and its bookkeeping is right.

No timing is asserted anywhere: figures live in benchmarks/, not in pass/fail tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from benchmarks import report
from benchmarks.callgrind import W3_ROWS, build_shim, child, describe_result, read_total
from benchmarks.drivers import DRIVERS
from benchmarks.drivers.psycopg3 import placeholders
from benchmarks.run import rotated, update_readme
from benchmarks.workloads import WORKLOADS, type_mismatches, w3_column_problems

REPO = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    paths = [str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


@pytest.mark.slow
def test_quick_run_end_to_end(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--output-dir", str(tmp_path)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert "latest.json" in saved and len(saved) == 2, saved
    result = json.loads((tmp_path / "latest.json").read_text())

    cells = {(m["workload"], m["loop"], m["driver"]) for m in result["measurements"]}
    assert cells == {
        (w, loop, d) for w in WORKLOADS for loop in ("asyncio", "uvloop") for d in DRIVERS
    }
    for m in result["measurements"]:
        assert m["status"] in ("ok", "n/a"), m
        if m["status"] == "n/a":
            assert m["reason"], m  # a driver that cannot run a workload says why
        else:
            assert m["value"] > 0 and m["count"] > 0, m
        if m["driver"] == "asyncpg":
            assert m["status"] == "ok", m  # the baseline implements every workload
        if m["status"] == "ok" and m["loop"] == "uvloop":
            assert m["loop_class"].startswith("uvloop"), m

    pgjet = result["environment"]["pgjet"]  # measured from a frozen copy, named by its hash
    assert pgjet["source"] == "worktree" and len(pgjet["tree_sha256"]) == 16
    w1 = [m for m in result["measurements"] if m["workload"] == "W1" and m["status"] == "ok"]
    assert w1 and all(0 < m["p50_us"] <= m["p99_us"] for m in w1)
    assert {p["mode"] for p in result["pgbench"]} == {"W1", "S"}
    # The printed table has one line per (workload, loop) and the ratio columns.
    assert "pgjet / asyncpg" in done.stdout and "psycopg / asyncpg" in done.stdout
    for workload in WORKLOADS:
        rows = [line for line in done.stdout.splitlines() if line.startswith(f"| {workload} ")]
        assert len(rows) == 2, rows

    # W3c: each driver says which call it timed, and the table's footnote says it too.
    apis = {"pgjet": "fetch_numpy()", "asyncpg": "fetch()", "psycopg": "cursor.fetchall() (binary)"}
    w3c = [m for m in result["measurements"] if m["workload"] == "W3c" and m["driver"] in apis]
    assert len(w3c) == 6
    for m in w3c:
        assert m["status"] == "ok" and m["api"] == apis[m["driver"]], m
    assert "W3c: pgjet times fetch_numpy()" in done.stdout


def test_ratios_are_medians_of_per_round_ratios() -> None:
    # Round 0: pgjet 2x asyncpg; rounds 1 and 2: 1x, with asyncpg drifting upwards.
    values = {"asyncpg": [100.0, 200.0, 400.0], "pgjet": [200.0, 200.0, 400.0]}
    measurements = [
        {"round": r, "workload": "W3", "loop": "asyncio", "driver": d, "status": "ok", "value": v}
        for d, series in values.items()
        for r, v in enumerate(series)
    ]
    measurements.append(
        {
            "round": 0,
            "workload": "W3",
            "loop": "asyncio",
            "driver": "psycopg",
            "status": "n/a",
            "reason": "not yet",
        }
    )
    summary = report.summarise(measurements, [], list(DRIVERS), ["W3"], ["asyncio"])
    cell = summary["W3"]["asyncio"]
    # Median of ratios (2, 1, 1) is 1; the ratio of medians would be 200/200 = 1 too, so
    # check against a case where they differ as well.
    assert cell["ratios"]["pgjet/asyncpg"] == 1.0
    assert cell["drivers"]["pgjet"]["median"] == 200.0
    assert cell["drivers"]["psycopg"] == {"status": "n/a", "reason": "not yet"}
    assert cell["ratios"]["psycopg/asyncpg"] is None

    skewed = [dict(m) for m in measurements if m["driver"] != "psycopg"]
    for m in skewed:
        if m["driver"] == "pgjet":
            m["value"] = {0: 300.0, 1: 300.0, 2: 100.0}[m["round"]]
    cell = report.summarise(skewed, [], ["pgjet", "asyncpg"], ["W3"], ["asyncio"])["W3"]["asyncio"]
    assert cell["ratios"]["pgjet/asyncpg"] == pytest.approx(1.5)  # median of (3, 1.5, 0.25)
    assert cell["drivers"]["pgjet"]["median"] / cell["drivers"]["asyncpg"]["median"] == 1.5


def test_rotation_puts_each_driver_first_once_per_cycle() -> None:
    drivers = list(DRIVERS)
    firsts = [rotated(drivers, k)[0] for k in range(len(drivers))]
    assert sorted(firsts) == sorted(drivers)
    assert all(sorted(rotated(drivers, k)) == sorted(drivers) for k in range(5))


def test_type_mismatches_names_each_undecoded_column() -> None:
    import datetime
    import decimal
    import uuid

    good = (
        1,
        2,
        "x",
        1.5,
        True,
        decimal.Decimal("1.25"),
        datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        datetime.date(2024, 1, 1),
        uuid.uuid4(),
        {"id": 1},
    )
    assert type_mismatches(good) == []
    bad = list(good)
    bad[6] = "2024-01-01 00:00:00+00"
    bad[4] = 1  # int is not bool
    problems = type_mismatches(bad)
    assert problems == ["bool (active) returned as int", "timestamptz (created) returned as str"]


def _w3_columns(rows: int) -> dict[str, Any]:
    import numpy

    a = numpy.arange(1, rows + 1, dtype=numpy.int32)
    b = numpy.array([f"row-{i}" for i in a.tolist()], dtype=object)
    return {"a": a, "b": b, "c": a * 0.25}


def test_w3_column_problems_names_each_difference() -> None:
    import numpy

    assert w3_column_problems(_w3_columns(5), 5) == []
    assert w3_column_problems(_w3_columns(5), 6) == [
        "a: 5 values, expected 6",
        "b: 5 values, expected 6",
        "c: 5 values, expected 6",
    ]
    wide = _w3_columns(5) | {"a": numpy.arange(1, 6, dtype=numpy.int64)}
    assert w3_column_problems(wide, 5) == ["a: dtype int64"]
    masked = _w3_columns(5) | {"c": numpy.ma.MaskedArray(numpy.arange(5) * 0.25)}
    assert w3_column_problems(masked, 5) == ["c: a masked array, but bench_w3 holds no NULL"]
    shifted = _w3_columns(5)
    shifted["b"][0] = "row-2"
    assert w3_column_problems(shifted, 5) == ["row 0 is (1, 'row-2', 0.25)"]
    assert w3_column_problems({"a": _w3_columns(5)["a"]}, 5) == [
        "columns ['a'], expected ['a', 'b', 'c']"
    ]


def test_workload_note_is_a_footnote_of_the_table() -> None:
    measurements = [
        {"round": 0, "workload": w, "loop": "asyncio", "driver": d, "status": "ok", "value": v}
        for w in ("W3", "W3c")
        for d, v in (("pgjet", 3.0), ("asyncpg", 1.0))
    ]
    drivers = ["pgjet", "asyncpg"]
    result = {
        "drivers": drivers,
        "loops": ["asyncio"],
        "workloads": ["W3", "W3c"],
        "summary": report.summarise(measurements, [], drivers, ["W3", "W3c"], ["asyncio"]),
    }
    lines = report.render_markdown(result).splitlines()
    (w3c,) = [line for line in lines if line.startswith("| W3c ")]
    assert "as columns (rows/s) [1] | asyncio | 3.0 | 1.0 | 3.00 |" in w3c
    assert lines[-1].startswith("[1] W3c: pgjet times fetch_numpy()")
    (w3,) = [line for line in lines if line.startswith("| W3 ")]
    assert "[" not in w3  # W3 has no note


def test_psycopg_placeholders() -> None:
    assert placeholders("SELECT $1::int, $2") == "SELECT %s::int, %s"


def test_update_readme_replaces_between_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- b -->\nold table\n<!-- e -->\noutro\n")
    update_readme("new table\n", readme, "<!-- b -->", "<!-- e -->")
    assert readme.read_text() == "intro\n<!-- b -->\nnew table\n\n<!-- e -->\noutro\n"
    with pytest.raises(SystemExit, match="markers"):
        update_readme("x", readme, "<!-- missing -->", "<!-- e -->")


def test_read_total_of_a_callgrind_file(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    out.write_text("version: 1\nevents: Ir\nfn=(1) f\n0 5\nsummary: 12345\ntotals: 12345\n")
    assert read_total(out) == 12345
    out.write_text("events: Ir\n")
    with pytest.raises(RuntimeError, match="no totals"):
        read_total(out)


@pytest.mark.slow
def test_callgrind_counts_instructions_of_one_fetch() -> None:
    if shutil.which("valgrind") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("valgrind is not installed (apt-get install valgrind)")
        pytest.skip("valgrind is not installed")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.callgrind",
            "--drivers",
            "asyncpg",
            "--repeat",
            "1",
            "--no-save",
        ],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    row = next(line for line in done.stdout.splitlines() if line.startswith("| asyncpg |"))
    instructions = int(row.split("|")[2].replace(",", ""))
    # Decoding 1,000 wide rows takes millions of instructions; connection setup and
    # interpreter start-up (hundreds of millions) must not be in the count.
    assert 1_000_000 < instructions < 200_000_000


def test_callgrind_describes_a_dict_of_columns_by_its_rows() -> None:
    assert describe_result(_w3_columns(4)) == {
        "rows": 4,
        "types": ["numpy.ndarray[int32]", "numpy.ndarray[object]", "numpy.ndarray[float64]"],
    }
    assert describe_result([(1, "x", 0.5)]) == {
        "rows": 1,
        "types": ["builtins.int", "builtins.str", "builtins.float"],
    }


@pytest.mark.parametrize("driver", ["pgjet", "asyncpg"])
def test_callgrind_w3numpy_measures_the_whole_result(driver: str, dsn: str, tmp_path: Path) -> None:
    """The measured process of ``--workload w3numpy``, run natively (the client requests
    that switch callgrind's collection are no-ops outside valgrind)."""
    if shutil.which("valgrind") is None:  # the shim includes <valgrind/callgrind.h>
        if os.environ.get("CI") == "true":
            pytest.fail("valgrind is not installed (apt-get install valgrind)")
        pytest.skip("valgrind is not installed")
    spec = {"driver": driver, "dsn": dsn, "loop": "asyncio", "shim": str(build_shim(tmp_path))}
    try:
        info = child(spec | {"workload": "w3numpy"})
    finally:
        asyncio.set_event_loop(None)  # child() left its closed loop as the current one
    assert info["rows"] == W3_ROWS
    if driver == "pgjet":
        assert info["types"] == [
            "numpy.ndarray[int32]",
            "numpy.ndarray[object]",
            "numpy.ndarray[float64]",
        ]
    else:
        assert info["types"] == ["builtins.int", "builtins.str", "builtins.float"]

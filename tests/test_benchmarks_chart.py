"""benchmarks/chart.py: the results chart is drawn from the JSON, with the table's ratios.

No server is needed: the input is the committed results and small synthetic documents.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from benchmarks import chart
from benchmarks.chart import ChartInputError, prepare

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _synthetic() -> dict[str, Any]:
    """Three rounds of W1 on asyncio: psycopg ok, pgjet n/a; W5 errors for psycopg."""

    def m(round_no: int, workload: str, driver: str, value: float | None) -> dict[str, Any]:
        base = {"round": round_no, "workload": workload, "driver": driver, "loop": "asyncio"}
        if value is None:
            return {**base, "status": "n/a", "reason": "no executemany yet"}
        return {**base, "status": "ok", "value": value, "caveats": []}

    # Per-round ratios psycopg/asyncpg: 2.0, 1.0, 1.5 -> median 1.5; the ratio of the
    # medians would be 250/100 = 2.5: the chart must show the former, as the table does.
    measurements = [
        m(0, "W1", "asyncpg", 100.0),
        m(0, "W1", "psycopg", 200.0),
        m(1, "W1", "asyncpg", 300.0),
        m(1, "W1", "psycopg", 300.0),
        m(2, "W1", "asyncpg", 20.0),
        m(2, "W1", "psycopg", 30.0),
        *(m(r, "W1", "pgjet", None) for r in range(3)),
        *(m(r, "W5", "asyncpg", 10.0) for r in range(3)),
        *(m(r, "W5", "pgjet", 12.0) for r in range(3)),
        *(
            {**m(r, "W5", "psycopg", 1.0), "status": "error", "reason": "wrong row count"}
            for r in range(3)
        ),
    ]
    return {
        "when": "2026-01-02T03:04:05+00:00",
        "quick": True,
        "rounds": 3,
        "drivers": ["pgjet", "asyncpg", "psycopg"],
        "workloads": ["W1", "W5"],
        "loops": ["asyncio"],
        "environment": {
            "python": "3.11.7",
            "cpus": 2,
            "cpu": "Test CPU",
            "postgres": {"version": "18.6"},
            "pgjet": {"source": "worktree", "commit": "abc1234", "uncommitted_changes": True},
        },
        "measurements": measurements,
        "pgbench": [],
    }


def _bar(data: chart.ChartData, workload: str, driver: str, loop: str) -> chart.Bar:
    group = next(g for g in data.workloads.groups if g.label.startswith(workload + "\n"))
    return next(b for b in group.bars if b.driver == driver and b.loop == loop)


def _note(data: chart.ChartData, mark: str) -> str:
    return next(n for n in data.notes if n.startswith(mark + " "))


def test_committed_results_give_a_png(tmp_path: Path) -> None:
    output = tmp_path / "out" / "chart.png"
    assert chart.main(["--input", str(RESULTS / "latest.json"), "--output", str(output)]) == 0
    data = output.read_bytes()
    assert _png_size(data) == (chart.WIDTH_PX, chart.HEIGHT_PX)
    assert len(data) > 30_000  # seven groups of bars, two panels, text: not a blank image


def test_same_input_same_bytes(tmp_path: Path) -> None:
    result = json.loads((RESULTS / "latest.json").read_text())
    first = chart.draw(prepare(result), tmp_path / "a.png").read_bytes()
    second = chart.draw(prepare(result), tmp_path / "b.png").read_bytes()
    assert first == second


def test_ratios_are_the_tables() -> None:
    """Every bar is the ratio that report.summarise stored in latest.json for the table."""
    result = json.loads((RESULTS / "latest.json").read_text())
    data = prepare(result)
    assert [g.label.split("\n")[0] for g in data.workloads.groups] == [
        "W1", "W2", "W3", "W3c", "W4", "W5", "W6", "W7",
    ]  # fmt: skip
    compared = 0
    for workload in result["workloads"]:
        for loop in result["loops"]:
            for driver in chart.COMPARED:
                stored = result["summary"][workload][loop]["ratios"][f"{driver}/asyncpg"]
                assert _bar(data, workload, driver, loop).ratio == pytest.approx(stored)
                compared += 1
    # Every workload of the run on both loops, for pgjet and psycopg.
    assert compared == len(result["workloads"]) * 2 * 2 >= 28


def test_targets_of_issue_9() -> None:
    data = prepare(json.loads((RESULTS / "latest.json").read_text()))
    targets = {g.label.split("\n")[0]: g.target for g in data.workloads.groups}
    assert {w: t.ratio for w, t in targets.items() if t} == {
        "W1": 1.25, "W2": 1.3, "W3": 2.0, "W3c": 3.0, "W4": 1.3, "W5": 1.5, "W6": 1.2,
        "W7": 1.25,
    }  # fmt: skip
    w7 = targets["W7"]
    assert w7 is not None and "time ≤ 0.8x" in w7.label


def test_na_measurement_is_absent_with_a_note() -> None:
    data = prepare(_synthetic())
    pgjet = _bar(data, "W1", "pgjet", "asyncio")
    assert pgjet.ratio is None
    assert "n/a: no executemany yet" in _note(data, pgjet.mark)
    # Median of per-round ratios, not the ratio of medians (2.5).
    assert _bar(data, "W1", "psycopg", "asyncio").ratio == pytest.approx(1.5)
    errored = _bar(data, "W5", "psycopg", "asyncio")
    assert errored.ratio is None
    assert "psycopg: error: wrong row count" in _note(data, errored.mark)
    assert _bar(data, "W5", "pgjet", "asyncio").ratio == pytest.approx(1.2)


def test_workloads_and_loops_not_run_are_absent_with_a_note() -> None:
    data = prepare(_synthetic())
    uvloop = _bar(data, "W1", "psycopg", "uvloop")
    assert uvloop.ratio is None
    assert _note(data, uvloop.mark).endswith("workload or event loop not in this run")
    w3 = _bar(data, "W3", "pgjet", "asyncio")
    assert w3.ratio is None
    assert w3.mark == uvloop.mark  # one note for all of them, not one per bar
    # No bar anywhere was turned into a 0.
    assert all(b.ratio != 0 for g in data.workloads.groups for b in g.bars)


def _with_w3c() -> dict[str, Any]:
    """The synthetic run plus W3c on both loops: pgjet 3.5x asyncpg, psycopg 1.5x."""
    result = _synthetic()
    for loop in ("asyncio", "uvloop"):
        for round_no in range(3):
            for driver, value in (("asyncpg", 100.0), ("pgjet", 350.0), ("psycopg", 150.0)):
                result["measurements"].append(
                    {
                        "round": round_no,
                        "workload": "W3c",
                        "driver": driver,
                        "loop": loop,
                        "status": "ok",
                        "value": value,
                        "caveats": [],
                    }
                )
    result["workloads"] = [*result["workloads"], "W3c"]
    result["loops"] = ["asyncio", "uvloop"]
    return result


def _group(data: chart.ChartData, workload: str) -> chart.Group:
    return next(g for g in data.workloads.groups if g.label.startswith(workload + "\n"))


def test_w3c_bars_target_and_note(tmp_path: Path) -> None:
    data = prepare(_with_w3c())
    for loop in ("asyncio", "uvloop"):
        assert _bar(data, "W3c", "pgjet", loop).ratio == pytest.approx(3.5)
        assert _bar(data, "W3c", "psycopg", loop).ratio == pytest.approx(1.5)
    group = _group(data, "W3c")
    assert group.target == chart.Target(3.0, "target ≥ 3x")
    # The label points to the note saying which call each driver ran.
    mark = group.label.rsplit(" ", 1)[-1]
    assert "pgjet times fetch_numpy()" in _note(data, mark)
    source = tmp_path / "latest.json"
    source.write_text(json.dumps(_with_w3c()))
    output = tmp_path / "chart.png"
    assert chart.main(["--input", str(source), "--output", str(output)]) == 0
    assert _png_size(output.read_bytes()) == (chart.WIDTH_PX, chart.HEIGHT_PX)


def test_results_from_before_w3c_draw_it_as_absent(tmp_path: Path) -> None:
    result = _with_w3c()
    result["workloads"].remove("W3c")  # as a run of --workloads W1,W5, or an older file
    result["measurements"] = [m for m in result["measurements"] if m["workload"] != "W3c"]
    data = prepare(result)
    group = _group(data, "W3c")
    assert all(b.ratio is None for b in group.bars)
    assert _note(data, group.bars[0].mark).endswith("workload or event loop not in this run")
    assert not any("fetch_numpy" in n for n in data.notes)  # no note for what did not run
    assert group.label.endswith("columns")  # ...and no mark on the label
    output = chart.draw(data, tmp_path / "chart.png")
    assert _png_size(output.read_bytes()) == (chart.WIDTH_PX, chart.HEIGHT_PX)


def test_synthetic_chart_draws_with_notes_and_no_side_panels(tmp_path: Path) -> None:
    source = tmp_path / "latest.json"
    source.write_text(json.dumps(_synthetic()))
    output = tmp_path / "chart.png"
    assert chart.main(["--input", str(source), "--output", str(output)]) == 0
    assert _png_size(output.read_bytes()) == (chart.WIDTH_PX, chart.HEIGHT_PX)
    data = prepare(_synthetic())
    assert data.callgrind.absent == "no callgrind-latest.json"
    assert data.pooler.absent == "no pooler-latest.json"
    assert "QUICK" in data.title and "abc1234 + uncommitted changes" in data.title
    assert "2026-01-02 03:04 UTC" in data.title


def test_callgrind_and_pooler_panels() -> None:
    result = json.loads((RESULTS / "latest.json").read_text())
    callgrind = json.loads((RESULTS / "callgrind-latest.json").read_text())
    pooler_doc = json.loads((RESULTS / "pooler-latest.json").read_text())
    data = prepare(result, callgrind, pooler_doc)
    bars = {g.label: g.bars[0] for g in data.callgrind.groups}
    base = callgrind["summary"]["asyncpg"]["instructions"]
    expected = callgrind["summary"]["pgjet"]["instructions"] / base
    assert bars["pgjet"].ratio == pytest.approx(expected)
    pgjet_group = next(g for g in data.callgrind.groups if g.label == "pgjet")
    assert pgjet_group.target == chart.CALLGRIND_TARGET
    stored = pooler_doc["summary"]["w1"]
    for group in data.pooler.groups:
        assert group.bars[0].ratio == pytest.approx(stored[group.label]["ratio_to_asyncpg"])


def test_callgrind_without_the_baseline_is_absent_with_a_note() -> None:
    callgrind = json.loads((RESULTS / "callgrind-latest.json").read_text())
    del callgrind["summary"]["asyncpg"]
    data = prepare(_synthetic(), callgrind)
    for group in data.callgrind.groups:
        assert group.bars[0].ratio is None
        assert _note(data, group.bars[0].mark).endswith("callgrind: asyncpg not run")


def test_bad_input_names_what_is_wrong(tmp_path: Path) -> None:
    broken = _synthetic()
    del broken["measurements"][0]["value"]
    with pytest.raises(ChartInputError, match=r"measurements\[0\]: missing key\(s\) value"):
        prepare(broken)
    no_when = _synthetic()
    del no_when["when"]
    with pytest.raises(ChartInputError, match="results: missing key"):
        prepare(no_when)
    bad_date = {**_synthetic(), "when": "yesterday"}
    with pytest.raises(ChartInputError, match="not an ISO date: 'yesterday'"):
        prepare(bad_date)
    with pytest.raises(ChartInputError, match="no such file"):
        chart.load(tmp_path / "absent.json", "results")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ChartInputError, match="not valid JSON"):
        chart.load(tmp_path / "bad.json", "results")
    output = tmp_path / "never.png"
    assert chart.main(["--input", str(tmp_path / "bad.json"), "--output", str(output)]) == 2
    assert not output.exists()


@pytest.mark.parametrize("has_matplotlib", [True, False])
def test_run_update_readme_redraws_the_chart(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    has_matplotlib: bool,
) -> None:
    """run.py --update-readme redraws results/chart.png; without matplotlib it warns and
    the run still succeeds. The benchmark itself is replaced by the committed result."""
    from benchmarks import run

    result = json.loads((RESULTS / "latest.json").read_text())
    pasted: list[str] = []
    monkeypatch.setattr(run, "run", lambda args: result)
    monkeypatch.setattr(run, "update_readme", pasted.append)
    if not has_matplotlib:
        monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes the import fail
    argv = ["--update-readme", "--no-save", "--output-dir", str(tmp_path)]
    assert run.main(argv) == 0
    assert len(pasted) == 1
    err = capsys.readouterr().err
    assert (tmp_path / "chart.png").exists() is has_matplotlib
    assert ("warning: chart not redrawn" in err) is not has_matplotlib

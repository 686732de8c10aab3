"""A chart of the latest benchmark results: ``python -m benchmarks.chart``.

Reads ``results/latest.json`` (and, next to it, ``callgrind-latest.json`` and
``pooler-latest.json`` when they exist) and draws one PNG: for every workload the
pgjet/asyncpg and psycopg/asyncpg ratios on asyncio and uvloop, with issue #9's target
marked; below, the callgrind instruction ratio and the W1-through-PgBouncer ratio.

Ratios are recomputed from the raw measurements with the very functions that make the
Markdown tables (``report.summarise``, ``pooler.summarise``), so chart and table agree.
Everything drawn comes from the JSON (dates included): the same input gives the same
bytes. Missing measurements are drawn as absent, with a footnote, never as 0.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import pooler, report
from benchmarks.drivers import BASELINE
from benchmarks.measure import LOOPS
from benchmarks.workloads import WORKLOADS

RESULTS_DIR = Path(__file__).resolve().parent / "results"
COMPARED = ("pgjet", "psycopg")
"""The drivers drawn against the baseline (asyncpg-noreset only matters on W4: left out)."""

WIDTH_PX, HEIGHT_PX, DPI = 1000, 1100, 100
SOURCE_LINE = (
    "Drawn by python -m benchmarks.chart from the JSON in benchmarks/results; "
    "tables and method: benchmarks/README.md"
)


class ChartInputError(ValueError):
    """A results file the chart cannot be drawn from; the message says what is wrong."""


@dataclass(frozen=True)
class Target:
    ratio: float
    label: str


TARGETS: dict[str, Target] = {
    "W1": Target(1.25, "target ≥ 1.25x"),
    "W2": Target(1.3, "target ≥ 1.3x"),
    "W3": Target(2.0, "target ≥ 2x"),
    # W3c: pgjet's fetch_numpy() against asyncpg's fetch() of the same rows.
    "W3c": Target(3.0, "target ≥ 3x"),
    "W4": Target(1.3, "target ≥ 1.3x"),
    "W5": Target(1.5, "target ≥ 1.5x"),
    "W6": Target(1.2, "target ≥ 1.2x"),
    # W7 is a rate (connects/s): time ≤ 0.8x asyncpg's is a rate ≥ 1/0.8 = 1.25x.
    "W7": Target(1.25, "target: time ≤ 0.8x (rate ≥ 1.25x)"),
}
"""Issue #9's targets, as ratios of throughput to asyncpg's."""

CALLGRIND_TARGET = Target(0.7, "target ≤ 0.7x")
"""Issue #9: instructions for one fetch of 1,000 wide rows, relative to asyncpg."""


@dataclass(frozen=True)
class Bar:
    driver: str
    loop: str
    ratio: float | None
    """None: not measured (the bar is absent and ``mark`` points to a footnote)."""
    mark: str = ""
    """Footnote reference(s) such as "[2]", shown next to the value or in place of the bar."""


@dataclass(frozen=True)
class Group:
    """One block of bars sharing a label and (maybe) a target."""

    label: str
    bars: tuple[Bar, ...]
    target: Target | None


@dataclass(frozen=True)
class Panel:
    title: str
    xlabel: str
    groups: tuple[Group, ...]
    absent: str = ""
    """Why the panel is empty (its results file does not exist); empty when drawn."""


@dataclass(frozen=True)
class ChartData:
    title: str
    workloads: Panel
    callgrind: Panel
    pooler: Panel
    notes: tuple[str, ...]
    """Numbered footnotes ("[1] pgjet: n/a: ..."), referenced by the bars' marks."""


class _Footnotes:
    """Footnote texts numbered in order of first use; one number per distinct text."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def mark(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"

    def numbered(self) -> tuple[str, ...]:
        return tuple(f"[{i}] {text}" for i, text in enumerate(self.texts, 1))


# -- data preparation ----------------------------------------------------------------------


def prepare(
    result: dict[str, Any],
    callgrind: dict[str, Any] | None = None,
    pooler_doc: dict[str, Any] | None = None,
) -> ChartData:
    """What the chart shows, computed from ``latest.json`` (``result``) and, when given,
    ``callgrind-latest.json`` and ``pooler-latest.json``. Raises ChartInputError naming
    what is missing from a document."""
    _check_run(result)
    notes = _Footnotes()
    return ChartData(
        title=_title(result),
        workloads=_workload_panel(result, notes),
        callgrind=_callgrind_panel(callgrind, notes),
        pooler=_pooler_panel(pooler_doc, notes),
        notes=notes.numbered(),
    )


def _check_run(result: dict[str, Any]) -> None:
    if not isinstance(result, dict):
        raise ChartInputError(f"results: expected a JSON object, got {type(result).__name__}")
    _require(
        result, ("when", "drivers", "workloads", "loops", "measurements", "environment"), "results"
    )
    _require(
        result["environment"],
        ("cpus", "cpu", "python", "postgres", "pgjet"),
        "results: environment",
    )
    _require(result["environment"]["pgjet"], ("source", "commit"), "results: environment.pgjet")
    for i, m in enumerate(result["measurements"]):
        where = f"results: measurements[{i}]"
        _require(m, ("round", "workload", "driver", "loop", "status"), where)
        if m["status"] == "ok":
            _require(m, ("value",), where)


def _require(doc: Any, keys: Sequence[str], where: str) -> None:
    if not isinstance(doc, dict):
        raise ChartInputError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    missing = [k for k in keys if k not in doc]
    if missing:
        raise ChartInputError(f"{where}: missing key(s) {', '.join(missing)}")


def _when(text: str, where: str) -> str:
    try:
        moment = datetime.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ChartInputError(f"{where}: 'when' is not an ISO date: {text!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _commit(info: dict[str, Any]) -> str:
    dirty = " + uncommitted changes" if info.get("uncommitted_changes") else ""
    return f"pgjet {info['source']} at {info['commit']}{dirty}"


def _title(result: dict[str, Any]) -> str:
    env = result["environment"]
    pg = env["postgres"].get("version", "?") if isinstance(env["postgres"], dict) else "?"
    quick = ", QUICK smoke run (tiny sizes)" if result.get("quick") else ""
    rounds = result.get("rounds", "?")
    return (
        "pgjet and psycopg vs asyncpg (= 1.0): throughput ratio, median of per-round ratios\n"
        f"Run of {_when(result['when'], 'results')}, {_commit(env['pgjet'])}, "
        f"{rounds} rounds{quick}\n"
        f"{env['cpus']} CPUs ({env['cpu']}), Python {env['python']}, PostgreSQL {pg}"
    )


def _workload_panel(result: dict[str, Any], notes: _Footnotes) -> Panel:
    drivers: list[str] = list(result["drivers"])
    loops: list[str] = list(result["loops"])
    workloads = [w for w in result["workloads"] if w in WORKLOADS]
    # The same computation as the Markdown table: medians of per-round ratios.
    summary = report.summarise(
        result["measurements"], result.get("pgbench") or [], drivers, workloads, loops
    )
    groups = []
    for workload, info in WORKLOADS.items():
        bars = []
        for driver in COMPARED:
            for loop in LOOPS:
                entry = summary.get(workload, {}).get(loop)
                absent = ""
                if BASELINE not in drivers or driver not in drivers:
                    absent = f"{BASELINE if driver in drivers else driver}: not in this run"
                elif entry is None:
                    # One shared note: a run limited by --workloads/--loops misses many.
                    absent = "workload or event loop not in this run"
                if absent or entry is None:
                    bars.append(Bar(driver, loop, None, notes.mark(absent)))
                    continue
                ratio = entry["ratios"].get(f"{driver}/{BASELINE}")
                bars.append(Bar(driver, loop, ratio, _marks(entry, driver, ratio, notes)))
        label = f"{workload}\n" + textwrap.fill(info.title, 22)
        if info.note and workload in workloads:  # which call each driver ran (W3c)
            label += " " + notes.mark(info.note)
        groups.append(Group(label, tuple(bars), TARGETS[workload]))
    return Panel(
        title="",
        xlabel=f"throughput / {BASELINE}'s  (higher is better; | = issue #9 target)",
        groups=tuple(groups),
    )


def _marks(entry: dict[str, Any], driver: str, ratio: float | None, notes: _Footnotes) -> str:
    """Footnote references for one bar: why it is absent, or what to keep in mind."""
    mine, base = entry["drivers"][driver], entry["drivers"][BASELINE]
    marks = []
    if ratio is None:
        if mine["status"] != "ok":
            marks.append(notes.mark(f"{driver}: {mine['status']}: {mine['reason'] or '?'}"))
        elif base["status"] != "ok":
            marks.append(notes.mark(f"{BASELINE}: {base['status']}: {base['reason'] or '?'}"))
        else:
            marks.append(notes.mark(f"{driver}: no round where it and {BASELINE} both ran"))
        return " ".join(marks)
    for info, who in ((mine, driver), (base, BASELINE)):
        if info.get("caveats"):
            marks.append(notes.mark(f"{who}: not like-for-like: " + "; ".join(info["caveats"])))
        if info.get("errors"):
            marks.append(notes.mark(f"{who}: some rounds failed: " + "; ".join(info["errors"])))
    return " ".join(marks)


def _callgrind_panel(doc: dict[str, Any] | None, notes: _Footnotes) -> Panel:
    xlabel = f"instructions / {BASELINE}'s  (lower is better)"
    if doc is None:
        return Panel("Callgrind", xlabel, (), absent="no callgrind-latest.json")
    _require(doc, ("when", "summary", "pgjet", "loop"), "callgrind")
    summary: dict[str, Any] = doc["summary"]
    base = summary.get(BASELINE, {}).get("instructions")
    workload = doc.get("workload", "wide")
    groups = []
    for driver in COMPARED:
        count = summary.get(driver, {}).get("instructions")
        if count is None or not base:
            who = driver if count is None else BASELINE
            bar = Bar(driver, doc["loop"], None, notes.mark(f"callgrind: {who} not run"))
        else:
            # As callgrind.render computes its "vs asyncpg" column.
            bar = Bar(driver, doc["loop"], count / base)
        # The target is pgjet's (and only for the wide fetch it was set for).
        target = CALLGRIND_TARGET if driver == "pgjet" and workload == "wide" else None
        groups.append(Group(driver, (bar,), target))
    what = {"wide": "one fetch of 1,000 rows x 15 columns", "w1": "W1 queries"}.get(
        workload, f"workload {workload}"
    )
    title = f"Callgrind: {what}\n{_when(doc['when'], 'callgrind')}\n{_commit(doc['pgjet'])}"
    return Panel(title, xlabel, tuple(groups))


def _pooler_panel(doc: dict[str, Any] | None, notes: _Footnotes) -> Panel:
    xlabel = f"queries/s / {BASELINE}'s  (higher is better)"
    if doc is None:
        return Panel("W1 through PgBouncer", xlabel, (), absent="no pooler-latest.json")
    _require(doc, ("when", "measurements", "environment", "loop"), "pooler")
    _require(doc["environment"], ("pgjet",), "pooler: environment")
    for i, m in enumerate(doc["measurements"]):
        _require(m, ("round", "kind", "driver", "status"), f"pooler: measurements[{i}]")
    w1 = pooler.summarise(doc["measurements"])["w1"]
    groups = []
    for driver in COMPARED:
        entry = w1.get(driver, {})
        ratio = entry.get("ratio_to_asyncpg")
        mark = ""
        if ratio is None:
            status = entry.get("status", "not run")
            if status == "ok":
                status, reason = w1.get(BASELINE, {}).get("status", "not run"), BASELINE
            else:
                reason = entry.get("reason") or "?"
            mark = notes.mark(f"PgBouncer W1: {driver}: {status}: {reason}")
        groups.append(Group(driver, (Bar(driver, doc["loop"], ratio, mark),), None))
    title = (
        "W1 through PgBouncer, transaction mode\n"
        f"{_when(doc['when'], 'pooler')}\n{_commit(doc['environment']['pgjet'])}"
    )
    return Panel(title, xlabel, tuple(groups))


# -- drawing -------------------------------------------------------------------------------

COLOURS = {
    ("pgjet", "asyncio"): "#1f4e9c",
    ("pgjet", "uvloop"): "#7ea6e0",
    ("psycopg", "asyncio"): "#b35806",
    ("psycopg", "uvloop"): "#f1a340",
}
TARGET_COLOUR = "#c0392b"


def draw(data: ChartData, output: Path) -> Path:
    """Write ``data`` as a PNG of WIDTH_PX x HEIGHT_PX to ``output``."""
    # Imported here so that the data preparation (and its tests) need no matplotlib.
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context():
        matplotlib.rcdefaults()  # a user's matplotlibrc must not change the output
        fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
        FigureCanvasAgg(fig)
        grid = fig.add_gridspec(
            2,
            2,
            height_ratios=[4.6, 1],
            left=0.2,
            right=0.97,
            top=0.855,
            bottom=0.12,
            hspace=0.42,
            wspace=0.3,
        )
        fig.suptitle(data.title, fontsize=11, y=0.985)
        _draw_panel(fig.add_subplot(grid[0, :]), data.workloads, legend=True)
        _draw_panel(fig.add_subplot(grid[1, 0]), data.callgrind, legend=False)
        _draw_panel(fig.add_subplot(grid[1, 1]), data.pooler, legend=False)
        _draw_notes(fig, data.notes)
        output.parent.mkdir(parents=True, exist_ok=True)
        # No "Software" entry: the bytes depend on the JSON only, not on matplotlib's version.
        fig.savefig(output, format="png", dpi=DPI, metadata={"Software": None})
    return output


def _draw_panel(ax: Any, panel: Panel, legend: bool) -> None:
    ax.set_title(panel.title, fontsize=9.5)
    ax.set_xlabel(panel.xlabel, fontsize=9)
    ax.tick_params(labelsize=8.5)
    if panel.absent:
        ax.text(
            0.5,
            0.5,
            f"not measured: {panel.absent}",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=9,
            color="#555555",
        )
        ax.set_xticks([])
        ax.set_yticks([])
        return
    values = [b.ratio for g in panel.groups for b in g.bars if b.ratio is not None]
    targets = [g.target.ratio for g in panel.groups if g.target]
    right = max([1.0, *values, *targets]) * 1.18
    ax.set_xlim(0, right)
    height = 0.8 / max(len(g.bars) for g in panel.groups)
    ticks, labels = [], []
    for row, group in enumerate(panel.groups):
        centre = -row  # first group on top
        first = centre + 0.4 - height / 2
        for i, bar in enumerate(group.bars):
            y = first - i * height
            colour = COLOURS.get((bar.driver, bar.loop), "#777777")
            name = f"{bar.driver}, {bar.loop}"
            if bar.ratio is None:
                ax.text(
                    right * 0.01,
                    y,
                    f"{name}: not measured {bar.mark}",
                    va="center",
                    fontsize=7.5,
                    color="#555555",
                    style="italic",
                )
                continue
            ax.barh(
                y,
                bar.ratio,
                height=height * 0.9,
                color=colour,
            )
            ax.text(
                bar.ratio + right * 0.008,
                y,
                f"{bar.ratio:.2f} {bar.mark}".strip(),
                va="center",
                fontsize=7.5,
                zorder=4,  # above a target line that may cross it
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85},
            )
        if group.target:
            top, bottom = first + height / 2, first - (len(group.bars) - 0.5) * height
            ax.plot(
                [group.target.ratio] * 2,
                [bottom, top],
                color=TARGET_COLOUR,
                lw=2,
                zorder=3,
            )
            ax.text(
                group.target.ratio,
                top + 0.01,
                group.target.label,
                fontsize=7,
                color=TARGET_COLOUR,
                ha="center",
                va="bottom",
            )
        ticks.append(centre)
        labels.append(group.label)
    ax.axvline(1.0, color="black", lw=1, ls="--")
    ax.set_yticks(ticks, labels, fontsize=8.5)
    # Room above the top bar for its target's label: ~14 px, whatever the panel's height.
    panel_px = ax.get_position().height * ax.figure.get_figheight() * ax.figure.dpi
    headroom = 14 * (len(panel.groups) - 0.1) / max(panel_px - 14, 1)
    ax.set_ylim(-len(panel.groups) + 0.5, 0.4 + headroom)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    if legend:
        _legend(ax)


def _legend(ax: Any) -> None:
    """The same entries in the same order whatever was measured, above the plot (wherever
    bars grow, it never hides one)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Line2D([], [], color=TARGET_COLOUR, lw=2, label="issue #9 target"),
        Line2D([], [], color="black", lw=1, ls="--", label=f"{BASELINE} = 1.0"),
        *(Patch(color=c, label=f"{d}, {loop}") for (d, loop), c in COLOURS.items()),
    ]
    ax.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=3,
        fontsize=8.5,
        frameon=False,
    )


def _draw_notes(fig: Any, notes: Sequence[str]) -> None:
    room = 7  # lines that fit under the panels at this size
    lines = [textwrap.shorten(n, 150, placeholder=" ...") for n in notes[:room]]
    if len(notes) > room:
        lines[-1] = f"... and {len(notes) - room + 1} more notes: see benchmarks/README.md"
    text = "\n".join(lines) if lines else "All measurements present."
    fig.text(0.02, 0.075, text, fontsize=7.5, va="top", ha="left", color="#333333")
    fig.text(0.98, 0.012, SOURCE_LINE, fontsize=7.5, va="bottom", ha="right", color="#555555")


# -- files and command line ----------------------------------------------------------------


def load(path: Path, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ChartInputError(f"{what}: no such file {path}") from None
    except json.JSONDecodeError as exc:
        raise ChartInputError(f"{what}: {path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ChartInputError(f"{what}: {path} holds a {type(doc).__name__}, not an object")
    return doc


def _optional(path: Path | None, what: str) -> dict[str, Any] | None:
    return load(path, what) if path is not None and path.exists() else None


def chart_from_result(result: dict[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    """Redraw ``results_dir/chart.png`` from a run's result and the callgrind and pooler
    results next to it (what ``run.py --update-readme`` calls)."""
    data = prepare(
        result,
        _optional(results_dir / "callgrind-latest.json", "callgrind"),
        _optional(results_dir / "pooler-latest.json", "pooler"),
    )
    return draw(data, results_dir / "chart.png")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.chart",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--input",
        type=Path,
        default=RESULTS_DIR / "latest.json",
        help="a run's results (default: benchmarks/results/latest.json)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS_DIR / "chart.png",
        help="the PNG to write (default: benchmarks/results/chart.png)",
    )
    parser.add_argument(
        "--callgrind",
        type=Path,
        default=None,
        help="callgrind results (default: callgrind-latest.json next to "
        "--input; the panel says 'not measured' when it does not exist)",
    )
    parser.add_argument(
        "--pooler",
        type=Path,
        default=None,
        help="pooler results (default: pooler-latest.json next to --input)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    callgrind_path = args.callgrind or args.input.parent / "callgrind-latest.json"
    pooler_path = args.pooler or args.input.parent / "pooler-latest.json"
    try:
        result = load(args.input, "results")
        # Explicitly named files must exist; the default ones are optional.
        callgrind = (
            load(callgrind_path, "callgrind")
            if args.callgrind
            else _optional(callgrind_path, "callgrind")
        )
        pooler_doc = (
            load(pooler_path, "pooler") if args.pooler else _optional(pooler_path, "pooler")
        )
        data = prepare(result, callgrind, pooler_doc)
    except ChartInputError as exc:
        print(f"benchmarks.chart: {exc}", file=sys.stderr)
        return 2
    print(draw(data, args.output))
    for note in data.notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())

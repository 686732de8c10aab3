"""Peak client memory of COPY in and out, as the row count grows.

    PYTHONPATH=src python -m benchmarks.copy_memory [--rows 1000000 10000000] [--dsn DSN]

For every row count, a fresh process connects, warms up (imports, codecs,
buffers), notes its peak RSS (``ru_maxrss``), then

* in:  ``copy_records_to_table`` fed by a *generator* of (int, text, float8) rows;
* out: ``copy_out`` of the same rows, iterated and dropped;

and reports how much the peak RSS grew. Constant-memory COPY shows the same
growth for 1M and 10M rows. Without ``--dsn`` a throwaway server is started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator

TABLE = "copy_memory"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def generated(count: int) -> Iterator[tuple[int, str, float]]:
    for i in range(count):
        yield (i, f"row-{i}", i * 0.25)


async def measure(dsn: str, rows: int) -> dict[str, float]:
    import pgjet

    conn = await pgjet.connect(dsn)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        await conn.execute(f"CREATE UNLOGGED TABLE {TABLE} (a int4, b text, c float8)")
        # Warm-up: everything a COPY allocates once, at a size that is not the point.
        await conn.copy_records_to_table(TABLE, records=generated(200_000))
        async for _ in conn.copy_out(f"COPY {TABLE} TO STDOUT"):
            pass
        await conn.execute(f"TRUNCATE {TABLE}")

        before = peak_rss_mib()
        t0 = time.perf_counter()
        await conn.copy_records_to_table(TABLE, records=generated(rows))
        in_seconds = time.perf_counter() - t0
        after_in = peak_rss_mib()

        t0 = time.perf_counter()
        count = 0
        async for _ in conn.copy_out(f"COPY {TABLE} TO STDOUT"):
            count += 1
        out_seconds = time.perf_counter() - t0
        after_out = peak_rss_mib()
        if count != rows:
            raise RuntimeError(f"copied out {count} rows, expected {rows}")
        await conn.execute(f"DROP TABLE {TABLE}")
    finally:
        await conn.close()
    return {
        "rows": rows,
        "baseline_peak_mib": round(before, 1),
        "in_growth_mib": round(after_in - before, 1),
        "out_growth_mib": round(after_out - after_in, 1),
        "in_rows_per_s": round(rows / in_seconds),
        "out_rows_per_s": round(rows / out_seconds),
    }


def run_child(dsn: str, rows: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.copy_memory", "--child", str(rows), "--dsn", dsn],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--dsn")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(asyncio.run(measure(args.dsn, args.child))))
        return
    if args.dsn:
        results = [run_child(args.dsn, n) for n in args.rows]
    else:
        from benchmarks.server import SERVER_SETTINGS
        from pgjet.testing import Cluster

        with Cluster(settings=SERVER_SETTINGS) as cluster:
            results = [run_child(str(cluster.dsn()), n) for n in args.rows]
    print(
        f"{'rows':>12} {'peak before':>12} {'COPY in +':>10} {'COPY out +':>11} {'in rows/s':>11}"
    )
    for r in results:
        print(
            f"{r['rows']:>12,} {r['baseline_peak_mib']:>10.1f}MB {r['in_growth_mib']:>8.1f}MB "
            f"{r['out_growth_mib']:>9.1f}MB {r['in_rows_per_s']:>11,}"
        )


if __name__ == "__main__":
    main()

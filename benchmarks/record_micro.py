"""Micro-benchmark: pgjet's compiled Record vs asyncpg.Record vs a plain tuple.

    PYTHONPATH=src python benchmarks/record_micro.py [--rows N]

Per kind of row it times building N rows of (int, str, float, None) from Python,
reading a field by position and by name, one full ``gc.collect()`` while they are
alive (what decides large-result speed: tracked rows are walked by every
collection), and the memory each row costs. Construction here goes through a
Python-level call for all three kinds, so it measures call overhead as much as
allocation; the wire core builds rows through the C API instead.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from asyncpg.protocol.protocol import _create_record

from pgjet._wire.record import RecordDescriptor

NAMES = ("id", "name", "score", "note")


def builders() -> dict[str, Callable[[tuple[Any, ...]], Any]]:
    desc = RecordDescriptor(NAMES)
    mapping = {name: i for i, name in enumerate(NAMES)}
    return {
        "pgjet.Record": desc.make,
        "asyncpg.Record": lambda values: _create_record(mapping, values),
        "tuple": lambda values: (*values,),
    }


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(kind: str, build: Callable[[tuple[Any, ...]], Any], n: int) -> dict[str, Any]:
    source = [(i, "name", 1.5, None) for i in range(n)]
    by_name = kind != "tuple"
    gc.collect()
    gc.disable()
    try:
        rows: list[Any] = []
        build_time = best_of(3, lambda: rows.__setitem__(slice(None), [build(v) for v in source]))
        index_time = best_of(3, lambda: [r[0] for r in rows])
        name_time = best_of(3, lambda: [r["name"] for r in rows]) if by_name else float("nan")
        gc_time = best_of(3, gc.collect)
        tracked = sum(map(gc.is_tracked, rows[:1000])) / 10
    finally:
        gc.enable()
    rows.clear()
    gc.collect()
    tracemalloc.start()
    kept = [build(v) for v in source[:100_000]]
    per_row = tracemalloc.get_traced_memory()[0] / len(kept)
    tracemalloc.stop()
    return {
        "kind": kind,
        "build": build_time,
        "r[0]": index_time,
        "r['name']": name_time,
        "gc.collect": gc_time,
        "tracked %": tracked,
        "bytes/row": per_row,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"{args.rows:,} rows of (int, str, float, None); best of 3, seconds")
    header = ("kind", "build", "r[0]", "r['name']", "gc.collect", "tracked %", "bytes/row")
    print("".join(f"{h:>15}" for h in header))
    for kind, build in builders().items():
        result = measure(kind, build, args.rows)
        cells = [result["kind"]]
        cells += [f"{result[h]:.3f}" for h in header[1:5]]
        cells += [f"{result['tracked %']:.0f}", f"{result['bytes/row']:.0f}"]
        print("".join(f"{c:>15}" for c in cells))


if __name__ == "__main__":
    main()

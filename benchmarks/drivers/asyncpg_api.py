"""W1..W7 (and W3c) for drivers with asyncpg's API: asyncpg itself and pgjet.

Both run exactly this code, so any difference between them is the driver's. A feature
pgjet does not have yet raises :class:`Unsupported` (reported as n/a).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import random
import time
from typing import Any

from benchmarks import workloads as wl
from benchmarks.drivers.common import (
    Sample,
    Unsupported,
    WrongResult,
    rate_of_median,
    repeat,
    run_for,
)
from benchmarks.workloads import Sizes


async def run(
    module_name: str, workload: str, dsn: str, sizes: Sizes, options: dict[str, Any]
) -> Sample:
    module = importlib.import_module(module_name)
    runner = _RUNNERS[workload]
    return await runner(module, dsn, sizes, options)


def _require(obj: Any, name: str, owner: str) -> Any:
    method = getattr(obj, name, None)
    if method is None:
        raise Unsupported(f"{owner}.{name} does not exist yet")
    return method


async def _w1(module: Any, dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    conn = await module.connect(dsn)
    try:
        fetchval = conn.fetchval
        sql = wl.W1_SQL
        end = time.perf_counter() + sizes.warmup_seconds
        i = 0
        while time.perf_counter() < end:
            if await fetchval(sql, i) != i:
                raise WrongResult(f"SELECT $1::int returned a wrong value for {i}")
            i += 1
        clock = time.perf_counter_ns
        latencies: list[int] = []
        append = latencies.append
        n = 0
        start = t0 = clock()
        deadline = start + int(sizes.w1_seconds * 1e9)
        while t0 < deadline:
            value = await fetchval(sql, n)
            t1 = clock()
            append(t1 - t0)
            if value != n:
                raise WrongResult(f"SELECT $1::int returned {value!r} for {n}")
            n += 1
            t0 = t1
        seconds = (t0 - start) / 1e9
        return Sample(value=n / seconds, count=n, seconds=seconds, latencies_ns=latencies)
    finally:
        await conn.close()


async def _w2(module: Any, dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    conn = await module.connect(dsn)
    try:
        jsonb_mode = options["jsonb"]
        if jsonb_mode == "codec":
            set_codec = _require(conn, "set_type_codec", "Connection")
            await set_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        parse_in_loop = jsonb_mode == "loop"
        fetch = conn.fetch
        sql = wl.W2_SQL
        loads = json.loads
        j = wl.W2_JSONB_INDEX
        expected = sizes.w2_rows
        clock = time.perf_counter

        async def once() -> float:
            t0 = clock()
            rows = await fetch(sql)
            if parse_in_loop:
                for row in rows:
                    loads(row[j])
            elapsed = clock() - t0
            if len(rows) != expected:
                raise WrongResult(f"W2 fetched {len(rows)} rows, expected {expected}")
            return elapsed

        await repeat(once, sizes.warmup_seconds, 2)
        sample = rate_of_median(1, await repeat(once, sizes.min_time, sizes.min_reps))
        first = list((await fetch(sql + " ORDER BY id LIMIT 1"))[0])
        if parse_in_loop:
            first[j] = loads(first[j])
        sample.caveats = wl.type_mismatches(first)
        return sample
    finally:
        await conn.close()


async def _w3(module: Any, dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    conn = await module.connect(dsn)
    try:
        fetch = conn.fetch
        sql = wl.W3_SQL
        expected = sizes.w3_rows
        clock = time.perf_counter

        async def once() -> float:
            t0 = clock()
            rows = await fetch(sql)
            elapsed = clock() - t0
            if len(rows) != expected:
                raise WrongResult(f"W3 fetched {len(rows)} rows, expected {expected}")
            return elapsed

        await repeat(once, sizes.warmup_seconds, 1)
        sample = rate_of_median(expected, await repeat(once, sizes.min_time, sizes.min_reps))
        row = await conn.fetchrow(sql + " LIMIT 1")
        if tuple(type(v) for v in row) != (int, str, float):
            raise WrongResult(f"W3 row decoded as {tuple(row)!r}")
        return sample
    finally:
        await conn.close()


async def _w3c(module: Any, dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    """W3 as columns: pgjet's ``fetch_numpy()``; asyncpg has no columnar fetch, so it runs
    ``fetch()``, its fastest way to the whole result."""
    conn = await module.connect(dsn)
    try:
        fetch_numpy = getattr(conn, "fetch_numpy", None)
        if fetch_numpy is None and module.__name__ == "pgjet":
            # An older pgjet (--pgjet <ref>) must not be measured running fetch() instead.
            raise Unsupported("Connection.fetch_numpy does not exist yet")
        if fetch_numpy is not None:
            import numpy  # noqa: F401  (missing numpy: n/a, not a failed measurement)
        fetch = fetch_numpy or conn.fetch
        sql = wl.W3_SQL
        expected = sizes.w3_rows
        clock = time.perf_counter
        last: list[Any] = [None]

        async def once() -> float:
            t0 = clock()
            result = await fetch(sql)
            elapsed = clock() - t0
            # Rows: len() is the row count; columns: the length of one column.
            count = len(result["a"]) if fetch_numpy is not None else len(result)
            if count != expected:
                raise WrongResult(f"W3c fetched {count} rows, expected {expected}")
            last[0] = result
            return elapsed

        await repeat(once, sizes.warmup_seconds, 1)
        sample = rate_of_median(expected, await repeat(once, sizes.min_time, sizes.min_reps))
        if fetch_numpy is not None:
            problems = wl.w3_column_problems(last[0], expected)
            if problems:
                raise WrongResult("W3c fetch_numpy(): " + "; ".join(problems))
            sample.api = "fetch_numpy()"
        else:
            row = last[0][0]
            if tuple(type(v) for v in row) != (int, str, float) or row[1] != f"row-{row[0]}":
                raise WrongResult(f"W3c row decoded as {tuple(row)!r}")
            sample.api = "fetch()"
        return sample
    finally:
        await conn.close()


async def _w4(module: Any, dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    create_pool = _require(module, "create_pool", module.__name__)
    extra: dict[str, Any] = {}
    if options.get("noop_reset"):

        async def no_reset(conn: Any) -> None:
            return None

        extra["reset"] = no_reset
    pool = await create_pool(dsn, min_size=sizes.w4_pool, max_size=sizes.w4_pool, **extra)
    try:
        sql = wl.W4_SQL
        keys = sizes.w4_keys
        done = [0]
        stop = asyncio.Event()

        async def worker(seed: int) -> None:
            rng = random.Random(seed)
            while not stop.is_set():
                key = rng.randint(1, keys)
                async with pool.acquire() as conn:
                    row = await conn.fetchrow(sql, key)
                if row[0] != key:
                    raise WrongResult(f"PK lookup of {key} returned {tuple(row)!r}")
                done[0] += 1

        return await _drive_tasks(worker, sizes, done, stop)
    finally:
        await pool.close()


async def _drive_tasks(worker: Any, sizes: Sizes, done: list[int], stop: asyncio.Event) -> Sample:
    """Run ``sizes.w4_tasks`` workers; count what they complete in the timed window."""
    tasks = [asyncio.ensure_future(worker(seed)) for seed in range(sizes.w4_tasks)]
    try:
        await asyncio.sleep(sizes.warmup_seconds)
        count0, t0 = done[0], time.perf_counter()
        await asyncio.sleep(sizes.w4_seconds)
        count1, t1 = done[0], time.perf_counter()
    finally:
        stop.set()
    await asyncio.gather(*tasks)
    count = count1 - count0
    return Sample(value=count / (t1 - t0), count=count, seconds=t1 - t0)


async def _w5(module: Any, dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    conn = await module.connect(dsn)
    try:
        executemany = _require(conn, "executemany", "Connection")
        rows = wl.insert_rows(sizes.w5_rows)
        sql = wl.W5_SQL
        truncate = f"TRUNCATE {wl.W5_TABLE}"
        clock = time.perf_counter

        async def once(batch: list[tuple[int, str, float]] = rows) -> float:
            await conn.execute(truncate)
            t0 = clock()
            await executemany(sql, batch)
            return clock() - t0

        await once(rows[: max(1, len(rows) // 10)])
        sample = rate_of_median(len(rows), await repeat(once, sizes.min_time, sizes.min_reps))
        stored = await conn.fetchval(f"SELECT count(*) FROM {wl.W5_TABLE}")
        if stored != len(rows):
            raise WrongResult(f"executemany stored {stored} rows, expected {len(rows)}")
        return sample
    finally:
        await conn.close()


async def _w6(module: Any, dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    conn = await module.connect(dsn)
    try:
        copy = _require(conn, "copy_records_to_table", "Connection")
        rows = wl.insert_rows(sizes.w6_rows)
        columns = list(wl.COPY_COLUMNS)
        clock = time.perf_counter

        async def once(batch: list[tuple[int, str, float]] = rows) -> float:
            await conn.execute(f"TRUNCATE {wl.W6_TABLE}")
            t0 = clock()
            await copy(wl.W6_TABLE, records=batch, columns=columns)
            return clock() - t0

        await once(rows[: max(1, len(rows) // 100)])
        sample = rate_of_median(len(rows), await repeat(once, 0.0, 1))
        stored = await conn.fetchval(f"SELECT count(*) FROM {wl.W6_TABLE}")
        if stored != len(rows):
            raise WrongResult(f"COPY stored {stored} rows, expected {len(rows)}")
        return sample
    finally:
        await conn.close()


async def _w7(module: Any, dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    connect = module.connect

    async def step(_: int) -> None:
        conn = await connect(dsn)
        await conn.close()

    count, seconds = await run_for(sizes.w7_seconds, step, sizes.warmup_seconds)
    return Sample(value=count / seconds, count=count, seconds=seconds)


_RUNNERS = {
    "W1": _w1,
    "W2": _w2,
    "W3": _w3,
    "W3c": _w3c,
    "W4": _w4,
    "W5": _w5,
    "W6": _w6,
    "W7": _w7,
}

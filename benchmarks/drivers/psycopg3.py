"""W1..W7 (and W3c) for psycopg 3, async, with binary result cursors.

Connections are ``autocommit=True`` so that each statement is its own transaction, as
with asyncpg and pgjet (psycopg's default would open a transaction and make the pool
roll it back on every release). ``prepare_threshold`` keeps its default (5): repeated
statements are prepared server-side, as asyncpg's statement cache does.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from typing import Any

import psycopg

from benchmarks import workloads as wl
from benchmarks.drivers.asyncpg_api import _drive_tasks
from benchmarks.drivers.common import (
    Sample,
    Unsupported,
    WrongResult,
    rate_of_median,
    repeat,
    run_for,
)
from benchmarks.workloads import Sizes


def placeholders(sql: str) -> str:
    """``$1, $2`` (in order) to psycopg's ``%s``."""
    return re.sub(r"\$\d+", "%s", sql)


async def _connect(dsn: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(dsn, autocommit=True)


async def run(workload: str, dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    return await _RUNNERS[workload](dsn, sizes, options)


async def _w1(dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    conn = await _connect(dsn)
    try:
        cur = conn.cursor(binary=True)
        execute = cur.execute
        fetchone = cur.fetchone
        sql = placeholders(wl.W1_SQL)
        end = time.perf_counter() + sizes.warmup_seconds
        i = 0
        while time.perf_counter() < end:
            await execute(sql, (i,))
            row = await fetchone()
            if row is None or row[0] != i:
                raise WrongResult(f"SELECT %s::int returned {row!r} for {i}")
            i += 1
        clock = time.perf_counter_ns
        latencies: list[int] = []
        append = latencies.append
        n = 0
        start = t0 = clock()
        deadline = start + int(sizes.w1_seconds * 1e9)
        while t0 < deadline:
            await execute(sql, (n,))
            row = await fetchone()
            t1 = clock()
            append(t1 - t0)
            if row is None or row[0] != n:
                raise WrongResult(f"SELECT %s::int returned {row!r} for {n}")
            n += 1
            t0 = t1
        seconds = (t0 - start) / 1e9
        return Sample(value=n / seconds, count=n, seconds=seconds, latencies_ns=latencies)
    finally:
        await conn.close()


async def _fetch_all(dsn: str, sql: str, expected: int, sizes: Sizes, units: int) -> Sample:
    conn = await _connect(dsn)
    try:
        cur = conn.cursor(binary=True)
        clock = time.perf_counter

        async def once() -> float:
            t0 = clock()
            await cur.execute(sql)
            rows = await cur.fetchall()
            elapsed = clock() - t0
            if len(rows) != expected:
                raise WrongResult(f"fetched {len(rows)} rows, expected {expected}")
            return elapsed

        await repeat(once, sizes.warmup_seconds, 2)
        sample = rate_of_median(units, await repeat(once, sizes.min_time, sizes.min_reps))
        await cur.execute(sql + (" ORDER BY id" if sql == wl.W2_SQL else "") + " LIMIT 1")
        first = await cur.fetchone()
        if sql == wl.W2_SQL:
            sample.caveats = wl.type_mismatches(first)
        elif first is None or tuple(type(v) for v in first) != (int, str, float):
            raise WrongResult(f"W3 row decoded as {first!r}")
        return sample
    finally:
        await conn.close()


async def _w2(dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    # jsonb: psycopg's default loader parses it with json.loads, in every jsonb mode.
    return await _fetch_all(dsn, wl.W2_SQL, sizes.w2_rows, sizes, 1)


async def _w3(dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    return await _fetch_all(dsn, wl.W3_SQL, sizes.w3_rows, sizes, sizes.w3_rows)


async def _w3c(dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    # psycopg has no columnar fetch: W3's fetchall(), so its column is there for reference.
    sample = await _fetch_all(dsn, wl.W3_SQL, sizes.w3_rows, sizes, sizes.w3_rows)
    sample.api = "cursor.fetchall() (binary)"
    return sample


async def _w4(dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    try:
        from psycopg_pool import AsyncConnectionPool
    except ImportError:
        raise Unsupported("psycopg_pool is not installed (pip install psycopg-pool)") from None
    pool = AsyncConnectionPool(
        dsn,
        min_size=sizes.w4_pool,
        max_size=sizes.w4_pool,
        kwargs={"autocommit": True},
        open=False,
    )
    await pool.open(wait=True)
    try:
        sql = placeholders(wl.W4_SQL)
        keys = sizes.w4_keys
        done = [0]
        stop = asyncio.Event()

        async def worker(seed: int) -> None:
            rng = random.Random(seed)
            while not stop.is_set():
                key = rng.randint(1, keys)
                async with pool.connection() as conn:
                    cur = await conn.execute(sql, (key,), binary=True)
                    row = await cur.fetchone()
                if row is None or row[0] != key:
                    raise WrongResult(f"PK lookup of {key} returned {row!r}")
                done[0] += 1

        return await _drive_tasks(worker, sizes, done, stop)
    finally:
        await pool.close()


async def _w5(dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    conn = await _connect(dsn)
    try:
        cur = conn.cursor(binary=True)
        rows = wl.insert_rows(sizes.w5_rows)
        sql = placeholders(wl.W5_SQL)
        clock = time.perf_counter

        async def once(batch: list[tuple[int, str, float]] = rows) -> float:
            await conn.execute(f"TRUNCATE {wl.W5_TABLE}")
            t0 = clock()
            await cur.executemany(sql, batch)
            return clock() - t0

        await once(rows[: max(1, len(rows) // 10)])
        sample = rate_of_median(len(rows), await repeat(once, sizes.min_time, sizes.min_reps))
        await _check_count(conn, wl.W5_TABLE, len(rows))
        return sample
    finally:
        await conn.close()


async def _w6(dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    conn = await _connect(dsn)
    try:
        rows = wl.insert_rows(sizes.w6_rows)
        columns = ", ".join(wl.COPY_COLUMNS)
        sql = f"COPY {wl.W6_TABLE} ({columns}) FROM STDIN (FORMAT BINARY)"
        types = list(wl.COPY_TYPES)
        clock = time.perf_counter

        async def once(batch: list[tuple[int, str, float]] = rows) -> float:
            await conn.execute(f"TRUNCATE {wl.W6_TABLE}")
            t0 = clock()
            async with conn.cursor() as cur, cur.copy(sql) as copy:
                copy.set_types(types)
                write_row = copy.write_row
                for row in batch:
                    await write_row(row)
            return clock() - t0

        await once(rows[: max(1, len(rows) // 100)])
        sample = rate_of_median(len(rows), await repeat(once, 0.0, 1))
        await _check_count(conn, wl.W6_TABLE, len(rows))
        return sample
    finally:
        await conn.close()


async def _check_count(conn: psycopg.AsyncConnection[Any], table: str, expected: int) -> None:
    cur = await conn.execute(f"SELECT count(*) FROM {table}")
    row = await cur.fetchone()
    if row is None or row[0] != expected:
        raise WrongResult(f"{table} holds {row!r} rows, expected {expected}")


async def _w7(dsn: str, sizes: Sizes, options: dict[str, Any]) -> Sample:
    async def step(_: int) -> None:
        conn = await _connect(dsn)
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

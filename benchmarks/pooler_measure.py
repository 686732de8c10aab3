"""One pooler/latency measurement in a fresh process:
``python -m benchmarks.pooler_measure '<json spec>'`` (run by ``benchmarks.pooler``).

Kinds of measurement (``spec["kind"]``):

- ``w1``: W1 (sequential ``SELECT $1::int`` fetchval on one connection) through
  PgBouncer in transaction mode, each driver with the settings that work there;
- ``rtt``: 10 independent queries on one connection through a delay proxy; the
  value is the median wall time of a batch of 10 in round trips (wall / RTT);
- ``stress``: the 20 tasks x 100 queries scenario of ``benchmarks.pooler_stress``
  through PgBouncer; errors and wrong results are counted, not raised.

Prints one JSON object, like ``benchmarks.measure``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.drivers.common import Sample, WrongResult, median, percentile
from benchmarks.measure import run_on_loop

W1_SQL = "SELECT $1::int"
RTT_SQL = "SELECT $1::int4 * 2"

W1_DRIVERS = {
    "pgjet": "pgjet, prepared_statements=auto (detects the pooler, goes unnamed)",
    "asyncpg": "asyncpg, statement_cache_size=0",
    "psycopg": "psycopg, prepare_threshold=None, binary",
}
RTT_VARIANTS = {
    "pgjet-gather": "pgjet: asyncio.gather of 10 calls",
    "pgjet-gather-unnamed": "pgjet, prepared_statements=unnamed: asyncio.gather",
    "pgjet-pipeline": "pgjet: async with conn.pipeline()",
    "asyncpg-sequential": "asyncpg: awaited one by one (gather on one connection is refused)",
    "psycopg-pipeline": "psycopg: async with conn.pipeline()",
}
STRESS_CLIENTS = {
    "pgjet-auto": "pgjet, default (prepared_statements=auto)",
    "pgjet-named": "pgjet, prepared_statements=named",
    "pgjet-unnamed": "pgjet, prepared_statements=unnamed",
    "asyncpg-default": "asyncpg, default statement cache",
    "asyncpg-nocache": "asyncpg, statement_cache_size=0",
    "psycopg-default": "psycopg, default prepare_threshold (5)",
    "psycopg-noprepare": "psycopg, prepare_threshold=None",
}


# -- W1 through the pooler ---------------------------------------------------------------


async def _w1_loop(
    fetchval: Callable[[int], Awaitable[Any]], seconds: float, warmup: float
) -> Sample:
    clock = time.perf_counter_ns
    end = clock() + int(warmup * 1e9)
    i = 0
    while clock() < end:
        if await fetchval(i) != i:
            raise WrongResult(f"SELECT $1::int returned a wrong value for {i}")
        i += 1
    latencies: list[int] = []
    n = 0
    start = t0 = clock()
    deadline = start + int(seconds * 1e9)
    while t0 < deadline:
        value = await fetchval(n)
        t1 = clock()
        latencies.append(t1 - t0)
        if value != n:
            raise WrongResult(f"SELECT $1::int returned {value!r} for {n}")
        n += 1
        t0 = t1
    elapsed = (t0 - start) / 1e9
    return Sample(value=n / elapsed, count=n, seconds=elapsed, latencies_ns=latencies)


async def measure_w1(spec: dict[str, Any]) -> dict[str, Any]:
    driver, dsn = spec["driver"], spec["dsn"]
    seconds, warmup = spec["seconds"], spec["warmup"]
    extra: dict[str, Any] = {}
    if driver == "pgjet":
        import pgjet

        conn = await pgjet.connect(dsn)
        try:
            sample = await _w1_loop(lambda i: conn.fetchval(W1_SQL, i), seconds, warmup)
            extra["statement_mode"] = conn.statement_mode
            extra["pooler_detected"] = conn.pooler_detected
        finally:
            await conn.close()
    elif driver == "asyncpg":
        import asyncpg

        aconn = await asyncpg.connect(dsn, statement_cache_size=0)
        try:
            sample = await _w1_loop(lambda i: aconn.fetchval(W1_SQL, i), seconds, warmup)
        finally:
            await aconn.close()
    elif driver == "psycopg":
        import psycopg

        pconn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, prepare_threshold=None)
        try:
            cur = pconn.cursor(binary=True)

            async def fetchval(i: int) -> Any:
                await cur.execute("SELECT %s::int", (i,))
                row = await cur.fetchone()
                return None if row is None else row[0]

            sample = await _w1_loop(fetchval, seconds, warmup)
        finally:
            await pconn.close()
    else:
        raise ValueError(f"unknown W1 driver {driver!r}; choose from {', '.join(W1_DRIVERS)}")
    return {
        "status": "ok",
        "value": sample.value,
        "count": sample.count,
        "seconds": sample.seconds,
        "p50_us": percentile(sample.latencies_ns or [0], 0.50) / 1000,
        "p99_us": percentile(sample.latencies_ns or [0], 0.99) / 1000,
        **extra,
    }


# -- round trips through the delay proxy ---------------------------------------------------


def _check(batch: int, results: list[Any]) -> None:
    want = [2 * (batch * 10 + i) for i in range(10)]
    if list(results) != want:
        raise WrongResult(f"batch {batch}: got {results!r}, want {want!r}")


async def _pgjet_batch(conn: Any, batch: int, pipeline: bool) -> None:
    args = [batch * 10 + i for i in range(10)]
    if pipeline:
        async with conn.pipeline() as p:
            handles = [p.fetchval(RTT_SQL, a) for a in args]
        _check(batch, [await h for h in handles])
    else:
        _check(batch, await asyncio.gather(*(conn.fetchval(RTT_SQL, a) for a in args)))


async def _asyncpg_batch(conn: Any, batch: int) -> None:
    _check(batch, [await conn.fetchval(RTT_SQL, batch * 10 + i) for i in range(10)])


async def _psycopg_batch(conn: Any, batch: int) -> None:
    sql = RTT_SQL.replace("$1", "%s")
    # Leaving the block syncs once; an explicit p.sync() inside would add a second
    # round trip (the exit syncs again).
    async with conn.pipeline():
        cursors = [conn.cursor(binary=True) for _ in range(10)]
        for i, cur in enumerate(cursors):
            await cur.execute(sql, (batch * 10 + i,))
    _check(batch, [(await cur.fetchone())[0] for cur in cursors])


async def measure_rtt(spec: dict[str, Any]) -> dict[str, Any]:
    variant, dsn, rtt, reps = spec["variant"], spec["dsn"], spec["rtt"], spec["repetitions"]
    conn: Any
    run_batch: Callable[[int], Awaitable[None]]
    if variant.startswith("pgjet"):
        import pgjet

        mode = "unnamed" if variant.endswith("unnamed") else "auto"
        conn = await pgjet.connect(dsn, prepared_statements=mode)
        pipeline = variant == "pgjet-pipeline"

        def run_batch(b: int) -> Awaitable[None]:
            return _pgjet_batch(conn, b, pipeline)

    elif variant == "asyncpg-sequential":
        import asyncpg

        conn = await asyncpg.connect(dsn)

        def run_batch(b: int) -> Awaitable[None]:
            return _asyncpg_batch(conn, b)

    elif variant == "psycopg-pipeline":
        import psycopg

        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)

        def run_batch(b: int) -> Awaitable[None]:
            return _psycopg_batch(conn, b)

    else:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(RTT_VARIANTS)}")
    try:
        await run_batch(0)  # warm-up: the statement is known (prepared/described) from here
        walls = []
        for b in range(1, reps + 1):
            started = time.perf_counter()
            await run_batch(b)
            walls.append(time.perf_counter() - started)
    finally:
        await conn.close()
    wall = median(walls)
    return {
        "status": "ok",
        "value": wall / rtt,
        "wall_ms": wall * 1000,
        "walls_ms": [round(w * 1000, 2) for w in walls],
    }


# -- correctness behind the pooler ---------------------------------------------------------


async def measure_stress(spec: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.pooler_stress import PsycopgClient, Serialized, run_stress

    client, dsn, table = spec["client"], spec["dsn"], spec["table"]
    driver, _, setting = client.partition("-")
    raw: list[Any] = []
    clients: list[Any] = []
    for _ in range(spec["connections"]):
        if driver == "pgjet":
            import pgjet

            conn: Any = await pgjet.connect(dsn, prepared_statements=setting)
            clients.append(conn)
        elif driver == "asyncpg":
            import asyncpg

            cache = 0 if setting == "nocache" else 100
            conn = await asyncpg.connect(dsn, statement_cache_size=cache)
            clients.append(Serialized(conn))
        elif driver == "psycopg":
            import psycopg

            kwargs: dict[str, Any] = {"prepare_threshold": None} if setting == "noprepare" else {}
            conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, **kwargs)
            clients.append(PsycopgClient(conn))
        else:
            raise ValueError(f"unknown client {client!r}; choose from {', '.join(STRESS_CLIENTS)}")
        raw.append(conn)
    started = time.perf_counter()
    try:
        result = await run_stress(
            clients, table, tasks=spec["tasks"], queries=spec["queries"], seed=spec["seed"]
        )
    finally:
        for conn in raw:
            # a connection the pooler confused: the counts are the result
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)
    return {
        "status": "ok",
        "value": float(len(result.errors) + len(result.wrong) + len(result.bad_rows)),
        "seconds": time.perf_counter() - started,
        "queries": result.queries,
        "errors": len(result.errors),
        "wrong": len(result.wrong),
        "bad_rows": len(result.bad_rows),
        "examples": (result.errors[:2] + result.wrong[:2] + result.bad_rows[:2]),
    }


MEASURES = {"w1": measure_w1, "rtt": measure_rtt, "stress": measure_stress}


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        result: dict[str, Any] = run_on_loop(
            spec.get("loop", "asyncio"), MEASURES[spec["kind"]](spec)
        )
        return result
    except WrongResult as exc:
        return {"status": "error", "reason": f"wrong result: {exc}"}
    except ImportError as exc:
        return {"status": "n/a", "reason": f"cannot import: {exc}"}
    except Exception as exc:
        traceback.print_exc()
        return {"status": "error", "reason": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m benchmarks.pooler_measure '<json spec>'", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(measure(json.loads(argv[0]))) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

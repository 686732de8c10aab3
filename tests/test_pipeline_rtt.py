"""Round trips, counted with a delay proxy: 10 independent queries cost about one.

``FaultProxy.latency`` delays every chunk by that much in each direction, so one
round trip (RTT) through it is ``2 * latency`` plus the server's own time (well
under a millisecond here). With an 80 ms RTT, 10 queries awaited one by one take
800 ms and pipelined ones about 80 ms: the bound of 1.5 RTT leaves 40 ms for
scheduling noise on a loaded machine, and each measurement keeps the best of three
attempts (noise only ever adds time). Then pipeline() errors: the failing statement
raises its own error, later ones in the same Sync ``PipelineAbortedError``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import pgjet
from pgjet import errors
from pgjet.testing.proxy import FaultProxy

pytestmark = pytest.mark.parametrize("server_kind", ["pg18"], indirect=True)

LATENCY = 0.04
RTT = 2 * LATENCY
ATTEMPTS = 3


@pytest.fixture
async def proxy(cluster: Any) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(cluster.host, cluster.port) as started:
        yield started


async def _connect(cluster: Any, proxy: FaultProxy, **kwargs: Any) -> pgjet.Connection:
    return await pgjet.connect(cluster.dsn(host=proxy.host, port=proxy.port), **kwargs)


QUERIES = [
    ("fetchval", "SELECT $1::int4 * 2"),
    ("fetchrow", "SELECT $1::int4 AS n, $1::int4::text AS s"),
    ("fetch", "SELECT g FROM generate_series(1, $1::int4) AS g"),
]


def ten_queries(conn: Any, base: int) -> list[Awaitable[Any]]:
    """10 independent queries (three shapes) through ``conn`` or a pipeline."""
    calls = []
    for i in range(10):
        method, sql = QUERIES[i % len(QUERIES)]
        calls.append(getattr(conn, method)(sql, base + i))
    return calls


def check_ten(results: list[Any], base: int) -> None:
    for i, got in enumerate(results):
        n = base + i
        if i % 3 == 0:
            assert got == n * 2
        elif i % 3 == 1:
            assert tuple(got) == (n, str(n))
        else:
            assert [r[0] for r in got] == list(range(1, n + 1))


async def best_time(attempt: Callable[[int], Awaitable[None]]) -> float:
    """The fastest of ``ATTEMPTS`` runs of ``attempt(k)``, in seconds."""
    best = float("inf")
    for k in range(ATTEMPTS):
        started = time.monotonic()
        await attempt(k)
        best = min(best, time.monotonic() - started)
    return best


def assert_about_one_round_trip(seconds: float) -> None:
    # A lower bound too: the proxy really delays (else the upper bound proves nothing).
    assert 0.9 * RTT <= seconds <= 1.5 * RTT, f"{seconds * 1000:.0f} ms, RTT {RTT * 1000:.0f} ms"


@pytest.mark.parametrize("mode", ["named", "unnamed"])
async def test_gather_of_ten_queries_takes_one_round_trip(
    cluster: Any, proxy: FaultProxy, mode: str, hang_guard: None
) -> None:
    conn = await _connect(cluster, proxy, prepared_statements=mode)
    try:
        check_ten(await asyncio.gather(*ten_queries(conn, 5)), 5)  # warm-up: statements known
        proxy.latency = LATENCY

        async def attempt(k: int) -> None:
            base = 10 + 10 * k
            check_ten(await asyncio.gather(*ten_queries(conn, base)), base)

        assert_about_one_round_trip(await best_time(attempt))
        assert conn.statement_mode == mode
    finally:
        proxy.latency = 0
        await conn.close()


async def test_sequential_awaits_take_one_round_trip_each(
    cluster: Any, proxy: FaultProxy, hang_guard: None
) -> None:
    """The yardstick the two tests above are read against (asyncpg's only option)."""
    conn = await _connect(cluster, proxy)
    try:
        check_ten([await q for q in ten_queries(conn, 5)], 5)
        proxy.latency = LATENCY
        started = time.monotonic()
        check_ten([await q for q in ten_queries(conn, 20)], 20)
        assert time.monotonic() - started >= 10 * 0.9 * RTT
    finally:
        proxy.latency = 0
        await conn.close()


async def test_pipeline_of_ten_queries_takes_one_round_trip(
    cluster: Any, proxy: FaultProxy, hang_guard: None
) -> None:
    conn = await _connect(cluster, proxy)
    try:
        async with conn.pipeline() as p:  # warm-up
            warm = ten_queries(p, 5)
        check_ten([await h for h in warm], 5)
        proxy.latency = LATENCY

        async def attempt(k: int) -> None:
            base = 10 + 10 * k
            async with conn.pipeline() as p:
                handles = ten_queries(p, base)
                sent = proxy.bytes_to_server
                await asyncio.sleep(0.01)
                assert proxy.bytes_to_server == sent  # queued, not sent before the sync
            check_ten([await h for h in handles], base)

        assert_about_one_round_trip(await best_time(attempt) - 0.01)
    finally:
        proxy.latency = 0
        await conn.close()


async def test_pipeline_sync_then_more_statements(
    cluster: Any, proxy: FaultProxy, hang_guard: None
) -> None:
    """An explicit sync() sends what is queued; statements queued after it go with the
    next sync (leaving the block): two round trips for two batches."""
    conn = await _connect(cluster, proxy)
    try:
        check_ten(await asyncio.gather(*ten_queries(conn, 1)), 1)
        proxy.latency = LATENCY
        started = time.monotonic()
        async with conn.pipeline() as p:
            first = ten_queries(p, 1)
            await p.sync()
            synced = time.monotonic() - started
            second = ten_queries(p, 11)
        total = time.monotonic() - started
        check_ten([await h for h in first], 1)
        check_ten([await h for h in second], 11)
        assert 0.9 * RTT <= synced <= 1.5 * RTT + 0.1  # one attempt only: looser
        assert 1.8 * RTT <= total <= 2.5 * RTT + 0.2
    finally:
        proxy.latency = 0
        await conn.close()


# -- errors in a pipeline ------------------------------------------------------------------


async def test_pipeline_error_aborts_the_rest_of_its_sync(conn: pgjet.Connection) -> None:
    with pytest.raises(errors.DivisionByZeroError):
        async with conn.pipeline() as p:
            before = p.fetchval("SELECT $1::int4 + 1", 1)
            failing = p.fetchval("SELECT 1 / $1::int4", 0)
            after = p.fetchval("SELECT $1::int4 + 1", 2)
            after_rows = p.fetch("SELECT generate_series(1, 3)")
            after_status = p.execute("SELECT 1")
    assert await before == 2
    with pytest.raises(errors.DivisionByZeroError):
        await failing
    for handle in (after, after_rows, after_status):
        with pytest.raises(errors.PipelineAbortedError):
            await handle
    assert await conn.fetchval("SELECT 42") == 42  # the connection is fine afterwards
    assert not conn.is_in_transaction()


async def test_pipeline_error_at_parse_time(conn: pgjet.Connection) -> None:
    """A statement the server cannot even parse (new texts, described on the way)
    fails alone; the ones before it still run, the ones after are aborted."""
    with pytest.raises(errors.UndefinedTableError):
        async with conn.pipeline() as p:
            before = p.fetchval("SELECT $1::int4 + 10", 1)
            failing = p.fetch("SELECT * FROM no_such_table_in_pipeline WHERE k = $1", 1)
            after = p.fetchval("SELECT $1::int4 + 20", 2)
    assert await before == 11
    with pytest.raises(errors.UndefinedTableError):
        await failing
    with pytest.raises(errors.PipelineAbortedError):
        await after
    assert await conn.fetchval("SELECT $1::int4 + 20", 2) == 22


async def test_pipeline_awaiting_a_handle_syncs(conn: pgjet.Connection) -> None:
    async with conn.pipeline() as p:
        first = p.fetchval("SELECT $1::text", "a")
        second = p.fetchrow("SELECT $1::int8 AS x", 9)
        assert await first == "a"  # syncs what is queued so far
        assert tuple(await second) == (9,)
        later = p.fetchval("SELECT $1::int4", 5)  # goes with the sync on leaving
    assert await later == 5


async def test_pipeline_sync_each_isolates_errors(conn: pgjet.Connection) -> None:
    with pytest.raises(errors.DivisionByZeroError):
        async with conn.pipeline(sync_each=True) as p:
            before = p.fetchval("SELECT $1::int4 + 1", 1)
            failing = p.fetchval("SELECT 1 / $1::int4", 0)
            after = p.fetchval("SELECT $1::int4 + 1", 2)
            missing = p.fetch("SELECT * FROM no_such_table_here")
            last = p.fetchrow("SELECT $1::text AS t", "end")
    assert await before == 2
    with pytest.raises(errors.DivisionByZeroError):
        await failing
    assert await after == 3  # its own Sync: untouched by the error before it
    with pytest.raises(errors.UndefinedTableError):
        await missing
    assert tuple(await last) == ("end",)


async def test_pipeline_block_error_wins(conn: pgjet.Connection) -> None:
    """When the block itself raises, that exception propagates, not the pipeline's."""
    with pytest.raises(KeyError):
        async with conn.pipeline() as p:
            failing = p.fetchval("SELECT 1 / 0")
            (outcome,) = await asyncio.gather(failing, return_exceptions=True)
            assert isinstance(outcome, errors.DivisionByZeroError)
            raise KeyError("mine")
    assert await conn.fetchval("SELECT 1") == 1

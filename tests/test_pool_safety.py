"""Never a dirty or leaked connection: cancellation, mid-query release, stale handles, fork."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import pgjet
from pgjet.pool import PoolForkedError
from pgjet.testing.proxy import FaultProxy


@contextlib.asynccontextmanager
async def _pool(dsn: str, **kwargs: Any) -> AsyncIterator[pgjet.Pool]:
    """A pool whose waits are short, so that a leak fails the test instead of hanging it."""
    pool = await pgjet.create_pool(dsn, acquire_timeout=5, **kwargs)
    try:
        yield pool
    finally:
        await pool.close(timeout=5)


def _accounted(pool: pgjet.Pool) -> None:
    """Every connection is idle again (nothing leaked) and none is mid-query or in a txn."""
    assert pool.get_idle_size() == pool.get_size()
    for slot in pool._idle:
        assert slot.conn._core.pending_count() == 0
        assert not slot.conn.is_in_transaction()


async def test_task_cancelled_mid_query_leaves_a_clean_connection(dsn: str) -> None:
    async with _pool(dsn, min_size=1, max_size=1) as pool:
        entered = asyncio.Event()

        async def user() -> None:
            async with pool.acquire() as con, con.transaction():
                entered.set()
                await con.execute("SELECT pg_sleep(30)")

        task = asyncio.ensure_future(user())
        await entered.wait()
        await asyncio.sleep(0.1)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with pool.acquire(timeout=5) as con:
            assert not con.is_in_transaction()
            assert await con.fetchval("SELECT 1") == 1
        assert time.monotonic() - started < 5  # the server-side query was cancelled
        _accounted(pool)


async def test_release_while_a_query_still_runs(dsn: str) -> None:
    async with _pool(dsn, min_size=1, max_size=1) as pool:
        con = await pool.acquire()
        pid = con.get_server_pid()
        running = asyncio.ensure_future(con.fetchval("SELECT 7 FROM pg_sleep(0.2)"))
        await asyncio.sleep(0.02)
        await pool.release(con)  # waits for the query to end before anyone else gets it
        assert running.done() and running.result() == 7
        async with pool.acquire() as again:
            assert again.get_server_pid() == pid
            assert await again.fetchval("SELECT 8") == 8
        _accounted(pool)


async def test_release_of_a_stuck_query_discards_the_connection(dsn: str) -> None:
    async with _pool(dsn, min_size=1, max_size=1, reset_timeout=0.3) as pool:
        con = await pool.acquire()
        pid = con.get_server_pid()
        running = asyncio.ensure_future(con.fetchval("SELECT pg_sleep(30)"))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await pool.release(con)
        assert time.monotonic() - started < 3
        with pytest.raises(pgjet.ConnectionDoesNotExistError):
            await running
        async with pool.acquire(timeout=5) as again:
            assert again.get_server_pid() != pid
        assert pool.get_stats()["returns_bad"] == 1


async def test_cancelled_while_waiting_leaks_nothing(dsn: str) -> None:
    async with _pool(dsn, min_size=1, max_size=1) as pool:
        held = await pool.acquire()
        waiter = asyncio.ensure_future(pool.acquire(timeout=10).__aenter__())
        await asyncio.sleep(0.02)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await pool.release(held)
        _accounted(pool)
        assert pool.get_stats()["requests_waiting"] == 0


async def test_cancelled_right_after_the_hand_over_leaks_nothing(dsn: str) -> None:
    # The released connection is handed to the waiter, and the waiter's task is
    # cancelled before it runs again: the connection must go back, not vanish.
    async with _pool(dsn, min_size=1, max_size=1) as pool:
        held = await pool.acquire()
        waiter = asyncio.ensure_future(_acquire(pool))
        await asyncio.sleep(0.02)
        assert pool.get_stats()["requests_waiting"] == 1
        await pool.release(held)  # hands over synchronously
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        _accounted(pool)
        assert await pool.fetchval("SELECT 1", timeout=5) == 1


async def _acquire(pool: pgjet.Pool) -> Any:
    return await pool.acquire(timeout=10)


async def test_random_cancellations_leak_nothing(dsn: str) -> None:
    async with _pool(dsn, min_size=2, max_size=3) as pool:
        rng = random.Random(1234)

        async def user(i: int) -> None:
            async with pool.acquire(timeout=20) as con:
                if i % 3 == 0:
                    async with con.transaction():
                        await con.execute("SELECT pg_sleep($1)", rng.random() * 0.02)
                else:
                    await con.fetchval("SELECT pg_sleep($1)", rng.random() * 0.02)

        tasks = [asyncio.ensure_future(user(i)) for i in range(60)]
        for _ in range(20):
            await asyncio.sleep(rng.random() * 0.01)
            rng.choice(tasks).cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        ok = (type(None), asyncio.CancelledError)
        unexpected = [r for r in results if not isinstance(r, ok)]
        assert not unexpected  # e.g. a stray cancel hitting another lease's query
        assert any(isinstance(r, asyncio.CancelledError) for r in results)
        for _ in range(200):  # cleanups of cancelled leases finish in the background
            if pool.get_idle_size() == pool.get_size() and not pool._tasks:
                break
            await asyncio.sleep(0.01)
        _accounted(pool)
        assert 2 <= pool.get_size() <= 3
        assert await pool.fetchval("SELECT 1") == 1


async def test_cancelled_during_the_health_check_leaks_nothing(cluster: Any) -> None:
    # 50 ms each way through the proxy: the health check's round trip takes
    # 100 ms, so a cancel 20 ms into the acquire always lands mid-check.
    async with FaultProxy(cluster.host, cluster.port) as proxy:
        dsn = cluster.dsn(host=proxy.host, port=proxy.port)
        async with _pool(dsn, min_size=1, max_size=1, health_check_after=0.01) as pool:
            await asyncio.sleep(0.05)
            proxy.latency = 0.05
            checks_before = pool.get_stats()["health_checks"]
            task = asyncio.ensure_future(_acquire(pool))
            await asyncio.sleep(0.02)
            assert pool.get_stats()["health_checks"] == checks_before + 1  # it is mid-check
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            proxy.latency = 0.0
            assert await pool.fetchval("SELECT 1", timeout=5) == 1  # replaced if it was lost
            _accounted(pool)


async def test_stale_statements_and_cursors_refuse_to_run(dsn: str) -> None:
    async with _pool(dsn, min_size=1, max_size=1) as pool:
        async with pool.acquire() as con:
            stmt = await con.prepare("SELECT $1::int")
            assert await stmt.fetchval(5) == 5
            async with con.transaction():
                cursor = await con.cursor("SELECT generate_series(1, 10)")
                assert len(await cursor.fetch(2)) == 2
                factory = con.cursor("SELECT 1")
        with pytest.raises(pgjet.InterfaceError, match="released back to the pool"):
            await stmt.fetchval(6)
        with pytest.raises(pgjet.InterfaceError, match="released back to the pool"):
            await cursor.fetch(2)
        with pytest.raises(pgjet.InterfaceError, match="released back to the pool"):
            async for _ in factory:
                pass


async def test_a_forked_child_gets_a_clear_error(dsn: str) -> None:
    async with _pool(dsn, min_size=1, max_size=1) as pool:
        pid_before = await pool.fetchval("SELECT pg_backend_pid()")
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                pool.acquire()
            except PoolForkedError:
                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(pool.fetchval("SELECT 1"))
                except PoolForkedError:
                    loop.run_until_complete(pool.close())  # forgets, touches nothing
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        # The parent's pool and its connection are unaffected.
        assert await pool.fetchval("SELECT pg_backend_pid()") == pid_before
        _accounted(pool)

"""Faults: server restarts, network cuts, refused and exhausted connections.

Restarts and ``max_connections`` use a cluster of this module's own; network
faults go through pgjet.testing.proxy.FaultProxy. Every test checks that the
pool recovered by itself and that no request waited past its deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

import pgjet
from pgjet.pool import PoolTimeout
from pgjet.testing import Cluster
from pgjet.testing.proxy import FaultProxy
from tests.conftest import find_installation

# The proxy tests need one server version only: the faults are in the network.
on_pg18 = pytest.mark.parametrize("server_kind", ["pg18"], indirect=True)

# Errors a request may get while the server goes away: each names what happened.
OUTAGE_ERRORS = (
    pgjet.ConnectionDoesNotExistError,  # the connection died under a query
    pgjet.AdminShutdownError,  # "terminating connection due to administrator command"
    pgjet.CannotConnectNowError,
    PoolTimeout,  # no connection within the deadline; names the last connect error
    asyncio.TimeoutError,  # command_timeout
)


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    """A server this module may restart; 5 connections for non-superusers."""
    settings = {"max_connections": 8, "superuser_reserved_connections": 3}
    with Cluster(find_installation("pg18"), settings=settings) as cluster:
        cluster.create_role("app")
        yield cluster


def _fast_pool(dsn: str, **kwargs: Any) -> pgjet.Pool:
    options: dict[str, Any] = {
        "acquire_timeout": 3.0,
        "reconnect_initial_delay": 0.05,
        "reconnect_max_delay": 0.4,
        "timeout": 2.0,  # connect timeout (asyncpg's name)
    }
    options.update(kwargs)
    return pgjet.create_pool(dsn, **options)


async def test_server_restart_recovers_without_user_action(own_cluster: Cluster) -> None:
    pool = await _fast_pool(own_cluster.dsn(), min_size=3, max_size=3, command_timeout=2.0)
    calls: list[tuple[float, float, BaseException | None]] = []
    stop = asyncio.Event()

    async def user() -> None:
        while not stop.is_set():
            started = time.monotonic()
            error: BaseException | None = None
            try:
                assert await pool.fetchval("SELECT 1") == 1
            except OUTAGE_ERRORS as exc:
                error = exc
            calls.append((started, time.monotonic(), error))
            await asyncio.sleep(0.01)

    try:
        pids_before = {slot.conn.get_server_pid() for slot in pool._slots}
        users = [asyncio.ensure_future(user()) for _ in range(6)]
        await asyncio.sleep(0.3)
        await asyncio.to_thread(own_cluster.restart)
        back = time.monotonic()
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.gather(*users)
        # Nobody waited past acquire_timeout + command_timeout (+ scheduling slack).
        assert max(end - start for start, end, _ in calls) < 3.0 + 2.0 + 1.0
        # Requests in flight at the restart may fail, with a clear error (a
        # request that only waited for a connection rides through it).
        failures = [e for _, _, e in calls if e is not None]
        assert all(isinstance(e, OUTAGE_ERRORS) for e in failures)
        # Once the server is back (and one back-off step has passed) all calls succeed.
        late = [e for start, _, e in calls if start > back + 0.6]
        assert len(late) > 20 and all(e is None for e in late), late
        assert pool.get_size() == 3
        stats = pool.get_stats()
        assert stats["connections_num"] >= 6  # all three were replaced...
        assert stats["connections_errors"] >= 1  # ... after attempts the server refused
        assert not {slot.conn.get_server_pid() for slot in pool._slots} & pids_before
    finally:
        await pool.close(timeout=5)


async def test_exhausted_max_connections_backs_off_with_a_clear_error(
    own_cluster: Cluster,
) -> None:
    pool = await _fast_pool(own_cluster.dsn(user="app"), min_size=0, max_size=8)
    held: list[Any] = []
    try:
        for _ in range(5):  # all a non-superuser may have
            held.append(await pool.acquire())
        pool.pop_stats()
        started = time.monotonic()
        with pytest.raises(PoolTimeout, match="TooManyConnectionsError") as info:
            await pool.acquire(timeout=1.0)
        assert 1.0 <= time.monotonic() - started < 2.0
        assert isinstance(info.value.__cause__, pgjet.TooManyConnectionsError)
        attempts = pool.get_stats()["connections_errors"]
        # With back-off (0.05s doubling to 0.4s) about 5 attempts in a second,
        # not hundreds.
        assert 2 <= attempts <= 10, attempts
        # A server slot frees up: the next request gets a new connection.
        await held[0].close()
        await pool.release(held.pop(0))
        async with pool.acquire(timeout=2.0) as con:
            assert await con.fetchval("SELECT current_user") == "app"
        assert not pool._backoff.failing  # the streak of failures ended
    finally:
        for con in held:
            await pool.release(con)
        await pool.close(timeout=5)


@on_pg18
async def test_half_open_connections_are_replaced(cluster: Any) -> None:
    async with FaultProxy(cluster.host, cluster.port) as proxy:
        dsn = cluster.dsn(host=proxy.host, port=proxy.port)
        pool = await _fast_pool(
            dsn,
            min_size=2,
            max_size=2,
            health_check_after=0.05,
            health_check_timeout=0.3,
            reset_timeout=0.5,
        )
        try:
            con = await pool.acquire()
            await asyncio.sleep(0.1)  # the idle one is now due for a health check
            old_pids = {slot.conn.get_server_pid() for slot in pool._slots}
            proxy.stop_forwarding(new_connections=False)  # the connections go silent

            started = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):
                await con.fetchval("SELECT 1", timeout=0.3)
            assert time.monotonic() - started < 1.0
            started = time.monotonic()
            await pool.release(con)  # stuck mid-query: discarded after reset_timeout
            assert time.monotonic() - started < 1.5

            for _ in range(3):
                started = time.monotonic()
                async with pool.acquire(timeout=3.0) as fresh:
                    assert await fresh.fetchval("SELECT 1", timeout=2) == 1
                    assert fresh.get_server_pid() not in old_pids
                assert time.monotonic() - started < 3.0
            stats = pool.get_stats()
            assert stats["returns_bad"] >= 1  # the stuck lease
            assert stats["connections_lost"] >= 1  # the idle one failed its check
        finally:
            await pool.close(timeout=5)


@on_pg18
async def test_total_cut_times_out_then_recovers(cluster: Any) -> None:
    async with FaultProxy(cluster.host, cluster.port) as proxy:
        dsn = cluster.dsn(host=proxy.host, port=proxy.port)
        pool = await _fast_pool(
            dsn, min_size=1, max_size=1, health_check_after=0.05, health_check_timeout=0.3
        )
        try:
            await asyncio.sleep(0.1)
            proxy.stop_forwarding()  # existing and new connections
            started = time.monotonic()
            with pytest.raises(PoolTimeout):
                await pool.acquire(timeout=1.0)
            assert time.monotonic() - started < 2.0
            proxy.resume_forwarding()
            async with pool.acquire(timeout=5.0) as con:
                assert await con.fetchval("SELECT 1", timeout=2) == 1
        finally:
            await pool.close(timeout=5)


@on_pg18
async def test_refused_connections_call_reconnect_failed(cluster: Any) -> None:
    async with FaultProxy(cluster.host, cluster.port) as proxy:
        dsn = cluster.dsn(host=proxy.host, port=proxy.port)
        failed: list[pgjet.Pool] = []
        pool = await _fast_pool(
            dsn,
            min_size=1,
            max_size=1,
            reconnect_timeout=0.3,
            reconnect_failed=failed.append,
        )
        try:
            proxy.refuse_connections()
            proxy.reset_all()  # the pool's connection dies; it cannot open another
            for _ in range(100):
                if failed:
                    break
                await asyncio.sleep(0.02)
            assert failed == [pool]
            with pytest.raises(PoolTimeout, match="ConnectionRefusedError") as info:
                await pool.acquire(timeout=0.3)
            assert isinstance(info.value.__cause__, OSError)
            proxy.accept_connections()
            assert await pool.fetchval("SELECT 1", timeout=2) == 1
            assert failed == [pool]  # once per outage
        finally:
            await pool.close(timeout=5)

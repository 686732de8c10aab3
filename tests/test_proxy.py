"""pgjet.testing.proxy.FaultProxy: forwarding, latency, cuts, resets, refusals, counters.

Run against a real PostgreSQL server (pgjet connections through the proxy) and,
for the threaded variant, psycopg's synchronous client.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import pgjet
from pgjet.testing.proxy import FaultProxy

pytestmark = pytest.mark.parametrize("server_kind", ["pg18"], indirect=True)


async def _connect(cluster: Any, proxy: Any, **kwargs: Any) -> pgjet.Connection:
    return await pgjet.connect(cluster.dsn(host=proxy.host, port=proxy.port), **kwargs)


async def test_forwards_queries_and_counts_bytes(cluster: Any) -> None:
    async with FaultProxy(cluster.host, cluster.port) as proxy:
        conn = await _connect(cluster, proxy)
        try:
            assert proxy.accepted == 1 and proxy.active == 1
            up, down = proxy.bytes_to_server, proxy.bytes_to_client
            payload = "x" * 100_000
            assert await conn.fetchval("SELECT $1::text", payload) == payload
            assert proxy.bytes_to_server - up > 100_000
            assert proxy.bytes_to_client - down > 100_000
        finally:
            await conn.close()
        for _ in range(100):
            if proxy.active == 0:
                break
            await asyncio.sleep(0.01)
        assert proxy.active == 0  # the client's close went through to the server


async def test_latency_delays_each_direction(cluster: Any) -> None:
    async with FaultProxy(cluster.host, cluster.port) as proxy:
        conn = await _connect(cluster, proxy)
        try:
            proxy.latency = 0.1
            started = time.monotonic()
            assert await conn.fetchval("SELECT 1") == 1
            assert time.monotonic() - started >= 0.2  # one round trip: both directions
            proxy.latency = 0
            results = await asyncio.gather(*(conn.fetchval("SELECT $1::int", i) for i in range(50)))
            assert results == list(range(50))  # order kept
        finally:
            await conn.close()
    with pytest.raises(ValueError, match="latency"):
        proxy.latency = -1


async def test_stop_forwarding_holds_bytes_until_resumed(cluster: Any) -> None:
    async with FaultProxy(cluster.host, cluster.port) as proxy:
        conn = await _connect(cluster, proxy)
        try:
            proxy.stop_forwarding()
            query = asyncio.ensure_future(conn.fetchval("SELECT 42"))
            done, _ = await asyncio.wait([query], timeout=0.3)
            assert not done  # the query is stuck in the cut
            # New connections are cut too: the startup never completes.
            with pytest.raises(asyncio.TimeoutError):
                await _connect(cluster, proxy, timeout=0.3)
            proxy.resume_forwarding()
            assert await asyncio.wait_for(query, 5) == 42
        finally:
            await conn.close()


async def test_stop_forwarding_existing_only(cluster: Any) -> None:
    async with FaultProxy(cluster.host, cluster.port) as proxy:
        old = await _connect(cluster, proxy)
        try:
            proxy.stop_forwarding(new_connections=False)
            with pytest.raises(asyncio.TimeoutError):
                await old.fetchval("SELECT 1", timeout=0.3)
            new = await _connect(cluster, proxy, timeout=5)
            assert await new.fetchval("SELECT 2") == 2
            await new.close()
        finally:
            old.terminate()


async def test_reset_all_breaks_connections(cluster: Any) -> None:
    async with FaultProxy(cluster.host, cluster.port) as proxy:
        conn = await _connect(cluster, proxy)
        assert proxy.reset_all() == 1
        with pytest.raises(pgjet.ConnectionDoesNotExistError):
            for _ in range(50):
                await conn.fetchval("SELECT 1")
                await asyncio.sleep(0.01)
        assert conn.is_closed()
        assert proxy.active == 0


async def test_close_all_closes_politely(cluster: Any) -> None:
    async with FaultProxy(cluster.host, cluster.port) as proxy:
        conn = await _connect(cluster, proxy)
        assert proxy.close_all() == 1
        for _ in range(100):
            if conn.is_closed():
                break
            await asyncio.sleep(0.01)
        assert conn.is_closed()


async def test_refuse_then_accept_connections(cluster: Any) -> None:
    async with FaultProxy(cluster.host, cluster.port) as proxy:
        established = await _connect(cluster, proxy)
        port = proxy.port
        proxy.refuse_connections()
        with pytest.raises(OSError) as info:
            await _connect(cluster, proxy, timeout=5)
        assert "refused" in str(info.value).lower() or isinstance(
            info.value, ConnectionRefusedError
        )
        assert await established.fetchval("SELECT 3") == 3  # untouched
        proxy.accept_connections()
        assert proxy.port == port
        conn = await _connect(cluster, proxy, timeout=5)
        assert await conn.fetchval("SELECT 4") == 4
        await conn.close()
        await established.close()


async def test_upstream_down_closes_the_client(cluster: Any) -> None:
    # A proxy to a port nobody listens on: the client sees the connection end.
    async with FaultProxy(cluster.host, 1) as proxy:
        with pytest.raises((OSError, pgjet.InterfaceError, pgjet.PostgresError)):
            await _connect(cluster, proxy, timeout=5)


def test_threaded_proxy_with_a_sync_client(cluster: Any) -> None:
    psycopg = pytest.importorskip("psycopg")
    with FaultProxy.in_thread(cluster.host, cluster.port) as proxy:
        dsn = cluster.dsn(host=proxy.host, port=proxy.port)
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT 5").fetchone() == (5,)
            assert proxy.active == 1 and proxy.bytes_to_server > 0
            proxy.latency = 0.05
            started = time.monotonic()
            conn.execute("SELECT 1").fetchone()
            assert time.monotonic() - started >= 0.1
            proxy.latency = 0
            assert proxy.reset_all() == 1
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")

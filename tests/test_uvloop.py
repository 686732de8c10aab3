"""The driver on uvloop: the event loop the benchmarks run and many services use.

uvloop reads into a protocol through its own C code path (it checks for
asyncio.BufferedProtocol and calls get_buffer()/buffer_updated(), which
pgjet implements in compiled code). Each test runs a scenario on a fresh
uvloop loop: plain queries, a big result streaming through the adaptive read
buffer, numpy columns, cancellation, a pipeline, COPY, LISTEN and TLS.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import pytest

import pgjet
from pgjet.testing import Cluster

from .conftest import find_installation

uvloop = pytest.importorskip("uvloop")


def run_on_uvloop(scenario: Callable[[], Awaitable[None]]) -> None:
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(scenario(), 60))
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()


def test_queries_big_results_and_numpy(dsn: str) -> None:
    async def scenario() -> None:
        conn = await pgjet.connect(dsn)
        try:
            assert await asyncio.gather(
                *(conn.fetchval("SELECT $1::int", i) for i in range(50))
            ) == list(range(50))
            rows = await conn.fetch(
                "SELECT g, repeat('x', g % 300) AS s FROM generate_series(1, 60000) g"
            )
            assert len(rows) == 60000 and rows[-1]["s"] == "x" * (60000 % 300)
            numpy = pytest.importorskip("numpy")
            cols = await conn.fetch_numpy(
                "SELECT g, g * 0.5::float8 AS h FROM generate_series(1, 30000) g"
            )
            assert cols["g"].dtype == numpy.int32 and int(cols["g"].sum()) == 30000 * 30001 // 2
            async with conn.pipeline() as p:
                a = p.fetchval("SELECT 1")
                b = p.fetchval("SELECT 2")
            assert (a.result(), b.result()) == (1, 2)
        finally:
            await conn.close()

    run_on_uvloop(scenario)


def test_cancellation_copy_and_listen(dsn: str) -> None:
    async def scenario() -> None:
        conn = await pgjet.connect(dsn)
        other = await pgjet.connect(dsn)
        try:
            await conn.fetch("SELECT pg_sleep($1)", 0.0)
            task = asyncio.ensure_future(conn.fetch("SELECT pg_sleep($1)", 30.0))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await conn.fetchval("SELECT 41 + $1::int", 1) == 42
            with pytest.raises(asyncio.TimeoutError):
                await conn.fetch("SELECT pg_sleep(30)", timeout=0.2)
            assert await conn.fetchval("SELECT 'still usable'") == "still usable"

            await conn.execute("CREATE TEMP TABLE uv_copy (a int, b text)")
            await conn.copy_records_to_table(
                "uv_copy", records=[(i, f"r{i}") for i in range(20000)], columns=["a", "b"]
            )
            assert await conn.fetchval("SELECT count(*) FROM uv_copy") == 20000

            got: asyncio.Queue[str] = asyncio.Queue()
            await conn.add_listener("uv_chan", lambda *args: got.put_nowait(args[-1]))
            await other.execute("NOTIFY uv_chan, 'hello'")
            assert await asyncio.wait_for(got.get(), 10) == "hello"
        finally:
            await other.close()
            await conn.close()

    run_on_uvloop(scenario)


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[Cluster]:
    with Cluster(find_installation("pg15"), tls=True) as cluster:
        yield cluster


def test_tls(tls_cluster: Cluster) -> None:
    assert tls_cluster.tls is not None
    dsn = tls_cluster.dsn(sslmode="verify-full", sslrootcert=str(tls_cluster.tls.ca_cert))

    async def scenario() -> None:
        conn = await pgjet.connect(dsn)
        try:
            assert await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            rows = await conn.fetch("SELECT g FROM generate_series(1, 50000) g")
            assert [r[0] for r in rows[-2:]] == [49999, 50000]
        finally:
            await conn.close()

    run_on_uvloop(scenario)


def test_a_protocol_error_closes_cleanly(dsn: str) -> None:
    # The compiled buffer_updated() hands anything it cannot process to
    # WireTransport._read_failed(): pending calls fail, the connection closes.
    async def scenario() -> None:
        conn = await pgjet.connect(dsn)
        try:
            conn._wire.core.max_message_size = 1024  # the next big DataRow is "too big"
            with pytest.raises(pgjet.errors.ProtocolError, match="max_message_size"):
                await conn.fetch("SELECT repeat('x', 5000)")
            assert conn.is_closed()
            with pytest.raises(pgjet.errors.ConnectionDoesNotExistError):
                await conn.fetchval("SELECT 1")
        finally:
            conn.terminate()

    run_on_uvloop(scenario)

"""Timeouts, task cancellation and connection loss against real servers.

Every wait has a deadline: a timed-out or cancelled query is cancelled on the
server (checked from another session in pg_stat_activity), an innocent query
pipelined ahead of it is left alone, a server that never answers gets the
connection closed after a grace period, and a lost connection fails every
pending operation with ConnectionDoesNotExistError.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

import pgjet
from pgjet import errors
from pgjet.testing import Cluster
from tests.conftest import find_installation

pytestmark = pytest.mark.usefixtures("hang_guard")


@pytest.fixture
async def conn(dsn: str) -> AsyncIterator[Any]:
    c = await pgjet.connect(dsn)
    yield c
    c.terminate()


@pytest.fixture
async def observer(dsn: str) -> AsyncIterator[Any]:
    c = await pgjet.connect(dsn)
    yield c
    c.terminate()


async def wait_until_idle(observer: Any, pid: int, within: float = 3.0) -> float:
    """Seconds until backend `pid` runs nothing (or is gone); fails after `within`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < within:
        active = await observer.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", pid
        )
        if active == 0:
            return loop.time() - started
        await asyncio.sleep(0.02)
    raise AssertionError(f"backend {pid} still runs a query after {within}s")


async def wait_until_running(observer: Any, pid: int, fragment: str) -> None:
    for _ in range(200):
        running = await observer.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active' "
            "AND position($2 in query) > 0",
            pid,
            fragment,
        )
        if running:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} never started {fragment!r}")


# -- timeouts ---------------------------------------------------------------------------


async def test_timeout_cancels_the_query_on_the_server(conn: Any, observer: Any) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(asyncio.TimeoutError):
        await conn.fetch("SELECT pg_sleep(30)", timeout=0.3)
    assert 0.25 < loop.time() - started < 1.5
    await wait_until_idle(observer, conn.get_server_pid())
    assert await conn.fetchval("SELECT $1::int4", 5) == 5
    assert not conn.is_closed()


async def test_command_timeout_applies_to_every_call(dsn: str, observer: Any) -> None:
    conn = await pgjet.connect(dsn, command_timeout=0.3)
    try:
        for call in (
            conn.fetch("SELECT pg_sleep(30)"),
            conn.execute("SELECT pg_sleep(30)"),
            conn.fetchval("SELECT pg_sleep($1)", 30.0),
        ):
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(asyncio.TimeoutError):
                await call
            assert loop.time() - started < 1.5
            await wait_until_idle(observer, conn.get_server_pid())
        # An explicit timeout wins over command_timeout.
        assert await conn.fetchval("SELECT pg_sleep(0.5)::text || 'x'", timeout=5) == "x"
    finally:
        conn.terminate()


async def test_cancelling_the_task_cancels_the_query(conn: Any, observer: Any) -> None:
    task = asyncio.ensure_future(conn.fetch("SELECT pg_sleep(30)"))
    await wait_until_running(observer, conn.get_server_pid(), "pg_sleep(30)")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until_idle(observer, conn.get_server_pid())
    assert await conn.fetchval("SELECT 41 + 1") == 42


@pytest.mark.parametrize("method", ["fetch", "fetchrow", "fetchval", "execute"])
async def test_cancelling_a_cached_statement_cancels_the_query(
    conn: Any, observer: Any, method: str
) -> None:
    # A cached statement takes the hot path (no coroutine of the engine's
    # between the call and the answer's future): cancelling must still reach
    # the server and leave the connection in step.
    call = getattr(conn, method)
    await call("SELECT pg_sleep($1)", 0.0)  # now cached
    task = asyncio.ensure_future(call("SELECT pg_sleep($1)", 30.0))
    await wait_until_running(observer, conn.get_server_pid(), "pg_sleep($1)")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until_idle(observer, conn.get_server_pid())
    assert await conn.fetchval("SELECT $1::int + 1", 41) == 42
    await call("SELECT pg_sleep($1)", 0.0)  # the cached statement still works


async def test_queued_timeout_spares_the_innocent_query_ahead(conn: Any, observer: Any) -> None:
    """B times out while queued behind A: A must finish; B is cancelled when it runs."""
    conn._engine.cancel_grace = 0.3  # shorter than A: the grace must not start early
    loop = asyncio.get_running_loop()
    a = asyncio.ensure_future(conn.fetchval("SELECT pg_sleep(0.8)::text || 'a'"))
    await asyncio.sleep(0.05)
    started = loop.time()
    with pytest.raises(asyncio.TimeoutError):
        await conn.fetchval("SELECT pg_sleep(30)::text || 'b'", timeout=0.2)
    assert loop.time() - started < 0.6
    assert await a == "a"
    await wait_until_idle(observer, conn.get_server_pid())
    assert await conn.fetchval("SELECT 'c'") == "c"
    assert not conn.is_closed()


async def test_a_late_cancel_never_hits_the_next_query(conn: Any) -> None:
    # The timed-out query ends by itself before its CancelRequest lands (made
    # slow here on purpose). A query sent meanwhile would be running when the
    # signal arrives and be cancelled in its place: new requests must wait
    # until the signal has landed.
    real_cancel = conn._cancel

    async def slow_cancel() -> None:
        await asyncio.sleep(0.3)
        await real_cancel()

    conn._cancel = slow_cancel
    conn._engine._cancel = slow_cancel
    await conn.fetchval("SELECT pg_sleep(0)")  # prepared before timing anything
    with pytest.raises(asyncio.TimeoutError):
        await conn.fetchval("SELECT pg_sleep(0.1)", timeout=0.05)
    # Sent at ~0.05 s; without the hold it starts at ~0.1 s and is still
    # running when the cancel lands at ~0.35 s.
    assert await conn.fetchval("SELECT pg_sleep(0.5)::text || 'done'") == "done"


async def test_timeout_while_preparing(dsn: str, conn: Any, observer: Any) -> None:
    await conn.execute("DROP TABLE IF EXISTS cancel_locked; CREATE TABLE cancel_locked (x int)")
    other = await pgjet.connect(dsn)
    try:
        await other.execute("BEGIN; LOCK TABLE cancel_locked IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(asyncio.TimeoutError):
            await conn.fetch("SELECT x FROM cancel_locked WHERE x = $1", 1, timeout=0.3)
        await wait_until_idle(observer, conn.get_server_pid())  # the Parse was cancelled
        assert len(conn._stmt_cache) == 0
        await other.execute("COMMIT")
        assert await conn.fetch("SELECT x FROM cancel_locked WHERE x = $1", 1) == []
    finally:
        await other.close()
        await conn.execute("DROP TABLE cancel_locked")


async def test_timeout_behind_a_close_of_evicted_statements(conn: Any, observer: Any) -> None:
    """Closing evicted statements is an operation without a caller; a query queued
    right behind it must still be cancellable when it times out."""
    await conn.fetchval("SELECT 1")
    long = asyncio.ensure_future(conn.fetchval("SELECT pg_sleep(0.6)::text"))
    await asyncio.sleep(0.05)
    conn._stmt_cache.discard("SELECT 1")  # its Close rides with the next write
    with pytest.raises(asyncio.TimeoutError):
        await conn.fetchval("SELECT pg_sleep(30)", timeout=0.2)
    assert await long == ""
    await wait_until_idle(observer, conn.get_server_pid())
    assert await conn.fetchval("SELECT 3") == 3


async def test_timeout_covers_the_whole_call(conn: Any) -> None:
    # The deadline is shared by prepare and execute, not restarted between them.
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(asyncio.TimeoutError):
        await conn.fetchval("SELECT pg_sleep(30), $1::int4", 1, timeout=0.3)
    assert loop.time() - started < 1.0


# -- servers that don't answer ------------------------------------------------------------


class Proxy:
    """A TCP relay in front of the server that can swallow replies or die."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.swallow = False
        self.replacement: bytes | None = None  # sent instead of the next reply
        self.server: asyncio.AbstractServer | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> Proxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await self._relay(reader, writer)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, replies: bool) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    if replies and self.swallow:
                        continue
                    if replies and self.replacement is not None:
                        data, self.replacement = self.replacement, None
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer, False), pump(up_reader, writer, True))

    def kill(self) -> None:
        for w in self.writers:
            w.transport.abort()

    async def close(self) -> None:
        self.kill()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_server_that_never_answers_the_cancel_gets_the_connection_closed(
    cluster: Any, observer: Any
) -> None:
    proxy = await Proxy(cluster.host, cluster.port).start()
    try:
        conn = await pgjet.connect(cluster.dsn(port=proxy.port))
        conn._engine.cancel_grace = 0.5
        # The CancelRequest goes to the real server (via the proxy's address);
        # the server's answers to the query are swallowed.
        proxy.swallow = True
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = asyncio.ensure_future(conn.fetch("SELECT pg_sleep(30)", timeout=0.2))
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(conn.fetchval("SELECT 1"))
        with pytest.raises(asyncio.TimeoutError):
            await first
        with pytest.raises(errors.ConnectionDoesNotExistError):
            await asyncio.wait_for(queued, 3)
        assert loop.time() - started < 2.0
        assert conn.is_closed()
        with pytest.raises(errors.ConnectionDoesNotExistError):
            await conn.fetchval("SELECT 1")
    finally:
        await proxy.close()


async def test_a_reply_the_core_cannot_read_closes_the_connection_cleanly(
    cluster: Any,
) -> None:
    """A hostile reply (text that is not UTF-8) fails the caller with ProtocolError
    and closes the connection, without the event loop's "fatal error" path."""
    import struct

    def message(mtype: bytes, body: bytes) -> bytes:
        return mtype + struct.pack("!i", len(body) + 4) + body

    proxy = await Proxy(cluster.host, cluster.port).start()
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        conn = await pgjet.connect(cluster.dsn(port=proxy.port))
        proxy.replacement = (
            message(
                b"T", struct.pack("!h", 1) + b"t\0" + struct.pack("!ihihih", 0, 0, 25, -1, -1, 0)
            )
            + message(b"D", struct.pack("!hi", 1, 1) + b"\xff")
            + message(b"C", b"SELECT 1\0")
            + message(b"Z", b"I")
        )
        with pytest.raises(errors.ProtocolError, match="UnicodeDecodeError"):
            await asyncio.wait_for(conn.execute("SELECT 'x'"), 3)
        assert conn.is_closed()
        with pytest.raises(errors.ConnectionDoesNotExistError):
            await conn.fetchval("SELECT 1")
        assert reported == []
    finally:
        loop.set_exception_handler(None)
        await proxy.close()


async def test_cancel_request_into_a_black_hole(conn: Any, observer: Any) -> None:
    """The cancel address accepts but never answers: the grace period still ends it all."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(8)
    try:
        conn._addr = hole.getsockname()
        conn._engine.cancel_grace = 0.5
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = asyncio.ensure_future(conn.fetch("SELECT pg_sleep(5)", timeout=0.2))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(conn.fetch("SELECT 2"))  # queued behind
        with pytest.raises(asyncio.TimeoutError):
            await first
        with pytest.raises(errors.ConnectionDoesNotExistError, match="did not end"):
            await asyncio.wait_for(second, 3)
        assert loop.time() - started < 2.0
        assert conn.is_closed()
    finally:
        hole.close()
        for task in list(conn._engine._background):
            task.cancel()


# -- connection loss ----------------------------------------------------------------------


async def test_terminated_backend_fails_every_pending_operation(conn: Any, observer: Any) -> None:
    pid = conn.get_server_pid()
    calls = [asyncio.ensure_future(conn.fetch("SELECT pg_sleep(30)"))]
    await wait_until_running(observer, pid, "pg_sleep(30)")
    calls.append(asyncio.ensure_future(conn.fetchval("SELECT $1::int4", 1)))
    calls.append(asyncio.ensure_future(conn.execute("SELECT 1")))
    await asyncio.sleep(0.05)
    assert await observer.fetchval("SELECT pg_terminate_backend($1)", pid) is True
    results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
    assert all(isinstance(r, errors.ConnectionDoesNotExistError) for r in results), results
    assert conn.is_closed()
    with pytest.raises(errors.ConnectionDoesNotExistError):
        await conn.fetchval("SELECT 1")


async def test_killed_proxy_fails_every_pending_operation(cluster: Any) -> None:
    proxy = await Proxy(cluster.host, cluster.port).start()
    try:
        conn = await pgjet.connect(cluster.dsn(port=proxy.port))
        assert await conn.fetchval("SELECT 1") == 1
        calls = [asyncio.ensure_future(conn.fetch("SELECT pg_sleep(30)"))]
        await asyncio.sleep(0.1)
        calls.append(asyncio.ensure_future(conn.fetchval("SELECT 2")))
        await asyncio.sleep(0.05)
        proxy.kill()
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
        assert all(isinstance(r, errors.ConnectionDoesNotExistError) for r in results), results
        assert conn.is_closed()
    finally:
        await proxy.close()


async def test_server_restart_fails_every_pending_operation() -> None:
    # A cluster of its own (restarting costs seconds, so only on one version).
    async with Cluster(find_installation("pg18")) as c:
        conn = await pgjet.connect(c.dsn())
        await conn.fetchval("SELECT $1::int4", 1)
        calls = [asyncio.ensure_future(conn.fetch("SELECT pg_sleep(30)"))]
        await asyncio.sleep(0.1)
        calls.append(asyncio.ensure_future(conn.fetchval("SELECT $1::int4", 2)))
        await asyncio.sleep(0.05)
        await asyncio.to_thread(c.restart)
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
        assert all(isinstance(r, errors.ConnectionDoesNotExistError) for r in results), results
        assert conn.is_closed()
        fresh = await pgjet.connect(c.dsn())
        assert await fresh.fetchval("SELECT $1::int4", 3) == 3
        await fresh.close()

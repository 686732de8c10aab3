"""LISTEN/NOTIFY against real servers: asyncpg's listeners, conn.notifies(),
the bounded backlog, and a Listener that survives a server restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import pgjet
from pgjet import errors
from pgjet.listen import Gap, Listener, Notification


@pytest.fixture
async def other(dsn: str) -> AsyncIterator[pgjet.Connection]:
    c = await pgjet.connect(dsn)
    try:
        yield c
    finally:
        await c.close()


async def settle(conn: pgjet.Connection) -> None:
    """A round trip on the listening connection: earlier notifications have arrived."""
    await conn.fetchval("SELECT 1")
    await asyncio.sleep(0.01)


async def test_add_and_remove_listener(conn: pgjet.Connection, other: pgjet.Connection) -> None:
    got: list[tuple[Any, ...]] = []
    got_async: list[str] = []

    def on_sync(con: Any, pid: int, channel: str, payload: str) -> None:
        got.append((con, pid, channel, payload))

    async def on_async(con: Any, pid: int, channel: str, payload: str) -> None:
        await asyncio.sleep(0)
        got_async.append(payload)

    await conn.add_listener("Chan One", on_sync)
    await conn.add_listener("Chan One", on_async)
    await conn.add_listener("Chan One", on_sync)  # twice: still called once
    await other.execute("SELECT pg_notify('Chan One', 'hello')")
    await settle(conn)
    assert got == [(conn, other.get_server_pid(), "Chan One", "hello")]
    assert got_async == ["hello"]
    await conn.remove_listener("Chan One", on_sync)
    await other.execute("NOTIFY \"Chan One\", 'second'")
    await settle(conn)
    assert len(got) == 1 and got_async == ["hello", "second"]
    await conn.remove_listener("Chan One", on_async)  # the last one: UNLISTEN
    assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0
    await other.execute("NOTIFY \"Chan One\", 'third'")
    await settle(conn)
    assert got_async == ["hello", "second"]


async def test_a_failing_callback_does_not_stop_others(
    conn: pgjet.Connection, other: pgjet.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[str] = []

    def bad(*_: Any) -> None:
        raise RuntimeError("listener bug")

    await conn.add_listener("c", bad)
    await conn.add_listener("c", lambda *a: got.append(a[3]))
    await other.execute("NOTIFY c, 'x'")
    await settle(conn)
    assert got == ["x"]
    assert "listener bug" in caplog.text


async def test_notifies_loses_nothing_between_iterations(
    conn: pgjet.Connection, other: pgjet.Connection
) -> None:
    await conn.execute("LISTEN jobs")
    first = conn.notifies(stop_after=2)  # buffering starts with this call
    for i in range(5):
        await other.execute(f"NOTIFY jobs, '{i}'")
    got = [n async for n in first]
    assert got == [
        Notification("jobs", "0", other.get_server_pid()),
        Notification("jobs", "1", other.get_server_pid()),
    ]
    # Arrived while nobody was iterating: waiting in the backlog.
    await other.execute("NOTIFY jobs, '5'")
    rest = [n.payload async for n in conn.notifies(stop_after=4)]
    assert rest == ["2", "3", "4", "5"]


async def test_notifies_timeout_and_live_delivery(
    conn: pgjet.Connection, other: pgjet.Connection
) -> None:
    await conn.execute("LISTEN live")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert [n async for n in conn.notifies(timeout=0.2)] == []
    assert 0.15 < loop.time() - t0 < 2

    async def later() -> None:
        await asyncio.sleep(0.05)
        await other.execute("NOTIFY live, 'now'")

    task = asyncio.create_task(later())
    got = [n.payload async for n in conn.notifies(timeout=5, stop_after=1)]
    await task
    assert got == ["now"]


async def test_backlog_overflow_drops_the_oldest(
    conn: pgjet.Connection, other: pgjet.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    await conn.execute("LISTEN burst")
    conn._notifications.backlog_size = 5
    it = conn.notifies(timeout=0.1)
    await other.execute("SELECT pg_notify('burst', g::text) FROM generate_series(1, 8) g")
    await settle(conn)
    assert [n.payload async for n in it] == ["4", "5", "6", "7", "8"]
    assert conn._notifications.dropped == 3
    assert "backlog of 5 is full" in caplog.text


async def test_notifies_raises_when_the_connection_is_lost(
    conn: pgjet.Connection, other: pgjet.Connection
) -> None:
    await conn.execute("LISTEN gone")
    it = conn.notifies()
    await other.execute("NOTIFY gone, 'before'")
    await settle(conn)
    await other.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())
    got = []
    with pytest.raises(errors.ConnectionDoesNotExistError):
        async for n in it:
            got.append(n.payload)
    assert got == ["before"]


async def test_pool_removes_listeners_at_release(dsn: str) -> None:
    calls: list[str] = []
    async with pgjet.create_pool(dsn, min_size=1, max_size=1) as pool:
        async with pool.acquire() as con:
            await con.add_listener("pooled", lambda *a: calls.append(a[3]))
            await pool_notify(dsn, "one")
            await settle(con)
        async with pool.acquire() as con:
            assert await con.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0
            await pool_notify(dsn, "two")
            await settle(con)
    assert calls == ["one"]


async def pool_notify(dsn: str, payload: str) -> None:
    c = await pgjet.connect(dsn)
    try:
        await c.execute("SELECT pg_notify('pooled', $1)", payload)
    finally:
        await c.close()


# -- a listener that survives a server restart ----------------------------------------


@pytest.fixture
def own_cluster(server_kind: str) -> Any:
    """A cluster of this test's own: restarting it disturbs no other test."""
    from pgjet.testing import Cluster

    from .conftest import find_installation

    with Cluster(find_installation(server_kind)) as c:
        yield c


async def next_item(it: AsyncIterator[Any], timeout: float = 20) -> Any:
    return await asyncio.wait_for(it.__anext__(), timeout)


async def test_listener_survives_a_server_restart(own_cluster: Any) -> None:
    dsn = str(own_cluster.dsn())
    async with Listener(dsn, channels=["events", "other"], min_delay=0.05) as listener:
        it = listener.__aiter__()
        sender = await pgjet.connect(dsn)
        await sender.execute("NOTIFY events, 'before'")
        await sender.close()
        first = await next_item(it)
        assert (first.channel, first.payload) == ("events", "before")
        first_pid = listener.connection.get_server_pid() if listener.connection else None

        await asyncio.get_running_loop().run_in_executor(None, own_cluster.restart)

        gap = await next_item(it)
        assert isinstance(gap, Gap)
        assert gap.reason == "reconnect" and gap.since <= gap.until
        assert listener.reconnects == 1
        assert listener.connection is not None
        assert listener.connection.get_server_pid() != first_pid
        # LISTEN was issued again before the Gap was reported.
        channels = await listener.connection.fetch("SELECT pg_listening_channels()")
        assert sorted(r[0] for r in channels) == ["events", "other"]
        sender = await pgjet.connect(dsn)
        await sender.execute("NOTIFY other, 'after'")
        await sender.close()
        item = await next_item(it)
        assert (item.channel, item.payload) == ("other", "after")


async def test_listener_overflow_becomes_a_gap(dsn: str) -> None:
    async with Listener(dsn, channels=["flood"], backlog_size=3) as listener:
        sender = await pgjet.connect(dsn)
        await sender.execute("SELECT pg_notify('flood', g::text) FROM generate_series(1, 6) g")
        await sender.close()
        assert listener.connection is not None
        await settle(listener.connection)
        it = listener.__aiter__()
        gap = await next_item(it)
        assert isinstance(gap, Gap) and gap.reason == "overflow" and gap.dropped == 3
        assert [(await next_item(it)).payload for _ in range(3)] == ["4", "5", "6"]


async def test_listener_first_connect_failure_raises() -> None:
    async def refuse() -> pgjet.Connection:
        raise OSError("no server here")

    with pytest.raises(OSError, match="no server here"):
        async with Listener(connect=refuse, channels=["x"]):
            pass

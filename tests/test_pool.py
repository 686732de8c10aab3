"""The pool: asyncpg's interface and psycopg_pool's lifecycle, against real servers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import pgjet
from pgjet.pool import (
    PoolClosedError,
    PoolConnectionProxy,
    PoolTimeout,
    TooManyWaitersError,
)


async def test_create_acquire_release_and_sizes(dsn: str) -> None:
    pool = await pgjet.create_pool(dsn, min_size=2, max_size=4)
    try:
        assert isinstance(pool, pgjet.Pool)
        assert (pool.get_size(), pool.get_idle_size()) == (2, 2)
        assert (pool.get_min_size(), pool.get_max_size()) == (2, 4)
        async with pool.acquire() as con:
            assert isinstance(con, PoolConnectionProxy)
            assert await con.fetchval("SELECT $1::int + 1", 41) == 42
            assert pool.get_idle_size() == 1
            assert not con.is_in_transaction()  # forwarded to the connection
        assert pool.get_idle_size() == 2
        con = await pool.acquire()
        assert await con.fetchval("SELECT 1") == 1
        await pool.release(con)
        await pool.release(con)  # twice: nothing happens
        with pytest.raises(pgjet.InterfaceError, match="released back to the pool"):
            await con.fetchval("SELECT 1")
        with pytest.raises(pgjet.InterfaceError, match="released back to the pool"):
            con.get_server_pid()
        with pytest.raises(pgjet.InterfaceError, match="not acquired from this pool"):
            await pool.release(object())
        assert not pool.is_closing()
    finally:
        await pool.close()
    assert pool.is_closing()
    with pytest.raises(PoolClosedError):
        pool.acquire()


async def test_pass_through_methods(dsn: str) -> None:
    async with pgjet.create_pool(dsn, min_size=1, max_size=2) as pool:
        await pool.execute("CREATE TEMP TABLE IF NOT EXISTS unused (x int)")
        table = f"pool_pass_{id(pool)}"
        await pool.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
        try:
            assert await pool.execute(f"INSERT INTO {table} VALUES (1, 'a')") == "INSERT 0 1"
            await pool.executemany(f"INSERT INTO {table} VALUES ($1, $2)", [(2, "b"), (3, "c")])
            rows = await pool.fetch(f"SELECT id, v FROM {table} ORDER BY id")
            assert [tuple(r) for r in rows] == [(1, "a"), (2, "b"), (3, "c")]
            row = await pool.fetchrow(f"SELECT v FROM {table} WHERE id = $1", 2)
            assert row["v"] == "b"
            assert await pool.fetchval(f"SELECT v FROM {table} WHERE id = $1", 3) == "c"
            assert await pool.fetchval("SELECT 1, 2", column=1) == 2
            many = await pool.fetchmany("SELECT $1::int * 2", [(1,), (2,)])
            assert [r[0] for r in many] == [2, 4]
        finally:
            await pool.execute(f"DROP TABLE {table}")
        assert pool.get_idle_size() == pool.get_size()


async def test_copy_pass_through(dsn: str) -> None:
    if not hasattr(pgjet.Connection, "copy_records_to_table"):
        pytest.skip("Connection has no COPY methods yet")
    async with pgjet.create_pool(dsn, min_size=1, max_size=1) as pool:
        table = f"pool_copy_{id(pool)}"
        await pool.execute(f"CREATE TABLE {table} (id int, v text)")
        try:
            await pool.copy_records_to_table(table, records=[(1, "a"), (2, "b")])
            assert await pool.fetchval(f"SELECT count(*) FROM {table}") == 2
        finally:
            await pool.execute(f"DROP TABLE {table}")


async def test_init_setup_connection_and_record_class(dsn: str) -> None:
    class MyConnection(pgjet.Connection):
        pass

    class MyRecord(pgjet.Record):
        pass

    inits: list[Any] = []
    setups: list[Any] = []

    async def init(con: Any) -> None:
        assert isinstance(con, MyConnection)
        inits.append(con.get_server_pid())

    async def setup(con: Any) -> None:
        assert isinstance(con, PoolConnectionProxy)
        setups.append(await con.fetchval("SELECT pg_backend_pid()"))

    async with pgjet.create_pool(
        dsn,
        min_size=2,
        max_size=2,
        init=init,
        setup=setup,
        connection_class=MyConnection,
        record_class=MyRecord,
    ) as pool:
        assert len(inits) == 2
        async with pool.acquire() as con:
            assert type(await con.fetchrow("SELECT 1 AS a")) is MyRecord
        assert len(setups) == 1 and setups[0] in inits

    async def failing_setup(con: Any) -> None:
        raise RuntimeError("setup failed")

    async with pgjet.create_pool(dsn, min_size=1, max_size=1, setup=failing_setup) as pool:
        with pytest.raises(RuntimeError, match="setup failed"):
            await pool.acquire()
        assert pool.get_idle_size() == 1  # given back, not leaked


async def test_custom_connect_function(dsn: str) -> None:
    calls: list[dict[str, Any]] = []

    async def my_connect(*args: Any, **kwargs: Any) -> pgjet.Connection:
        calls.append(kwargs)
        return await pgjet.connect(*args, **kwargs)

    async with pgjet.create_pool(dsn, min_size=1, max_size=1, connect=my_connect) as pool:
        assert await pool.fetchval("SELECT 1") == 1
    assert len(calls) == 1 and calls[0]["connection_class"] is pgjet.Connection


async def test_first_connection_error_is_raised(dsn: str, cluster: Any) -> None:
    bad = cluster.dsn(database="no_such_database_here")
    with pytest.raises(pgjet.InvalidCatalogNameError):
        await pgjet.create_pool(bad, min_size=1, max_size=2)


async def test_bad_configuration_is_refused() -> None:
    for kwargs, word in [
        ({"min_size": 3, "max_size": 2}, "min_size"),
        ({"max_size": 0}, "max_size"),
        ({"min_size": 1, "max_size": 2, "init_size": 3}, "init_size"),
        ({"max_queries": 0}, "max_queries"),
        ({"session_reset": "sometimes"}, "session_reset"),
        ({"null_pool": True, "min_size": 1}, "null pool"),
        ({"connection_class": int}, "connection_class"),
        ({"acquire_timeout": 0}, "acquire_timeout"),
    ]:
        with pytest.raises(pgjet.InterfaceError, match=word):
            pgjet.create_pool("postgresql://x/y", **kwargs)


async def test_acquire_timeout_and_max_waiting(dsn: str) -> None:
    async with pgjet.create_pool(dsn, min_size=1, max_size=1, max_waiting=2) as pool:
        held = await pool.acquire()
        started = time.monotonic()
        with pytest.raises(PoolTimeout, match=r"within 0\.2s") as info:
            await pool.acquire(timeout=0.2)
        assert isinstance(info.value, asyncio.TimeoutError)  # what asyncpg raises
        assert 0.2 <= time.monotonic() - started < 2
        waiters = [asyncio.ensure_future(_acquire(pool, 5)) for _ in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(TooManyWaitersError, match="max_waiting=2"):
            await pool.acquire(timeout=5)
        stats = pool.get_stats()
        assert stats["requests_waiting"] == 2
        await pool.release(held)
        first = await waiters[0]
        await pool.release(first)
        await pool.release(await waiters[1])
        stats = pool.get_stats()
        assert stats["requests_errors"] == 2
        assert stats["requests_queued"] == 3
        assert stats["requests_waiting"] == 0


async def _acquire(pool: pgjet.Pool, timeout: float) -> Any:
    return await pool.acquire(timeout=timeout)


async def test_waiters_are_served_in_order(dsn: str) -> None:
    async with pgjet.create_pool(dsn, min_size=1, max_size=1) as pool:
        held = await pool.acquire()
        order: list[int] = []

        async def user(i: int) -> None:
            async with pool.acquire(timeout=5):
                order.append(i)

        tasks = [asyncio.ensure_future(user(i)) for i in range(5)]
        await asyncio.sleep(0.05)
        await pool.release(held)
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3, 4]


async def test_grows_to_max_size_under_load_only(dsn: str) -> None:
    async with pgjet.create_pool(dsn, min_size=1, max_size=3) as pool:
        assert pool.get_size() == 1

        async def user() -> int:
            async with pool.acquire(timeout=10) as con:
                pid: int = await con.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.1)")
                return pid

        pids = await asyncio.gather(*(user() for _ in range(9)))
        assert len(set(pids)) == 3
        assert pool.get_size() == 3


async def test_max_queries_replaces_the_connection(dsn: str) -> None:
    async with pgjet.create_pool(dsn, min_size=1, max_size=1, max_queries=3) as pool:
        pids = [await pool.fetchval("SELECT pg_backend_pid()") for _ in range(6)]
        assert len(set(pids[:3])) == 1 and len(set(pids[3:])) == 1
        assert pids[0] != pids[3]
        assert pool.get_stats()["releases_replaced"] == 2


async def test_max_lifetime_replaces_the_connection(dsn: str) -> None:
    async with pgjet.create_pool(dsn, min_size=1, max_size=1, max_lifetime=0.3) as pool:
        first = await pool.fetchval("SELECT pg_backend_pid()")
        await asyncio.sleep(0.4)
        second = await pool.fetchval("SELECT pg_backend_pid()")
        assert first != second


async def test_max_idle_closes_connections_above_min_size(dsn: str) -> None:
    async with pgjet.create_pool(
        dsn, min_size=1, max_size=3, max_inactive_connection_lifetime=0.2
    ) as pool:

        async def user() -> None:
            async with pool.acquire(timeout=10) as con:
                await con.execute("SELECT pg_sleep(0.05)")

        await asyncio.gather(*(user() for _ in range(3)))
        assert pool.get_size() == 3
        for _ in range(50):
            await asyncio.sleep(0.05)
            if pool.get_size() == 1:
                break
        assert pool.get_size() == 1  # back to min_size, not below


async def test_expire_connections_and_set_connect_args(dsn: str) -> None:
    async with pgjet.create_pool(dsn, min_size=2, max_size=2) as pool:
        held = await pool.acquire()
        before = {await pool.fetchval("SELECT pg_backend_pid()"), held.get_server_pid()}
        pool.set_connect_args(dsn, server_settings={"application_name": "renewed"})
        await pool.expire_connections()
        await pool.release(held)  # leased during expiry: replaced on release
        await asyncio.sleep(0.05)

        async def user() -> tuple[int, str]:
            async with pool.acquire(timeout=10) as con:
                row = await con.fetchrow(
                    "SELECT pg_backend_pid(), current_setting('application_name') "
                    "FROM pg_sleep(0.05)"
                )
                return row[0], row[1]

        after = await asyncio.gather(user(), user())
        assert not before & {pid for pid, _ in after}
        assert {name for _, name in after} == {"renewed"}


async def test_health_check_after_idle(dsn: str) -> None:
    async with pgjet.create_pool(dsn, min_size=1, max_size=1, health_check_after=0.1) as pool:
        await pool.fetchval("SELECT 1")
        assert pool.get_stats()["health_checks"] == 0
        await asyncio.sleep(0.15)
        await pool.fetchval("SELECT 1")
        assert pool.get_stats()["health_checks"] == 1


async def test_connection_killed_while_idle_is_replaced(dsn: str) -> None:
    async with pgjet.create_pool(dsn, min_size=2, max_size=2) as pool:
        async with pool.acquire() as a, pool.acquire() as b:
            victim = a.get_server_pid()
            assert await b.fetchval("SELECT pg_terminate_backend($1)", victim)
        for _ in range(500):  # the FATAL message arrives and the socket closes
            if pool.get_stats()["connections_lost"] or _any_closed(pool):
                break
            await asyncio.sleep(0.01)
        pids = set()
        for _ in range(4):
            async with pool.acquire(timeout=5) as con:
                pids.add(await con.fetchval("SELECT pg_backend_pid()"))
        assert victim not in pids
        for _ in range(500):  # replaced in the background
            if pool.get_size() == 2:
                break
            await asyncio.sleep(0.01)
        assert pool.get_size() == 2
        assert pool.get_stats()["connections_lost"] >= 1


def _any_closed(pool: pgjet.Pool) -> bool:
    return any(slot.conn.is_closed() for slot in pool._slots)


async def test_open_and_wait_psycopg_style(dsn: str) -> None:
    pool = pgjet.create_pool(dsn, min_size=3, max_size=3)
    with pytest.raises(pgjet.InterfaceError, match="not initialized"):
        await pool.acquire()
    await pool.open()
    await pool.wait(timeout=10)
    assert pool.get_size() == 3
    assert pool.get_stats()["connections_num"] == 3
    await pool.close()


async def test_wait_times_out_naming_the_connection_error(cluster: Any) -> None:
    bad = cluster.dsn(database="no_such_database_here")
    pool = pgjet.create_pool(bad, min_size=1, max_size=1, reconnect_initial_delay=0.05)
    await pool.open()
    try:
        with pytest.raises(PoolTimeout, match="no_such_database_here") as info:
            await pool.wait(timeout=0.5)
        assert isinstance(info.value.__cause__, pgjet.InvalidCatalogNameError)
    finally:
        await pool.close()


async def test_stats_counters(dsn: str) -> None:
    async with pgjet.create_pool(dsn, min_size=1, max_size=1) as pool:
        async with pool.acquire() as con:
            await con.fetchval("SELECT pg_sleep(0.05)")
        stats = pool.pop_stats()
        assert stats["requests_num"] == 1
        assert stats["usage_ms"] >= 50
        assert stats["connections_num"] == 1 and stats["connections_ms"] > 0
        assert (stats["pool_size"], stats["pool_available"]) == (1, 1)
        assert pool.get_stats()["requests_num"] == 0  # popped


async def test_null_pool(dsn: str) -> None:
    async with pgjet.create_pool(dsn, min_size=0, max_size=2, null_pool=True) as pool:
        assert pool.get_size() == 0
        pids = [await pool.fetchval("SELECT pg_backend_pid()") for _ in range(3)]
        assert len(set(pids)) == 3  # a new connection every time
        await asyncio.sleep(0.05)
        assert pool.get_size() == 0

        running = 0
        peak = 0

        async def user() -> None:
            nonlocal running, peak
            async with pool.acquire(timeout=10) as con:
                running += 1
                peak = max(peak, running)
                await con.execute("SELECT pg_sleep(0.05)")
                running -= 1

        await asyncio.gather(*(user() for _ in range(6)))
        assert peak == 2  # max_size still bounds concurrency


async def test_close_waits_for_leases_and_fails_waiters(dsn: str) -> None:
    pool = await pgjet.create_pool(dsn, min_size=1, max_size=1)
    held = await pool.acquire()
    waiter = asyncio.ensure_future(_acquire(pool, 10))
    await asyncio.sleep(0.02)
    closing = asyncio.ensure_future(pool.close())
    await asyncio.sleep(0.05)
    with pytest.raises(PoolClosedError):
        await waiter
    assert not closing.done()  # waits for the lease
    assert await held.fetchval("SELECT 1") == 1  # the lease still works meanwhile
    await pool.release(held)
    await asyncio.wait_for(closing, 5)
    assert pool.get_size() == 0
    assert held._con is None


async def test_close_with_timeout_and_terminate(dsn: str) -> None:
    pool = await pgjet.create_pool(dsn, min_size=2, max_size=2)
    held = await pool.acquire()
    raw = held._con
    await asyncio.wait_for(pool.close(timeout=0.1), 5)
    assert raw is not None and raw.is_closed()

    pool = await pgjet.create_pool(dsn, min_size=2, max_size=2)
    held = await pool.acquire()
    raw = held._con
    pool.terminate()
    assert raw is not None and raw.is_closed()
    assert pool.get_size() == 0
    with pytest.raises(PoolClosedError):
        await pool.fetchval("SELECT 1")

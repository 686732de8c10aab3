"""Connection.transaction(): BEGIN/COMMIT/ROLLBACK, savepoints, options, misuse (as asyncpg)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

import pgjet
from pgjet import errors


@pytest.fixture
async def table(conn: Any) -> str:
    """A real (not temporary) table, so another connection can look at it."""
    name = f"tx_{conn.get_server_pid()}"
    await conn.execute(f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (n int PRIMARY KEY)")
    return name


@pytest.fixture
async def observer(dsn: str, table: str) -> AsyncIterator[Callable[[], Awaitable[list[int]]]]:
    """What another session sees in the table."""
    other = await pgjet.connect(dsn)

    async def seen() -> list[int]:
        return [r[0] for r in await other.fetch(f"SELECT n FROM {table} ORDER BY n")]

    try:
        yield seen
    finally:
        await other.execute(f"DROP TABLE IF EXISTS {table}")
        await other.close()


async def test_commit_makes_work_visible_to_others(conn: Any, table: str, observer: Any) -> None:
    assert not conn.is_in_transaction()
    async with conn.transaction() as tx:
        assert isinstance(tx, pgjet.transaction.Transaction)
        assert conn.is_in_transaction()
        await conn.execute(f"INSERT INTO {table} VALUES (1), (2)")
        assert await observer() == []  # not yet committed
    assert not conn.is_in_transaction()
    assert await observer() == [1, 2]


async def test_exception_rolls_back_and_propagates(conn: Any, table: str, observer: Any) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with conn.transaction():
            await conn.execute(f"INSERT INTO {table} VALUES (1)")
            raise Boom
    assert not conn.is_in_transaction()
    assert await observer() == []

    # A server error inside the block: its own exception comes out, not the rollback's.
    with pytest.raises(errors.UniqueViolationError):
        async with conn.transaction():
            await conn.execute(f"INSERT INTO {table} VALUES (5)")
            await conn.execute(f"INSERT INTO {table} VALUES (5)")
    assert not conn.is_in_transaction()
    assert await observer() == []


async def test_nested_blocks_are_savepoints(conn: Any, table: str, observer: Any) -> None:
    async with conn.transaction():
        await conn.execute(f"INSERT INTO {table} VALUES (1)")
        with pytest.raises(errors.UniqueViolationError):
            async with conn.transaction() as inner:
                await conn.execute(f"INSERT INTO {table} VALUES (2)")
                await conn.execute(f"INSERT INTO {table} VALUES (1)")
        assert "nested" in repr(inner)
        # The inner rollback undid its own work only; the outer transaction goes on.
        assert conn.is_in_transaction()
        await conn.execute(f"INSERT INTO {table} VALUES (3)")
        async with conn.transaction():
            await conn.execute(f"INSERT INTO {table} VALUES (4)")
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {table} VALUES (5)")
        assert await observer() == []
    assert await observer() == [1, 3, 4, 5]


async def test_outer_rollback_undoes_committed_savepoints(
    conn: Any, table: str, observer: Any
) -> None:
    with pytest.raises(ZeroDivisionError):
        async with conn.transaction():
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {table} VALUES (1)")
            _ = 1 / 0
    assert await observer() == []


async def test_readonly_rejects_writes(conn: Any, table: str) -> None:
    async with conn.transaction(readonly=True):
        assert await conn.fetchval("SHOW transaction_read_only") == "on"
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
        with pytest.raises(errors.ReadOnlySQLTransactionError):
            await conn.execute(f"INSERT INTO {table} VALUES (1)")
    # Not readonly any more.
    assert await conn.execute(f"INSERT INTO {table} VALUES (1)") == "INSERT 0 1"


@pytest.mark.parametrize(
    ("isolation", "shown"),
    [
        (None, "read committed"),
        ("read_committed", "read committed"),
        ("read_uncommitted", "read uncommitted"),
        ("repeatable_read", "repeatable read"),
        ("serializable", "serializable"),
    ],
)
async def test_isolation_levels(conn: Any, isolation: str | None, shown: str) -> None:
    async with conn.transaction(isolation=isolation):
        assert await conn.fetchval("SHOW transaction_isolation") == shown
        # A nested block naming the level in force is allowed.
        async with conn.transaction(isolation=shown.replace(" ", "_")):
            assert await conn.fetchval("SHOW transaction_isolation") == shown


async def test_serializable_readonly_deferrable(conn: Any) -> None:
    async with conn.transaction(isolation="serializable", readonly=True, deferrable=True) as tx:
        settings = await conn.fetchrow(
            "SELECT current_setting('transaction_isolation'),"
            " current_setting('transaction_read_only'),"
            " current_setting('transaction_deferrable')"
        )
        assert tuple(settings) == ("serializable", "on", "on")
        text = repr(tx)
        assert "serializable" in text and "readonly" in text and "deferrable" in text


async def test_repeatable_read_sees_a_snapshot(dsn: str, conn: Any, table: str) -> None:
    other = await pgjet.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
            await other.execute(f"INSERT INTO {table} VALUES (1)")
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 1
    finally:
        await other.close()


async def test_nested_blocks_inherit_options_as_in_asyncpg(conn: Any, aconn: Any) -> None:
    """Inner blocks with default options inside a readonly/serializable one are fine."""
    for c in (conn, aconn):
        async with c.transaction(isolation="serializable", readonly=True, deferrable=True):
            async with c.transaction(), c.transaction(isolation="serializable"):
                assert await c.fetchval("SHOW transaction_read_only") == "on"
            with pytest.raises(Exception) as info:
                async with c.transaction(isolation="read_committed"):
                    pass
            assert type(info.value).__name__ == "InterfaceError"
            assert "isolation" in str(info.value)
        assert not c.is_in_transaction()


async def test_invalid_isolation_is_a_value_error(conn: Any, aconn: Any) -> None:
    for c in (conn, aconn):
        with pytest.raises(ValueError, match="isolation"):
            c.transaction(isolation="chaos")


async def test_manual_begin_then_transaction_is_refused(conn: Any, aconn: Any) -> None:
    for c, error in ((conn, errors.InterfaceError), (aconn, asyncpg.InterfaceError)):
        await c.execute("BEGIN")
        with pytest.raises(error, match="manually started transaction"):
            async with c.transaction():
                pass
        assert c.is_in_transaction()  # the manual transaction is untouched
        await c.execute("ROLLBACK")
        async with c.transaction():  # and the connection is not left confused
            assert c.is_in_transaction()
        assert not c.is_in_transaction()


async def test_misuse_raises_interface_error_like_asyncpg(conn: Any, aconn: Any) -> None:
    async def misuse(c: Any) -> list[str]:
        raised: list[str] = []

        async def attempt(call: Callable[[], Awaitable[Any]]) -> None:
            try:
                await call()
                raised.append("ok")
            except Exception as exc:
                raised.append(type(exc).__name__)

        tx = c.transaction()
        await attempt(tx.commit)  # not started
        await attempt(tx.rollback)
        await attempt(tx.start)
        await attempt(tx.start)  # twice
        await attempt(tx.commit)
        await attempt(tx.commit)  # twice
        await attempt(tx.rollback)  # after commit
        await attempt(tx.start)  # restart after commit
        tx2 = c.transaction()
        await attempt(tx2.start)
        await attempt(tx2.rollback)
        await attempt(tx2.rollback)

        async def manual_inside_async_with() -> None:
            t = c.transaction()  # asyncpg's __aenter__ returns None, pgjet's the block
            async with t:
                await t.commit()

        await attempt(manual_inside_async_with)
        tx3 = c.transaction()

        async def enter_twice() -> None:
            async with tx3, tx3:
                pass

        await attempt(enter_twice)
        raised.append(str(c.is_in_transaction()))
        return raised

    ours = await misuse(conn)
    theirs = await misuse(aconn)
    assert ours == theirs
    assert ours[:4] == ["InterfaceError", "InterfaceError", "ok", "InterfaceError"]
    assert ours[-1] == "False"


async def test_manual_start_commit_rollback(conn: Any, table: str, observer: Any) -> None:
    tx = conn.transaction()
    await tx.start()
    await conn.execute(f"INSERT INTO {table} VALUES (1)")
    await tx.commit()
    tx = conn.transaction()
    await tx.start()
    await conn.execute(f"INSERT INTO {table} VALUES (2)")
    await tx.rollback()
    assert await observer() == [1]
    assert not conn.is_in_transaction()


async def test_transaction_on_a_closed_connection(dsn: str, table: str, observer: Any) -> None:
    c = await pgjet.connect(dsn)
    await c.close()
    with pytest.raises(errors.ConnectionDoesNotExistError):
        async with c.transaction():
            pass

    # The connection dies inside the block: the block's own exception comes out.
    c = await pgjet.connect(dsn)
    with pytest.raises(RuntimeError, match="inside"):
        async with c.transaction():
            await c.execute(f"INSERT INTO {table} VALUES (1)")
            c.terminate()
            raise RuntimeError("inside")
    # Leaving normally after the connection died: the COMMIT cannot happen, and says so.
    c = await pgjet.connect(dsn)
    with pytest.raises(errors.ConnectionDoesNotExistError):
        async with c.transaction():
            await c.execute(f"INSERT INTO {table} VALUES (2)")
            c.terminate()
    await asyncio.sleep(0.05)
    assert await observer() == []


async def test_savepoint_in_an_aborted_transaction(conn: Any, table: str, observer: Any) -> None:
    """A SAVEPOINT the server refuses leaves the inner block failed and the outer one intact."""
    async with conn.transaction() as outer:
        await conn.execute(f"INSERT INTO {table} VALUES (1)")
        with pytest.raises(errors.DivisionByZeroError):
            await conn.execute("SELECT 1/0")
        inner = conn.transaction()
        with pytest.raises(errors.InFailedSQLTransactionError):
            async with inner:
                pass
        with pytest.raises(errors.InterfaceError):
            await inner.start()  # a failed block cannot be started again
        assert conn._top_transaction is outer
    # COMMIT of an aborted transaction rolls it back.
    assert not conn.is_in_transaction()
    assert await observer() == []
    async with conn.transaction():
        await conn.execute(f"INSERT INTO {table} VALUES (2)")
    assert await observer() == [2]


async def test_concurrent_blocks_from_other_tasks_are_refused(
    conn: Any, table: str, observer: Any
) -> None:
    """Pipelining would make another task's block a savepoint of this one: refused, not lost."""
    inside = asyncio.Event()
    release = asyncio.Event()

    async def owner() -> None:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                inside.set()
                await release.wait()
                raise RuntimeError("the outer block fails")

    async def intruder() -> None:
        await inside.wait()
        try:
            with pytest.raises(errors.InterfaceError, match="another task"):
                async with conn.transaction():
                    await conn.execute(f"INSERT INTO {table} VALUES (1)")
        finally:
            release.set()

    await asyncio.gather(owner(), intruder())
    assert not conn.is_in_transaction()
    assert await observer() == []

    async def later() -> None:
        async with conn.transaction():
            await conn.execute(f"INSERT INTO {table} VALUES (2)")

    # Once the owner's block is over, any task may open one.
    await asyncio.create_task(later())
    assert await observer() == [2]


async def test_block_opened_by_a_finished_task_can_be_continued(conn: Any) -> None:
    """As with a transaction started in a test fixture and used in the test."""
    tx = conn.transaction()
    await asyncio.create_task(tx.start())
    async with conn.transaction():  # a savepoint, from this task
        assert conn.is_in_transaction()
    await tx.rollback()
    assert not conn.is_in_transaction()

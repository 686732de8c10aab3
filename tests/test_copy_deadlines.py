"""COPY deadlines and the column types both directions learn the same way.

``timeout`` bounds a whole COPY, in and out: one that runs out leaves the
server-side statement cancelled and the connection usable.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import pgjet


@pytest.fixture
async def table(conn: pgjet.Connection) -> AsyncIterator[str]:
    name = f"copy_deadline_{id(conn)}"
    await conn.execute(f"CREATE TABLE {name} (a int4, b text)")
    try:
        yield name
    finally:
        if not conn.is_closed():
            await conn.execute(f"DROP TABLE IF EXISTS {name}")


async def assert_usable(conn: pgjet.Connection) -> None:
    assert await conn.fetchval("SELECT $1::int + 1", 41) == 42
    assert not conn.is_in_transaction()


async def test_copy_in_that_cannot_start_in_time(
    conn: pgjet.Connection, dsn: str, table: str
) -> None:
    """Another session's lock keeps the COPY from starting: the deadline ends it."""
    other = await pgjet.connect(dsn)
    try:
        async with other.transaction():
            await other.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(asyncio.TimeoutError):
                copy = conn.copy_in(f"COPY {table} FROM STDIN", types=["int4", "text"], timeout=0.5)
                async with copy:
                    pytest.fail("the COPY started despite the lock")
            assert loop.time() - started < 5
    finally:
        await other.close()
    await assert_usable(conn)
    assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
    async with conn.copy_in(f"COPY {table} FROM STDIN", timeout=5) as copy:
        await copy.write_row((1, "after"))
    assert copy.status == "COPY 1"


async def test_copy_out_rows_of_a_slow_query_time_out(conn: pgjet.Connection) -> None:
    sql = "COPY (SELECT g FROM generate_series(1, 3) g WHERE pg_sleep(10) IS NOT NULL) TO STDOUT"
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(asyncio.TimeoutError):
        async for _ in conn.copy_out(sql, timeout=0.3):
            pytest.fail("a row arrived before the sleep ended")
    assert loop.time() - started < 5
    await assert_usable(conn)


async def test_copy_out_rows_with_given_types(conn: pgjet.Connection, table: str) -> None:
    await conn.execute(f"INSERT INTO {table} VALUES (1, 'x'), (2, NULL)")
    sql = f"COPY (SELECT a, b FROM {table} ORDER BY a) TO STDOUT"
    assert [r async for r in conn.copy_out(sql, types=["int4", "text"])] == [(1, "x"), (2, None)]
    by_table = [r async for r in conn.copy_out(f"COPY {table} (b) TO STDOUT")]
    assert sorted(by_table, key=repr) == [("x",), (None,)]

"""prepared_statements="auto" | "named" | "unnamed" on a direct connection.

The PgBouncer side of the story is in test_pgbouncer.py; here the pooler's
symptoms are produced on purpose: statements deallocated behind pgjet's back
(what a transaction pooler's server swap looks like) and a BackendKeyData pid
that is not the server's (what a pooler's own cancel keys look like).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import pgjet
from pgjet import errors

from .wire_spy import WireSpy


async def server_statement_count(conn: Any) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM pg_prepared_statements"))


async def test_auto_on_a_direct_connection_names_statements(dsn: str) -> None:
    conn = await pgjet.connect(dsn)
    try:
        assert await conn.fetchval("SELECT $1::int", 5) == 5
        assert conn.statement_mode == "named"
        assert not conn.pooler_detected
        assert await server_statement_count(conn) >= 1
    finally:
        await conn.close()


async def test_unnamed_mode_is_one_write_and_leaves_nothing_server_side(dsn: str) -> None:
    conn = await pgjet.connect(dsn, prepared_statements="unnamed")
    try:
        assert conn.statement_mode == "unnamed"
        assert await conn.fetchval("SELECT $1::int + 1", 1) == 2  # described once
        spy = WireSpy(conn)
        for i in range(5):
            assert await conn.fetchval("SELECT $1::int + 1", i) == i + 1
        # Parse + Bind + Describe + Execute + Sync, one write per query.
        assert len(spy.writes) == 5
        assert spy.sent == [b"P", b"B", b"D", b"E", b"S"] * 5
        assert await server_statement_count(conn) == 0
    finally:
        await conn.close()


async def test_unnamed_mode_prepare_executemany_and_cursor(dsn: str) -> None:
    conn = await pgjet.connect(dsn, prepared_statements="unnamed")
    try:
        stmt = await conn.prepare("SELECT $1::int * 2 AS v")
        assert [await stmt.fetchval(i) for i in range(3)] == [0, 2, 4]
        await conn.execute("CREATE TEMP TABLE um (x int)")
        spy = WireSpy(conn)
        await conn.executemany("INSERT INTO um VALUES ($1)", [(i,) for i in range(100)])
        assert spy.count(b"P") <= 2  # parsed once for the 100 Binds (+ a describe)
        assert spy.count(b"B") == 100
        assert await conn.fetchval("SELECT sum(x) FROM um") == sum(range(100))
        async with conn.transaction():
            rows = [r["x"] async for r in conn.cursor("SELECT x FROM um ORDER BY x", prefetch=7)]
        assert rows == list(range(100))
        assert await server_statement_count(conn) == 0
    finally:
        await conn.close()


@pytest.mark.parametrize("mode", ["auto", "named"])
async def test_statements_lost_server_side_are_reparsed(dsn: str, mode: str) -> None:
    """What a transaction pooler does: the next server session lacks our statements."""
    conn = await pgjet.connect(dsn, prepared_statements=mode)
    try:
        query = "SELECT $1::int + 100"
        stmt = await conn.prepare("SELECT $1::text || '!'")
        assert await asyncio.gather(*(conn.fetchval(query, i) for i in range(5))) == [
            100 + i for i in range(5)
        ]
        await conn.execute("DEALLOCATE ALL")
        # Concurrent executions of the lost statement: each gets its own result.
        assert await asyncio.gather(*(conn.fetchval(query, i) for i in range(5))) == [
            100 + i for i in range(5)
        ]
        assert await stmt.fetchval("x") == "x!"
        assert await conn.fetchval(query, 7) == 107
        assert conn.pooler_detected
        assert conn.statement_mode == ("unnamed" if mode == "auto" else "named")
    finally:
        await conn.close()


async def test_a_lost_statement_inside_a_transaction_raises(dsn: str) -> None:
    conn = await pgjet.connect(dsn, prepared_statements="named")
    try:
        await conn.fetchval("SELECT $1::int", 1)
        await conn.execute("DEALLOCATE ALL")
        with pytest.raises(errors.InvalidSQLStatementNameError):
            async with conn.transaction():
                await conn.fetchval("SELECT $1::int", 1)
        # Re-parsed from now on.
        async with conn.transaction():
            assert await conn.fetchval("SELECT $1::int", 2) == 2
    finally:
        await conn.close()


async def test_a_users_own_execute_of_a_missing_statement_is_not_a_pooler(conn: Any) -> None:
    with pytest.raises(errors.InvalidSQLStatementNameError):
        await conn.execute("EXECUTE no_such_statement")
    with pytest.raises(errors.InvalidSQLStatementNameError):
        await conn.fetchval("EXECUTE no_such_statement")
    assert not conn.pooler_detected
    assert conn.statement_mode == "named"


async def test_auto_detects_a_pooler_by_its_cancel_key(dsn: str) -> None:
    conn = await pgjet.connect(dsn)
    try:
        real_pid = conn.get_server_pid()
        conn._core.backend_pid = real_pid ^ 0x5A5A  # as a pooler's own key would be
        assert await conn.fetchval("SELECT $1::int", 3) == 3
        assert conn.pooler_detected
        assert conn.statement_mode == "unnamed"
        assert await conn.fetchval("SELECT $1::int", 4) == 4
        assert await server_statement_count(conn) == 0
        with pytest.raises(errors.InterfaceError, match="pooler"):
            await conn.add_listener("chan", lambda *a: None)
    finally:
        conn._core.backend_pid = real_pid
        await conn.close()


async def test_listen_works_on_a_direct_connection_in_every_mode(dsn: str) -> None:
    for mode in ("auto", "named", "unnamed"):
        conn = await pgjet.connect(dsn, prepared_statements=mode)
        try:
            got: asyncio.Queue[str] = asyncio.Queue()
            await conn.add_listener("modes", lambda c, pid, ch, msg, q=got: q.put_nowait(msg))
            await conn.execute("NOTIFY modes, 'hi'")
            assert await asyncio.wait_for(got.get(), 5) == "hi"
        finally:
            await conn.close()


async def test_statement_cache_size_zero_means_unnamed(dsn: str) -> None:
    conn = await pgjet.connect(dsn, statement_cache_size=0)
    try:
        assert conn.statement_mode == "unnamed"
        assert await conn.fetchval("SELECT $1::int", 1) == 1
        assert await server_statement_count(conn) == 0
    finally:
        await conn.close()


@pytest.mark.parametrize("bad", ["", "Named", "always", None, 1])
async def test_bad_mode_is_refused_before_connecting(bad: Any) -> None:
    with pytest.raises(errors.ClientConfigurationError, match="prepared_statements"):
        await pgjet.connect("postgresql://nobody@127.0.0.1:1/x", prepared_statements=bad)


async def test_pool_passes_the_mode(dsn: str) -> None:
    async with (
        pgjet.create_pool(dsn, min_size=2, max_size=2, prepared_statements="unnamed") as pool,
        pool.acquire() as conn,
    ):
        assert conn.statement_mode == "unnamed"
        assert await conn.fetchval("SELECT $1::int", 9) == 9

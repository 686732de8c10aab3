"""The statement cache against real servers: hits, eviction, limits, and schema changes.

What the client believes is prepared is compared with what the server says is
prepared (``pg_prepared_statements``), and round trips are counted as the Parse
messages that actually leave the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import pgjet
from pgjet import errors

from .wire_spy import WireSpy


async def server_statements(conn: Any) -> set[str]:
    """Names of the statements the server holds for this session (simple protocol)."""
    op = await conn._engine.simple_query("SELECT name FROM pg_prepared_statements", None)
    return {row[0] for row in op.rows}


def cached_names(conn: Any) -> set[str]:
    return {state.name.decode() for state, _ in conn._stmt_cache._entries.values()}


pytestmark = pytest.mark.usefixtures("hang_guard")


# -- hits and misses ------------------------------------------------------------------


async def test_second_run_sends_no_parse_and_uses_the_named_statement(conn: Any) -> None:
    spy = WireSpy(conn)
    assert await conn.fetchval("SELECT $1::int4 * 2", 21) == 42
    assert spy.count(b"P") == 1
    spy.reset()
    assert await conn.fetchval("SELECT $1::int4 * 2", 50) == 100
    # A hit is Bind+Execute+Sync: one round trip, no Parse, no Describe.
    assert spy.sent == [b"B", b"E", b"S"]
    names = await server_statements(conn)
    assert names == cached_names(conn)
    assert len(names) == 1 and next(iter(names)).startswith("_pj")


async def test_concurrent_first_runs_share_one_prepare(conn: Any) -> None:
    spy = WireSpy(conn)
    results = await asyncio.gather(*(conn.fetchval("SELECT $1::int8 + 1", i) for i in range(20)))
    assert results == [i + 1 for i in range(20)]
    assert spy.count(b"P") == 1
    assert spy.count(b"B") == 20


async def test_failed_shared_prepare_fails_every_sharer_and_caches_nothing(conn: Any) -> None:
    calls = [conn.fetch("SELEC 1 FROM nowhere") for _ in range(5)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, errors.PostgresSyntaxError) for r in results), results
    assert len(conn._stmt_cache) == 0
    assert await conn.fetchval("SELECT 7") == 7


async def test_a_sharer_is_not_failed_by_the_preparers_timeout(dsn: str, conn: Any) -> None:
    """Task A prepares with a short timeout, B shares the prepare without one.

    A's timeout is A's business: B must prepare again and get its rows, not
    A's TimeoutError. (The Parse blocks on a table lock held elsewhere.)
    """
    await conn.execute("DROP TABLE IF EXISTS cache_locked; CREATE TABLE cache_locked (x int)")
    await conn.execute("INSERT INTO cache_locked VALUES (5)")
    other = await pgjet.connect(dsn)
    try:
        await other.execute("BEGIN; LOCK TABLE cache_locked IN ACCESS EXCLUSIVE MODE")
        a = asyncio.ensure_future(conn.fetch("SELECT x FROM cache_locked", timeout=0.3))
        await asyncio.sleep(0.05)
        b = asyncio.ensure_future(conn.fetch("SELECT x FROM cache_locked"))
        with pytest.raises(asyncio.TimeoutError):
            await a
        while conn._engine._background:  # until the server took A's CancelRequest
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        assert not b.done()
        await other.execute("COMMIT")
        rows = await asyncio.wait_for(b, 5)
        assert [tuple(r) for r in rows] == [(5,)]
    finally:
        await other.close()
        await conn.execute("DROP TABLE cache_locked")


async def test_a_sharer_keeps_its_own_timeout(dsn: str, conn: Any) -> None:
    await conn.execute("DROP TABLE IF EXISTS cache_locked2; CREATE TABLE cache_locked2 (x int)")
    other = await pgjet.connect(dsn)
    try:
        await other.execute("BEGIN; LOCK TABLE cache_locked2 IN ACCESS EXCLUSIVE MODE")
        a = asyncio.ensure_future(conn.fetch("SELECT x FROM cache_locked2"))
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(asyncio.TimeoutError):
            await conn.fetch("SELECT x FROM cache_locked2", timeout=0.2)
        assert loop.time() - started < 1.0
        await other.execute("COMMIT")
        assert await asyncio.wait_for(a, 5) == []
    finally:
        await other.close()
        await conn.execute("DROP TABLE cache_locked2")


# -- eviction and limits ------------------------------------------------------------------


async def test_lru_eviction_closes_statements_on_the_server(dsn: str) -> None:
    conn = await pgjet.connect(dsn, statement_cache_size=3)
    try:
        for i in range(8):
            assert await conn.fetchval(f"SELECT {i}::int4 + $1::int4", 1) == i + 1
        assert len(conn._stmt_cache) == 3
        # Recently used entries stay: touch query 5, then add a new one.
        await conn.fetchval("SELECT 5::int4 + $1::int4", 1)
        await conn.fetchval("SELECT 100 + $1::int4", 1)
        queries = list(conn._stmt_cache._entries)
        assert queries == [
            "SELECT 7::int4 + $1::int4",
            "SELECT 5::int4 + $1::int4",
            "SELECT 100 + $1::int4",
        ]
        # The evicted ones are closed with the next write: the server holds
        # exactly what the client has cached.
        assert await server_statements(conn) == cached_names(conn)
    finally:
        await conn.close()


async def test_cache_size_zero_uses_only_the_unnamed_statement(dsn: str) -> None:
    conn = await pgjet.connect(dsn, statement_cache_size=0)
    try:
        spy = WireSpy(conn)
        # 50 different queries with different result types, all pipelined.
        queries = []
        for i in range(50):
            if i % 3 == 0:
                queries.append((f"SELECT $1::int4 + {i} AS v", (i,), 2 * i))
            elif i % 3 == 1:
                queries.append((f"SELECT $1::text || '-{i}' AS v", (str(i),), f"{i}-{i}"))
            else:
                queries.append((f"SELECT ARRAY[$1::int8, {i}] AS v", (i,), [i, i]))
        results = await asyncio.gather(*(conn.fetchval(q, *a) for q, a, _ in queries))
        assert results == [expected for _, _, expected in queries]
        # asyncpg's advice for poolers (size 0) means no server-side statements:
        # pgjet keeps the descriptions client-side instead (unnamed mode).
        assert conn.statement_mode == "unnamed"
        assert len(conn._stmt_cache) == 50
        assert await server_statements(conn) == set()
        # Every Bind was preceded by its own Parse of the unnamed statement.
        assert spy.count(b"B") == 50
        assert spy.count(b"P") == 100
        # Known now: one round trip each, Parse + Bind in the same write.
        results = await asyncio.gather(*(conn.fetchval(q, *a) for q, a, _ in queries))
        assert results == [expected for _, _, expected in queries]
        assert spy.count(b"B") == 100
        assert spy.count(b"P") == 150
        assert await server_statements(conn) == set()
    finally:
        await conn.close()


async def test_max_cached_statement_lifetime(dsn: str) -> None:
    conn = await pgjet.connect(dsn, max_cached_statement_lifetime=0.3)
    try:
        spy = WireSpy(conn)
        await conn.fetchval("SELECT $1::int4", 1)
        first = cached_names(conn)
        await conn.fetchval("SELECT $1::int4", 2)
        assert spy.count(b"P") == 1
        await asyncio.sleep(0.4)
        assert await conn.fetchval("SELECT $1::int4", 3) == 3
        assert spy.count(b"P") == 2  # expired: prepared again under a new name
        second = cached_names(conn)
        assert first.isdisjoint(second)
        assert await server_statements(conn) == second
    finally:
        await conn.close()


async def test_lifetime_zero_never_expires(dsn: str) -> None:
    conn = await pgjet.connect(dsn, max_cached_statement_lifetime=0)
    try:
        spy = WireSpy(conn)
        await conn.fetchval("SELECT $1::int4", 1)
        await asyncio.sleep(0.05)
        await conn.fetchval("SELECT $1::int4", 2)
        assert spy.count(b"P") == 1
    finally:
        await conn.close()


async def test_max_cacheable_statement_size(dsn: str) -> None:
    conn = await pgjet.connect(dsn, max_cacheable_statement_size=40)
    try:
        spy = WireSpy(conn)
        long_query = "SELECT $1::int4 AS a_rather_long_column_name_here"
        assert len(long_query) > 40
        for i in range(3):
            assert await conn.fetchval(long_query, i) == i
        assert spy.count(b"P") == 6  # describe + re-parse each time, never cached
        assert len(conn._stmt_cache) == 0
        spy.reset()
        for i in range(3):
            assert await conn.fetchval("SELECT $1::int4", i) == i
        assert spy.count(b"P") == 1
        assert await server_statements(conn) == cached_names(conn)
    finally:
        await conn.close()


async def test_statement_names_are_unique_per_connection(dsn: str) -> None:
    conns = [await pgjet.connect(dsn) for _ in range(4)]
    try:
        names = []
        for c in conns:
            await c.fetchval("SELECT $1::int4", 1)
            await c.fetchval("SELECT $1::text", "x")
            names.append(await server_statements(c))
        flat = [n for group in names for n in group]
        assert len(flat) == len(set(flat)) == 8
        # A random prefix per connection: behind a pooler sessions are shared.
        prefixes = {n.rsplit("_", 1)[0] for n in flat}
        assert len(prefixes) == 4
    finally:
        for c in conns:
            await c.close()


async def test_other_record_class_does_not_leak_the_old_statement(conn: Any) -> None:
    class MyRecord(pgjet.Record):
        pass

    row = await conn.fetchrow("SELECT $1::int4 AS v", 1, record_class=MyRecord)
    assert type(row) is MyRecord
    row = await conn.fetchrow("SELECT $1::int4 AS v", 2)
    assert type(row) is pgjet.Record
    # One cache entry, one statement on the server (the old one was closed).
    assert await server_statements(conn) == cached_names(conn)
    assert len(cached_names(conn)) == 1


# -- schema changes under cached statements --------------------------------------------


@pytest.fixture
async def table(conn: Any) -> AsyncIterator[str]:
    await conn.execute(
        "DROP TABLE IF EXISTS cache_ddl; CREATE TABLE cache_ddl (id int4, c int4);"
        "INSERT INTO cache_ddl VALUES (1, 10)"
    )
    yield "cache_ddl"
    await conn.execute("DROP TABLE IF EXISTS cache_ddl")


async def test_alter_column_type_outside_a_transaction_reprepares(conn: Any, table: str) -> None:
    query = f"SELECT * FROM {table} WHERE id = $1"
    assert [tuple(r) for r in await conn.fetch(query, 1)] == [(1, 10)]
    await conn.execute(f"ALTER TABLE {table} ALTER COLUMN c TYPE bigint")
    await conn.execute(f"UPDATE {table} SET c = 2^40")
    assert [tuple(r) for r in await conn.fetch(query, 1)] == [(1, 2**40)]
    await conn.execute(f"ALTER TABLE {table} ALTER COLUMN c TYPE text")
    row = await conn.fetchrow(query, 1)
    assert row["c"] == str(2**40)
    await conn.execute(f"ALTER TABLE {table} ADD COLUMN d float8 DEFAULT 1.5")
    assert tuple(await conn.fetchrow(query, 1)) == (1, str(2**40), 1.5)
    assert await server_statements(conn) == cached_names(conn)


async def test_alter_column_type_inside_a_transaction_raises_then_recovers(
    conn: Any, table: str
) -> None:
    query = f"SELECT c FROM {table}"
    assert await conn.fetchval(query) == 10
    await conn.execute(f"ALTER TABLE {table} ALTER COLUMN c TYPE int8")
    await conn.execute("BEGIN")
    with pytest.raises(errors.InvalidCachedStatementError):
        await conn.fetchval(query)
    assert query not in conn._stmt_cache._entries
    await conn.execute("ROLLBACK")
    assert await conn.fetchval(query) == 10
    async with conn.transaction():
        assert await conn.fetchval(query) == 10


async def test_drop_and_recreate_table_with_other_types(conn: Any, table: str) -> None:
    query = f"SELECT c FROM {table}"
    assert await conn.fetchval(query) == 10
    await conn.execute(
        f"DROP TABLE {table}; CREATE TABLE {table} (id int4, c numeric);"
        f"INSERT INTO {table} VALUES (1, 12.5)"
    )
    from decimal import Decimal

    assert await conn.fetchval(query) == Decimal("12.5")


async def test_drop_and_recreate_a_type_the_statement_uses(conn: Any) -> None:
    await conn.execute(
        "DROP TABLE IF EXISTS cache_enum_t; DROP TYPE IF EXISTS cache_mood;"
        "CREATE TYPE cache_mood AS ENUM ('sad', 'happy');"
        "CREATE TABLE cache_enum_t (m cache_mood); INSERT INTO cache_enum_t VALUES ('happy')"
    )
    try:
        assert await conn.fetchval("SELECT m FROM cache_enum_t") == "happy"
        assert await conn.fetchval("SELECT $1::cache_mood", "sad") == "sad"
        await conn.execute(
            "DROP TABLE cache_enum_t; DROP TYPE cache_mood;"
            "CREATE TYPE cache_mood AS (a int4, b text);"
            "CREATE TABLE cache_enum_t (m cache_mood); INSERT INTO cache_enum_t VALUES ((1, 'x'))"
        )
        # Never a value decoded with the old type's idea of it: a composite now.
        value = await conn.fetchval("SELECT m FROM cache_enum_t")
        assert value in ("(1,x)", (1, "x")), value
        # Composites are read from the catalog: the argument is a tuple now.
        value = await conn.fetchval("SELECT $1::cache_mood", (2, "y"))
        assert value == (2, "y"), value
    finally:
        await conn.execute("DROP TABLE IF EXISTS cache_enum_t; DROP TYPE IF EXISTS cache_mood")


async def test_fetchmany_after_a_schema_change_does_not_fail_forever(conn: Any, table: str) -> None:
    query = f"INSERT INTO {table} VALUES ($1, $2) RETURNING c"
    assert [r["c"] for r in await conn.fetchmany(query, [(2, 20)])] == [20]
    await conn.execute(f"ALTER TABLE {table} ALTER COLUMN c TYPE int8")
    try:
        rows = await conn.fetchmany(query, [(3, 30)])
    except errors.InvalidCachedStatementError:
        # Not retried (the arguments may be a one-shot iterator), but the
        # stale statement is dropped: the next call works.
        rows = await conn.fetchmany(query, [(3, 30)])
    assert [r["c"] for r in rows] == [30]
    assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE id = 3") == 1


async def test_unnamed_statement_never_decodes_with_stale_types(dsn: str, cluster: Any) -> None:
    """DDL commits between the describe round trip and the execution of an unnamed statement.

    int4 -> float4 keeps the width (4 bytes), so decoding the new value with the
    old codec would silently give a wrong integer. The portal's description is
    checked before any row is decoded.
    """
    conn = await pgjet.connect(dsn, statement_cache_size=0)
    other = await pgjet.connect(dsn)
    try:
        await other.execute(
            "DROP TABLE IF EXISTS cache_race; CREATE TABLE cache_race (c int4);"
            "INSERT INTO cache_race VALUES (7)"
        )
        engine = conn._engine
        original = engine.prepare

        async def prepare_then_alter(*args: Any, **kwargs: Any) -> Any:
            state = await original(*args, **kwargs)
            await other.execute("ALTER TABLE cache_race ALTER COLUMN c TYPE float4")
            return state

        engine.prepare = prepare_then_alter
        with pytest.raises(errors.OutdatedSchemaCacheError):
            await conn.fetchval("SELECT c FROM cache_race")
        engine.prepare = original
        assert await conn.fetchval("SELECT c FROM cache_race") == 7.0
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await other.execute("DROP TABLE IF EXISTS cache_race")
        await other.close()
        await conn.close()

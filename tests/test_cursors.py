"""Cursors (portals): ``async for`` with prefetch, fetch/fetchrow/forward, as asyncpg's.

A sequence advanced by every row the portal produces shows, from inside the
loop, how many rows the server has produced so far: that is how the chunked
fetching is observed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

import pgjet
from pgjet import errors


async def open_portals(conn: Any) -> list[str]:
    rows = await conn.fetch("SELECT name FROM pg_cursors WHERE name <> '' ORDER BY name")
    return [r[0] for r in rows]


async def test_a_cursor_needs_a_transaction(conn: Any, aconn: Any) -> None:
    for c in (conn, aconn):
        with pytest.raises(Exception) as info:
            await c.cursor("SELECT 1")
        assert type(info.value).__name__ == "NoActiveSQLTransactionError"
        with pytest.raises(Exception) as info:
            async for _ in c.cursor("SELECT 1"):
                pass
        assert type(info.value).__name__ == "NoActiveSQLTransactionError"
    assert isinstance(info.value, asyncpg.NoActiveSQLTransactionError)
    with pytest.raises(errors.NoActiveSQLTransactionError):
        await conn.cursor("SELECT 1")
    assert await conn.fetchval("SELECT 1") == 1


@pytest.mark.parametrize(("prefetch", "total"), [(10, 95), (1, 3), (50, 50), (7, 0)])
async def test_async_for_fetches_in_chunks_of_prefetch(
    conn: Any, prefetch: int, total: int
) -> None:
    await conn.execute("CREATE TEMP SEQUENCE produced")
    seen: list[int] = []
    async with conn.transaction():
        query = "SELECT g, nextval('produced') AS p FROM generate_series(1, $1::int) g"
        async for row in conn.cursor(query, total, prefetch=prefetch):
            seen.append(row["g"])
            # Rows produced by the server so far: whole chunks, never everything at once.
            produced = await conn.fetchval("SELECT last_value FROM produced")
            chunk_end = min(-(-row["g"] // prefetch) * prefetch, total)
            assert produced == chunk_end, (row["g"], produced)
    assert seen == list(range(1, total + 1))


async def test_async_for_matches_asyncpg_and_closes_its_portal(conn: Any, aconn: Any) -> None:
    query = "SELECT g, g::text AS t, NULLIF(g % 3, 0) AS m FROM generate_series(1, 40) g"
    results = []
    for c in (conn, aconn):
        async with c.transaction():
            results.append([tuple(r) async for r in c.cursor(query, prefetch=6)])
            # Breaking out early closes the portal too.
            async for row in c.cursor(query, prefetch=6):
                if row[0] == 8:
                    break
            if c is conn:
                assert await open_portals(conn) == []
    assert results[0] == results[1]
    assert len(results[0]) == 40


async def test_cursor_fetch_fetchrow_forward_match_asyncpg(conn: Any, aconn: Any) -> None:
    query = "SELECT g FROM generate_series(1, $1::int) g"

    async def walk(c: Any) -> list[Any]:
        out: list[Any] = []
        async with c.transaction():
            cur = await c.cursor(query, 20)
            out.append([r[0] for r in await cur.fetch(3)])
            out.append((await cur.fetchrow())[0])
            out.append(await cur.forward(5))
            out.append([r[0] for r in await cur.fetch(4)])
            out.append(await cur.forward(100))  # past the end: how many were skipped
            out.append(await cur.fetch(5))
            out.append(await cur.fetchrow())
            out.append(await cur.forward(1))
        return out

    ours = await walk(conn)
    assert ours == await walk(aconn)
    assert ours == [[1, 2, 3], 4, 5, [10, 11, 12, 13], 7, [], None, 0]


async def test_fetch_more_than_remains(conn: Any, aconn: Any) -> None:
    for c in (conn, aconn):
        async with c.transaction():
            cur = await c.cursor("SELECT g FROM generate_series(1, 5) g")
            assert [r[0] for r in await cur.fetch(100)] == [1, 2, 3, 4, 5]
            assert await cur.fetch(1) == []
            assert await cur.fetchrow() is None


async def test_bad_n_and_prefetch_are_rejected_like_asyncpg(conn: Any, aconn: Any) -> None:
    async def attempts(c: Any) -> list[str]:
        names: list[str] = []

        async def attempt(call: Callable[[], Awaitable[Any]]) -> None:
            try:
                await call()
                names.append("ok")
            except Exception as exc:
                names.append(type(exc).__name__)

        async with c.transaction():
            cur = await c.cursor("SELECT g FROM generate_series(1, 5) g")
            await attempt(lambda: cur.fetch(0))
            await attempt(lambda: cur.fetch(-1))
            await attempt(lambda: cur.forward(0))
            await attempt(lambda: cur.forward(-2))
            # Still usable after the refused calls.
            names.append(str([r[0] for r in await cur.fetch(2)]))

            async def iterate(prefetch: Any) -> None:
                async for _ in c.cursor("SELECT 1", prefetch=prefetch):
                    pass

            await attempt(lambda: iterate(0))
            await attempt(lambda: iterate(-5))
        return names

    ours = await attempts(conn)
    assert ours == await attempts(aconn)
    assert ours == ["InterfaceError"] * 4 + ["[1, 2]"] + ["InterfaceError"] * 2


async def test_several_cursors_open_at_once(conn: Any) -> None:
    async with conn.transaction():
        a = await conn.cursor("SELECT g FROM generate_series(1, 10) g")
        b = await conn.cursor("SELECT -g FROM generate_series(1, 10) g")
        c = await conn.cursor("SELECT g * 100 FROM generate_series(1, $1::int) g", 3)
        assert len(await open_portals(conn)) == 3
        assert [r[0] for r in await a.fetch(2)] == [1, 2]
        assert [r[0] for r in await b.fetch(3)] == [-1, -2, -3]
        assert [r[0] for r in await c.fetch(5)] == [100, 200, 300]
        assert [r[0] for r in await a.fetch(2)] == [3, 4]
        assert await b.forward(2) == 2
        assert (await b.fetchrow())[0] == -6
        assert await c.fetchrow() is None
        # Nested async-for over two portals at once.
        pairs = [
            (x[0], y[0])
            async for x in conn.cursor("SELECT generate_series(1, 3)", prefetch=2)
            for y in [await conn.fetchrow("SELECT $1::int * 2", x[0])]
        ]
        assert pairs == [(1, 2), (2, 4), (3, 6)]


async def test_cursor_with_record_class_and_args(conn: Any) -> None:
    class Row(pgjet.Record):
        pass

    async with conn.transaction():
        rows = [
            r
            async for r in conn.cursor(
                "SELECT $1::text || g AS s FROM generate_series(1, 3) g", "n", record_class=Row
            )
        ]
        assert [type(r) for r in rows] == [Row] * 3
        assert [r["s"] for r in rows] == ["n1", "n2", "n3"]
        with pytest.raises(errors.InterfaceError, match="expects 1 argument"):
            await conn.cursor("SELECT $1::int", 1, 2)
        with pytest.raises(errors.InvalidQueryInputError, match=r"\$1"):
            await conn.cursor("SELECT $1::int", "one")
        # A server error while binding/executing a portal is the server's error.
        cur = await conn.cursor("SELECT 1 / (3 - g) FROM generate_series(1, 5) g")
        assert [r[0] for r in await cur.fetch(2)] == [0, 1]
        with pytest.raises(errors.DivisionByZeroError):
            await cur.fetch(2)


async def test_cursor_on_a_prepared_statement(conn: Any, aconn: Any) -> None:
    results = []
    for c in (conn, aconn):
        stmt = await c.prepare("SELECT g, $1::text AS tag FROM generate_series(1, 12) g")
        async with c.transaction():
            iterated = [tuple(r) async for r in stmt.cursor("x", prefetch=5)]
            cur = await stmt.cursor("y")
            fetched = [tuple(r) for r in await cur.fetch(4)]
            skipped = await cur.forward(6)
            last = tuple(await cur.fetchrow())
        results.append((iterated, fetched, skipped, last))
    assert results[0] == results[1]
    assert results[0][3] == (11, "y")


async def test_cursor_dies_with_its_transaction(conn: Any) -> None:
    async with conn.transaction():
        cur = await conn.cursor("SELECT generate_series(1, 10)")
        assert (await cur.fetchrow())[0] == 1
    # The portal ended with the transaction: the server says so.
    with pytest.raises(errors.PostgresError):
        await cur.fetch(1)
    assert await conn.fetchval("SELECT 2") == 2
    assert await open_portals(conn) == []


async def test_cursor_repr_shows_state(conn: Any) -> None:
    async with conn.transaction():
        cur = await conn.cursor("SELECT 1")
        assert "open" in repr(cur)
        await cur.fetch(5)
        assert "exhausted" in repr(cur)


async def test_cursor_timeout_is_applied(conn: Any) -> None:
    import asyncio

    async with conn.transaction():
        cur = await conn.cursor("SELECT pg_sleep(0.5) FROM generate_series(1, 3)")
        with pytest.raises(asyncio.TimeoutError):
            await cur.fetch(1, timeout=0.05)
    assert await conn.fetchval("SELECT 3") == 3


async def test_cursor_of_a_dropped_prepared_statement_still_works(conn: Any) -> None:
    """The cursor keeps its statement alive: dropping the PreparedStatement queues a Close."""
    import gc

    async with conn.transaction():
        cur = await (await conn.prepare("SELECT generate_series(1, 10)")).cursor()
        gc.collect()
        assert [r[0] for r in await cur.fetch(3)] == [1, 2, 3]
        seen = []
        async for row in (await conn.prepare("SELECT generate_series(1, 7)")).cursor(prefetch=3):
            gc.collect()
            seen.append(row[0])
        assert seen == list(range(1, 8))
        assert [r[0] for r in await cur.fetch(3)] == [4, 5, 6]


async def test_cursor_survives_eviction_of_its_cached_statement(dsn: str) -> None:
    c = await pgjet.connect(dsn, statement_cache_size=1)
    try:
        async with c.transaction():
            cur = await c.cursor("SELECT generate_series(1, 10)")
            assert [r[0] for r in await cur.fetch(2)] == [1, 2]
            # Each new text evicts the previous one; its Close reaches the server.
            assert await c.fetchval("SELECT 42") == 42
            assert await c.fetchval("SELECT 43") == 43
            assert [r[0] for r in await cur.fetch(3)] == [3, 4, 5]
            got = [r[0] async for r in c.cursor("SELECT generate_series(1, 5)", prefetch=2)]
            assert got == [1, 2, 3, 4, 5]
    finally:
        await c.close()

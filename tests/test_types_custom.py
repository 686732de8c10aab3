"""Custom types without registration: enums, composites, domains, ranges, arrays of them.

Read from the catalog with one query per statement, once per pool, and never
decoded with a stale layout after ALTER TYPE. Compared with asyncpg where it
has an opinion.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

import pgjet
from pgjet import errors
from pgjet.types import Range


def plain(value: Any) -> Any:
    """Records (pgjet's or asyncpg's) as tuples of items, recursively, to compare them."""
    if isinstance(value, (pgjet.Record, asyncpg.Record)):
        return tuple((k, plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, (Range, asyncpg.Range)):
        return ("range", plain(value.lower), plain(value.upper), value.lower_inc, value.upper_inc)
    return value


async def create_types(c: Any, s: str) -> None:
    await c.execute(
        f"""
        CREATE TYPE {s}.mood AS ENUM ('sad', 'ok', 'happy');
        CREATE TYPE {s}.item AS (id int, mood {s}.mood, tags text[]);
        CREATE TYPE {s}.bag AS (label text, items {s}.item[]);
        CREATE TYPE {s}.outer_ AS (bag {s}.bag, n numeric);
        CREATE DOMAIN {s}.scores AS int[] CHECK (cardinality(VALUE) < 10);
        CREATE TYPE {s}.moodrange AS RANGE (subtype = {s}.mood);
        """
    )


async def test_custom_types_need_no_registration(conn: Any, aconn: Any, schema: str) -> None:
    s = schema
    await create_types(conn, s)
    sql = f"""
        SELECT 'ok'::{s}.mood AS mood,
               ROW(ROW('b', ARRAY[ROW(1, 'sad', ARRAY['x'])::{s}.item,
                                  NULL, ROW(2, NULL, NULL)::{s}.item])::{s}.bag,
                   1.5)::{s}.outer_ AS nested,
               ARRAY[3, 4]::{s}.scores AS scores,
               '[sad,happy)'::{s}.moodrange AS moods,
               ARRAY['happy', NULL]::{s}.mood[] AS mood_list,
               '{{[sad,ok), [happy,happy]}}'::{s}.moodmultirange AS multi
    """
    ours = await conn.fetchrow(sql)
    theirs = await aconn.fetchrow(sql)
    assert plain(ours) == plain(theirs)
    assert ours["mood"] == "ok"
    inner = ours["nested"]["bag"]["items"]
    assert isinstance(ours["nested"], pgjet.Record)
    assert inner[0]["tags"] == ["x"] and inner[0]["mood"] == "sad"
    assert inner[1] is None and inner[2]["id"] == 2 and inner[2]["mood"] is None
    assert ours["scores"] == [3, 4]
    assert ours["moods"] == Range("sad", "happy")
    assert ours["mood_list"] == ["happy", None]
    assert ours["multi"] == [Range("sad", "ok"), Range("happy", "happy", upper_inc=True)]


async def test_custom_types_encode_as_parameters(conn: Any, aconn: Any, schema: str) -> None:
    s = schema
    await create_types(conn, s)
    sql = (
        f"SELECT $1::{s}.mood AS m, $2::{s}.outer_ AS o, $3::{s}.scores AS sc,"
        f" $4::{s}.moodrange AS r, $5::{s}.item[] AS items"
    )
    args = (
        "happy",
        (("lbl", [(7, "ok", ["a", None]), None]), 2),
        [1, 2, 3],
        Range("sad", "ok", upper_inc=True),
        [{"id": 9, "mood": "sad"}, (1, None, [])],
    )
    ours = await conn.fetchrow(sql, *args)
    theirs = await aconn.fetchrow(
        sql, *args[:3], asyncpg.Range("sad", "ok", upper_inc=True), args[4]
    )
    assert plain(ours) == plain(theirs)
    assert ours["o"]["bag"]["items"][0]["tags"] == ["a", None]
    assert ours["items"][0]["tags"] is None  # missing mapping keys are NULL, as asyncpg
    # The server checks the domain's constraint; bad shapes are refused client-side.
    with pytest.raises(errors.CheckViolationError):
        await conn.fetchval(f"SELECT $1::{s}.scores", list(range(20)))
    with pytest.raises(errors.InvalidQueryInputError, match="has 3 attributes, got 2"):
        await conn.fetchval(f"SELECT $1::{s}.item", (1, "ok"))
    with pytest.raises(errors.InvalidQueryInputError, match="'nope' is not an attribute"):
        await conn.fetchval(f"SELECT $1::{s}.item", {"nope": 1})
    assert await conn.fetchval("SELECT 1") == 1  # the connection is fine


async def test_types_of_prepared_statements_match_asyncpg(
    conn: Any, aconn: Any, schema: str
) -> None:
    s = schema
    await create_types(conn, s)
    sql = (
        f"SELECT $1::{s}.mood a, $2::{s}.bag b, $3::{s}.scores c, $4::{s}.moodrange d,"
        f" $5::{s}.mood[] e, $6::{s}.moodmultirange f, $7::{s}.item[] g"
    )
    ours = await conn.prepare(sql)
    theirs = await aconn.prepare(sql)
    assert ours.get_parameters() == theirs.get_parameters()
    assert ours.get_attributes() == theirs.get_attributes()
    assert ours.get_attributes()[1].type.kind == "composite"


async def test_one_catalog_query_per_statement_and_per_pool(dsn: str, schema: str) -> None:
    s = schema
    admin = await pgjet.connect(dsn)
    await create_types(admin, s)
    await admin.close()
    sql = (
        f"SELECT ROW('x', ARRAY[ROW(1, 'ok', NULL)::{s}.item])::{s}.bag, 'sad'::{s}.mood,"
        f" ARRAY['ok']::{s}.mood[]"
    )
    async with pgjet.create_pool(dsn, min_size=4, max_size=4) as pool:

        async def use(i: int) -> Any:
            async with pool.acquire() as c:
                row = await c.fetchrow(sql)
                await asyncio.sleep(0.05)  # hold it: four distinct connections
                return c.get_server_pid(), row

        results = await asyncio.gather(*(use(i) for i in range(4)))
        assert len({pid for pid, _ in results}) == 4
        rows = [row for _, row in results]
        assert {r[1] for r in rows} == {"sad"}
        assert all(r[0]["items"][0]["mood"] == "ok" and r[2] == ["ok"] for r in rows)
        for _ in range(4):
            async with pool.acquire() as c:
                assert await c.fetchval(f"SELECT $1::{s}.mood[]", ["ok"]) == ["ok"]
        # bag, item, item[], mood, mood[]: one read for the pool's four connections.
        assert pool._type_catalogs.queries == 1
    # Without a pool, every connection reads for itself.
    singles = [await pgjet.connect(dsn) for _ in range(2)]
    try:
        for c in singles:
            await c.fetchrow(sql)
        assert [c._types.catalog.queries for c in singles] == [1, 1]
    finally:
        for c in singles:
            await c.close()


async def test_add_attribute_is_never_decoded_with_the_old_layout(
    dsn: str, conn: Any, schema: str
) -> None:
    s = schema
    other = await pgjet.connect(dsn)
    try:
        await conn.execute(
            f"CREATE TYPE {s}.pt AS (x int, y int);"
            f" CREATE TABLE {s}.t (p {s}.pt, ps {s}.pt[]);"
            f" INSERT INTO {s}.t VALUES ((1, 2), ARRAY[(3, 4)::{s}.pt])"
        )
        query = f"SELECT p, ps FROM {s}.t"
        stmt = await conn.prepare(query)
        assert plain(await conn.fetchrow(query)) == (
            ("p", (("x", 1), ("y", 2))),
            ("ps", [(("x", 3), ("y", 4))]),
        )
        await other.execute(f"ALTER TYPE {s}.pt ADD ATTRIBUTE z text; UPDATE {s}.t SET p.z = 'new'")
        # The rows that did not match the old layout are kept, the types read
        # again and the rows decoded again: the new layout, no error, no rerun.
        queries = conn._types.catalog.queries
        row = await conn.fetchrow(query)
        assert plain(row["p"]) == (("x", 1), ("y", 2), ("z", "new"))
        assert plain(row["ps"]) == [(("x", 3), ("y", 4), ("z", None))]
        assert conn._types.catalog.queries > queries
        # A prepared statement too (asyncpg raises OutdatedSchemaCacheError here).
        await other.execute(f"ALTER TYPE {s}.pt DROP ATTRIBUTE y")
        assert plain((await stmt.fetchrow())["p"]) == (("x", 1), ("z", "new"))
        # Inside a transaction, a cached statement: never the old layout.
        assert plain((await conn.fetchrow(query))["p"]) == (("x", 1), ("z", "new"))
        async with conn.transaction():
            await other.execute(f"ALTER TYPE {s}.pt ADD ATTRIBUTE q int")
            got = plain((await conn.fetchrow(query))["p"])
            assert got == (("x", 1), ("z", "new"), ("q", None))
        # A statement that changes data runs exactly once and returns the new layout.
        update = f"UPDATE {s}.t SET p.q = coalesce((p).q, 0) + 1 RETURNING p"
        assert plain((await conn.fetchrow(update))["p"])[-1] == ("q", 1)
        await other.execute(f"ALTER TYPE {s}.pt ADD ATTRIBUTE w int")
        rows = await conn.fetch(update)
        assert plain(rows[0]["p"])[-2:] == (("q", 2), ("w", None))
        assert await conn.fetchval(f"SELECT (p).q FROM {s}.t") == 2  # ran exactly once
        # A statement prepared after the change checks the layouts it was read
        # with first: the new layout, no error, and it ran once.
        await other.execute(f"ALTER TYPE {s}.pt ADD ATTRIBUTE v int")
        row = await conn.fetchrow(f"UPDATE {s}.t SET p.v = 7 RETURNING p")
        assert plain(row["p"])[-2:] == (("w", None), ("v", 7))
        assert await conn.fetchval(f"SELECT (p).v FROM {s}.t") == 7
    finally:
        await other.close()


async def test_enum_add_value_mid_run(dsn: str, conn: Any, schema: str) -> None:
    s = schema
    other = await pgjet.connect(dsn)
    try:
        await conn.execute(f"CREATE TYPE {s}.st AS ENUM ('a')")
        assert await conn.fetchval(f"SELECT $1::{s}.st", "a") == "a"
        assert await conn.fetchval(f"SELECT enum_range(NULL::{s}.st)") == ["a"]
        await other.execute(f"ALTER TYPE {s}.st ADD VALUE 'b'")
        assert await conn.fetchval(f"SELECT $1::{s}.st", "b") == "b"
        assert await conn.fetchval(f"SELECT enum_range(NULL::{s}.st)") == ["a", "b"]
        with pytest.raises(errors.InvalidTextRepresentationError):
            await conn.fetchval(f"SELECT $1::{s}.st", "c")
    finally:
        await other.close()


async def test_dropped_and_recreated_type(conn: Any, schema: str) -> None:
    s = schema
    await conn.execute(f"CREATE TYPE {s}.k AS (a int)")
    assert plain(await conn.fetchval(f"SELECT ROW(1)::{s}.k")) == (("a", 1),)
    await conn.execute(f"DROP TYPE {s}.k; CREATE TYPE {s}.k AS (a text, b text)")
    # A new oid: read as a new type, never with the old one's codec.
    assert plain(await conn.fetchval(f"SELECT ROW('x', 'y')::{s}.k")) == (("a", "x"), ("b", "y"))


async def extension(conn: Any, name: str) -> None:
    available = await conn.fetchval(
        "SELECT count(*) FROM pg_available_extensions WHERE name = $1", name
    )
    if not available:
        pytest.skip(f"the {name} extension is not installed on this server")
    await conn.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")


async def test_hstore_and_citext_through_the_catalog(conn: Any, aconn: Any) -> None:
    await extension(conn, "hstore")
    await extension(conn, "citext")
    sql = (
        "SELECT 'a=>1, b=>NULL'::hstore AS h, 'MiXed'::citext AS c,"
        " ARRAY['x'::citext, NULL] AS cs, $1::hstore AS h2, $2::citext = 'abc' AS same"
    )
    args = ({"k": "v", "none": None, "é": "ü"}, "ABC")
    # asyncpg needs its hstore codec registered; pgjet finds it through the catalog.
    await aconn.set_builtin_type_codec("hstore", codec_name="pg_contrib.hstore")
    ours = await conn.fetchrow(sql, *args)
    theirs = await aconn.fetchrow(sql, *args)
    assert plain(ours) == plain(theirs)
    assert ours["h"] == {"a": "1", "b": None}
    assert ours["c"] == "MiXed" and ours["same"] is True
    assert ours["h2"] == args[0]
    with pytest.raises(errors.InvalidQueryInputError, match="keys cannot be None"):
        await conn.fetchval("SELECT $1::hstore", {None: "x"})


async def test_parameters_in_the_new_layout_after_add_attribute(
    dsn: str, conn: Any, schema: str
) -> None:
    s = schema
    await conn.execute(f"CREATE TYPE {s}.v AS (a int)")
    query = f"SELECT ($1::{s}.v)::text"
    assert await conn.fetchval(query, (1,)) == "(1)"
    other = await pgjet.connect(dsn)
    try:
        await other.execute(f"ALTER TYPE {s}.v ADD ATTRIBUTE b text")
    finally:
        await other.close()
    # The cached statement's codec knows one attribute: read again, not refused.
    assert await conn.fetchval(query, (1, "x")) == "(1,x)"
    with pytest.raises(errors.InvalidQueryInputError, match="has 2 attributes, got 3"):
        await conn.fetchval(query, (1, "x", "y"))

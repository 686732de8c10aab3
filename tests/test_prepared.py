"""Connection.prepare() and PreparedStatement, compared with asyncpg's."""

from __future__ import annotations

import gc
from typing import Any

import asyncpg
import pytest

import pgjet
from pgjet import errors


def plain(rows: Any) -> Any:
    if isinstance(rows, list):
        return [plain(r) for r in rows]
    if isinstance(rows, (pgjet.Record, asyncpg.Record)):
        return tuple(rows.items())
    return rows


async def test_fetch_family_and_status_match_asyncpg(conn: Any, aconn: Any) -> None:
    sql = (
        "SELECT g AS n, g * $1::int8 AS scaled, NULLIF(g, 2) AS gap"
        " FROM generate_series(1, $2::int) g"
    )
    outcomes = []
    for c in (conn, aconn):
        stmt = await c.prepare(sql)
        got: list[Any] = [stmt.get_statusmsg()]
        got.append(plain(await stmt.fetch(10, 3)))
        got.append(stmt.get_statusmsg())
        got.append(plain(await stmt.fetchrow(10, 3)))
        got.append(plain(await stmt.fetchrow(10, 0)))
        got.append(await stmt.fetchval(10, 3))
        got.append(await stmt.fetchval(10, 3, column=1))
        got.append(await stmt.fetchval(10, 3, column="scaled"))
        got.append(await stmt.fetchval(10, 0))
        got.append(plain(await stmt.fetch(1, 0)))
        got.append(stmt.get_statusmsg())
        got.append(plain(await stmt.fetchmany([(1, 1), (2, 2)])))
        got.append(stmt.get_query())
        outcomes.append(got)
    assert outcomes[0] == outcomes[1]
    ours = outcomes[0]
    assert ours[0] is None
    assert ours[1] == [
        (("n", 1), ("scaled", 10), ("gap", 1)),
        (("n", 2), ("scaled", 20), ("gap", None)),
        (("n", 3), ("scaled", 30), ("gap", 3)),
    ]
    assert ours[2] == "SELECT 3"
    assert ours[5:9] == [1, 10, 10, None]
    assert ours[10] == "SELECT 0"
    assert ours[12] == sql


async def test_parameters_and_attributes_match_asyncpg(conn: Any, aconn: Any) -> None:
    sql = (
        "SELECT $1::int2 AS a, $2::text AS b, $3::int4[] AS c, $4::bool AS d,"
        " $5::float8 AS e, $6::bytea AS f, $7::uuid AS g, $8::jsonb AS h, now() AS t,"
        " 1::numeric AS n, 'x'::varchar AS v, $9::int4range AS r, $10::int8multirange AS mr,"
        " $11::int2vector AS iv, $12::_int4range AS ra, $13::point[] AS pa, $14::name AS nm,"
        " $15::timestamptz[] AS ta, ROW(1, 2) AS rec, NULL AS unk"
    )
    ours = await conn.prepare(sql)
    theirs = await aconn.prepare(sql)
    assert ours.get_parameters() == theirs.get_parameters()
    assert ours.get_attributes() == theirs.get_attributes()
    assert type(ours.get_parameters()) is tuple
    first = ours.get_attributes()[0]
    assert (first.name, first.type.oid, first.type.name) == ("a", 21, "int2")
    assert first._fields == theirs.get_attributes()[0]._fields
    assert first.type._fields == theirs.get_attributes()[0].type._fields
    assert ours.get_attributes()[2].type.kind == "array"


async def test_statement_without_result_or_parameters(conn: Any, aconn: Any) -> None:
    await conn.execute("CREATE TEMP TABLE nores (n int)")
    await aconn.execute("CREATE TEMP TABLE nores (n int)")
    for c in (conn, aconn):
        stmt = await c.prepare("INSERT INTO nores VALUES (1)")
        assert stmt.get_parameters() == ()
        assert stmt.get_attributes() == ()
        assert await stmt.fetch() == []
        assert stmt.get_statusmsg() == "INSERT 0 1"
        assert await stmt.fetchval() is None


async def test_parameters_of_user_types_match_asyncpg(conn: Any, aconn: Any) -> None:
    await conn.execute("CREATE TYPE pj_mood AS ENUM ('sad', 'ok')")
    try:
        sql = "SELECT $1::pj_mood AS m"
        ours = await conn.prepare(sql)
        theirs = await aconn.prepare(sql)
        assert ours.get_parameters() == theirs.get_parameters()
    finally:
        await conn.execute("DROP TYPE pj_mood")


async def test_names(conn: Any) -> None:
    auto = await conn.prepare("SELECT 1")
    other = await conn.prepare("SELECT 1")
    assert auto.get_name() and auto.get_name() != other.get_name()
    named = await conn.prepare("SELECT 2", name="my_statement")
    assert named.get_name() == "my_statement"
    rows = await conn.fetch("SELECT name, statement FROM pg_prepared_statements ORDER BY name")
    names = {r["name"]: r["statement"] for r in rows}
    assert names["my_statement"] == "SELECT 2"
    assert names[auto.get_name()] == "SELECT 1"
    assert await named.fetchval() == 2
    with pytest.raises(errors.DuplicatePreparedStatementError):
        await conn.prepare("SELECT 3", name="my_statement")
    assert await named.fetchval() == 2  # the first one is untouched


async def test_prepare_errors(conn: Any, aconn: Any) -> None:
    for sql in ("SELEC 1", "SELECT * FROM no_such_table", "SELECT no_such_function()"):
        for c in (conn, aconn):
            with pytest.raises(Exception) as info:
                await c.prepare(sql)
            name = type(info.value).__name__
        assert name in {"PostgresSyntaxError", "UndefinedTableError", "UndefinedFunctionError"}
        with pytest.raises(getattr(errors, name)):
            await conn.prepare(sql)
    stmt = await conn.prepare("SELECT $1::int + $2::int")
    with pytest.raises(errors.InterfaceError, match="expects 2 arguments"):
        await stmt.fetch(1)
    with pytest.raises(errors.InvalidQueryInputError, match=r"\$2"):
        await stmt.fetchval(1, "2")
    assert await stmt.fetchval(1, 2) == 3


async def test_executemany_through_a_prepared_statement(conn: Any) -> None:
    await conn.execute("CREATE TEMP TABLE pm (id int PRIMARY KEY, s text)")
    stmt = await conn.prepare("INSERT INTO pm VALUES ($1, $2)")
    await stmt.executemany((i, str(i)) for i in range(1000))
    assert stmt.get_statusmsg() == "INSERT 0 1"
    assert await conn.fetchval("SELECT count(*) FROM pm") == 1000
    with pytest.raises(errors.UniqueViolationError):
        await stmt.executemany([(2000, "new"), (5, "dup")])
    assert await conn.fetchval("SELECT count(*) FROM pm") == 1000  # atomic
    returning = await conn.prepare("INSERT INTO pm VALUES ($1, $2) RETURNING id * 2")
    assert [r[0] for r in await returning.fetchmany([(3000, "a"), (3001, "b")])] == [6000, 6002]


async def test_explain_matches_asyncpg(conn: Any, aconn: Any) -> None:
    await conn.execute("CREATE TEMP TABLE ex (n int)")
    await aconn.execute("CREATE TEMP TABLE ex (n int)")
    plans = []
    for c in (conn, aconn):
        stmt = await c.prepare("INSERT INTO ex SELECT g FROM generate_series(1, $1::int) g")
        plain_plan = await stmt.explain(5)
        analyzed = await stmt.explain(5, analyze=True)
        # ANALYZE ran the INSERT, and undid it.
        assert await c.fetchval("SELECT count(*) FROM ex") == 0
        plans.append((plain_plan, analyzed))
    (ours, ours_a), (theirs, theirs_a) = plans
    assert isinstance(ours, list) and ours[0]["Plan"]["Node Type"] == "ModifyTable"
    assert ours[0]["Plan"]["Node Type"] == theirs[0]["Plan"]["Node Type"]
    assert set(ours[0]["Plan"]) == set(theirs[0]["Plan"])
    assert "Actual Rows" in ours_a[0]["Plan"]["Plans"][0]
    assert set(ours_a[0]) == set(theirs_a[0])


async def test_explain_analyze_inside_a_transaction_keeps_the_outer_work(conn: Any) -> None:
    await conn.execute("CREATE TEMP TABLE ex2 (n int)")
    stmt = await conn.prepare("INSERT INTO ex2 VALUES ($1)")
    async with conn.transaction():
        await conn.execute("INSERT INTO ex2 VALUES (1)")
        await stmt.explain(2, analyze=True)
        assert conn.is_in_transaction()
        assert await conn.fetchval("SELECT array_agg(n) FROM ex2") == [1]
    assert await conn.fetchval("SELECT array_agg(n) FROM ex2") == [1]


async def test_record_class_of_a_prepared_statement(conn: Any) -> None:
    class Mine(pgjet.Record):
        pass

    stmt = await conn.prepare("SELECT g FROM generate_series(1, 3) g", record_class=Mine)
    assert {type(r) for r in await stmt.fetch()} == {Mine}
    assert type(await stmt.fetchrow()) is Mine
    async with conn.transaction():
        assert {type(r) async for r in stmt.cursor()} == {Mine}


async def test_dropped_statement_is_closed_on_the_server(conn: Any) -> None:
    stmt = await conn.prepare("SELECT 'bye'")
    name = stmt.get_name()
    del stmt
    gc.collect()
    # The Close rides along with the next query.
    await conn.fetchval("SELECT 1")
    rows = await conn.fetch("SELECT name FROM pg_prepared_statements WHERE name = $1", name)
    assert rows == []


async def test_prepared_statements_are_independent_of_the_cache(dsn: str) -> None:
    c = await pgjet.connect(dsn, statement_cache_size=2)
    try:
        stmt = await c.prepare("SELECT $1::int * 7")
        # Churn the cache: the explicit statement must survive evictions.
        for i in range(10):
            assert await c.fetchval(f"SELECT {i} + $1::int", 1) == i + 1
        assert await stmt.fetchval(6) == 42
    finally:
        await c.close()


async def test_prepared_statement_on_a_closed_connection(dsn: str) -> None:
    c = await pgjet.connect(dsn)
    stmt = await c.prepare("SELECT 1")
    await c.close()
    for call in (stmt.fetch, stmt.fetchrow, stmt.fetchval, stmt.explain):
        with pytest.raises(errors.ConnectionDoesNotExistError):
            await call()
    with pytest.raises(errors.ConnectionDoesNotExistError):
        stmt.cursor()
    with pytest.raises(errors.ConnectionDoesNotExistError):
        await stmt.fetchmany([()])

"""fetch_columns(): a result as {column: [values]}, with no row objects."""

from __future__ import annotations

from typing import Any

import pytest

import pgjet
from pgjet import errors


async def test_columns_hold_every_row_in_order(conn: Any) -> None:
    cols = await conn.fetch_columns(
        "SELECT g AS id, 'n' || g AS name, CASE WHEN g % 2 = 0 THEN NULL ELSE g * 0.5 END AS half"
        " FROM generate_series(1, $1::int) g",
        1000,
    )
    assert list(cols) == ["id", "name", "half"]
    assert cols["id"] == list(range(1, 1001))
    assert cols["name"][:2] == ["n1", "n2"]
    assert cols["half"][:4] == [0.5, None, 1.5, None]
    rows = await conn.fetch("SELECT g AS id FROM generate_series(1, 5) g")
    assert (await conn.fetch_columns("SELECT g AS id FROM generate_series(1, 5) g"))["id"] == [
        r["id"] for r in rows
    ]


async def test_empty_results_and_statements_without_columns(conn: Any) -> None:
    assert await conn.fetch_columns("SELECT 1 AS a WHERE false") == {"a": []}
    await conn.execute("CREATE TEMP TABLE fc (x int)")
    assert await conn.fetch_columns("INSERT INTO fc VALUES ($1)", 1) == {}
    assert await conn.fetchval("SELECT count(*) FROM fc") == 1


async def test_a_value_that_cannot_be_decoded_fails_the_call_only(conn: Any) -> None:
    await conn.set_type_codec(
        "int4", schema="pg_catalog", decoder=lambda s: 1 // (int(s) - 3), encoder=str, format="text"
    )
    with pytest.raises(ZeroDivisionError):
        await conn.fetch_columns("SELECT g::int4 AS x FROM generate_series(1, 5) g")
    await conn.reset_type_codec("int4", schema="pg_catalog")
    assert (await conn.fetch_columns("SELECT 7::int4 AS x"))["x"] == [7]


async def test_errors_and_bad_input(conn: Any) -> None:
    with pytest.raises(errors.UndefinedTableError):
        await conn.fetch_columns("SELECT * FROM no_such_table")
    with pytest.raises(errors.InvalidQueryInputError, match=r"\$1"):
        await conn.fetch_columns("SELECT $1::int AS x", "not an int")
    assert (await conn.fetch_columns("SELECT $1::int AS x", 5))["x"] == [5]


async def test_unnamed_mode_and_a_changed_composite(dsn: str) -> None:
    conn = await pgjet.connect(dsn, prepared_statements="unnamed")
    other = await pgjet.connect(dsn)
    try:
        await conn.execute("CREATE TYPE fc_pt AS (x int); CREATE TABLE fc_t (p fc_pt)")
        await conn.execute("INSERT INTO fc_t SELECT ROW(g)::fc_pt FROM generate_series(1, 3) g")
        query = "SELECT p FROM fc_t ORDER BY (p).x"
        assert [p["x"] for p in (await conn.fetch_columns(query))["p"]] == [1, 2, 3]
        await other.execute("ALTER TYPE fc_pt ADD ATTRIBUTE y int")
        got = (await conn.fetch_columns(query))["p"]
        assert [(p["x"], p["y"]) for p in got] == [(1, None), (2, None), (3, None)]
    finally:
        await other.execute("DROP TABLE fc_t; DROP TYPE fc_pt")
        await other.close()
        await conn.close()

"""set_type_codec / reset_type_codec / set_builtin_type_codec, compared with asyncpg,
and the json_loads/json_dumps convenience of connect() and create_pool()."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
import pytest

import pgjet
from pgjet import errors


def plain(value: Any) -> Any:
    if isinstance(value, (pgjet.Record, asyncpg.Record)):
        return tuple(plain(v) for v in value.values())
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


async def both(conn: Any, aconn: Any, call: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run `call` on both drivers; the outcomes (values or exception class names) must match."""
    outcomes = []
    for c in (conn, aconn):
        try:
            outcomes.append(("ok", plain(await call(c))))
        except Exception as exc:  # compared below
            outcomes.append(("error", type(exc).__name__))
    assert outcomes[0] == outcomes[1]
    return outcomes[0][1]


async def test_jsonb_codec_as_the_benchmark_sets_it(conn: Any, aconn: Any) -> None:
    async def setup(c: Any) -> None:
        await c.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

    await both(conn, aconn, setup)
    value = {"a": [1, 2.5, None], "b": {"c": "é"}}
    assert await both(conn, aconn, lambda c: c.fetchval("SELECT $1::jsonb", value)) == value
    got = await both(conn, aconn, lambda c: c.fetchval("SELECT $1::jsonb[]", [value, None, 3]))
    assert got == [value, None, 3]
    rows = await both(
        conn,
        aconn,
        lambda c: c.fetch("SELECT jsonb_build_object('n', g) FROM generate_series(1, 3) g"),
    )
    assert [r[0] for r in rows] == [{"n": 1}, {"n": 2}, {"n": 3}]
    # json (not jsonb) is untouched.
    assert await both(conn, aconn, lambda c: c.fetchval("SELECT '[1]'::json")) == "[1]"


async def test_reset_and_statement_cache_invalidation(conn: Any, aconn: Any) -> None:
    sql = "SELECT '{\"a\": 1}'::jsonb"
    assert await conn.fetchval(sql) == '{"a": 1}'  # cached with the str codec
    for c in (conn, aconn):
        await c.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    assert await both(conn, aconn, lambda c: c.fetchval(sql)) == {"a": 1}
    for c in (conn, aconn):
        await c.reset_type_codec("jsonb", schema="pg_catalog")
    assert await both(conn, aconn, lambda c: c.fetchval(sql)) == '{"a": 1}'


async def test_codecs_are_per_connection(dsn: str, conn: Any) -> None:
    other = await pgjet.connect(dsn)
    try:
        await conn.set_type_codec(
            "int4", encoder=str, decoder=lambda s: int(s) * 10, schema="pg_catalog"
        )
        assert await conn.fetchval("SELECT 4") == 40
        assert await other.fetchval("SELECT 4") == 4
    finally:
        await other.close()


async def test_text_format_applies_to_arrays_and_parameters(conn: Any, aconn: Any) -> None:
    async def setup(c: Any) -> None:
        await c.set_type_codec(
            "int4",
            encoder=lambda v: str(v + 1),
            decoder=lambda s: ("i", int(s)),
            schema="pg_catalog",
        )

    await both(conn, aconn, setup)
    assert await both(conn, aconn, lambda c: c.fetchval("SELECT $1::int4", 1)) == ("i", 2)
    got = await both(conn, aconn, lambda c: c.fetchval("SELECT ARRAY[1, NULL, 3]::int4[]"))
    assert got == [("i", 1), None, ("i", 3)]


async def test_binary_format(conn: Any, aconn: Any) -> None:
    async def setup(c: Any) -> None:
        await c.set_type_codec(
            "int8",
            encoder=lambda v: v.to_bytes(8, "big", signed=True),
            decoder=lambda b: ("raw", b),
            schema="pg_catalog",
            format="binary",
        )

    await both(conn, aconn, setup)
    got = await both(conn, aconn, lambda c: c.fetchval("SELECT $1::int8 + 1", 41))
    assert got == ("raw", (42).to_bytes(8, "big"))


async def test_tuple_format_of_date_time_types(conn: Any, aconn: Any) -> None:
    async def setup(c: Any) -> None:
        for name in ("interval", "timestamp", "timetz", "date"):
            await c.set_type_codec(
                name, encoder=lambda t: t, decoder=lambda t: t, schema="pg_catalog", format="tuple"
            )

    await both(conn, aconn, setup)
    sql = (
        "SELECT '2 years 3 mons 1 day 00:00:01'::interval, '2000-01-02 00:00:01'::timestamp,"
        " '00:00:01+02'::timetz, '1999-12-31'::date"
    )
    row = await both(conn, aconn, lambda c: c.fetchrow(sql))
    assert tuple(row) == ((27, 1, 1_000_000), (86_401_000_000,), (1_000_000, -7200), (-1,))
    got = await both(conn, aconn, lambda c: c.fetchval("SELECT $1::interval::text", (1, 2, 3)))
    assert got == "1 mon 2 days 00:00:00.000003"
    # Types without a tuple layout are refused when the codec is set.
    with pytest.raises(errors.UnsupportedClientFeatureError):
        await conn.set_type_codec(
            "int4", encoder=str, decoder=str, schema="pg_catalog", format="tuple"
        )


async def test_composite_codecs(conn: Any, aconn: Any, schema: str) -> None:
    s = schema
    await conn.execute(f"CREATE TYPE {s}.pair AS (a int, b text)")

    async def setup(c: Any) -> None:
        await c.set_type_codec(
            "pair",
            schema=s,
            encoder=lambda v: (v[1], v[0]),
            decoder=lambda t: ("P", *t),
            format="tuple",
        )

    await both(conn, aconn, setup)
    got = await both(conn, aconn, lambda c: c.fetchval(f"SELECT $1::{s}.pair", ("x", 5)))
    assert got == ("P", 5, "x")
    got = await both(conn, aconn, lambda c: c.fetchval(f"SELECT ARRAY[ROW(1, 'y')::{s}.pair]"))
    assert got == [("P", 1, "y")]
    # Composites take only the tuple format.
    await both(
        conn,
        aconn,
        lambda c: c.set_type_codec("pair", schema=s, encoder=str, decoder=str, format="text"),
    )


async def test_refusals_match_asyncpg(conn: Any, aconn: Any, schema: str) -> None:
    s = schema
    await conn.execute(f"CREATE DOMAIN {s}.d AS int; CREATE TYPE {s}.e AS ENUM ('x')")
    for typename, where in (("nope", "public"), ("d", s), ("_int4", "pg_catalog"),
                            ("int4range", "pg_catalog")):  # fmt: skip
        kind = await both(
            conn,
            aconn,
            lambda c, t=typename, w=where: c.set_type_codec(t, schema=w, encoder=str, decoder=str),
        )
        assert kind in ("ValueError", "UnsupportedClientFeatureError", "InterfaceError")
    # An enum through a text codec.
    await both(
        conn, aconn, lambda c: c.set_type_codec("e", schema=s, encoder=str.lower, decoder=str.upper)
    )
    assert await both(conn, aconn, lambda c: c.fetchval(f"SELECT $1::{s}.e", "X")) == "X"


async def test_set_builtin_type_codec(conn: Any, aconn: Any, schema: str) -> None:
    s = schema
    await conn.execute(f"CREATE DOMAIN {s}.money_cents AS int8")
    available = await conn.fetchval(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'hstore'"
    )
    if not available:
        pytest.skip("the hstore extension is not installed on this server")
    await conn.execute("CREATE EXTENSION IF NOT EXISTS hstore")
    await both(
        conn,
        aconn,
        lambda c: c.set_builtin_type_codec("hstore", codec_name="pg_contrib.hstore"),
    )
    got = await both(conn, aconn, lambda c: c.fetchval("SELECT $1::hstore", {"a": None}))
    assert got == {"a": None}
    with pytest.raises(errors.InterfaceError, match="unknown builtin codec"):
        await conn.set_builtin_type_codec("hstore", codec_name="no_such_codec")
    with pytest.raises(errors.InterfaceError, match="non-scalar"):
        await conn.set_builtin_type_codec("_int4", schema="pg_catalog", codec_name="int4")


async def test_json_loads_and_dumps_on_connect_and_pool(dsn: str) -> None:
    c = await pgjet.connect(dsn, json_loads=orjson.loads, json_dumps=orjson.dumps)
    try:
        value = {"k": [1, "é", None]}
        assert await c.fetchval("SELECT $1::jsonb", value) == value
        assert await c.fetchval("SELECT $1::json", value) == value
        assert await c.fetchval("SELECT $1::jsonb -> 'k' -> 1", value) == "é"
        assert await c.fetchval("SELECT pg_typeof($1::jsonb)::text", value) == "jsonb"
    finally:
        await c.close()
    async with pgjet.create_pool(dsn, min_size=1, max_size=2, json_loads=json.loads) as pool:
        # Only loads given: parameters are still JSON text.
        assert await pool.fetchval("SELECT $1::jsonb", '{"a": 1}') == {"a": 1}

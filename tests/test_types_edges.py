"""Edges of the type system, through real connections to PostgreSQL 18 and 15:

- ±infinity dates/timestamps: asyncpg's mapping by default, or another one per
  connection (raise, or sentinels), for arrays, ranges, records and composites too;
  dates outside Python's range raise naming the value, or map to infinity;
- set_builtin_type_codec(format='text') for any type;
- custom types inside anonymous records;
- a renamed composite attribute is never decoded under its old name.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest

import pgjet
from pgjet import errors
from pgjet.types import INFINITY, NEG_INFINITY, DateTimeMapping, Range

UTC = dt.timezone.utc


def set_mapping(conn: Any, infinity: Any = "asyncpg", out_of_range: str = "raise") -> None:
    """Connection.set_infinity_mapping once the lead adds it; its body until then."""
    method = getattr(conn, "set_infinity_mapping", None)
    if method is not None:
        method(infinity, out_of_range=out_of_range)
        return
    conn._types.set_datetime_mapping(DateTimeMapping(infinity, out_of_range))
    conn._stmt_cache.clear()


def plain(value: Any) -> Any:
    if isinstance(value, pgjet.Record):
        return tuple((k, plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, Range):
        return ("range", plain(value.lower), plain(value.upper))
    return value


# -- ±infinity ------------------------------------------------------------------------------

INFINITE = (
    "'infinity'::date, '-infinity'::date, 'infinity'::timestamp, '-infinity'::timestamp,"
    " 'infinity'::timestamptz, '-infinity'::timestamptz"
)


async def test_default_mapping_is_asyncpgs(conn: Any, aconn: Any) -> None:
    sql = (
        f"SELECT {INFINITE}, ARRAY['infinity'::date], '[2020-01-01,infinity)'::daterange,"
        " ROW('-infinity'::timestamptz)"
    )
    ours = list(await conn.fetchrow(sql))
    theirs = list(await aconn.fetchrow(sql))
    assert ours[:7] == theirs[:7] == [
        dt.date.max, dt.date.min, dt.datetime.max, dt.datetime.min,
        dt.datetime.max, dt.datetime.min, [dt.date.max],
    ]  # fmt: skip
    assert (ours[7].lower, ours[7].upper) == (dt.date(2020, 1, 1), dt.date.max)
    assert ours[8] == (dt.datetime.min,)
    # ...and date.max/datetime.max encode as infinity, as asyncpg.
    for value, typ in ((dt.date.max, "date"), (dt.datetime.min, "timestamp")):
        sql = f"SELECT $1::{typ}::text"
        assert await conn.fetchval(sql, value) == await aconn.fetchval(sql, value)


async def test_raise_mapping(conn: Any, dsn: str) -> None:
    set_mapping(conn, "raise")
    for expr in INFINITE.split(", "):
        typ = expr.split("::")[1]
        with pytest.raises(ValueError, match=rf"{typ} value '-?infinity' has no Python value"):
            await conn.fetchval(f"SELECT {expr}")
    with pytest.raises(ValueError, match="infinity"):
        await conn.fetchval("SELECT ARRAY['2020-01-01'::date, 'infinity']")
    with pytest.raises(ValueError, match="infinity"):
        await conn.fetchval("SELECT '[2020-01-01,infinity)'::tsrange")
    # date.max is an ordinary date now, not infinity.
    assert await conn.fetchval("SELECT $1::date::text", dt.date.max) == "9999-12-31"
    assert await conn.fetchval("SELECT $1::date", dt.date.max) == dt.date.max
    assert await conn.fetchval("SELECT '2020-05-06'::date") == dt.date(2020, 5, 6)
    # Per connection: another connection keeps asyncpg's mapping.
    other = await pgjet.connect(dsn)
    try:
        assert await other.fetchval("SELECT 'infinity'::date") == dt.date.max
    finally:
        await other.close()


async def test_sentinel_mapping_both_ways(conn: Any, schema: str) -> None:
    s = schema
    set_mapping(conn, (NEG_INFINITY, INFINITY))
    row = await conn.fetchrow(f"SELECT {INFINITE}")
    assert list(row) == [INFINITY, NEG_INFINITY] * 3
    # Arrays, ranges, multiranges, records and composites use the mapping too.
    await conn.execute(f"CREATE TYPE {s}.span AS (since date, until timestamptz)")
    row = await conn.fetchrow(
        "SELECT ARRAY['infinity'::timestamp, NULL, '2020-01-01'],"
        " '[2020-01-01,infinity)'::daterange, '{[-infinity,2020-01-01 00:00+00)}'::tstzmultirange,"
        f" ROW('-infinity'::date, 1), ROW('infinity', '-infinity')::{s}.span"
    )
    assert row[0] == [INFINITY, None, dt.datetime(2020, 1, 1)]
    assert (row[1].lower, row[1].upper) == (dt.date(2020, 1, 1), INFINITY)
    assert [(r.lower, r.upper) for r in row[2]] == [
        (NEG_INFINITY, dt.datetime(2020, 1, 1, tzinfo=UTC))
    ]
    assert row[3] == (NEG_INFINITY, 1)
    assert plain(row[4]) == (("since", INFINITY), ("until", NEG_INFINITY))
    # Encoding: the sentinels become ±infinity; date.max is an ordinary value.
    for typ in ("date", "timestamp", "timestamptz"):
        assert await conn.fetchval(f"SELECT $1::{typ}::text", INFINITY) == "infinity"
        assert await conn.fetchval(f"SELECT $1::{typ}::text", NEG_INFINITY) == "-infinity"
    assert await conn.fetchval("SELECT $1::date[]::text", [INFINITY, dt.date.max]) == (
        "{infinity,9999-12-31}"
    )
    span = await conn.fetchval(f"SELECT $1::{s}.span::text", (NEG_INFINITY, INFINITY))
    assert span == "(-infinity,infinity)"
    rng = await conn.fetchval("SELECT $1::daterange::text", Range(dt.date(2020, 1, 1), INFINITY))
    assert rng == "[2020-01-01,infinity)"
    with pytest.raises(errors.DataError, match=r"expected datetime\.date"):
        await conn.fetchval("SELECT $1::date", object())
    # Equal objects of the sentinel's type count: float infinities work as sentinels.
    set_mapping(conn, (float("-inf"), float("inf")))
    assert await conn.fetchval("SELECT 'infinity'::timestamptz") == float("inf")
    assert await conn.fetchval("SELECT $1::timestamp::text", float("-inf")) == "-infinity"


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        ("'5874897-12-31'::date", "'5874897-12-31'"),
        ("'4713-01-01 BC'::date", "'4713-01-01 BC'"),
        ("'10000-01-01 12:30:00.25'::timestamp", "'10000-01-01 12:30:00.25'"),
        ("'0044-03-15 01:02:03 BC'::timestamp", "'0044-03-15 01:02:03 BC'"),
        ("'10000-01-01 00:00+00'::timestamptz", "'10000-01-01 00:00:00+00'"),
    ],
)
async def test_out_of_range_dates_name_the_value(conn: Any, expr: str, text: str) -> None:
    typ = expr.split("::")[1]
    with pytest.raises(ValueError, match=re.escape(f"{typ} value {text} is outside the range")):
        await conn.fetchval(f"SELECT {expr}")
    # Or, chosen per connection, they decode as infinity would.
    set_mapping(conn, (NEG_INFINITY, INFINITY), out_of_range="infinity")
    expected = NEG_INFINITY if "BC" in expr else INFINITY
    assert await conn.fetchval(f"SELECT {expr}") is expected
    assert await conn.fetchval(f"SELECT ARRAY[{expr}]") == [expected]
    set_mapping(conn, "asyncpg", out_of_range="infinity")
    assert await conn.fetchval(f"SELECT {expr}") in (
        dt.date.max,
        dt.date.min,
        dt.datetime.max,
        dt.datetime.min,
    )
    # Back to the default: the error again.
    set_mapping(conn)
    with pytest.raises(ValueError, match="outside the range"):
        await conn.fetchval(f"SELECT {expr}")


def test_mapping_validation() -> None:
    with pytest.raises(ValueError, match="infinity must be 'asyncpg', 'raise' or a pair"):
        DateTimeMapping("clamp")
    with pytest.raises(ValueError, match="pair"):
        DateTimeMapping((1, 2, 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="None"):
        DateTimeMapping((None, INFINITY))
    with pytest.raises(ValueError, match="must differ"):
        DateTimeMapping((float("inf"), float("inf")))
    with pytest.raises(ValueError, match="out_of_range must be"):
        DateTimeMapping(out_of_range="clip")
    with pytest.raises(ValueError, match="other than 'raise'"):
        DateTimeMapping("raise", out_of_range="infinity")
    assert DateTimeMapping().is_default
    assert repr(INFINITY) == "pgjet.types.INFINITY"


# -- set_builtin_type_codec(format='text') ----------------------------------------------------


async def test_builtin_codec_in_text_format_for_any_type(conn: Any, aconn: Any) -> None:
    # numeric exchanged as text: the server sends text, values are str (as asyncpg).
    for c in (conn, aconn):
        await c.set_builtin_type_codec(
            "numeric", schema="pg_catalog", codec_name="text", format="text"
        )
    sql = "SELECT 1.50::numeric, '{1.5,NULL,NaN}'::numeric[], $1::numeric + 1"
    ours = list(await conn.fetchrow(sql, "2.25"))
    assert ours == list(await aconn.fetchrow(sql, "2.25"))
    assert ours == ["1.50", ["1.5", None, "NaN"], "3.25"]
    with pytest.raises(errors.DataError, match="expected str"):
        await conn.fetchval("SELECT $1::numeric", Decimal(1))
    # A type with no text-like binary form at all, and codecs that parse text.
    await conn.set_builtin_type_codec(
        "point", schema="pg_catalog", codec_name="text", format="text"
    )
    assert await conn.fetchval("SELECT ARRAY[point(1, 2)]") == ["(1,2)"]
    await conn.set_builtin_type_codec(
        "int8", schema="pg_catalog", codec_name="numeric", format="text"
    )
    assert await conn.fetchrow("SELECT 5::int8, ARRAY[7::int8, NULL]") == (
        Decimal(5),
        [Decimal(7), None],
    )
    assert await conn.fetchval("SELECT $1::int8 * 2", Decimal(21)) == Decimal(42)
    await conn.set_builtin_type_codec("bool", schema="pg_catalog", codec_name="bool", format="text")
    assert await conn.fetchval("SELECT NOT $1::bool", True) is False
    await conn.set_builtin_type_codec(
        "bytea", schema="pg_catalog", codec_name="bytea", format="text"
    )
    assert await conn.fetchval("SELECT $1::bytea || '\\x02'::bytea", b"\x01") == b"\x01\x02"
    # No text codec: refused as asyncpg refuses it, naming the codec.
    with pytest.raises(errors.InterfaceError, match="there is no text codec for date"):
        await conn.set_builtin_type_codec(
            "date", schema="pg_catalog", codec_name="date", format="text"
        )
    await conn.reset_type_codec("numeric", schema="pg_catalog")
    assert await conn.fetchval("SELECT 1.50::numeric") == Decimal("1.50")


async def test_builtin_text_codec_on_a_custom_type(conn: Any, schema: str) -> None:
    await conn.execute(f"CREATE TYPE {schema}.ab AS (a int, b text)")
    await conn.execute(f"CREATE DOMAIN {schema}.posint AS int8 CHECK (VALUE > 0)")
    await conn.set_builtin_type_codec("posint", schema=schema, codec_name="numeric", format="text")
    assert await conn.fetchval(f"SELECT $1::{schema}.posint", Decimal(3)) == Decimal(3)


# -- custom types inside anonymous records ------------------------------------------------------


async def test_custom_types_in_anonymous_records(conn: Any, schema: str) -> None:
    s = schema
    await conn.execute(
        f"CREATE TYPE {s}.mood AS ENUM ('sad', 'happy');"
        f" CREATE TYPE {s}.pair AS (a int, m {s}.mood);"
        f" CREATE DOMAIN {s}.small AS int CHECK (VALUE < 100)"
    )
    queries = conn._types.catalog.queries
    # The rows are kept, the types they meet read (one query) and the rows decoded again.
    row = await conn.fetchval(
        f"SELECT ROW('happy'::{s}.mood, ROW(1, 'sad')::{s}.pair,"
        f" ARRAY['sad'::{s}.mood], ROW(ROW('happy'::{s}.mood)), 5::{s}.small)"
    )
    assert plain(row) == (
        "happy", (("a", 1), ("m", "sad")), ["sad"], (("happy",),), 5,
    )  # fmt: skip
    assert conn._types.catalog.queries == queries + 1  # one catalog query for all of them
    # Arrays of records, and now known types: no more catalog queries.
    got = await conn.fetchval(f"SELECT ARRAY[ROW('sad'::{s}.mood), NULL]")
    assert got == [("sad",), None]
    assert conn._types.catalog.queries == queries + 1
    # Inside a transaction too: nothing runs twice, so nothing has to be refused.
    await conn.execute(f"CREATE TYPE {s}.color AS ENUM ('red')")
    async with conn.transaction():
        assert await conn.fetchval(f"SELECT ROW('red'::{s}.color)") == ("red",)
        assert await conn.fetchval(f"SELECT ROW('red'::{s}.color)") == ("red",)
    # A type without a binary codec still names itself.
    with pytest.raises(ValueError, match="cast that field to text"):
        await conn.fetchval("SELECT ROW(1::money)")


# -- renamed composite attributes ----------------------------------------------------------------


async def test_renamed_attribute_is_never_decoded_under_its_old_name(
    dsn: str, conn: Any, schema: str
) -> None:
    s = schema
    other = await pgjet.connect(dsn)
    try:
        await conn.execute(
            f"CREATE TYPE {s}.pt AS (x int, y int); CREATE TABLE {s}.t (p {s}.pt);"
            f" INSERT INTO {s}.t VALUES ((1, 2))"
        )
        assert plain(await conn.fetchval(f"SELECT p FROM {s}.t")) == (("x", 1), ("y", 2))
        await other.execute(f"ALTER TYPE {s}.pt RENAME ATTRIBUTE y TO why")
        # A statement prepared after the rename checks what it was read with.
        got = await conn.fetchval(f"SELECT p FROM {s}.t WHERE true")
        assert plain(got) == (("x", 1), ("why", 2))
        assert plain(await conn.fetchval(f"SELECT ARRAY[p] FROM {s}.t")) == [(("x", 1), ("why", 2))]
        # A cached statement: the check the engine runs before executing it.
        stmt = await conn.prepare(f"SELECT p FROM {s}.t")
        await other.execute(f"ALTER TYPE {s}.pt RENAME ATTRIBUTE x TO ex")
        state = stmt._state
        assert conn._types.layout_check_needed(state)
        assert await conn._types.verify_layouts(conn._engine, state, None) is True
        assert plain(await stmt.fetchval()) == (("ex", 1), ("why", 2))
        assert await conn._types.verify_layouts(conn._engine, state, None) is False
        plain_stmt = await conn.prepare("SELECT 1")
        assert not conn._types.layout_check_needed(plain_stmt._state)
    finally:
        await other.close()

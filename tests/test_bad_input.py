"""Bad query arguments (and values that cannot be decoded) against real servers.

Each bad argument raises a clear exception naming its position (``$N``);
nothing of the failing call reaches the server (the frontend messages that
leave the client are counted), pipelined neighbours get their own correct
results, and the connection stays usable. asyncpg, the semantic reference,
refuses the same inputs.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

import pgjet
from pgjet import errors

from .wire_spy import WireSpy

pytestmark = pytest.mark.usefixtures("hang_guard")


UTC = datetime.timezone.utc

# (type, bad value, words the message must contain)
BAD_VALUES = [
    ("int4", "12", "expected int"),
    ("int4", 2**31, "out of range for int4"),
    ("int4", -(2**31) - 1, "out of range for int4"),
    ("int2", 2**15, "out of range for int2"),
    ("int8", 2**63, "out of range for int8"),
    ("int8", 10**100000, "out of range for int8"),
    ("text", 5, "expected str"),
    ("text", b"abc", "expected str"),
    ("text", "a\0b", "NUL"),
    ("text", "ok \ud800", "surrogate"),
    ("varchar", "\udfff", "surrogate"),
    ("timestamp", datetime.datetime(2020, 1, 1, tzinfo=UTC), "naive"),
    ("int4[]", [[1, 2], [3]], "ragged"),
    ("int4[]", [1, "x"], "[1]"),
    ("int4[]", [[[[[[[1]]]]]]], "dimensions"),
    ("bool", 1, "expected bool"),
    ("float8", "1.0", "expected float"),
    ("numeric", "abc", "numeric"),
    ("numeric", decimal.Decimal("1e200000"), "digits"),
    ("uuid", "not-a-uuid", "UUID"),
    ("bytea", "str", "bytes"),
    ("date", "2020-01-01", "date"),
    ("jsonb", {"a": 1}, "expected str"),
    ("interval", 5, "timedelta"),
]


def _case_id(case: tuple[str, Any, str]) -> str:
    typ, value, _ = case
    return f"{typ}-{type(value).__name__}"


@pytest.mark.parametrize("case", BAD_VALUES, ids=[_case_id(c) for c in BAD_VALUES])
async def test_bad_argument_names_its_position_and_spares_its_neighbours(
    conn: Any, case: tuple[str, Any, str]
) -> None:
    typ, value, words = case
    query = f"SELECT $1::int4 AS a, $2::{typ} AS b"
    await conn.fetchrow(query, 0, None)  # prepared: its parameter types are known
    spy = WireSpy(conn)
    results = await asyncio.gather(
        conn.fetchval("SELECT $1::int4 + 1", 1),
        conn.fetchrow(query, 1, value),
        conn.fetchval("SELECT $1::text", "after"),
        return_exceptions=True,
    )
    assert results[0] == 2 and results[2] == "after"
    exc = results[1]
    assert isinstance(exc, errors.InvalidQueryInputError), exc
    assert isinstance(exc, errors.DataError) and isinstance(exc, ValueError)
    assert "$2" in str(exc) and words in str(exc), str(exc)
    # Only the two good calls wrote a Bind: nothing of the bad one left the client.
    assert spy.count(b"B") == 2
    assert await conn.fetchval(query + " ", 3, None) == 3
    assert not conn.is_in_transaction()


async def test_asyncpg_refuses_the_same_inputs(cluster: Any) -> None:
    """The semantic reference: none of these is something asyncpg would accept."""
    ref = await asyncpg.connect(cluster.dsn())
    try:
        for typ, value, _ in BAD_VALUES:
            if typ == "numeric" and isinstance(value, decimal.Decimal):
                continue  # asyncpg sends it; the server's numeric has no such limit
            with pytest.raises((asyncpg.PostgresError, ValueError, TypeError)):
                await ref.fetchrow(f"SELECT $1::int4, $2::{typ}", 1, value)
    finally:
        await ref.close()


async def test_accepted_conversions_match_asyncpg(cluster: Any, conn: Any) -> None:
    ref = await asyncpg.connect(cluster.dsn())
    naive = datetime.datetime(2020, 6, 1, 12, 30)
    try:
        for typ, value in [
            ("timestamptz", naive),  # a naive datetime is local time, as asyncpg
            ("timestamp", naive),
            ("date", naive),
            ("int8", True),
            ("float8", 3),
            ("numeric", 2.5),
            ("text", "x" * 100_000),
            ("int4[]", (1, None, 3)),
        ]:
            query = f"SELECT $1::{typ}"
            assert await conn.fetchval(query, value) == await ref.fetchval(query, value), typ
    finally:
        await ref.close()


@pytest.mark.parametrize("args", [(), (1,), (1, 2, 3)])
async def test_wrong_argument_count(conn: Any, args: tuple[int, ...]) -> None:
    query = "SELECT $1::int4 + $2::int4"
    await conn.fetchval(query, 1, 1)
    spy = WireSpy(conn)
    with pytest.raises(errors.InterfaceError, match=rf"expects 2 arguments.*{len(args)}"):
        await conn.fetchval(query, *args)
    assert spy.sent == []
    assert await conn.fetchval(query, 20, 22) == 42


async def test_bad_argument_with_the_cache_disabled(dsn: str) -> None:
    """The unnamed statement is parsed again with the Bind: a refused Bind takes its Parse back."""
    conn = await pgjet.connect(dsn, statement_cache_size=0)
    try:
        spy = WireSpy(conn)
        with pytest.raises(errors.InvalidQueryInputError, match=r"\$1"):
            await conn.fetchval("SELECT $1::int4", "nope")
        # Only the describe round trip went out: Parse, Describe, Sync.
        assert spy.sent == [b"P", b"D", b"S"]
        assert await conn.fetchval("SELECT $1::int4", 4) == 4
    finally:
        await conn.close()


async def test_huge_value_round_trips(conn: Any) -> None:
    big = "ü" * (8 << 20)  # 16 MiB of UTF-8
    results = await asyncio.gather(
        conn.fetchval("SELECT length($1::text)", big),
        conn.fetchval("SELECT $1::bytea", b"\x00\xff" * (4 << 20)),
        conn.fetchval("SELECT 'neighbour'"),
    )
    assert results == [len(big), b"\x00\xff" * (4 << 20), "neighbour"]


# -- values that cannot be decoded ------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("SELECT '24:00:00'::time", "24:00"),
        ("SELECT '10000-01-01'::date", "year"),
        (
            "SELECT t FROM (VALUES ('01:00'::time), ('24:00'::time), ('02:00'::time)) v(t)",
            "24:00",
        ),
    ],
)
async def test_undecodable_value_fails_the_query_not_the_connection(
    conn: Any, query: str, error: str
) -> None:
    results = await asyncio.gather(
        conn.fetchval("SELECT 1"),
        conn.fetch(query),
        conn.fetchval("SELECT $1::int4", 3),
        return_exceptions=True,
    )
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], ValueError), results[1]
    assert error in str(results[1])
    assert not conn.is_closed()
    assert await conn.fetchval("SELECT 'still fine'") == "still fine"


async def test_undecodable_value_in_a_cursor(conn: Any) -> None:
    async with conn.transaction():
        cur = await conn.cursor("SELECT '24:00:00'::time FROM generate_series(1, 3)")
        with pytest.raises(ValueError, match="24:00"):
            await cur.fetch(2)
        assert await conn.fetchval("SELECT 5") == 5


# -- executemany -----------------------------------------------------------------------------


@pytest.fixture
async def em_table(conn: Any) -> AsyncIterator[str]:
    await conn.execute("DROP TABLE IF EXISTS bad_em; CREATE TABLE bad_em (id int4, payload text)")
    yield "bad_em"
    await conn.execute("DROP TABLE IF EXISTS bad_em")


PAYLOAD = "p" * 1000  # 1000 rows of this are far over the 256 KiB batch size


def rows_with(bad_at: int, bad_row: Any, total: int = 1500) -> Iterator[Any]:
    for i in range(total):
        yield bad_row if i == bad_at else (i, PAYLOAD)


async def assert_nothing_committed(conn: Any, table: str) -> None:
    assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
    assert not conn.is_in_transaction()


async def test_executemany_bad_row_after_batches_were_sent(conn: Any, em_table: str) -> None:
    spy = WireSpy(conn)
    with pytest.raises(errors.InvalidQueryInputError, match=r"\$1.*expected int"):
        await conn.executemany(
            f"INSERT INTO {em_table} VALUES ($1, $2)", rows_with(1200, ("x", "bad"))
        )
    assert spy.count(b"B") >= 1000  # batches did leave before the bad row
    await assert_nothing_committed(conn, em_table)


async def test_executemany_wrong_length_row_after_batches(conn: Any, em_table: str) -> None:
    with pytest.raises(errors.InterfaceError, match="expects 2 arguments"):
        await conn.executemany(f"INSERT INTO {em_table} VALUES ($1, $2)", rows_with(1200, (1,)))
    await assert_nothing_committed(conn, em_table)


async def test_executemany_iterator_raising_midway(conn: Any, em_table: str) -> None:
    def rows() -> Iterator[tuple[int, str]]:
        for i in range(1200):
            yield (i, PAYLOAD)
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        await conn.executemany(f"INSERT INTO {em_table} VALUES ($1, $2)", rows())
    await assert_nothing_committed(conn, em_table)


async def test_executemany_bad_row_in_the_first_batch_sends_nothing(
    conn: Any, em_table: str
) -> None:
    query = f"INSERT INTO {em_table} VALUES ($1, $2)"
    await conn.executemany(query, [])  # prepared
    spy = WireSpy(conn)
    with pytest.raises(errors.InvalidQueryInputError, match=r"\$2"):
        await conn.executemany(query, [(1, "a"), (2, 3), (3, "c")])
    assert spy.count(b"B") == 0
    await assert_nothing_committed(conn, em_table)


async def test_executemany_bad_row_inside_a_transaction(conn: Any, em_table: str) -> None:
    query = f"INSERT INTO {em_table} VALUES ($1, $2)"
    tr = conn.transaction()
    await tr.start()
    await conn.execute(f"INSERT INTO {em_table} VALUES (-1, 'before')")
    with pytest.raises(errors.InvalidQueryInputError):
        await conn.executemany(query, rows_with(1200, (None, b"bytes")))
    await tr.rollback()
    await assert_nothing_committed(conn, em_table)


async def test_concurrent_executemany_calls_while_one_holds_the_wire(
    conn: Any, em_table: str
) -> None:
    query = f"INSERT INTO {em_table} VALUES ($1, $2)"
    await conn.executemany(query, [])

    async def paused_drain() -> None:
        await asyncio.sleep(0.001)  # as a transport over its high-water mark would

    conn._wire.drain = paused_drain
    results = await asyncio.gather(
        conn.executemany(query, ((i, PAYLOAD) for i in range(1500))),
        conn.executemany(query, [(10_000 + i, "small") for i in range(3)]),
        conn.fetchval("SELECT $1::int4", 9),
    )
    assert results == [None, None, 9]
    assert await conn.fetchval(f"SELECT count(*) FROM {em_table}") == 1503
    assert await conn.fetchval(f"SELECT count(*) FROM {em_table} WHERE payload = 'small'") == 3

"""COPY in both directions against real servers (PG18 and PG15).

asyncpg's copy_* methods, the streaming copy_in/copy_out API, failure
handling (bad rows, user exceptions, server errors, cancellation, timeouts)
and back-pressure (bounded buffers both ways).
"""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import pgjet
from pgjet import errors
from pgjet.copy import CopyRowError


@pytest.fixture
async def table(conn: pgjet.Connection) -> AsyncIterator[str]:
    name = f"copy_t_{id(conn)}"
    await conn.execute(f"CREATE TABLE {name} (a int4 UNIQUE, b text, c float8)")
    try:
        yield name
    finally:
        if not conn.is_closed():
            await conn.execute(f"DROP TABLE IF EXISTS {name}")


async def rows_of(conn: pgjet.Connection, table: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY a")]


async def assert_usable(conn: pgjet.Connection) -> None:
    assert await conn.fetchval("SELECT $1::int + 1", 41) == 42
    assert not conn.is_in_transaction()


# -- copy_records_to_table -------------------------------------------------------------


async def test_records_from_list_generator_and_async_generator(
    conn: pgjet.Connection, table: str
) -> None:
    assert await conn.copy_records_to_table(table, records=[(1, "a", 0.5), (2, None, None)]) == (
        "COPY 2"
    )
    gen = ((i, f"g{i}", i / 4) for i in range(3, 6))
    assert await conn.copy_records_to_table(table, records=gen) == "COPY 3"

    async def agen() -> AsyncIterator[tuple[int, str]]:
        for i in range(6, 8):
            await asyncio.sleep(0)
            yield (i, f"x{i}")

    status = await conn.copy_records_to_table(table, records=agen(), columns=["a", "b"])
    assert status == "COPY 2"
    assert await rows_of(conn, table) == [
        (1, "a", 0.5),
        (2, None, None),
        (3, "g3", 0.75),
        (4, "g4", 1.0),
        (5, "g5", 1.25),
        (6, "x6", None),
        (7, "x7", None),
    ]


async def test_records_with_schema_where_and_quoted_names(conn: pgjet.Connection) -> None:
    await conn.execute(
        'CREATE SCHEMA "Copy S"; CREATE TABLE "Copy S"."My T" ("Id" int, "v v" text)'
    )
    try:
        status = await conn.copy_records_to_table(
            "My T",
            schema_name="Copy S",
            columns=["Id", "v v"],
            records=[(i, str(i)) for i in range(10)],
            where='"Id" % 2 = 0',
        )
        assert status == "COPY 5"
        got = await conn.fetch('SELECT "Id" FROM "Copy S"."My T" ORDER BY 1')
        assert [r[0] for r in got] == [0, 2, 4, 6, 8]
    finally:
        await conn.execute('DROP SCHEMA "Copy S" CASCADE')


async def test_types_learned_from_the_table(conn: pgjet.Connection) -> None:
    """Domains, enums, generated columns, arrays, many types: no user call needed."""
    await conn.execute(
        """
        CREATE TYPE copy_mood AS ENUM ('sad', 'happy');
        CREATE DOMAIN copy_pos AS int4 CHECK (VALUE > 0);
        CREATE TABLE copy_types (
            id copy_pos, mood copy_mood, tags text[], at timestamptz, amount numeric,
            doubled int GENERATED ALWAYS AS (id * 2) STORED, blob bytea, u uuid)
        """
    )
    try:
        import datetime
        import decimal
        import uuid

        at = datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.timezone.utc)
        u = uuid.uuid4()
        row = (3, "happy", ["x", None, "y"], at, decimal.Decimal("1.50"), b"\x00\xff", u)
        assert await conn.copy_records_to_table("copy_types", records=[row]) == "COPY 1"
        got = await conn.fetchrow(
            "SELECT id, mood::text, tags, at, amount, doubled, blob, u FROM copy_types"
        )
        assert tuple(got) == (
            3,
            "happy",
            ["x", None, "y"],
            at,
            decimal.Decimal("1.50"),
            6,
            b"\x00\xff",
            u,
        )
        # The domain's CHECK still applies (the server enforces it).
        with pytest.raises(errors.CheckViolationError):
            await conn.copy_records_to_table("copy_types", records=[(-1, "sad", [], at, 1, b"", u)])
        # And COPY OUT in binary decodes the same types back.
        out = [r async for r in conn.copy_out("COPY copy_types (id, mood, tags, blob) TO STDOUT")]
        assert out == [(3, "happy", ["x", None, "y"], b"\x00\xff")]
    finally:
        await conn.execute("DROP TABLE copy_types; DROP DOMAIN copy_pos; DROP TYPE copy_mood")


async def test_same_results_as_asyncpg(conn: pgjet.Connection, dsn: str, table: str) -> None:
    records = [(i, f"r{i}", i * 0.5) for i in range(100)]
    ours = await conn.copy_records_to_table(table, records=records)
    aconn = await asyncpg.connect(dsn)
    try:
        await aconn.execute(f"CREATE TABLE {table}_ref (a int4 UNIQUE, b text, c float8)")
        theirs = await aconn.copy_records_to_table(f"{table}_ref", records=records)
        assert ours == theirs
        assert await rows_of(conn, table) == await rows_of(conn, f"{table}_ref")
        ours_out: list[bytes] = []
        theirs_out: list[bytes] = []
        await conn.copy_from_table(table, output=ours_out.append, format="csv", header=True)

        async def keep(data: bytes) -> None:
            theirs_out.append(data)

        await aconn.copy_from_table(f"{table}_ref", output=keep, format="csv", header=True)
        assert b"".join(ours_out) == b"".join(theirs_out)
    finally:
        await aconn.execute(f"DROP TABLE {table}_ref")
        await aconn.close()


# -- bad rows, user errors, server errors: nothing half-committed ---------------------------


@pytest.mark.parametrize(
    ("bad", "row", "column", "text"),
    [
        ((2, 5, 1.0), 2, 2, "column 2 (b)"),  # wrong type
        ((2, "nul\x00here", 1.0), 2, 2, "NUL"),  # NUL in text
        ((2, "short"), 2, None, "has 2 values, the COPY expects 3"),  # wrong length
        ("abc", 2, None, "row must be a sequence"),
    ],
)
async def test_bad_row_names_row_and_column(
    conn: pgjet.Connection, table: str, bad: Any, row: int, column: int | None, text: str
) -> None:
    # Enough good rows before the bad one that several batches already went out.
    good = [(1, "ok", 1.0)]
    many = itertools.chain(good, [bad], ((i, "x", 0.0) for i in range(10, 40_000)))
    with pytest.raises(CopyRowError) as info:
        await conn.copy_records_to_table(table, records=many)
    assert info.value.row == row
    assert info.value.column == column
    assert text in str(info.value)
    assert isinstance(info.value, errors.DataError)
    assert await rows_of(conn, table) == []
    await assert_usable(conn)


async def test_bad_row_after_batches_were_sent(conn: pgjet.Connection, table: str) -> None:
    def rows() -> Iterator[tuple[Any, ...]]:
        for i in range(50_000):
            yield (i, "x" * 20, 1.0)
        yield (50_000, "x", "not a float")

    with pytest.raises(CopyRowError, match=r"row 50001, column 3 \(c\)"):
        await conn.copy_records_to_table(table, records=rows())
    assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
    await assert_usable(conn)


async def test_caught_bad_row_still_aborts(conn: pgjet.Connection, table: str) -> None:
    with pytest.raises(CopyRowError):
        async with conn.copy_in(f"COPY {table} FROM STDIN") as copy:
            await copy.write_row((1, "a", 1.0))
            with pytest.raises(CopyRowError):
                await copy.write_row((2, "b"))
            with pytest.raises(errors.InterfaceError, match="aborted"):
                await copy.write_row((3, "c", 3.0))
    assert await rows_of(conn, table) == []
    await assert_usable(conn)


class Boom(Exception):
    pass


async def test_iterator_exception_aborts_and_is_reraised(
    conn: pgjet.Connection, table: str
) -> None:
    def rows() -> Iterator[tuple[Any, ...]]:
        yield from ((i, "x", 1.0) for i in range(30_000))
        raise Boom("from the iterator")

    with pytest.raises(Boom, match="from the iterator"):
        await conn.copy_records_to_table(table, records=rows())

    async def arows() -> AsyncIterator[tuple[Any, ...]]:
        for i in range(30_000):
            yield (i, "x", 1.0)
        raise Boom("from the async iterator")

    with pytest.raises(Boom, match="from the async iterator"):
        await conn.copy_records_to_table(table, records=arows())
    assert await rows_of(conn, table) == []
    await assert_usable(conn)


async def test_exception_in_block_aborts_server_side(conn: pgjet.Connection, table: str) -> None:
    with pytest.raises(Boom):
        async with conn.copy_in(f"COPY {table} (a, b) FROM STDIN") as copy:
            for i in range(20_000):
                await copy.write_row((i, "y"))
            raise Boom
    assert await rows_of(conn, table) == []
    await assert_usable(conn)
    # Inside a transaction the abort fails the transaction, as any error does.
    async with conn.transaction():
        await conn.execute(f"INSERT INTO {table} VALUES (1000000, 'keep', 0)")
    assert len(await rows_of(conn, table)) == 1


async def test_server_error_mid_copy(conn: pgjet.Connection, table: str) -> None:
    rows = [(i % 30_000, "dup", 1.0) for i in range(60_000)]  # a duplicate at 30,001
    with pytest.raises(errors.UniqueViolationError) as info:
        await conn.copy_records_to_table(table, records=rows)
    assert info.value.sqlstate == "23505"
    assert await rows_of(conn, table) == []
    await assert_usable(conn)


async def test_statement_errors_before_copying(conn: pgjet.Connection) -> None:
    with pytest.raises(errors.UndefinedTableError):
        await conn.copy_records_to_table("no_such_table", records=[(1,)])
    with pytest.raises(errors.UndefinedTableError):
        await conn.copy_to_table("no_such_table", source=b"1\n")
    with pytest.raises(errors.UndefinedColumnError):
        await conn.copy_records_to_table("pg_class", columns=["nope"], records=[(1,)])
    with pytest.raises(errors.InterfaceError, match="FROM STDIN"):
        async with conn.copy_in("COPY pg_class TO STDOUT"):
            pass
    with pytest.raises(errors.PostgresSyntaxError):
        async with conn.copy_in_raw("COPY nonsense ((( FROM STDIN"):
            pass
    # Statements going the other way (or not COPY at all) end cleanly, without a hang.
    await conn.execute("CREATE TEMP TABLE copy_dir (a int); INSERT INTO copy_dir VALUES (1)")
    with pytest.raises(errors.PostgresSyntaxError, match=r"not a COPY \.\.\. TO STDOUT"):
        async for _ in conn.copy_out_raw("COPY copy_dir FROM STDIN"):
            pass
    for sql in ("COPY copy_dir TO STDOUT", "SELECT 1"):
        with pytest.raises(errors.PostgresSyntaxError, match=r"not a COPY \.\.\. FROM STDIN"):
            async with conn.copy_in_raw(sql) as copy:
                await copy.write(b"1\n")
    assert await conn.fetchval("SELECT count(*) FROM copy_dir") == 1
    await assert_usable(conn)


async def test_cancelled_copy_in_leaves_connection_usable(
    conn: pgjet.Connection, table: str
) -> None:
    started = asyncio.Event()

    async def rows() -> AsyncIterator[tuple[Any, ...]]:
        for i in range(10_000):
            yield (i, "z", 0.0)
        started.set()
        await asyncio.sleep(30)
        yield (10_001, "never", 0.0)

    task = asyncio.create_task(conn.copy_records_to_table(table, records=rows()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_usable(conn)
    assert await rows_of(conn, table) == []


async def test_copy_is_pipelined_with_other_calls(conn: pgjet.Connection, table: str) -> None:
    records = [(i, "p", 1.0) for i in range(50_000)]
    results = await asyncio.gather(
        conn.fetchval("SELECT 1"),
        conn.copy_records_to_table(table, records=records),
        conn.fetchval("SELECT 2"),
        conn.executemany(f"INSERT INTO {table} VALUES ($1, 'm', 0)", [(-1,), (-2,)]),
        conn.copy_records_to_table(table, records=[(-3, "second", 0.0)]),
    )
    assert results[0] == 1
    assert results[1] == "COPY 50000"
    assert results[2] == 2
    assert results[4] == "COPY 1"
    assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 50_003


# -- copy_to_table: sources and options -------------------------------------------------------


async def test_copy_to_table_sources(conn: pgjet.Connection, table: str, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"a,b,c\n1,one,1.5\n")
    assert await conn.copy_to_table(table, source=path, format="csv", header=True) == "COPY 1"
    await conn.execute(f"TRUNCATE {table}")  # the UNIQUE constraint refuses duplicates
    assert await conn.copy_to_table(table, source=str(path), format="csv", header=True) == "COPY 1"
    await conn.execute(f"TRUNCATE {table}")
    assert await conn.copy_to_table(table, source=b"2\ttwo\t2\n") == "COPY 1"
    assert await conn.copy_to_table(table, source=io.BytesIO(b"3\tthree\t3\n")) == "COPY 1"

    class AsyncFile:
        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)

        async def read(self, n: int) -> bytes:
            return self.data.read(n)

    assert await conn.copy_to_table(table, source=AsyncFile(b"4\tfour\t4\n")) == "COPY 1"

    async def chunks() -> AsyncIterator[bytes]:
        yield b"5\tfi"
        yield b"ve\t5\n6\tsix\t6\n"

    assert await conn.copy_to_table(table, source=chunks()) == "COPY 2"
    assert [r[0] for r in await rows_of(conn, table)] == [2, 3, 4, 5, 6]
    with pytest.raises(errors.InterfaceError, match="source must be"):
        await conn.copy_to_table(table, source=12)
    await assert_usable(conn)


async def test_copy_to_table_options(conn: pgjet.Connection, table: str) -> None:
    data = b"1;'x;y';NULL\n2;'';'NULL'\n3;'q''q';NULL\n"
    status = await conn.copy_to_table(
        table,
        source=data,
        columns=["a", "b", "c"],
        format="csv",
        delimiter=";",
        quote="'",
        escape="'",
        null="NULL",
        force_null=["c"],
        encoding="utf-8",
        where="a < 3",
    )
    assert status == "COPY 2"
    assert await rows_of(conn, table) == [(1, "x;y", None), (2, "", None)]
    with pytest.raises(errors.InterfaceError, match="format"):
        await conn.copy_to_table(table, source=b"", format="xml")
    await conn.execute(f"TRUNCATE {table}")
    await conn.copy_to_table(
        table, source=b"7,,\n", format="csv", force_not_null=["b"], freeze=False
    )
    assert await rows_of(conn, table) == [(7, "", None)]


async def test_freeze_inside_the_creating_transaction(conn: pgjet.Connection) -> None:
    async with conn.transaction():
        await conn.execute("CREATE TABLE copy_frozen (a int)")
        await conn.copy_to_table("copy_frozen", source=b"1\n2\n", freeze=True)
        await conn.copy_records_to_table("copy_frozen", records=[(3,)])
    try:
        assert await conn.fetchval("SELECT sum(a) FROM copy_frozen") == 6
    finally:
        await conn.execute("DROP TABLE copy_frozen")


# -- copy_from_table / copy_from_query: outputs and options ----------------------------------


async def test_copy_from_outputs(conn: pgjet.Connection, table: str, tmp_path: Path) -> None:
    await conn.copy_records_to_table(table, records=[(1, "a\tb", 1.0), (2, None, 2.5)])
    expected = b"1\ta\\tb\t1\n2\t\\N\t2.5\n"
    path = tmp_path / "out.txt"
    assert await conn.copy_from_table(table, output=path) == "COPY 2"
    assert path.read_bytes() == expected
    buf = io.BytesIO()
    assert await conn.copy_from_table(table, output=buf) == "COPY 2"
    assert buf.getvalue() == expected
    got: list[bytes] = []

    async def sink(data: bytes) -> None:
        got.append(data)

    await conn.copy_from_table(table, output=sink, columns=["a"])
    assert b"".join(got) == b"1\n2\n"
    out: list[bytes] = []
    status = await conn.copy_from_query(
        f"SELECT a, b FROM {table} WHERE a = $1 OR b = $2",
        2,
        "a\tb",
        output=out.append,
        format="csv",
        header=True,
        force_quote=True,
        null="NIL",
    )
    assert status == "COPY 2"
    assert b"".join(out) == b'a,b\n"1","a\tb"\n"2",NIL\n'
    # Arguments that need quoting, and a "$1" inside a string literal that is not one.
    out.clear()
    await conn.copy_from_query("SELECT $1::text, '$1'", "it's; DROP", output=out.append)
    assert b"".join(out) == b"it's; DROP\t$1\n"
    with pytest.raises(errors.InterfaceError, match="1 parameters, 2 arguments"):
        await conn.copy_from_query("SELECT $1::int", 1, 2, output=out.append)
    with pytest.raises(errors.UndefinedParameterError):
        await conn.copy_from_query("SELECT $1::int", output=out.append)
    with pytest.raises(errors.InterfaceError, match="output must be"):
        await conn.copy_from_query("SELECT 1", output=42)


async def test_output_error_stops_the_copy(conn: pgjet.Connection) -> None:
    calls = 0

    def failing(data: bytes) -> None:
        nonlocal calls
        calls += 1
        raise Boom

    with pytest.raises(Boom):
        await conn.copy_from_query("SELECT g FROM generate_series(1, 3000000) g", output=failing)
    assert calls == 1
    await assert_usable(conn)


# -- streaming copy_in / copy_out -------------------------------------------------------------


async def test_copy_in_write_row_and_raw(conn: pgjet.Connection, table: str) -> None:
    async with conn.copy_in(f"copy {table} (c, a) from stdin") as copy:
        await copy.write_row([0.5, 1])
        await copy.write_rows([(1.5, 2), (2.5, 3)])
    assert copy.status == "COPY 3"
    async with conn.copy_in_raw(f"COPY {table} FROM STDIN (FORMAT csv)") as raw:
        await raw.write("4,four,4\n")
        await raw.write(b"5,five,5\n")
        with pytest.raises(errors.InterfaceError, match="copy_in"):
            await raw.write_row((6, "x", 6.0))
    assert raw.status == "COPY 2"
    with pytest.raises(errors.InterfaceError, match="binary"):
        async with conn.copy_in(f"COPY {table} FROM STDIN (FORMAT csv)"):
            pass
    async with conn.copy_in(f"COPY {table} (a) FROM STDIN", types=["int4"]) as typed:
        await typed.write_row((7,))
    assert [r[:2] for r in await rows_of(conn, table)] == [
        (1, None),
        (2, None),
        (3, None),
        (4, "four"),
        (5, "five"),
        (7, None),
    ]


async def test_copy_out_rows_and_chunks(conn: pgjet.Connection, table: str) -> None:
    await conn.copy_records_to_table(table, records=[(1, "a\\b\n", 1.0), (2, None, -0.0)])
    binary = [r async for r in conn.copy_out(f"COPY {table} TO STDOUT")]
    assert binary == [(1, "a\\b\n", 1.0), (2, None, -0.0)]
    query = [
        r async for r in conn.copy_out(f"COPY (SELECT a, c FROM {table} ORDER BY a DESC) TO STDOUT")
    ]
    assert query == [(2, -0.0), (1, 1.0)]
    text = [r async for r in conn.copy_out(f"COPY {table} TO STDOUT (FORMAT text)")]
    assert text == [("1", "a\\b\n", "1"), ("2", None, "-0")]
    chunks = [c async for c in conn.copy_out_raw(f"COPY {table} TO STDOUT (FORMAT csv)")]
    assert b"".join(chunks) == b'1,"a\\b\n",1\n2,,-0\n'
    with pytest.raises(errors.InterfaceError, match="copy_out_raw"):
        async for _ in conn.copy_out(f"COPY {table} TO STDOUT (FORMAT csv)"):
            pass
    with pytest.raises(errors.InterfaceError, match="TO STDOUT"):
        async for _ in conn.copy_out(f"COPY {table} FROM STDIN"):
            pass
    await assert_usable(conn)


async def test_copy_out_server_error_midway(conn: pgjet.Connection) -> None:
    seen = []
    with pytest.raises(errors.DivisionByZeroError):
        async for row in conn.copy_out(
            "COPY (SELECT 10 / (50000 - g) FROM generate_series(1, 60000) g) TO STDOUT"
        ):
            seen.append(row)
    assert 0 < len(seen) < 50_000
    await assert_usable(conn)


async def test_leaving_copy_out_early(conn: pgjet.Connection) -> None:
    sql = "COPY (SELECT g, repeat('x', 100) FROM generate_series(1, 2000000) g) TO STDOUT"
    async for row in conn.copy_out(sql):
        assert row[0] == 1
        break
    await assert_usable(conn)
    async with conn.copy_out(sql) as copy:
        first = await copy.__anext__()
    assert first[0] == 1
    await assert_usable(conn)


async def test_copy_out_timeout(conn: pgjet.Connection) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await conn.copy_from_query("SELECT pg_sleep(10)", output=lambda d: None, timeout=0.3)
    await assert_usable(conn)


# -- back-pressure: bounded buffers both ways ---------------------------------------------


async def test_copy_out_pauses_reading_for_a_slow_consumer(conn: pgjet.Connection) -> None:
    sql = "COPY (SELECT g, repeat('y', 200) FROM generate_series(1, 200000) g) TO STDOUT"
    largest = 0
    total = 0
    chunks = 0
    async for chunk in conn.copy_out_raw(sql):
        largest = max(largest, len(chunk))
        total += len(chunk)
        chunks += 1
        if chunks % 20 == 0:
            await asyncio.sleep(0.01)  # slower than the server
    assert total > 40_000_000
    # What waited unconsumed never exceeded the high-water mark plus one read.
    assert largest < 1_500_000
    await assert_usable(conn)


async def test_copy_in_waits_for_the_socket(conn: pgjet.Connection, table: str) -> None:
    """The transport's buffer stays small while a generator feeds a large COPY."""
    transport = conn._wire.transport
    assert transport is not None
    largest = 0

    def rows() -> Iterator[tuple[Any, ...]]:
        nonlocal largest
        for i in range(300_000):
            if i % 5_000 == 0:
                largest = max(largest, transport.get_write_buffer_size())
            yield (i, "w" * 50, 1.0)

    await conn.copy_records_to_table(table, records=rows())
    assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 300_000
    assert largest < 2 * 1024 * 1024


async def test_pool_copy_pass_throughs(dsn: str) -> None:
    async with pgjet.create_pool(dsn, min_size=1, max_size=1) as pool:
        await pool.execute("CREATE TABLE copy_pool (a int)")
        try:
            await pool.copy_records_to_table("copy_pool", records=[(1,), (2,)])
            await pool.copy_to_table("copy_pool", source=b"3\n")
            out: list[bytes] = []
            await pool.copy_from_table("copy_pool", output=out.append)
            await pool.copy_from_query("SELECT a FROM copy_pool WHERE a > $1", 1, output=out.append)
            assert b"".join(out) == b"1\n2\n3\n2\n3\n"
            async with pool.acquire() as con:
                async with con.copy_in("COPY copy_pool FROM STDIN") as copy:
                    await copy.write_row((4,))
                assert [r async for r in con.copy_out("COPY copy_pool TO STDOUT")][-1] == (4,)
        finally:
            await pool.execute("DROP TABLE copy_pool")


@pytest.mark.parametrize("call", ["execute", "fetch"])
async def test_copy_from_stdin_through_a_plain_query_fails_fast(
    conn: pgjet.Connection, table: str, call: str
) -> None:
    # The plain query path refuses COPY FROM STDIN with a CopyFail it writes
    # itself: it must go out at once, not after a cancel watchdog fires.
    started = asyncio.get_running_loop().time()
    with pytest.raises(errors.FeatureNotSupportedError, match="copy"):
        if call == "execute":
            await conn.execute(f"COPY {table} FROM STDIN")
        else:
            await conn.fetch(f"COPY {table} FROM STDIN")
    assert asyncio.get_running_loop().time() - started < 2
    assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0


async def test_copy_from_stdin_with_queries_pipelined_behind_closes_the_connection(
    dsn: str, table: str
) -> None:
    # The server would take the next query's messages as the end of the COPY:
    # never a wrong or missing result — the connection is closed instead.
    conn = await pgjet.connect(dsn)
    try:
        results = await asyncio.gather(
            conn.execute(f"COPY {table} FROM STDIN"),
            conn.fetchval("SELECT 42"),
            return_exceptions=True,
        )
        assert all(isinstance(r, BaseException) for r in results), results
        assert conn.is_closed()
    finally:
        await conn.close()

"""The query API of Connection against real servers, with asyncpg as the reference.

Where asyncpg defines the behaviour, the same calls run on both drivers and
the results (or exception class names) are compared.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

import pgjet
from pgjet import errors


async def outcome(call: Callable[[], Awaitable[Any]]) -> Any:
    """The result of `call`, or the name of the exception class it raised."""
    try:
        return await call()
    except Exception as exc:
        return ("raised", type(exc).__name__)


def plain(value: Any) -> Any:
    """Records (of either driver) as tuples, so results compare across drivers."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, (pgjet.Record, asyncpg.Record)):
        return tuple(value.items())
    return value


async def same_on_both(pg: Any, ap: Any, call: Callable[[Any], Awaitable[Any]]) -> Any:
    ours = plain(await outcome(lambda: call(pg)))
    theirs = plain(await outcome(lambda: call(ap)))
    assert ours == theirs
    return ours


# -- execute -----------------------------------------------------------------------------


async def test_execute_status_tags_match_asyncpg(conn: Any, aconn: Any) -> None:
    script = [
        ("CREATE TEMP TABLE tags (id int PRIMARY KEY, v text)", ()),
        ("INSERT INTO tags VALUES (1, 'a'), (2, 'b'), (3, 'c')", ()),
        ("INSERT INTO tags VALUES ($1, $2)", (4, "d")),
        ("UPDATE tags SET v = v || $1 WHERE id > $2", ("!", 1)),
        ("DELETE FROM tags WHERE id = $1", (2,)),
        ("SELECT * FROM tags", ()),
        ("SELECT * FROM tags WHERE id > $1", (2,)),
        ("SELECT 1; UPDATE tags SET v = 'z'", ()),  # simple protocol: the last tag
        ("DO $$ BEGIN PERFORM 1; END $$", ()),
    ]
    results = []
    for sql, args in script:
        ours = await conn.execute(sql, *args)
        theirs = await aconn.execute(sql, *args)
        assert ours == theirs, sql
        results.append(ours)
    assert results[:8] == [
        "CREATE TABLE",
        "INSERT 0 3",
        "INSERT 0 1",
        "UPDATE 3",
        "DELETE 1",
        "SELECT 3",
        "SELECT 2",
        "UPDATE 3",
    ]
    # An empty query has no tag (asyncpg fails on this one with an AttributeError).
    assert await conn.execute("") == ""
    assert await conn.execute(" ; ") == ""


async def test_execute_simple_protocol_runs_every_statement(conn: Any) -> None:
    await conn.execute(
        """
        CREATE TEMP TABLE multi (n int);
        INSERT INTO multi VALUES (1);
        INSERT INTO multi SELECT n + 1 FROM multi;
        INSERT INTO multi SELECT n + 10 FROM multi;
        """
    )
    assert await conn.fetchval("SELECT array_agg(n ORDER BY n) FROM multi") == [1, 2, 11, 12]


async def test_execute_error_in_a_script_rolls_the_script_back(conn: Any, aconn: Any) -> None:
    for c in (conn, aconn):
        await c.execute("CREATE TEMP TABLE script (n int)")
        with pytest.raises(Exception) as info:
            await c.execute(
                "INSERT INTO script VALUES (1); SELECT 1/0; INSERT INTO script VALUES (2)"
            )
        assert type(info.value).__name__ == "DivisionByZeroError"
        assert await c.fetchval("SELECT count(*) FROM script") == 0
        assert not c.is_in_transaction()


async def test_execute_with_args_refuses_several_statements(conn: Any, aconn: Any) -> None:
    await same_on_both(conn, aconn, lambda c: c.execute("SELECT $1::int; SELECT 2", 1))
    assert await conn.fetchval("SELECT 41 + 1") == 42  # still usable


async def test_execute_wrong_argument_count_is_a_clear_error(conn: Any) -> None:
    with pytest.raises(errors.InterfaceError, match=r"expects 2 arguments .* 1 was passed"):
        await conn.execute("SELECT $1::int, $2::int", 1)
    with pytest.raises(errors.InterfaceError, match="expects 0 arguments"):
        await conn.fetch("SELECT 1", 5)
    with pytest.raises(errors.InvalidQueryInputError, match=r"\$2"):
        await conn.execute("SELECT $1::int, $2::int", 1, "two")
    assert await conn.fetchval("SELECT $1::int + $2::int", 1, 2) == 3


# -- fetch family ------------------------------------------------------------------------


async def test_fetch_family_matches_asyncpg(conn: Any, aconn: Any) -> None:
    rows_sql = "SELECT i, i * 2 AS double, NULLIF(i % 2, 1) AS even FROM generate_series(1, 4) i"
    calls: list[Callable[[Any], Awaitable[Any]]] = [
        lambda c: c.fetch(rows_sql),
        lambda c: c.fetchrow(rows_sql),
        lambda c: c.fetchval(rows_sql),
        lambda c: c.fetchval(rows_sql, column=1),
        lambda c: c.fetchval(rows_sql, column="double"),
        lambda c: c.fetchval(rows_sql, column=2),
        lambda c: c.fetchval(rows_sql, column=7),
        lambda c: c.fetchval(rows_sql, column="nope"),
        lambda c: c.fetch("SELECT 1 WHERE false"),
        lambda c: c.fetchrow("SELECT 1 WHERE false"),
        lambda c: c.fetchval("SELECT 1 WHERE false"),
        lambda c: c.fetchval("SELECT NULL::int"),
        lambda c: c.fetchrow("SELECT NULL::text AS a, NULL::int8 AS b, 'x' AS c"),
        lambda c: c.fetch("SELECT $1::text AS t, $2::int8 AS n", None, None),
        lambda c: c.fetch("CREATE TEMP TABLE IF NOT EXISTS ff (x int)"),
        lambda c: c.fetchval("SELECT 1 AS a, 2 AS a", column="a"),
        lambda c: c.fetchmany("SELECT $1::int * 10 AS t", [(1,), (2,), (3,)]),
        lambda c: c.fetchmany("SELECT x FROM generate_series(1, $1) x", [(2,), (0,), (1,)]),
        lambda c: c.fetchmany("SELECT 1", []),
        lambda c: c.fetch("SELECT * FROM no_such_table"),
        lambda c: c.fetchrow("SELEC 1"),
    ]
    outcomes = [await same_on_both(conn, aconn, call) for call in calls]
    assert outcomes[0] == [
        (("i", i), ("double", 2 * i), ("even", None if i % 2 else 0)) for i in range(1, 5)
    ]
    assert outcomes[4] == 2
    assert outcomes[6] == ("raised", "IndexError")
    assert outcomes[7] == ("raised", "KeyError")
    assert outcomes[8] == [] and outcomes[9] is None and outcomes[10] is None
    assert outcomes[16] == [(("t", 10),), (("t", 20),), (("t", 30),)]
    assert outcomes[17] == [(("x", 1),), (("x", 2),), (("x", 1),)]
    assert outcomes[19] == ("raised", "UndefinedTableError")


async def test_fetchrow_transfers_only_one_row(conn: Any) -> None:
    # A set-returning query with a side effect per row: the portal is run for
    # one row only, so the sequence moves once.
    await conn.execute("CREATE TEMP SEQUENCE one_row")
    row = await conn.fetchrow("SELECT nextval('one_row') FROM generate_series(1, 1000)")
    assert row[0] == 1
    assert await conn.fetchval("SELECT nextval('one_row') FROM generate_series(1, 1000)") == 2
    assert await conn.fetchval("SELECT last_value FROM one_row") == 2


async def test_fetch_large_result_and_nulls_everywhere(conn: Any) -> None:
    rows = await conn.fetch(
        "SELECT i, CASE WHEN i % 3 = 0 THEN NULL ELSE i::text END AS t,"
        " CASE WHEN i % 5 = 0 THEN NULL ELSE i::float8 / 2 END AS f"
        " FROM generate_series(1, 20000) i"
    )
    assert len(rows) == 20000
    for i, row in enumerate(rows, 1):
        assert row["i"] == i
        assert row["t"] == (None if i % 3 == 0 else str(i))
        assert row["f"] == (None if i % 5 == 0 else i / 2)


async def test_values_survive_a_round_trip(conn: Any, aconn: Any) -> None:
    values = [
        ("int2", 7),
        ("int4", -(2**31)),
        ("int8", 2**63 - 1),
        ("float8", 0.1),
        ("bool", True),
        ("text", "héllo ☃"),
        ("bytea", b"\x00\xff"),
        ("int4[]", [1, None, 3]),
        ("text[]", ["a", None, ""]),
    ]
    for typ, value in values:
        ours = await conn.fetchval(f"SELECT $1::{typ}", value)
        theirs = await aconn.fetchval(f"SELECT $1::{typ}", value)
        assert ours == theirs == value, typ


# -- record_class and Record -------------------------------------------------------------


class Point(pgjet.Record):
    @property
    def norm2(self) -> int:
        return int(self["x"] ** 2 + self["y"] ** 2)


async def test_record_class_per_call_and_per_connection(dsn: str, conn: Any) -> None:
    sql = "SELECT 3 AS x, 4 AS y"
    rows = await conn.fetch(sql, record_class=Point)
    assert type(rows[0]) is Point and rows[0].norm2 == 25
    assert type(await conn.fetchrow(sql, record_class=Point)) is Point
    assert type((await conn.fetchmany(sql, [()], record_class=Point))[0]) is Point
    # The same query text without record_class gives plain Records (the cache keys on it).
    assert type(await conn.fetchrow(sql)) is pgjet.Record
    stmt = await conn.prepare(sql, record_class=Point)
    assert type(await stmt.fetchrow()) is Point

    c2 = await pgjet.connect(dsn, record_class=Point)
    try:
        assert type(await c2.fetchrow(sql)) is Point
        assert type(await c2.fetchrow(sql, record_class=pgjet.Record)) is pgjet.Record
    finally:
        await c2.close()


class NewInit(pgjet.Record):
    def __init__(self) -> None:
        pass


class NewNew(pgjet.Record):
    def __new__(cls) -> NewNew:
        raise AssertionError


class ANewInit(asyncpg.Record):
    def __init__(self) -> None:
        pass


async def test_invalid_record_class_is_rejected_and_the_connection_survives(
    dsn: str, conn: Any, aconn: Any
) -> None:
    cases = [(dict, dict), (tuple, tuple), ("Record", "Record"), (NewInit, ANewInit)]
    for ours, theirs in cases:
        with pytest.raises(asyncpg.InterfaceError) as a_info:
            await aconn.fetch("SELECT 1", record_class=theirs)
        with pytest.raises(errors.InterfaceError) as p_info:
            await conn.fetch("SELECT 1", record_class=ours)
        assert str(p_info.value).replace("pgjet", "asyncpg") == str(a_info.value).replace(
            "ANewInit", "NewInit"
        )
    for call in (
        lambda: conn.fetchrow("SELECT 1", record_class=dict),
        lambda: conn.fetchmany("SELECT 1", [()], record_class=dict),
        lambda: conn.prepare("SELECT 1", record_class=NewNew),
    ):
        with pytest.raises(errors.InterfaceError, match="record_class"):
            await call()
    with pytest.raises(errors.InterfaceError, match="record_class"):
        conn.cursor("SELECT 1", record_class=dict)
    with pytest.raises(errors.InterfaceError, match="record_class"):
        await pgjet.connect(dsn, record_class=dict)
    # Rejected before anything reached the server: the connection is intact.
    assert not conn.is_closed()
    assert await conn.fetchval("SELECT 5") == 5


async def test_record_behaves_like_asyncpgs_on_real_rows(conn: Any, aconn: Any) -> None:
    sql = "SELECT 1 AS a, NULL::text AS b, 'x' AS c, 2 AS a, ARRAY[1,2] AS arr"
    ours = await conn.fetchrow(sql)
    theirs = await aconn.fetchrow(sql)
    assert repr(ours) == repr(theirs)
    assert len(ours) == len(theirs) == 5
    assert tuple(ours) == tuple(theirs) == (1, None, "x", 2, [1, 2])
    assert list(ours.keys()) == list(theirs.keys())
    assert list(ours.values()) == list(theirs.values())
    assert list(ours.items()) == list(theirs.items())
    assert ours["a"] == theirs["a"] == 2  # the last of duplicate names, as asyncpg
    assert ours[-1] == [1, 2] and ours[1:3] == theirs[1:3] == (None, "x")
    assert ours.get("b", "dflt") is None and ours.get("zz", "dflt") == "dflt"
    assert ("c" in ours) == ("c" in theirs)
    assert ours == (1, None, "x", 2, [1, 2])
    assert dict(ours) == dict(theirs)
    with pytest.raises(KeyError):
        ours["missing"]
    with pytest.raises(IndexError):
        ours[5]
    rows = await conn.fetch("SELECT i AS n FROM generate_series(1, 3) i")
    assert sorted(rows, reverse=True) == [(3,), (2,), (1,)]
    assert hash(rows[0]) == hash((1,))
    clone = pickle.loads(pickle.dumps(rows[1]))
    assert clone == rows[1] and clone["n"] == 2 and list(clone.keys()) == ["n"]


# -- connection state --------------------------------------------------------------------


async def test_server_version_pid_and_settings(conn: Any, aconn: Any) -> None:
    num = int(await conn.fetchval("SHOW server_version_num"))
    version = conn.get_server_version()
    # asyncpg's convention: "18.1" is 18.0.1, so version[:2] checks survive bug-fix releases.
    assert version[:3] == (num // 10000, 0, num % 10000)
    assert version == aconn.get_server_version()
    assert conn.get_server_pid() == await conn.fetchval("SELECT pg_backend_pid()")
    assert conn.get_server_pid() != aconn.get_server_pid()
    settings = conn.get_settings()
    assert settings.server_encoding == "UTF8"
    assert settings.client_encoding == aconn.get_settings().client_encoding
    with pytest.raises(AttributeError):
        _ = settings.no_such_setting
    # ParameterStatus keeps the settings current.
    await conn.execute("SET application_name = 'pgjet-settings'")
    assert conn.get_settings().application_name == "pgjet-settings"
    assert not conn.is_in_transaction()


async def test_log_listener_receives_notices_with_their_fields(conn: Any, aconn: Any) -> None:
    got: dict[str, list[Any]] = {"ours": [], "theirs": []}
    sql = """DO $$ BEGIN
        RAISE NOTICE 'hello %', 42 USING DETAIL = 'the detail', HINT = 'a hint';
        RAISE WARNING 'careful' USING ERRCODE = '01000';
    END $$"""
    arrived = asyncio.Event()

    def ours_cb(c: Any, message: Any) -> None:
        got["ours"].append((c, message))
        if len(got["ours"]) == 2:
            arrived.set()

    conn.add_log_listener(ours_cb)
    aconn.add_log_listener(lambda c, m: got["theirs"].append((c, m)))
    await conn.execute(sql)
    await aconn.execute(sql)
    await asyncio.wait_for(arrived.wait(), 5)
    await asyncio.sleep(0.01)
    assert [c for c, _ in got["ours"]] == [conn, conn]
    for (_, mine), (_, ref) in zip(got["ours"], got["theirs"], strict=True):
        assert type(mine).__name__ == type(ref).__name__
        for attr in ("severity", "message", "detail", "hint", "sqlstate"):
            assert getattr(mine, attr) == getattr(ref, attr), attr
    notice = got["ours"][0][1]
    assert (notice.severity, notice.sqlstate, notice.message) == ("NOTICE", "00000", "hello 42")
    assert got["ours"][1][1].severity == "WARNING"

    conn.remove_log_listener(ours_cb)
    await conn.execute("DO $$ BEGIN RAISE NOTICE 'unheard'; END $$")
    await asyncio.sleep(0.05)
    assert len(got["ours"]) == 2


async def test_async_log_listener_is_awaited(conn: Any) -> None:
    seen: asyncio.Queue[str] = asyncio.Queue()

    async def listener(c: Any, message: Any) -> None:
        await asyncio.sleep(0)
        await seen.put(message.message)

    conn.add_log_listener(listener)
    await conn.execute("DO $$ BEGIN RAISE NOTICE 'async one'; END $$")
    assert await asyncio.wait_for(seen.get(), 5) == "async one"


async def test_termination_listener_runs_when_the_backend_is_terminated(
    dsn: str, conn: Any
) -> None:
    terminated = asyncio.Event()
    calls: list[Any] = []

    def on_terminate(c: Any) -> None:
        calls.append(c)
        terminated.set()

    conn.add_termination_listener(on_terminate)
    logged: list[Any] = []
    conn.add_log_listener(lambda c, message: logged.append(message))
    async with asyncio.timeout(10):
        killer = await pgjet.connect(dsn)
        try:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", conn.get_server_pid())
        finally:
            await killer.close()
        await terminated.wait()
    assert calls == [conn]
    assert conn.is_closed()
    # The server's FATAL goodbye is the reason given, not a log message (as asyncpg).
    with pytest.raises(errors.ConnectionDoesNotExistError, match="administrator command"):
        await conn.fetchval("SELECT 1")
    await asyncio.sleep(0.01)
    assert logged == []


async def test_removed_termination_listener_is_not_called(dsn: str) -> None:
    c = await pgjet.connect(dsn)
    calls: list[Any] = []
    c.add_termination_listener(calls.append)
    c.remove_termination_listener(calls.append)
    c.remove_termination_listener(calls.append)  # removing twice is harmless
    c.terminate()
    await asyncio.sleep(0.05)
    assert calls == []


async def test_query_loggers_get_one_record_per_call(conn: Any) -> None:
    logged: list[Any] = []
    conn.add_query_logger(logged.append)
    await conn.execute("SELECT pg_sleep(0.02)")
    await conn.execute("SELECT $1::int", 1)
    with pytest.raises(errors.DivisionByZeroError) as info:
        await conn.execute("SELECT 1/0")
    await conn.fetch("SELECT $1::text", "x", timeout=5)
    with pytest.raises(errors.UndefinedTableError):
        await conn.fetchval("SELECT * FROM nope")
    rows = [(1,), (2,)]
    await conn.executemany("SELECT $1::int", rows)
    await conn.fetchmany("SELECT $1::int", rows)
    await asyncio.sleep(0)  # loggers run soon after the call, as asyncpg's
    conn.remove_query_logger(logged.append)
    await conn.execute("SELECT 'not logged'")
    await asyncio.sleep(0)

    assert [q.query for q in logged] == [
        "SELECT pg_sleep(0.02)",
        "SELECT $1::int",
        "SELECT 1/0",
        "SELECT $1::text",
        "SELECT * FROM nope",
        "SELECT $1::int",
        "SELECT $1::int",
    ]
    assert logged[0].elapsed >= 0.02 and logged[0].exception is None and logged[0].args == ()
    assert tuple(logged[1].args) == (1,)
    assert logged[2].exception is info.value
    assert logged[3].timeout == 5 and logged[3].exception is None
    assert isinstance(logged[4].exception, errors.UndefinedTableError)
    assert logged[5].args is rows and logged[6].args is rows
    assert all(q.conn_addr == logged[0].conn_addr for q in logged)


async def test_query_loggers_match_asyncpgs_records(conn: Any, aconn: Any) -> None:
    ours: list[Any] = []
    theirs: list[Any] = []
    conn.add_query_logger(ours.append)
    aconn.add_query_logger(theirs.append)
    for c in (conn, aconn):
        await c.fetchval("SELECT $1::int", 7, timeout=3)
        with pytest.raises(Exception, match="division by zero"):
            await c.execute("SELECT 1/0")
    await asyncio.sleep(0.01)
    assert len(ours) == len(theirs) == 2
    for mine, ref in zip(ours, theirs, strict=True):
        assert mine._fields == ref._fields
        assert (mine.query, tuple(mine.args), mine.timeout) == (
            ref.query,
            tuple(ref.args),
            ref.timeout,
        )
        assert type(mine.exception).__name__ == type(ref.exception).__name__
        assert mine.conn_addr == ref.conn_addr


async def test_query_logger_context_manager_async_and_failing_loggers(conn: Any) -> None:
    logged: list[str] = []

    def logger(q: Any) -> None:
        logged.append(q.query)

    async def async_logger(q: Any) -> None:
        await asyncio.sleep(0)
        logged.append("async " + q.query)

    def broken_logger(q: Any) -> None:
        raise RuntimeError("a broken logger")

    loop = asyncio.get_running_loop()
    reported: list[Any] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        with conn.query_logger(logger) as returned, conn.query_logger(async_logger):
            assert returned is logger
            conn.add_query_logger(broken_logger)
            # A failing logger neither fails nor changes the query's result.
            assert await conn.fetchval("SELECT 1") == 1
            await asyncio.sleep(0.01)
        conn.remove_query_logger(broken_logger)
        await conn.fetchrow("SELECT 2")
        await asyncio.sleep(0.01)
    finally:
        loop.set_exception_handler(None)
    assert logged == ["SELECT 1", "async SELECT 1"]
    assert [type(r.get("exception")) for r in reported] == [RuntimeError]


# -- closing ----------------------------------------------------------------------------


async def test_close_and_terminate(dsn: str) -> None:
    for how in ("close", "terminate"):
        c = await pgjet.connect(dsn)
        pid = c.get_server_pid()
        assert not c.is_closed()
        if how == "close":
            await c.close()
            await c.close()  # twice is fine
        else:
            c.terminate()
            c.terminate()
        assert c.is_closed()
        assert "closed" in repr(c)
        # The server ends the session shortly after.
        probe = await pgjet.connect(dsn)
        try:
            for _ in range(100):
                alive = await probe.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid
                )
                if not alive:
                    break
                await asyncio.sleep(0.02)
            assert alive == 0, how
        finally:
            await probe.close()


async def test_every_call_on_a_closed_connection_raises(dsn: str, conn: Any) -> None:
    other = await pgjet.connect(dsn)
    stmt = await other.prepare("SELECT 1")
    await other.close()
    for c in (conn,):
        await c.close()
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: conn.execute("SELECT 1"),
        lambda: conn.execute("SELECT $1::int", 1),
        lambda: conn.fetch("SELECT 1"),
        lambda: conn.fetchrow("SELECT 1"),
        lambda: conn.fetchval("SELECT 1"),
        lambda: conn.fetchmany("SELECT $1::int", [(1,)]),
        lambda: conn.executemany("SELECT $1::int", [(1,)]),
        lambda: conn.prepare("SELECT 1"),
        lambda: conn.transaction().start(),
        lambda: stmt.fetch(),
        lambda: stmt.fetchval(),
        lambda: stmt.executemany([()]),
    ]
    for call in calls:
        with pytest.raises(errors.ConnectionDoesNotExistError):
            await call()

    async def use_cursor() -> None:
        async for _ in conn.cursor("SELECT 1"):
            pass

    with pytest.raises(errors.ConnectionDoesNotExistError):
        await use_cursor()
    with pytest.raises(errors.ConnectionDoesNotExistError):
        await conn.cursor("SELECT 1")


async def test_closing_fails_calls_in_flight(dsn: str) -> None:
    c = await pgjet.connect(dsn)
    slow = asyncio.ensure_future(c.fetchval("SELECT pg_sleep(5)"))
    await asyncio.sleep(0.1)
    c.terminate()
    with pytest.raises(errors.ConnectionDoesNotExistError):
        await asyncio.wait_for(slow, 5)


@pytest.mark.parametrize(
    "text",
    ["18.1", "15.18 (Debian 15.18-0+deb12u1)", "19devel", "18beta2", "9.6.3", "10.23", "17rc1"],
)
def test_server_version_parsing_matches_asyncpg(text: str) -> None:
    from asyncpg.serverversion import split_server_version_string

    from pgjet.connection import parse_server_version

    assert tuple(parse_server_version(text)) == tuple(split_server_version_string(text))


# -- executemany -------------------------------------------------------------------------


@pytest.fixture
async def items(conn: Any) -> str:
    await conn.execute("CREATE TEMP TABLE items (id int PRIMARY KEY, label text NOT NULL)")
    return "INSERT INTO items VALUES ($1, $2)"


async def test_executemany_many_rows_from_a_generator(conn: Any, items: str) -> None:
    n = 10_000
    assert await conn.executemany(items, ((i, f"item {i}") for i in range(n))) is None
    count, total = await conn.fetchrow("SELECT count(*), sum(id) FROM items")
    assert (count, total) == (n, n * (n - 1) // 2)
    assert await conn.fetchval("SELECT label FROM items WHERE id = 4321") == "item 4321"
    await conn.executemany(items, [])  # nothing to do
    await conn.executemany(items, iter([]))
    assert await conn.fetchval("SELECT count(*) FROM items") == n


@pytest.mark.parametrize("bad_at", [1, 2500, 9999])
async def test_executemany_is_atomic_on_a_server_error(conn: Any, items: str, bad_at: int) -> None:
    rows = [(i, "x") for i in range(10_000)]
    rows[bad_at] = (0, "duplicate of the first")
    with pytest.raises(errors.UniqueViolationError):
        await conn.executemany(items, rows)
    assert await conn.fetchval("SELECT count(*) FROM items") == 0
    assert not conn.is_in_transaction()
    rows[bad_at] = (bad_at, None)  # NOT NULL
    with pytest.raises(errors.NotNullViolationError):
        await conn.executemany(items, rows)
    assert await conn.fetchval("SELECT count(*) FROM items") == 0


@pytest.mark.parametrize("bad_at", [0, 3, 9000])
async def test_executemany_bad_rows_are_refused_and_nothing_is_applied(
    conn: Any, aconn: Any, items: str, bad_at: int
) -> None:
    await aconn.execute("CREATE TEMP TABLE items (id int PRIMARY KEY, label text NOT NULL)")
    for bad_row, arg_position in (((bad_at,), None), ((bad_at, "a", "b"), None), (("x", "y"), 1)):
        rows: list[tuple[Any, ...]] = [(i, f"row {i}") for i in range(10_000)]
        rows[bad_at] = bad_row
        with pytest.raises((asyncpg.InterfaceError, asyncpg.DataError)) as theirs:
            await aconn.executemany(items, rows)
        with pytest.raises((errors.InterfaceError, errors.DataError)) as ours:
            await conn.executemany(items, iter(rows))
        if arg_position is None:
            assert type(ours.value) is errors.InterfaceError
            assert type(theirs.value) is asyncpg.InterfaceError
            assert "expects 2 arguments" in str(ours.value)
        else:
            assert isinstance(ours.value, errors.DataError)
            assert isinstance(theirs.value, asyncpg.DataError)
            assert f"${arg_position}" in str(ours.value)
        assert await conn.fetchval("SELECT count(*) FROM items") == 0
        assert await aconn.fetchval("SELECT count(*) FROM items") == 0
        assert not conn.is_in_transaction()
    assert await conn.fetchval("SELECT 7") == 7


async def test_executemany_error_names_the_row(conn: Any, items: str) -> None:
    rows = [(1, "a"), (2, "b"), ("three", "c")]
    with pytest.raises(errors.DataError, match=r"#2|row 2|element 2|3rd"):
        await conn.executemany(items, rows)


async def test_executemany_iterator_failing_half_way_applies_nothing(conn: Any, items: str) -> None:
    class Broken(Exception):
        pass

    def rows() -> Any:
        for i in range(20_000):
            if i == 15_000:
                raise Broken
            yield (i, "some text to make the batches large enough")

    with pytest.raises(Broken):
        await conn.executemany(items, rows())
    assert await conn.fetchval("SELECT count(*) FROM items") == 0
    await conn.executemany(items, [(1, "ok")])
    assert await conn.fetchval("SELECT count(*) FROM items") == 1


async def test_executemany_in_a_transaction_aborts_it(conn: Any, items: str) -> None:
    with pytest.raises(errors.UniqueViolationError):
        async with conn.transaction():
            await conn.execute(items, 100, "before")
            await conn.executemany(items, [(1, "a"), (1, "b")])
    assert await conn.fetchval("SELECT count(*) FROM items") == 0
    async with conn.transaction():
        await conn.execute(items, 100, "before")
        with pytest.raises(errors.UniqueViolationError):
            await conn.executemany(items, [(1, "a"), (1, "b")])
        with pytest.raises(errors.InFailedSQLTransactionError):
            await conn.fetchval("SELECT 1")
    assert await conn.fetchval("SELECT count(*) FROM items") == 0


async def test_fetchmany_returns_rows_of_every_execution(conn: Any, aconn: Any) -> None:
    sql = "INSERT INTO fm VALUES ($1) RETURNING n, n * 2 AS twice"
    results = []
    for c in (conn, aconn):
        await c.execute("CREATE TEMP TABLE fm (n int PRIMARY KEY)")
        rows = await c.fetchmany(sql, [(i,) for i in range(500)])
        results.append(plain(rows))
        with pytest.raises(Exception) as info:
            await c.fetchmany(sql, [(1000,), (0,)])
        assert type(info.value).__name__ == "UniqueViolationError"
        assert await c.fetchval("SELECT count(*) FROM fm") == 500
    assert results[0] == results[1]
    assert results[0][499] == (("n", 499), ("twice", 998))

"""Concurrent calls on ONE connection are pipelined, and every caller gets its own answer.

A small TCP proxy that delays every chunk by 50 ms each way turns round trips
into time, so "it costs one round trip" is measured, not assumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

import pgjet
from pgjet import errors

ONE_WAY_DELAY = 0.05
RTT = 2 * ONE_WAY_DELAY


class DelayProxy:
    """Forwards TCP both ways, delivering every chunk `delay` seconds after it arrived.

    Chunks keep their order; they are not held back behind one another, so
    pipelined requests share one delay instead of paying one each.
    """

    def __init__(self, target: tuple[str, int], delay: float) -> None:
        self.target = target
        self.delay = delay
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(BaseException):
                await task
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pump(src, dst))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    break
                await asyncio.sleep(max(0.0, due - loop.time()))
                dst.write(chunk)
                await dst.drain()
            dst.close()

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                chunk = await src.read(65536)
                await queue.put((loop.time() + self.delay, chunk))
                if not chunk:
                    break
            await sender
        finally:
            sender.cancel()
            dst.close()


@pytest.fixture
async def slow_conn(dsn: str) -> AsyncIterator[pgjet.Connection]:
    parts = urlsplit(dsn)
    assert parts.hostname is not None and parts.port is not None
    proxy = DelayProxy((parts.hostname, parts.port), ONE_WAY_DELAY)
    port = await proxy.start()
    c = await pgjet.connect(dsn.replace(f":{parts.port}/", f":{port}/"))
    try:
        yield c
    finally:
        await c.close()
        await proxy.close()


# -- each caller its own answer -------------------------------------------------------


async def test_gathered_calls_each_get_their_own_result(conn: Any) -> None:
    rows, row, val, status = await asyncio.gather(
        conn.fetch("SELECT generate_series(1, $1::int) AS n", 3),
        conn.fetchrow("SELECT 'b' AS letter, $1::int8 AS big", 2**40),
        conn.fetchval("SELECT $1::text || '!'", "c"),
        conn.execute("SELECT 1 UNION SELECT 2"),
    )
    assert [r["n"] for r in rows] == [1, 2, 3]
    assert tuple(row) == ("b", 2**40)
    assert val == "c!"
    assert status == "SELECT 2"


async def test_a_failing_call_in_the_middle_fails_alone(conn: Any) -> None:
    # Outside a transaction every call has its own Sync: an error touches no other call.
    for bad in ("SELECT 1/$1::int", "SELECT * FROM no_such_table WHERE $1::int = 1"):
        results = await asyncio.gather(
            conn.fetchval("SELECT 'first' || $1::text", "!"),
            conn.fetchval(bad, 0),
            conn.fetchval("SELECT 'last' || $1::text", "?"),
            conn.execute("SELECT 2; SELECT 3"),
            return_exceptions=True,
        )
        assert results[0] == "first!"
        assert isinstance(results[1], (errors.DivisionByZeroError, errors.UndefinedTableError))
        assert results[2] == "last?"
        assert results[3] == "SELECT 1"
    assert not conn.is_in_transaction()


async def test_200_concurrent_mixed_calls_on_one_connection(conn: Any) -> None:
    await conn.execute("CREATE TEMP TABLE kv (k int PRIMARY KEY, v text)")
    rng = random.Random(1234)

    async def one(i: int) -> None:
        kind = i % 7
        if kind == 0:
            assert await conn.fetchval("SELECT $1::int * 3", i) == i * 3
        elif kind == 1:
            rows = await conn.fetch("SELECT g FROM generate_series(1, $1::int) g", i % 17)
            assert [r[0] for r in rows] == list(range(1, i % 17 + 1))
        elif kind == 2:
            row = await conn.fetchrow("SELECT $1::text AS s, $2::int AS n", f"s{i}", i)
            assert (row["s"], row["n"]) == (f"s{i}", i)
        elif kind == 3:
            assert await conn.execute("INSERT INTO kv VALUES ($1, $2)", i, f"v{i}") == "INSERT 0 1"
            assert await conn.fetchval("SELECT v FROM kv WHERE k = $1", i) == f"v{i}"
        elif kind == 4:
            with pytest.raises(errors.DivisionByZeroError):
                await conn.fetchval("SELECT $1::int / 0", i)
        elif kind == 5:
            # A query text of its own: prepared concurrently with everything else.
            assert await conn.fetchval(f"SELECT {i} + $1::int", 1) == i + 1
        else:
            got = await conn.fetchmany("SELECT $1::int + $2::int", [(i, 1), (i, 2)])
            assert [r[0] for r in got] == [i + 1, i + 2]
        await asyncio.sleep(rng.random() / 1000)
        # A second call from the same task, interleaved with the others' first ones.
        assert await conn.fetchval("SELECT $1::int", -i) == -i

    await asyncio.gather(*(one(i) for i in range(200)))
    assert await conn.fetchval("SELECT count(*) FROM kv") == len(range(3, 200, 7))


async def test_same_new_query_prepared_once_for_concurrent_callers(conn: Any) -> None:
    sql = "SELECT $1::int + 1000"
    results = await asyncio.gather(*(conn.fetchval(sql, i) for i in range(50)))
    assert results == [i + 1000 for i in range(50)]
    prepared = await conn.fetchval(
        "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", sql
    )
    assert prepared == 1


# -- it is really pipelined ------------------------------------------------------------


async def test_gathered_queries_share_round_trips(slow_conn: Any) -> None:
    conn = slow_conn
    sql = "SELECT $1::int * 2"
    assert await conn.fetchval(sql, 0) == 0  # prepared and cached

    started = time.monotonic()
    results = await asyncio.gather(*(conn.fetchval(sql, i) for i in range(10)))
    gathered = time.monotonic() - started
    assert results == [i * 2 for i in range(10)]

    started = time.monotonic()
    for i in range(10):
        assert await conn.fetchval(sql, i) == i * 2
    sequential = time.monotonic() - started

    assert sequential >= 10 * RTT
    assert gathered < 3 * RTT, f"10 gathered queries took {gathered / RTT:.1f} round trips"


async def test_gathered_new_queries_prepare_and_run_in_two_round_trips(slow_conn: Any) -> None:
    # Ten texts never seen: their preparations are pipelined, then their executions.
    started = time.monotonic()
    results = await asyncio.gather(
        *(slow_conn.fetchval(f"SELECT {i} + $1::int", 1) for i in range(10))
    )
    elapsed = time.monotonic() - started
    assert results == [i + 1 for i in range(10)]
    assert elapsed < 4 * RTT, f"took {elapsed / RTT:.1f} round trips"


# -- inside a transaction --------------------------------------------------------------


async def test_in_a_transaction_an_error_aborts_the_later_calls(conn: Any) -> None:
    await conn.execute("CREATE TEMP TABLE tx_pipe (n int)")
    # Warm the statements: each call is then a single exchange.
    await conn.execute("INSERT INTO tx_pipe VALUES ($1)", 0)
    await conn.fetchval("SELECT 1 / $1::int", 1)
    await conn.execute("TRUNCATE tx_pipe")

    async with conn.transaction():
        results = await asyncio.gather(
            conn.execute("INSERT INTO tx_pipe VALUES ($1)", 1),
            conn.fetchval("SELECT 1 / $1::int", 0),
            conn.execute("INSERT INTO tx_pipe VALUES ($1)", 2),
            conn.fetchval("SELECT count(*) FROM tx_pipe"),
            return_exceptions=True,
        )
        assert results[0] == "INSERT 0 1"
        assert isinstance(results[1], errors.DivisionByZeroError)
        assert isinstance(results[2], errors.InFailedSQLTransactionError)
        assert isinstance(results[3], errors.InFailedSQLTransactionError)
        with pytest.raises(errors.InFailedSQLTransactionError):
            await conn.fetchval("SELECT 1")
    # Leaving the block normally sends COMMIT, which the server answers with
    # ROLLBACK for an aborted transaction: nothing of it remains.
    assert not conn.is_in_transaction()
    assert await conn.fetchval("SELECT count(*) FROM tx_pipe") == 0


async def test_in_a_transaction_new_queries_behave_as_if_awaited_in_order(conn: Any) -> None:
    """The documented contract: an error affects only the calls issued after it.

    Here every statement is new, so each call prepares before it executes: a
    later call's Parse waits until the earlier call's Execute is written.
    """
    await conn.execute("CREATE TEMP TABLE tx_new (n int)")
    async with conn.transaction():
        results = await asyncio.gather(
            conn.execute("INSERT INTO tx_new VALUES ($1::int)", 1),
            conn.fetchval("SELECT * FROM missing_table WHERE $1::int = 1", 1),
            conn.fetchval("SELECT $1::int + 7", 1),
            return_exceptions=True,
        )
        assert isinstance(results[1], errors.UndefinedTableError)
        assert isinstance(results[2], errors.InFailedSQLTransactionError)
        assert results[0] == "INSERT 0 1", results[0]


async def test_in_a_transaction_a_later_call_never_overtakes_one_that_prepares(
    conn: Any,
) -> None:
    await conn.execute("CREATE TEMP TABLE tx_order (n int)")
    count = "SELECT count(*) FROM tx_order WHERE $1::int = 1"
    assert await conn.fetchval(count, 1) == 0  # cached: it could go at once
    async with conn.transaction():
        results = await asyncio.gather(
            conn.execute("INSERT INTO tx_order SELECT g FROM generate_series(1, $1::int) g", 3),
            conn.fetchval(count, 1),
            conn.execute("INSERT INTO tx_order VALUES (99)"),
            conn.fetchval(count, 1),
        )
    assert results == ["INSERT 0 3", 3, "INSERT 0 1", 4]


async def test_in_a_transaction_a_new_statement_that_reads_the_catalog(conn: Any) -> None:
    """Reading the types of a statement happens inside that call's turn: no waiting on itself."""
    await conn.execute(
        "CREATE TYPE turn_mood AS ENUM ('ok', 'meh'); CREATE TEMP TABLE tm (m turn_mood)"
    )
    try:
        async with conn.transaction():
            results = await asyncio.wait_for(
                asyncio.gather(
                    conn.execute("INSERT INTO tm VALUES ($1::turn_mood)", "ok"),
                    conn.fetchval("SELECT count(*) FROM tm WHERE m = $1::turn_mood", "ok"),
                    conn.fetch("SELECT m, ARRAY[m] FROM tm"),
                ),
                10,
            )
        assert results[:2] == ["INSERT 0 1", 1]
        assert [tuple(r) for r in results[2]] == [("ok", ["ok"])]
    finally:
        await conn.execute("DROP TABLE tm; DROP TYPE turn_mood")


async def test_a_cancelled_call_waiting_for_its_turn_hands_the_turn_on(conn: Any) -> None:
    await conn.execute("CREATE TEMP TABLE tx_turn (n int)")
    async with conn.transaction():
        slow = asyncio.ensure_future(conn.fetchval("SELECT pg_sleep(0.3)::text || $1::text", "a"))
        await asyncio.sleep(0)  # it holds the turn while it prepares
        waiting = asyncio.ensure_future(conn.fetchval("SELECT $1::int + 40", 2))
        await asyncio.sleep(0)
        waiting.cancel()
        after = asyncio.ensure_future(conn.fetchval("SELECT $1::int * 3", 3))
        assert await asyncio.wait_for(after, 10) == 9
        assert await slow == "a"
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await conn.fetchval("SELECT $1::int + 40", 2) == 42


# -- executemany alongside other calls ----------------------------------------------------


async def test_executemany_is_pipelined_with_other_calls(conn: Any) -> None:
    await conn.execute("CREATE TEMP TABLE big (id int PRIMARY KEY, label text)")
    n = 10_000

    def rows() -> Any:
        for i in range(n):
            yield (i, f"label number {i}")

    async def others() -> list[Any]:
        return await asyncio.gather(
            *(conn.fetchval("SELECT $1::int * 10", i) for i in range(50)),
            conn.fetch("SELECT g FROM generate_series(1, 5) g"),
        )

    many, got = await asyncio.gather(
        conn.executemany("INSERT INTO big VALUES ($1, $2)", rows()), others()
    )
    assert many is None
    assert got[:50] == [i * 10 for i in range(50)]
    assert [r[0] for r in got[50]] == [1, 2, 3, 4, 5]
    count, total = await conn.fetchrow("SELECT count(*), sum(id) FROM big")
    assert (count, total) == (n, n * (n - 1) // 2)
    assert await conn.fetchval("SELECT label FROM big WHERE id = 9999") == "label number 9999"


async def test_executemany_failure_does_not_disturb_calls_around_it(conn: Any) -> None:
    await conn.execute("CREATE TEMP TABLE uniq (id int PRIMARY KEY)")
    results = await asyncio.gather(
        conn.fetchval("SELECT 'before'"),
        conn.executemany("INSERT INTO uniq VALUES ($1)", [(i % 5000,) for i in range(6000)]),
        conn.fetchval("SELECT 'after'"),
        return_exceptions=True,
    )
    assert results[0] == "before"
    assert isinstance(results[1], errors.UniqueViolationError)
    assert results[2] == "after"
    assert await conn.fetchval("SELECT count(*) FROM uniq") == 0


async def test_executemany_of_a_statement_evicted_while_it_waited(dsn: str) -> None:
    """Two callers share one Parse; a third evicts it before the second one runs."""
    c = await pgjet.connect(dsn, statement_cache_size=1)
    try:
        for i in range(5):
            sql = f"SELECT $1::int + {i}"
            results = await asyncio.gather(
                c.fetchval(f"SELECT {i} + 1000"),
                c.executemany(sql, [(1,)]),
                c.fetchval(f"SELECT {i} + 2000"),
                c.fetchmany(sql, [(2,)]),
                c.fetchval(f"SELECT {i} + 3000"),
                return_exceptions=True,
            )
            assert results[0] == i + 1000 and results[2] == i + 2000 and results[4] == i + 3000
            assert results[1] is None
            assert [r[0] for r in results[3]] == [2 + i], results[3]
    finally:
        await c.close()

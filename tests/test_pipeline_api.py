"""conn.pipeline(): one write, one Sync, each statement's own result or error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import pgjet
from pgjet import errors

from .wire_spy import WireSpy


async def test_results_arrive_per_statement_in_one_write(conn: Any) -> None:
    await conn.fetchval("SELECT $1::int + 1", 0)  # known: no describe round trip for it
    spy = WireSpy(conn)
    async with conn.pipeline() as p:
        a = p.fetchval("SELECT $1::int + 1", 41)
        b = p.fetch("SELECT g FROM generate_series(1, $1::int) g", 3)
        c = p.execute("SELECT 1")
        d = p.fetchrow("SELECT $1::text AS t, $2::int8 AS n", "x", 2**40)
        e = p.fetchrow("SELECT 1 WHERE false")
        f = p.fetchval("SELECT $1::text AS t, 5 AS n", "y", column="n")
        assert not a.done()
    assert await a == 42
    assert [r["g"] for r in await b] == [1, 2, 3]
    assert await c == "SELECT 1"
    row = await d
    assert (row["t"], row["n"]) == ("x", 2**40)
    assert await e is None
    assert f.result() == 5
    # The statements unknown before were described together first; then every
    # statement of the pipeline went in ONE write.
    assert [w.count(b"E") for w in spy.writes if b"E" in w] == [6]


async def test_an_error_fails_its_statement_and_aborts_the_later_ones(conn: Any) -> None:
    await conn.execute("CREATE TEMP TABLE pl_err (x int)")
    with pytest.raises(errors.DivisionByZeroError):
        async with conn.pipeline() as p:
            a = p.execute("INSERT INTO pl_err VALUES ($1)", 1)
            b = p.fetchval("SELECT 1 / $1::int", 0)
            c = p.fetchval("SELECT $1::int", 3)
            d = p.execute("INSERT INTO pl_err VALUES ($1)", 4)
    assert a.result() == "INSERT 0 1"
    with pytest.raises(errors.DivisionByZeroError):
        await b
    for later in (c, d):
        with pytest.raises(errors.PipelineAbortedError) as info:
            await later
        assert isinstance(info.value.__cause__, errors.DivisionByZeroError)
    # One Sync: one implicit transaction, rolled back by the error.
    assert await conn.fetchval("SELECT count(*) FROM pl_err") == 0
    assert await conn.fetchval("SELECT 1") == 1


async def test_sync_each_isolates_errors(conn: Any) -> None:
    await conn.execute("CREATE TEMP TABLE pl_each (x int)")
    async with conn.pipeline(sync_each=True) as p:
        a = p.execute("INSERT INTO pl_each VALUES ($1)", 1)
        b = p.fetchval("SELECT 1 / $1::int", 0)
        c = p.execute("INSERT INTO pl_each VALUES ($1)", 3)
        with pytest.raises(errors.DivisionByZeroError):
            await p.sync()
    assert a.result() == c.result() == "INSERT 0 1"
    with pytest.raises(errors.DivisionByZeroError):
        b.result()
    assert await conn.fetchval("SELECT array_agg(x ORDER BY x) FROM pl_each") == [1, 3]


async def test_bad_argument_fails_before_anything_of_it_is_sent(conn: Any) -> None:
    spy = WireSpy(conn)
    with pytest.raises(errors.InvalidQueryInputError, match=r"\$2"):
        async with conn.pipeline() as p:
            a = p.fetchval("SELECT $1::int", 1)
            b = p.fetchval("SELECT $1::int, $2::int", 1, "two")
            c = p.fetchval("SELECT $1::int", 3)
    assert a.result() == 1
    with pytest.raises(errors.PipelineAbortedError):
        c.result()
    with pytest.raises(errors.InvalidQueryInputError):
        b.result()
    # Statements before the bad one ran; the bad one and the rest never left.
    assert spy.count(b"E") == 1
    assert await conn.fetchval("SELECT $1::int", 7) == 7


async def test_wrong_argument_count_and_unknown_column(conn: Any) -> None:
    async with conn.pipeline(sync_each=True) as p:
        a = p.fetchval("SELECT $1::int", 1, 2)
        b = p.fetchval("SELECT 1 AS one", column="two")
        c = p.fetchval("SELECT 3")
        with pytest.raises(errors.InterfaceError, match="expects 1 argument"):
            await p.sync()
    with pytest.raises(errors.InterfaceError):
        a.result()
    with pytest.raises(KeyError):
        b.result()
    assert c.result() == 3


async def test_awaiting_a_result_inside_the_block_sends_the_pipeline(conn: Any) -> None:
    async with conn.pipeline() as p:
        a = p.fetchval("SELECT 7")
        assert await a == 7
        b = p.fetchval("SELECT 8")
        assert not b.done()
    assert await b == 8


async def test_a_block_that_raises_sends_nothing_more(conn: Any) -> None:
    spy = WireSpy(conn)
    with pytest.raises(RuntimeError):
        async with conn.pipeline() as p:
            a = p.fetchval("SELECT 1")
            raise RuntimeError("boom")
    with pytest.raises(errors.PipelineAbortedError, match="not sent"):
        await a
    assert spy.count(b"E") == 0
    with pytest.raises(errors.InterfaceError, match="closed"):
        p.fetchval("SELECT 1")


async def test_a_statement_that_cannot_be_described(conn: Any) -> None:
    spy = WireSpy(conn)
    with pytest.raises(errors.PostgresSyntaxError):
        async with conn.pipeline() as p:
            a = p.fetchval("SELECT 1")
            b = p.fetchval("SELEC 2")
            c = p.fetchval("SELECT 3")
    with pytest.raises(errors.PostgresSyntaxError):
        b.result()
    assert a.result() == 1
    with pytest.raises(errors.PipelineAbortedError):
        c.result()
    assert spy.count(b"E") == 1


async def test_in_a_transaction_a_statement_that_cannot_be_described_sends_nothing(
    conn: Any,
) -> None:
    async with conn.transaction():
        await conn.fetchval("SELECT 1")
    tr = conn.transaction()
    await tr.start()
    spy = WireSpy(conn)
    with pytest.raises(errors.PostgresSyntaxError):
        async with conn.pipeline(sync_each=True) as p:
            a = p.fetchval("SELECT 1")
            b = p.fetchval("SELEC 2")
    with pytest.raises(errors.PipelineAbortedError):
        a.result()
    with pytest.raises(errors.PostgresSyntaxError):
        b.result()
    assert spy.count(b"E") == 0
    await tr.rollback()


async def test_statements_are_described_before_the_pipeline_runs(conn: Any) -> None:
    """Documented limit: a statement on a table the same pipeline creates fails."""
    with pytest.raises(errors.UndefinedTableError):
        async with conn.pipeline() as p:
            create = p.execute("CREATE TEMP TABLE pl_later (x int)")
            insert = p.execute("INSERT INTO pl_later VALUES ($1)", 1)
    # The statements before the one that could not be described did run.
    assert create.result() == "CREATE TABLE"
    with pytest.raises(errors.UndefinedTableError):
        insert.result()
    assert await conn.fetchval("SELECT count(*) FROM pl_later") == 0


async def test_inside_a_transaction_an_error_aborts_it(conn: Any) -> None:
    await conn.execute("CREATE TEMP TABLE pl_tx (x int); CREATE TEMP TABLE pl_tx_u (x int UNIQUE)")
    tr = conn.transaction()
    await tr.start()
    async with conn.pipeline() as p:
        p.execute("INSERT INTO pl_tx VALUES (1)")
        p.execute("INSERT INTO pl_tx VALUES (2)")
    with pytest.raises(errors.UniqueViolationError):
        async with conn.pipeline() as p:
            p.execute("INSERT INTO pl_tx VALUES (3)")
            p.execute("INSERT INTO pl_tx_u VALUES (1), (1)")
    with pytest.raises(errors.InFailedSQLTransactionError):
        await conn.fetchval("SELECT 1")
    await tr.rollback()
    assert await conn.fetchval("SELECT count(*) FROM pl_tx") == 0


async def test_concurrent_calls_and_pipelines_keep_their_results(conn: Any) -> None:
    async def pipeline(k: int) -> list[int]:
        async with conn.pipeline() as p:
            handles = [p.fetchval("SELECT $1::int * 10 + $2::int", k, i) for i in range(5)]
        return [h.result() for h in handles]

    async def single(k: int) -> int:
        return int(await conn.fetchval("SELECT $1::int - 1000", k))

    results = await asyncio.gather(*(pipeline(k) for k in range(10)), *map(single, range(10)))
    assert results[:10] == [[k * 10 + i for i in range(5)] for k in range(10)]
    assert results[10:] == [k - 1000 for k in range(10)]


async def test_timeout_cancels_and_leaves_the_connection_usable(conn: Any) -> None:
    with pytest.raises(asyncio.TimeoutError):
        async with conn.pipeline(timeout=0.3) as p:
            a = p.fetchval("SELECT 1")
            b = p.execute("SELECT pg_sleep(30)")
            c = p.fetchval("SELECT 3")
    assert a.result() == 1
    for handle in (b, c):
        with pytest.raises((asyncio.TimeoutError, errors.PipelineAbortedError)):
            handle.result()
    assert await asyncio.wait_for(conn.fetchval("SELECT 2"), 10) == 2


async def test_unnamed_mode(dsn: str) -> None:
    conn = await pgjet.connect(dsn, prepared_statements="unnamed")
    try:
        for _ in range(2):
            async with conn.pipeline() as p:
                handles = [p.fetchval("SELECT $1::int + $2::int", i, 1) for i in range(10)]
                other = p.fetchval("SELECT $1::text || 'x'", "y")
            assert [h.result() for h in handles] == list(range(1, 11))
            assert other.result() == "yx"
        assert await conn.fetchval("SELECT count(*) FROM pg_prepared_statements") == 0
    finally:
        await conn.close()


async def test_pipeline_after_close_raises(dsn: str) -> None:
    conn = await pgjet.connect(dsn)
    await conn.close()
    with pytest.raises(errors.ConnectionDoesNotExistError):
        conn.pipeline()

"""A call leaves no reference cycle behind: results are freed when the caller drops them.

A cycle (say operation -> future -> operation) would keep every result, rows
included, alive until the cyclic GC's next full pass: a 100k-row fetch whose
operation reached the oldest generation during its own decoding stays in
memory long after the caller let go of it.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

Call = Callable[[Any], Awaitable[Any]]


async def _transaction(c: Any) -> None:
    async with c.transaction():
        await c.execute("SELECT 1")


async def _prepared(c: Any) -> None:
    statement = await c.prepare("SELECT $1::int AS a")
    await statement.fetch(1)


async def _cursor(c: Any) -> None:
    async with c.transaction():
        async for _ in c.cursor("SELECT g FROM generate_series(1, 10) g"):
            pass


async def _pipeline(c: Any) -> None:
    async with c.pipeline() as p:
        p.fetch("SELECT 1")
        p.fetchval("SELECT 2")


async def _gathered(c: Any) -> None:
    await asyncio.gather(*(c.fetchval("SELECT $1::int", i) for i in range(5)))


async def _failing(c: Any) -> None:
    with pytest.raises(Exception, match="division by zero"):
        await c.fetch("SELECT 1 / 0")


CALLS: dict[str, Call] = {
    "fetch": lambda c: c.fetch("SELECT g, 'x' || g FROM generate_series(1, 50) g"),
    "fetchrow": lambda c: c.fetchrow("SELECT 1 AS a"),
    "fetchval": lambda c: c.fetchval("SELECT $1::int", 7),
    "execute": lambda c: c.execute("SELECT 1"),
    "executemany": lambda c: c.executemany("SELECT $1::int", [(1,), (2,)]),
    "fetch_columns": lambda c: c.fetch_columns("SELECT 1 AS a, 'x' AS b"),
    "copy_from_query": lambda c: c.copy_from_query("SELECT 1", output=lambda _: asyncio.sleep(0)),
    "transaction": _transaction,
    "prepared": _prepared,
    "cursor": _cursor,
    "pipeline": _pipeline,
    "gathered": _gathered,
    "failing": _failing,
}


@pytest.mark.parametrize("name", list(CALLS))
async def test_a_call_leaves_no_cyclic_garbage(conn: Any, name: str) -> None:
    call = CALLS[name]
    for _ in range(3):  # statement cache, type catalog, lazily created helpers
        await call(conn)
    await asyncio.sleep(0)
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            await call(conn)
        await asyncio.sleep(0)  # the last wake-up handle holds its future until the next step
        assert gc.collect() == 0
    finally:
        gc.enable()

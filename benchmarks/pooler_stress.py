"""Many tasks, few connections, four statement shapes, every result checked.

The scenario that makes drivers return wrong rows behind a transaction pooler
(DESIGN.md §3): tasks share client connections (so calls on one connection overlap
where the driver allows it), client connections share a tiny pool of server
connections. Every query's parameters are random and its expected result is
derived from them, so a result meant for another query is caught, not only errors.

Clients have asyncpg's query API (``fetchval``, ``fetchrow``, ``fetch``, ``execute``
returning the command status): pgjet and asyncpg connections and pools as they are,
psycopg through :class:`PsycopgClient`, drivers that refuse overlapping calls on one
connection through :class:`Serialized`. Used by tests/test_pgbouncer.py and
benchmarks/pooler.py.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class Client(Protocol):
    async def fetchval(self, query: str, *args: Any) -> Any: ...
    async def fetchrow(self, query: str, *args: Any) -> Any: ...
    async def fetch(self, query: str, *args: Any) -> list[Any]: ...
    async def execute(self, query: str, *args: Any) -> str: ...


SCALAR_SQL = "SELECT $1::int8 * 7 + $2::int8"
ROW_SQL = "SELECT upper($1::text) AS label, $2::int4 + 1 AS next"
ROWS_SQL = "SELECT g, $2::text || g FROM generate_series($1::int4, $1::int4 + $3::int4 - 1) AS g"
INSERT_SQL = "INSERT INTO {table} (task, seq, v) VALUES ($1, $2, $3) RETURNING v * 2"
UPDATE_SQL = "UPDATE {table} SET v = v + $3 WHERE task = $1 AND seq = $2"


def setup_sql(table: str) -> str:
    """The table the write shape uses (run it before :func:`run_stress`)."""
    _check_name(table)
    return (
        f"DROP TABLE IF EXISTS {table}; "
        f"CREATE TABLE {table} (task int4, seq int4, v int8, PRIMARY KEY (task, seq))"
    )


@dataclass
class StressResult:
    queries: int = 0
    """Queries issued (the final read-back of the table not counted)."""
    errors: list[str] = field(default_factory=list)
    """One line per query that raised: shape, exception class and message."""
    wrong: list[str] = field(default_factory=list)
    """One line per query whose result was not its own."""
    bad_rows: list[str] = field(default_factory=list)
    """The read-back at the end: rows not holding what their task wrote (or why the
    read-back failed)."""

    @property
    def ok(self) -> int:
        """Queries that returned their own result."""
        return self.queries - len(self.errors) - len(self.wrong)

    @property
    def clean(self) -> bool:
        return not (self.errors or self.wrong or self.bad_rows)

    def summary(self, limit: int = 5) -> str:
        lines = [
            f"{self.queries} queries: {len(self.errors)} errors, {len(self.wrong)} wrong results, "
            f"{len(self.bad_rows)} bad rows in the read-back"
        ]
        lines += [f"  error: {e}" for e in self.errors[:limit]]
        lines += [f"  wrong: {w}" for w in self.wrong[:limit]]
        lines += [f"  bad row: {b}" for b in self.bad_rows[:limit]]
        return "\n".join(lines)


async def run_stress(
    clients: Sequence[Client],
    table: str,
    *,
    tasks: int = 20,
    queries: int = 100,
    seed: int | None = None,
) -> StressResult:
    """``tasks`` tasks x ``queries`` queries, task ``t`` on ``clients[t % len(clients)]``.

    Ends by reading the table back through ``clients[0]``: every row a task wrote and
    updated must hold the value that task expects.
    """
    _check_name(table)
    if not clients:
        raise ValueError("run_stress needs at least one client")
    result = StressResult()
    master = random.Random(seed)
    seeds = [master.randrange(1 << 62) for _ in range(tasks)]
    expected: dict[tuple[int, int], int | None] = {}
    await asyncio.gather(
        *(
            _task(clients[t % len(clients)], table, t, queries, random.Random(s), expected, result)
            for t, s in enumerate(seeds)
        )
    )
    await _check_table(clients[0], table, expected, result)
    return result


async def _task(
    client: Client,
    table: str,
    task: int,
    queries: int,
    rng: random.Random,
    expected: dict[tuple[int, int], int | None],
    result: StressResult,
) -> None:
    written: list[int] = []  # seq numbers of this task's rows, for the updates
    for seq in range(queries):
        shape = rng.randrange(4)
        touched: tuple[int, int] | None = None  # the row a write changes
        value_after: int | None = None  # what that row holds if the write did happen
        shape_of: Callable[[Any], Any] = _same
        if shape == 0:
            a, b = rng.randrange(-(10**12), 10**12), rng.randrange(-(10**6), 10**6)
            call = client.fetchval(SCALAR_SQL, a, b)
            want: Any = a * 7 + b
        elif shape == 1:
            label, n = _word(rng), rng.randrange(-(10**9), 10**9)
            call = client.fetchrow(ROW_SQL, label, n)
            want = (label.upper(), n + 1)
            shape_of = _label_and_next
        elif shape == 2:
            start, tag, count = rng.randrange(10**8), _word(rng), rng.randrange(1, 25)
            call = client.fetch(ROWS_SQL, start, tag, count)
            want = [(start + k, f"{tag}{start + k}") for k in range(count)]
            shape_of = _tuples
        elif written and rng.random() < 0.5:
            target, delta = rng.choice(written), rng.randrange(1, 10**6)
            touched = (task, target)
            before = expected[touched]
            value_after = None if before is None else before + delta
            call = client.execute(UPDATE_SQL.format(table=table), task, target, delta)
            want = "UPDATE 1"
        else:
            v = rng.randrange(10**12)
            touched, value_after = (task, seq), v
            written.append(seq)
            call = client.fetchval(INSERT_SQL.format(table=table), task, seq, v)
            want = v * 2
        if touched is not None:
            expected[touched] = None  # unknown until the result says the write happened
        result.queries += 1
        try:
            raw = await call
        except Exception as exc:
            result.errors.append(f"task {task} query {seq} shape {shape}: {_describe(exc)}")
            continue
        try:
            got = shape_of(raw)
        except Exception:  # another statement's result, of another shape
            got = raw
        if got != want:
            result.wrong.append(
                f"task {task} query {seq} shape {shape}: got {got!r:.120}, want {want!r:.120}"
            )
        elif touched is not None:
            expected[touched] = value_after


def _same(raw: Any) -> Any:
    return raw


def _label_and_next(row: Any) -> Any:
    return None if row is None else (row["label"], row["next"])


def _tuples(rows: Any) -> Any:
    return [tuple(r) for r in rows]


async def _check_table(
    client: Client,
    table: str,
    expected: dict[tuple[int, int], int | None],
    result: StressResult,
) -> None:
    try:
        rows = await client.fetch(f"SELECT task, seq, v FROM {table}")
        stored = {(r[0], r[1]): r[2] for r in rows}
    except Exception as exc:
        result.bad_rows.append(f"read-back failed: {_describe(exc)}")
        return
    for key, value in expected.items():
        if value is not None and stored.get(key) != value:
            result.bad_rows.append(f"row {key} holds {stored.get(key)!r}, want {value!r}")


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(3, 12)))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]


def _check_name(table: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", table):
        raise ValueError(f"table name must be a plain lower-case identifier, not {table!r}")


class Serialized:
    """One call at a time on a connection that refuses overlapping calls (asyncpg)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._lock = asyncio.Lock()

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self._lock:
            return await self.conn.fetchval(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        async with self._lock:
            return await self.conn.fetchrow(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        async with self._lock:
            return list(await self.conn.fetch(query, *args))

    async def execute(self, query: str, *args: Any) -> str:
        async with self._lock:
            return str(await self.conn.execute(query, *args))


class PsycopgClient:
    """asyncpg's query API over a ``psycopg.AsyncConnection`` (autocommit, binary)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def _run(self, query: str, args: tuple[Any, ...]) -> Any:
        # psycopg's placeholders are positional by occurrence: "$3 ... $1" needs
        # its arguments in that order, "$1 ... $1" needs the first one twice.
        numbers = [int(n) for n in re.findall(r"\$(\d+)", query)]
        cur = self.conn.cursor(binary=True)
        await cur.execute(re.sub(r"\$\d+", "%s", query), [args[n - 1] for n in numbers])
        return cur

    async def fetchval(self, query: str, *args: Any) -> Any:
        row = await (await self._run(query, args)).fetchone()
        return None if row is None else row[0]

    async def fetchrow(self, query: str, *args: Any) -> Any:
        cur = await self._run(query, args)
        row = await cur.fetchone()
        if row is None:
            return None
        return dict(zip([c.name for c in cur.description], row, strict=True))

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        return list(await (await self._run(query, args)).fetchall())

    async def execute(self, query: str, *args: Any) -> str:
        return str((await self._run(query, args)).statusmessage)

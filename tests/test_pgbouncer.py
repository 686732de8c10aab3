"""pgjet behind a real PgBouncer 1.18 in transaction mode with a tiny server pool.

The stress test is the scenario in which asyncpg's and psycopg's defaults return
wrong rows (DESIGN.md §3): 20 tasks x 100 queries over 10 client connections
sharing 2 server connections, every query checking its own result. Then what
users do behind a pooler: transactions, prepare(), cursors, executemany, COPY,
pipeline(), and LISTEN refused clearly (docs/pgbouncer.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from benchmarks.pooler_stress import PsycopgClient, Serialized, run_stress, setup_sql

import pgjet
from pgjet import errors

pytestmark = pytest.mark.parametrize("server_kind", ["pg18"], indirect=True)

SERVER_POOL_SIZE = 2
_tables = itertools.count()


@pytest.fixture(scope="module")
def bouncer(cluster: Any) -> Iterator[Any]:
    """One PgBouncer for the module: transaction mode, 2 server connections."""
    from pgjet.testing import PgBouncer, PostgresNotFoundError, find_pgbouncer

    try:
        find_pgbouncer()
    except PostgresNotFoundError as exc:
        pytest.skip(f"PgBouncer is not installed (apt-get install pgbouncer): {exc}")
    with PgBouncer(cluster, pool_mode="transaction", default_pool_size=SERVER_POOL_SIZE) as started:
        yield started


def new_table(cluster: Any, sql: str) -> str:
    """A table of our own (the module's tests share one cluster): ``sql`` uses ``{t}``."""
    name = f"bouncer_t{next(_tables)}"
    cluster.sql(f"DROP TABLE IF EXISTS {name}; " + sql.format(t=name))
    return name


@pytest.fixture
async def bconn(bouncer: Any) -> AsyncIterator[pgjet.Connection]:
    """A pgjet connection through the bouncer, default settings (auto mode)."""
    conn = await pgjet.connect(bouncer.dsn())
    try:
        yield conn
    finally:
        await conn.close()


# -- the stress test -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "named", "unnamed"])
async def test_stress_connections_every_mode(
    cluster: Any, bouncer: Any, mode: str, hang_guard: None
) -> None:
    table = f"stress_{mode}"
    cluster.sql(setup_sql(table))
    conns = [await pgjet.connect(bouncer.dsn(), prepared_statements=mode) for _ in range(10)]
    try:
        result = await run_stress(conns, table, tasks=20, queries=100)
        if mode != "named":
            assert all(c.statement_mode == "unnamed" for c in conns)
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    assert result.queries == 2000
    assert result.clean, result.summary()


async def test_stress_pool(cluster: Any, bouncer: Any, hang_guard: None) -> None:
    cluster.sql(setup_sql("stress_pool"))
    pool = await pgjet.create_pool(bouncer.dsn(), min_size=1, max_size=10)
    try:
        result = await run_stress([pool], "stress_pool", tasks=20, queries=100)
        async with pool.acquire() as conn:
            assert conn.pooler_detected and conn.statement_mode == "unnamed"
    finally:
        await pool.close()
    assert result.queries == 2000
    assert result.clean, result.summary()


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
async def test_baseline_drivers_counted(
    cluster: Any, bouncer: Any, driver: str, hang_guard: None, capsys: Any
) -> None:
    """The other drivers' defaults in the same scenario: counts printed, not asserted.

    (They are known to fail here; the harness must still account for every query.)
    """
    table = f"stress_{driver}"
    cluster.sql(setup_sql(table))
    clients: list[Any]
    if driver == "asyncpg":
        import asyncpg

        raw: list[Any] = [await asyncpg.connect(bouncer.dsn()) for _ in range(10)]
        clients = [Serialized(c) for c in raw]
    else:
        import psycopg

        raw = [
            await psycopg.AsyncConnection.connect(bouncer.dsn(), autocommit=True) for _ in range(10)
        ]
        clients = [PsycopgClient(c) for c in raw]
    try:
        result = await run_stress(clients, table, tasks=20, queries=100, seed=6)
    finally:
        for c in raw:
            # a connection the pooler broke; counting is what matters
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.close(), 5)
    assert result.queries == 2000 and result.ok >= 0
    with capsys.disabled():
        print(f"\n{driver} default behind PgBouncer: {result.summary(limit=0)}")


class _Crossed:
    """A client that hands every 10th call the previous call's result: the harness
    must call that wrong, or the stress tests above could not fail."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.calls = 0
        self.last: Any = None

    def _wrap(self, name: str) -> Any:
        async def call(query: str, *args: Any) -> Any:
            got = await getattr(self.conn, name)(query, *args)
            self.calls += 1
            crossed = self.calls % 10 == 0 and self.last is not None
            got, self.last = (self.last if crossed else got), got
            return got

        return call

    def __getattr__(self, name: str) -> Any:
        return self._wrap(name)


async def test_stress_harness_catches_crossed_results(cluster: Any, conn: pgjet.Connection) -> None:
    cluster.sql(setup_sql("stress_crossed"))
    result = await run_stress([_Crossed(conn)], "stress_crossed", tasks=2, queries=50, seed=1)
    assert result.queries == 100 and not result.errors
    assert 5 <= len(result.wrong) <= 10, result.summary()


# -- modes and detection ---------------------------------------------------------------------


async def test_auto_detects_the_pooler(bouncer: Any, dsn: str) -> None:
    behind = await pgjet.connect(bouncer.dsn())
    direct = await pgjet.connect(dsn)
    try:
        assert await behind.fetchval("SELECT $1::int", 1) == 1
        assert await direct.fetchval("SELECT $1::int", 1) == 1
        assert behind.pooler_detected is True
        assert behind.statement_mode == "unnamed"
        assert direct.pooler_detected is False
        assert direct.statement_mode == "named"
    finally:
        await behind.close()
        await direct.close()


async def test_explicit_modes_are_kept(bouncer: Any, dsn: str) -> None:
    unnamed_direct = await pgjet.connect(dsn, prepared_statements="unnamed")
    named_behind = await pgjet.connect(bouncer.dsn(), prepared_statements="named")
    try:
        for conn in (unnamed_direct, named_behind):
            assert await conn.fetchval("SELECT $1::int + 1", 1) == 2
        assert unnamed_direct.statement_mode == "unnamed"
        # Unnamed statements leave nothing behind on the server.
        assert await unnamed_direct.fetchval("SELECT count(*) FROM pg_prepared_statements") == 0
        assert named_behind.statement_mode == "named"
    finally:
        await unnamed_direct.close()
        await named_behind.close()


async def test_bad_mode_is_refused(bouncer: Any) -> None:
    with pytest.raises((ValueError, errors.InterfaceError), match="prepared_statements"):
        await pgjet.connect(bouncer.dsn(), prepared_statements="sometimes")


# -- what users do behind the pooler ---------------------------------------------------------


async def test_transactions(cluster: Any, bconn: pgjet.Connection) -> None:
    t = new_table(cluster, "CREATE TABLE {t} (x int4)")
    async with bconn.transaction():
        await bconn.execute(f"INSERT INTO {t} VALUES ($1)", 1)
        # Inside a transaction the server connection is ours: session state holds.
        pid = await bconn.fetchval("SELECT pg_backend_pid()")
        assert await bconn.fetchval("SELECT pg_backend_pid()") == pid
    with pytest.raises(RuntimeError, match="roll me back"):
        async with bconn.transaction():
            await bconn.execute(f"INSERT INTO {t} VALUES ($1)", 2)
            raise RuntimeError("roll me back")
    async with bconn.transaction():
        await bconn.execute(f"INSERT INTO {t} VALUES ($1)", 3)
        with pytest.raises(ZeroDivisionError):
            async with bconn.transaction():  # a savepoint
                await bconn.execute(f"INSERT INTO {t} VALUES ($1)", 4)
                async with bconn.transaction():  # a savepoint inside it
                    await bconn.execute(f"INSERT INTO {t} VALUES ($1)", 5)
                raise ZeroDivisionError
        await bconn.execute(f"INSERT INTO {t} VALUES ($1)", 6)
    with pytest.raises(errors.DivisionByZeroError):
        async with bconn.transaction():
            await bconn.execute(f"INSERT INTO {t} VALUES ($1)", 7)
            await bconn.fetchval("SELECT 1 / $1::int", 0)
    assert [r[0] for r in await bconn.fetch(f"SELECT x FROM {t} ORDER BY x")] == [1, 3, 6]
    assert not bconn.is_in_transaction()


async def test_prepare_used_from_many_tasks(bouncer: Any) -> None:
    conns = [await pgjet.connect(bouncer.dsn()) for _ in range(3)]
    try:
        stmts = [await c.prepare("SELECT $1::int8 * 3, $2::text") for c in conns]

        async def use(stmt: Any, base: int) -> None:
            for i in range(base, base + 30):
                assert tuple(await stmt.fetchrow(i, str(i))) == (i * 3, str(i))
                assert await stmt.fetchval(i, "x") == i * 3

        await asyncio.gather(*(use(stmts[k % 3], k * 1000) for k in range(9)))
        # A statement prepared inside a transaction still works after it ended
        # (the next transaction may run on a server connection that never saw it).
        conn = conns[0]
        async with conn.transaction():
            inside = await conn.prepare("SELECT $1::int4 - 1")
            assert await inside.fetchval(10) == 9
        assert [await inside.fetchval(i) for i in range(20)] == list(range(-1, 19))
        assert [a.name for a in inside.get_attributes()] == ["?column?"]
    finally:
        await asyncio.gather(*(c.close() for c in conns))


async def test_cursor_in_a_transaction(bconn: pgjet.Connection) -> None:
    query = "SELECT g, g::text FROM generate_series(1, $1::int4) AS g"
    async with bconn.transaction():
        seen = [tuple(r) async for r in bconn.cursor(query, 500, prefetch=50)]
        cur = await bconn.cursor(query, 100)
        first = await cur.fetch(30)
        await cur.forward(20)
        row = await cur.fetchrow()
    assert seen == [(g, str(g)) for g in range(1, 501)]
    assert [r[0] for r in first] == list(range(1, 31)) and row is not None and row[0] == 51


async def test_executemany(cluster: Any, bconn: pgjet.Connection) -> None:
    t = new_table(cluster, "CREATE TABLE {t} (k int4 PRIMARY KEY, name text)")
    rows = [(k, f"name {k}") for k in range(300)]
    await bconn.executemany(f"INSERT INTO {t} VALUES ($1, $2)", rows)
    got = await bconn.fetch(f"SELECT k, name FROM {t} ORDER BY k")
    assert [tuple(r) for r in got] == rows
    # All or nothing: a duplicate key in the batch stores none of it.
    with pytest.raises(errors.UniqueViolationError):
        await bconn.executemany(f"INSERT INTO {t} VALUES ($1, $2)", [(1000, "a"), (0, "dup")])
    assert await bconn.fetchval(f"SELECT count(*) FROM {t}") == 300


async def test_copy_in_and_out(cluster: Any, bconn: pgjet.Connection) -> None:
    t = new_table(cluster, "CREATE TABLE {t} (id int4, label text, score float8)")
    records = [(i, f"label {i}", i / 4) for i in range(2000)]
    status = await bconn.copy_records_to_table(t, records=records, columns=["id", "label", "score"])
    assert status == "COPY 2000"
    out = io.BytesIO()
    status = await bconn.copy_from_query(
        f"SELECT id, label FROM {t} WHERE id < $1 ORDER BY id", 3, output=out, format="csv"
    )
    assert status == "COPY 3"
    assert out.getvalue().decode() == "0,label 0\n1,label 1\n2,label 2\n"
    assert await bconn.fetchval(f"SELECT sum(score) FROM {t}") == sum(r[2] for r in records)


async def test_pipeline_behind_the_bouncer(bconn: pgjet.Connection) -> None:
    async with bconn.pipeline() as p:
        handles = [p.fetchval("SELECT $1::int4 * 2", i) for i in range(20)]
        row = p.fetchrow("SELECT $1::text AS a, $2::int8 AS b", "x", 7)
        rows = p.fetch("SELECT generate_series(1, $1::int4)", 3)
        status = p.execute("SELECT 1")
    assert [await h for h in handles] == [i * 2 for i in range(20)]
    assert tuple(await row) == ("x", 7)
    assert [r[0] for r in await rows] == [1, 2, 3]
    assert await status == "SELECT 1"


async def test_listen_is_refused_clearly(bconn: pgjet.Connection) -> None:
    await bconn.fetchval("SELECT 1")  # the first statement detects the pooler
    assert bconn.pooler_detected

    def callback(*args: Any) -> None:
        pass

    with pytest.raises(errors.InterfaceError, match=r"(?i)pooler|pgbouncer"):
        await bconn.add_listener("events", callback)
    assert await bconn.fetchval("SELECT 2") == 2  # the connection stays usable


async def test_pooler_moves_between_server_connections(bouncer: Any) -> None:
    """The premise of the tests above: consecutive statements do land on different
    server sessions (so a test passing here is not passing by luck of one session)."""
    conns = [await pgjet.connect(bouncer.dsn()) for _ in range(4)]
    try:
        pids: set[int] = set()
        query = "SELECT pg_backend_pid() FROM pg_sleep(0.02)"  # long enough to overlap
        for _ in range(3):
            pids.update(await asyncio.gather(*(c.fetchval(query) for c in conns)))
        assert 1 < len(pids) <= SERVER_POOL_SIZE
        assert all(c.get_server_pid() not in pids for c in conns)  # PgBouncer's fake pid
    finally:
        await asyncio.gather(*(c.close() for c in conns))

"""The ``postgresql+pgjet`` SQLAlchemy dialect against real servers (both versions)."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import ipaddress
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import registry
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import pgjet
from pgjet.sqlalchemy import dbapi, paramstyle
from pgjet.sqlalchemy.adapter import rowcount_from

# Until the lead installs the sqlalchemy.dialects entry point.
registry.register("postgresql.pgjet", "pgjet.sqlalchemy", "dialect")


def sa_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+pgjet://", 1)


@pytest.fixture
async def engine(dsn: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(sa_url(dsn), pool_size=2)
    try:
        yield eng
    finally:
        await eng.dispose()


class Mood(enum.Enum):
    sad = "sad"
    happy = "happy"


# -- types ---------------------------------------------------------------------------------


async def test_types_round_trip(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS hstore")
    md = sa.MetaData()
    table = sa.Table(
        "sa_types",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("js", sa.JSON),
        sa.Column("jsb", pg.JSONB),
        sa.Column("span", pg.INT4RANGE),
        sa.Column("days", pg.DATERANGE),
        sa.Column("uid", sa.Uuid),
        sa.Column("ints", pg.ARRAY(sa.Integer)),
        sa.Column("words", pg.ARRAY(sa.Text)),
        sa.Column("mood", sa.Enum(Mood, name="sa_mood")),
        sa.Column("tags", pg.HSTORE),
        sa.Column("bits", pg.BIT(4)),
        sa.Column("amount", sa.Numeric(10, 3)),
        sa.Column("ratio", sa.Float),
        sa.Column("gap", sa.Interval),
        sa.Column("addr", pg.INET),
        sa.Column("blob", sa.LargeBinary),
    )
    row = {
        "id": 1,
        "js": {"a": [1, 2, None], "b": "é"},
        "jsb": [{"x": 1.5}, True],
        "span": pg.Range(1, 10, bounds="[)"),
        "days": pg.Range(datetime.date(2024, 1, 1), datetime.date(2024, 2, 1), bounds="[]"),
        "uid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "ints": [1, 2, 3],
        "words": ["a", "b c", ""],
        "mood": Mood.happy,
        "tags": {"k": "v", "n": None},
        "bits": pg.BitString("1010"),
        "amount": decimal.Decimal("12.345"),
        "ratio": 0.25,
        "gap": datetime.timedelta(days=2, seconds=3),
        "addr": ipaddress.ip_address("10.1.2.3"),
        "blob": b"\x00\xff",
    }
    async with engine.begin() as conn:
        await conn.run_sync(md.create_all)
        await conn.execute(table.insert(), row)
        await conn.execute(table.insert(), {"id": 2})
        got = (await conn.execute(sa.select(table).where(table.c.id == 1))).mappings().one()
        empty = (await conn.execute(sa.select(table).where(table.c.id == 2))).mappings().one()
        # Values compare server-side too: binds are typed, ranges and JSON paths work.
        found = await conn.scalar(
            sa.select(table.c.id).where(
                table.c.span.contains(5),
                table.c.jsb[0]["x"].as_float() == 1.5,
                table.c.js[("a", 1)].as_integer() == 2,
                table.c.mood == Mood.happy,
                table.c.uid == row["uid"],
                table.c.ints.contains([2]),
            )
        )
        await conn.run_sync(md.drop_all)
    for key, value in row.items():
        assert got[key] == value, key
    # The range and bit string come back as SQLAlchemy's types, not pgjet's.
    assert isinstance(got["span"], pg.Range) and isinstance(got["bits"], pg.BitString)
    assert all(empty[key] is None for key in row if key != "id")
    assert found == 1
    # The dialect's empty range, both directions.
    async with engine.connect() as conn:
        value = await conn.scalar(sa.select(sa.cast(pg.Range(empty=True), pg.INT4RANGE)))
        assert value == pg.Range(empty=True)
        query = sa.text("SELECT '{[1,3), [5,7)}'::int4multirange AS m")
        multi = await conn.scalar(query.columns(m=pg.INT4MULTIRANGE))
        assert multi == pg.MultiRange([pg.Range(1, 3), pg.Range(5, 7)])
        back = await conn.scalar(sa.select(sa.cast(sa.literal(multi, pg.INT4MULTIRANGE), sa.Text)))
        assert back == "{[1,3),[5,7)}"


async def test_json_serializer_and_deserializer_are_used(dsn: str) -> None:
    seen: list[str] = []

    def loads(text: str) -> Any:
        seen.append(text)
        return {"decoded": text}

    eng = create_async_engine(sa_url(dsn), json_deserializer=loads, json_serializer=lambda v: '"s"')
    try:
        async with eng.connect() as conn:
            value = await conn.scalar(sa.select(sa.cast(sa.literal({"a": 1}, sa.JSON), sa.JSON)))
    finally:
        await eng.dispose()
    assert value == {"decoded": '"s"'}
    assert seen == ['"s"']


# -- statements, executemany, server-side cursors ---------------------------------------


async def test_executemany_and_insertmanyvalues(engine: AsyncEngine) -> None:
    md = sa.MetaData()
    table = sa.Table(
        "sa_many",
        md,
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(20), unique=True),
    )
    async with engine.begin() as conn:
        await conn.run_sync(md.create_all)
    try:
        async with engine.begin() as conn:
            await conn.execute(table.insert(), [{"name": f"n{i}"} for i in range(500)])
            returned = await conn.execute(
                table.insert().returning(table.c.name, sort_by_parameter_order=True),
                [{"name": f"r{i}"} for i in range(300)],
            )
            assert [r.name for r in returned] == [f"r{i}" for i in range(300)]
        # executemany is atomic: one duplicate and none of the rows stay.
        with pytest.raises(exc.IntegrityError) as info:
            async with engine.begin() as conn:
                await conn.execute(table.insert(), [{"name": "new1"}, {"name": "n7"}])
        assert isinstance(info.value.orig, dbapi.IntegrityError)
        async with engine.connect() as conn:
            assert await conn.scalar(sa.select(sa.func.count()).select_from(table)) == 800
            result = await conn.execute(table.update().where(table.c.id <= 10).values(name=None))
            assert result.rowcount == 10
            await conn.rollback()
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(md.drop_all)


async def test_stream_results_uses_a_server_side_cursor(engine: AsyncEngine) -> None:
    query = sa.text("SELECT g FROM generate_series(1, 2500) AS g")
    for level in ("READ COMMITTED", "AUTOCOMMIT"):
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level=level)
            result = await conn.stream(query)
            first = await result.fetchmany(10)
            # The portal is open on the server while we read.
            open_cursors = await conn.scalar(
                sa.text("SELECT count(*) FROM pg_cursors WHERE name <> ''")
            )
            rest = [row.g async for row in result]
            assert [row.g for row in first] + rest == list(range(1, 2501)), level
            assert open_cursors == 1, level
            # In AUTOCOMMIT the cursor's own transaction ended with it.
            if level == "AUTOCOMMIT":
                assert not conn.sync_connection.connection.driver_connection.is_in_transaction()


async def test_statements_are_cached_once_by_pgjet(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        for i in range(5):
            assert await conn.scalar(sa.select(sa.literal(i, sa.Integer) + 1)) == i + 1
        prepared = await conn.scalar(
            sa.text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%$1%'")
        )
    # One server-side statement for the repeated query (plus the one counting them).
    assert prepared == 2


async def test_schema_changes_are_picked_up(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE sa_ddl (a int); INSERT INTO sa_ddl VALUES (1)")
        assert (await conn.execute(sa.text("SELECT * FROM sa_ddl"))).keys() == ["a"]
        await conn.exec_driver_sql("ALTER TABLE sa_ddl ADD COLUMN b text DEFAULT 'x'")
        assert (await conn.execute(sa.text("SELECT * FROM sa_ddl"))).all() == [(1, "x")]
        # An enum dropped and created again has a new OID under the same name.
        for labels in (("a", "b"), ("b", "c")):
            await conn.exec_driver_sql("DROP TYPE IF EXISTS sa_e")
            await conn.exec_driver_sql(f"CREATE TYPE sa_e AS ENUM {labels!r}")
            value = await conn.scalar(sa.select(sa.literal("b", sa.Enum("b", name="sa_e"))))
            assert value == "b"
        await conn.exec_driver_sql("DROP TABLE sa_ddl; DROP TYPE sa_e")


def test_paramstyle_conversion() -> None:
    query = "SELECT %(a)s, '%(a)s', \"%(b)s\", $$ %(b)s $$, %(b)s -- %(a)s\n, %(a)s, 100 %% 7"
    text, args = paramstyle.convert(query, {"a": 1, "b": 2}, "pyformat")
    assert text == "SELECT $1, '%(a)s', \"%(b)s\", $$ %(b)s $$, $2 -- %(a)s\n, $1, 100 % 7"
    assert args == [1, 2]
    assert paramstyle.convert("SELECT %s, %s", ("x", "y"), "format") == (
        "SELECT $1, $2",
        ["x", "y"],
    )
    text, args = paramstyle.convert("SELECT :2::int, :1, ':1'", ("a", "b"), "numeric")
    assert (text, args) == ("SELECT $1::int, $2, ':1'", ["b", "a"])
    with pytest.raises(paramstyle.ParamstyleError, match="no value for the parameter"):
        paramstyle.convert("SELECT %(missing)s", {"a": 1}, "pyformat")
    with pytest.raises(paramstyle.ParamstyleError, match="2 %s placeholder"):
        paramstyle.convert("SELECT %s, %s", (1,), "format")
    assert rowcount_from("INSERT 0 5") == 5 and rowcount_from("CREATE TABLE") == -1


async def test_driver_sql_with_pyformat_and_other_paramstyles(
    dsn: str, engine: AsyncEngine
) -> None:
    async with engine.connect() as conn:
        result = await conn.exec_driver_sql("SELECT %(x)s::int * 2, '%%'", {"x": 21})
        assert result.one() == (42, "%%")  # without pyformat style, %% is left alone
        assert await conn.scalar(sa.text("SELECT 5 % 3")) == 2
    eng = create_async_engine(sa_url(dsn), paramstyle="pyformat")
    try:
        async with eng.connect() as conn:
            value = await conn.scalar(sa.select(sa.literal(7, sa.Integer) % 4))
            assert value == 3
            # No parameters: SQLAlchemy still doubled the %, which must be undone.
            assert await conn.scalar(sa.text("SELECT 5 % 3")) == 2
    finally:
        await eng.dispose()


# -- errors ----------------------------------------------------------------------------------


async def test_errors_become_sqlalchemy_exceptions(engine: AsyncEngine, dsn: str) -> None:
    async with engine.connect() as conn:
        with pytest.raises(exc.ProgrammingError) as syntax:
            await conn.exec_driver_sql("SELEC 1")
        await conn.rollback()
        with pytest.raises(exc.DataError) as zero:
            await conn.scalar(sa.text("SELECT 1 / 0"))
        await conn.rollback()
        await conn.exec_driver_sql("CREATE TEMP TABLE sa_u (x int PRIMARY KEY)")
        with pytest.raises(exc.IntegrityError) as dup:
            await conn.exec_driver_sql("INSERT INTO sa_u VALUES (1), (1)")
        await conn.rollback()
    assert isinstance(syntax.value.orig.driver_exception, pgjet.PostgresSyntaxError)  # type: ignore[union-attr]
    assert zero.value.orig.sqlstate == "22012"  # type: ignore[union-attr]
    unique = dup.value.orig.driver_exception  # type: ignore[union-attr]
    assert isinstance(unique, pgjet.UniqueViolationError)
    assert unique.constraint_name == "sa_u_pkey"
    assert "duplicate key" in str(dup.value)
    # Nobody listening: OperationalError, as psycopg's dialect raises.
    closed_port = sa_url(dsn).rsplit(":", 1)[0] + ":1/postgres"
    bad = create_async_engine(closed_port)
    try:
        with pytest.raises(exc.OperationalError):
            async with bad.connect():
                pass
    finally:
        await bad.dispose()


# -- connections, pre-ping, isolation ------------------------------------------------------


async def test_pool_pre_ping_replaces_a_terminated_connection(dsn: str) -> None:
    for pre_ping in (True, False):
        eng = create_async_engine(sa_url(dsn), pool_size=1, max_overflow=0, pool_pre_ping=pre_ping)
        try:
            async with eng.connect() as conn:
                pid = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
            killer = await pgjet.connect(dsn)
            try:
                assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
                for _ in range(100):  # until the backend is gone
                    if not await killer.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid
                    ):
                        break
                    await asyncio.sleep(0.02)
            finally:
                await killer.close()
            if pre_ping:
                async with eng.connect() as conn:
                    new_pid = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
                assert new_pid != pid
            else:
                with pytest.raises(exc.DBAPIError) as info:
                    async with eng.connect() as conn:
                        await conn.scalar(sa.text("SELECT 1"))
                assert info.value.connection_invalidated
                async with eng.connect() as conn:  # the pool recovered
                    assert await conn.scalar(sa.text("SELECT 1")) == 1
        finally:
            await eng.dispose()


async def test_isolation_levels_and_autocommit(engine: AsyncEngine, dsn: str) -> None:
    for level in ("READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE", "READ UNCOMMITTED"):
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level=level)
            assert await conn.get_isolation_level() == level
            shown = await conn.scalar(sa.text("SHOW transaction_isolation"))
            assert shown.upper() == level
    async with engine.connect() as conn:
        assert await conn.get_isolation_level() == "READ COMMITTED"
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("CREATE TABLE sa_auto (x int)")
        await conn.exec_driver_sql("INSERT INTO sa_auto VALUES (1)")
        # Visible to another session with no COMMIT: nothing was left open.
        other = await pgjet.connect(dsn)
        try:
            assert await other.fetchval("SELECT count(*) FROM sa_auto") == 1
            await other.execute("DROP TABLE sa_auto")
        finally:
            await other.close()
    async with engine.connect() as conn:
        await conn.execution_options(postgresql_readonly=True)
        with pytest.raises(exc.InternalError, match="read-only"):
            await conn.exec_driver_sql("CREATE TEMP TABLE sa_ro (x int)")
    with pytest.raises(exc.ArgumentError, match="Invalid value 'CHAOS'"):
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="CHAOS")


async def test_url_options_and_connect_args_reach_pgjet(dsn: str) -> None:
    # URL query options are converted (command_timeout: float) and passed on.
    eng = create_async_engine(
        sa_url(dsn) + "?command_timeout=0.3",
        connect_args={
            "server_settings": {"application_name": "sa-pgjet"},
            "prepared_statements": "unnamed",  # the pooler-safe one-round-trip mode
        },
    )
    try:
        async with eng.connect() as conn:
            assert await conn.scalar(sa.text("SHOW application_name")) == "sa-pgjet"
            for i in range(3):
                assert await conn.scalar(sa.select(sa.literal(i, sa.Integer))) == i
            named = await conn.scalar(sa.text("SELECT count(*) FROM pg_prepared_statements"))
            assert named == 0
            driver = (await conn.get_raw_connection()).driver_connection
            assert isinstance(driver, pgjet.Connection)
            with pytest.raises(exc.OperationalError, match=r"did not finish within 0\.3s"):
                await conn.scalar(sa.text("SELECT pg_sleep(5)"))
    finally:
        await eng.dispose()


# -- Alembic ---------------------------------------------------------------------------------

_ENV_PY = """
from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
"""

_REVISION_1 = '''
"""create account"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

def upgrade():
    op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(50), nullable=False))

def downgrade():
    op.drop_table("account")
'''

_REVISION_2 = '''
"""add email"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

def upgrade():
    op.add_column("account", sa.Column("email", sa.String(100)))

def downgrade():
    op.drop_column("account", "email")
'''


async def test_alembic_migration_through_the_dialect(engine: AsyncEngine, tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    scripts = tmp_path / "migrations"
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text(textwrap.dedent(_ENV_PY))
    (scripts / "script.py.mako").write_text("")
    (scripts / "versions" / "0001_account.py").write_text(_REVISION_1)
    (scripts / "versions" / "0002_email.py").write_text(_REVISION_2)
    cfg = Config()
    cfg.set_main_option("script_location", str(scripts))

    def run(sync_conn: sa.Connection, action: str, target: str) -> None:
        cfg.attributes["connection"] = sync_conn
        getattr(command, action)(cfg, target)

    def columns(sync_conn: sa.Connection) -> list[str]:
        inspector = sa.inspect(sync_conn)
        if not inspector.has_table("account"):
            return []
        return [c["name"] for c in inspector.get_columns("account")]

    async with engine.begin() as conn:
        await conn.run_sync(run, "upgrade", "head")
    async with engine.connect() as conn:
        assert await conn.run_sync(columns) == ["id", "name", "email"]
        assert await conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0002"
    async with engine.begin() as conn:
        await conn.run_sync(run, "downgrade", "0001")
    async with engine.connect() as conn:
        assert await conn.run_sync(columns) == ["id", "name"]
    async with engine.begin() as conn:
        await conn.run_sync(run, "downgrade", "base")
    async with engine.connect() as conn:
        assert await conn.run_sync(columns) == []

"""The asyncpg shim (pgjet.compat.install_asyncpg): asyncpg code, and SQLAlchemy's own
``postgresql+asyncpg`` dialect, run unchanged on pgjet.

Every program that installs the shim runs in a subprocess: it rewrites sys.modules,
and this test process uses the real asyncpg elsewhere. Each program prints one
JSON line as its last output; the assertions are made here, on that line.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

import pgjet
import pgjet.compat
import pgjet.compat.asyncpg as shim

SRC = str(Path(pgjet.__file__).resolve().parents[1])


def run_program(code: str, database_url: str | None = None) -> Any:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, env.get("PYTHONPATH")]))
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"program failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def database_url(cluster: Any) -> str:
    """A fresh database per test, so that the programs' tables never meet."""
    name = f"compat_{uuid.uuid4().hex[:12]}"
    cluster.create_database(name)
    return str(cluster.dsn(database=name))


# -- the module map (no server) --------------------------------------------------------


def test_shim_exports_everything_asyncpg_declares() -> None:
    # The real asyncpg may be imported here (this process is not the shim's).
    for name in pgjet.compat.ASYNCPG_MODULES:
        real = importlib.import_module(name)
        ours = importlib.import_module(f"pgjet.compat.{name}")
        declared = getattr(real, "__all__", ())
        missing = sorted(set(declared) - set(dir(ours)))
        assert not missing, f"{name} lacks {missing}"
    assert len(shim.__all__) > 250  # every SQLSTATE class, as asyncpg's
    assert shim.connect is pgjet.connect and shim.Record is pgjet.Record
    assert shim.exceptions.UniqueViolationError is pgjet.UniqueViolationError
    assert shim.pgproto.pgproto.UUID is uuid.UUID


def test_import_asyncpg_gives_pgjet() -> None:
    got = run_program(
        """
        import json, sys, uuid
        import pgjet, pgjet.compat
        assert "asyncpg" not in sys.modules
        returned = pgjet.compat.install_asyncpg()
        import asyncpg
        import asyncpg.exceptions, asyncpg.pool, asyncpg.connection, asyncpg.types
        import asyncpg.pgproto.pgproto, asyncpg.prepared_stmt, asyncpg.transaction
        import asyncpg.cursor, asyncpg.serverversion
        from asyncpg import *
        from asyncpg.protocol import Record as ProtocolRecord
        from asyncpg.pgproto import pgproto
        checks = {
            "returned": returned is asyncpg,
            "installed": pgjet.compat.is_asyncpg_installed(),
            "connect": asyncpg.connect is pgjet.connect and connect is pgjet.connect,
            "pool": asyncpg.pool.Pool is pgjet.Pool and asyncpg.create_pool is pgjet.create_pool,
            "connection": asyncpg.connection.Connection is pgjet.Connection,
            "record": ProtocolRecord is pgjet.Record and Record is pgjet.Record,
            "exceptions": asyncpg.exceptions.UniqueViolationError is pgjet.UniqueViolationError,
            "top_level_exception": UniqueViolationError is pgjet.errors.UniqueViolationError,
            "postgres_error": asyncpg.PostgresError is pgjet.PostgresError,
            "uuid": pgproto.UUID is uuid.UUID,
            "range": asyncpg.types.Range is pgjet.Range and Range is pgjet.Range,
            "type_attr": asyncpg.types.Attribute is pgjet.Attribute,
            "prepared": asyncpg.prepared_stmt.PreparedStatement is pgjet.PreparedStatement,
            "transaction": asyncpg.transaction.Transaction is pgjet.Transaction,
            "cursor": asyncpg.cursor.Cursor is pgjet.Cursor,
            "server_version": asyncpg.serverversion.split_server_version_string("18.1")[:3],
            "isolation": sorted(asyncpg.transaction.ISOLATION_LEVELS),
        }
        try:
            import asyncpg.connect_utils
        except ModuleNotFoundError as e:
            checks["unmapped"] = str(e)
        checks["version"] = asyncpg.__version__
        print(json.dumps(checks))
        """
    )
    unmapped = got.pop("unmapped")
    assert "asyncpg.connect_utils is not provided by pgjet's asyncpg shim" in unmapped
    assert got.pop("server_version") == [18, 0, 1]
    assert got.pop("isolation") == [
        "read_committed",
        "read_uncommitted",
        "repeatable_read",
        "serializable",
    ]
    assert tuple(int(p) for p in got.pop("version").split(".")) >= (0, 29, 0)
    assert got == dict.fromkeys(got, True), got


def test_installing_after_the_real_asyncpg_is_refused_unless_forced() -> None:
    got = run_program(
        """
        import json, sys
        import asyncpg as real
        import pgjet.compat
        out = {}
        try:
            pgjet.compat.install_asyncpg()
        except pgjet.compat.AsyncpgAlreadyImportedError as e:
            out["refused"] = str(e)
        out["still_real"] = sys.modules["asyncpg"] is real
        pgjet.compat.install_asyncpg(force=True)
        import asyncpg
        out["forced"] = asyncpg.__name__
        out["exceptions_forced"] = sys.modules["asyncpg.exceptions"].__name__
        pgjet.compat.uninstall_asyncpg()
        import asyncpg as again
        out["restored"] = again is real
        out["installed_after"] = pgjet.compat.is_asyncpg_installed()
        print(json.dumps(out))
        """
    )
    assert "already imported" in got["refused"] and "force=True" in got["refused"]
    assert got["still_real"] is True
    assert got["forced"] == "pgjet.compat.asyncpg"
    assert got["exceptions_forced"] == "pgjet.compat.asyncpg.exceptions"
    assert got["restored"] is True
    assert got["installed_after"] is False


def test_uninstall_lets_the_real_asyncpg_be_imported() -> None:
    got = run_program(
        """
        import json, sys
        import pgjet.compat
        pgjet.compat.install_asyncpg()
        pgjet.compat.install_asyncpg()  # idempotent
        import asyncpg
        shim_name = asyncpg.__name__
        pgjet.compat.uninstall_asyncpg()
        pgjet.compat.uninstall_asyncpg()  # idempotent too
        left = sorted(n for n in sys.modules if n.startswith("asyncpg"))
        import asyncpg
        import asyncpg.connect_utils  # the real one has it
        print(json.dumps({
            "shim": shim_name, "left": left, "real": asyncpg.__name__,
            "real_file": asyncpg.__file__, "pgjet_dir": pgjet.compat.__file__.rsplit("/", 2)[0],
        }))
        """
    )
    assert got["shim"] == "pgjet.compat.asyncpg"
    assert got["left"] == []
    # The real package (not under pgjet's own directory, whatever the checkout is called).
    assert got["real"] == "asyncpg"
    assert not got["real_file"].startswith(got["pgjet_dir"])


# -- asyncpg-style code on a real server -----------------------------------------------


def test_asyncpg_code_runs_on_pgjet(database_url: str) -> None:
    got = run_program(
        """
        import asyncio, json, os, uuid
        import pgjet.compat
        pgjet.compat.install_asyncpg()

        # From here on: code as written for asyncpg.
        import asyncpg
        from asyncpg.pgproto import pgproto

        async def main():
            out = {}
            conn = await asyncpg.connect(os.environ["DATABASE_URL"])
            out["conn_module"] = type(conn).__module__
            await conn.execute(
                "CREATE TABLE users (id uuid PRIMARY KEY, name text UNIQUE, tags text[])"
            )
            key = uuid.uuid4()
            status = await conn.execute(
                "INSERT INTO users VALUES ($1, $2, $3)", key, "ann", ["a", "b"]
            )
            out["status"] = status
            row = await conn.fetchrow("SELECT * FROM users WHERE name = $1", "ann")
            out["record"] = isinstance(row, asyncpg.Record)
            out["by_name"] = [row["name"], row["tags"]]
            out["uuid_checks"] = [isinstance(row["id"], pgproto.UUID), row["id"] == key]
            out["uuid_str"] = str(row["id"]) == str(key)
            try:
                await conn.execute("INSERT INTO users VALUES ($1, 'ann', NULL)", uuid.uuid4())
            except asyncpg.exceptions.UniqueViolationError as e:
                out["unique"] = [e.sqlstate, e.constraint_name, e.table_name]
            try:
                await conn.execute("SELECT * FROM missing_table")
            except asyncpg.PostgresError as e:
                out["undefined"] = [type(e).__name__, isinstance(e, asyncpg.UndefinedTableError)]
            try:
                async with conn.transaction():
                    await conn.execute("INSERT INTO users VALUES ($1, 'bob', NULL)", uuid.uuid4())
                    raise RuntimeError("roll back")
            except RuntimeError:
                pass
            out["after_rollback"] = await conn.fetchval("SELECT count(*) FROM users")
            stmt = await conn.prepare("SELECT $1::int * 2")
            out["prepared"] = [await stmt.fetchval(21), [a.name for a in stmt.get_attributes()]]
            async with conn.transaction():
                out["cursor"] = [r[0] async for r in conn.cursor("SELECT generate_series(1, 3)")]
            out["server_version"] = isinstance(
                conn.get_server_version(), asyncpg.types.ServerVersion
            )
            await conn.close()

            dsn = os.environ["DATABASE_URL"]
            async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
                out["pool_module"] = type(pool).__module__
                async with pool.acquire() as c:
                    out["pool_fetch"] = await c.fetchval("SELECT count(*) FROM users")
                out["pool_gather"] = sorted(
                    await asyncio.gather(*(pool.fetchval("SELECT $1::int", i) for i in range(5)))
                )
            return out

        print(json.dumps(asyncio.run(main())))
        """,
        database_url,
    )
    assert got["conn_module"].startswith("pgjet")
    assert got["pool_module"].startswith("pgjet")
    assert got["status"] == "INSERT 0 1"
    assert got["record"] is True
    assert got["by_name"] == ["ann", ["a", "b"]]
    assert got["uuid_checks"] == [True, True] and got["uuid_str"] is True
    assert got["unique"] == ["23505", "users_name_key", "users"]
    assert got["undefined"] == ["UndefinedTableError", True]
    assert got["after_rollback"] == 1
    assert got["prepared"] == [42, ["?column?"]]
    assert got["cursor"] == [1, 2, 3]
    assert got["server_version"] is True
    assert got["pool_fetch"] == 1
    assert got["pool_gather"] == [0, 1, 2, 3, 4]


# -- SQLAlchemy's own asyncpg dialect on top of the shim -------------------------------

SQLALCHEMY_PRELUDE = """
import asyncio, json, os, uuid
import pgjet.compat
pgjet.compat.install_asyncpg()  # before SQLAlchemy imports asyncpg

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.dialects.postgresql import ARRAY, INT4RANGE, JSONB, UUID, Range
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

URL = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+asyncpg://", 1)
"""


def test_sqlalchemy_asyncpg_dialect_core(database_url: str) -> None:
    got = run_program(
        SQLALCHEMY_PRELUDE
        + """
metadata = sa.MetaData()
items = sa.Table(
    "items", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(40), nullable=False, unique=True),
    sa.Column("doc", JSONB),
    sa.Column("plain", sa.JSON),
    sa.Column("key", UUID(as_uuid=True)),
    sa.Column("span", INT4RANGE),
    sa.Column("tags", ARRAY(sa.Text)),
)

async def main():
    out = {}
    engine = create_async_engine(URL, pool_pre_ping=True)
    key = uuid.uuid4()
    async with engine.begin() as c:
        await c.run_sync(metadata.create_all)
        out["driver_module"] = type((await c.get_raw_connection()).driver_connection).__module__
        await c.execute(items.insert(), [
            {"name": "a", "doc": {"n": [1, 2]}, "plain": [1, "x"], "key": key,
             "span": Range(1, 5), "tags": ["p", "q"]},
            {"name": "b", "doc": None, "plain": None, "key": None, "span": None, "tags": []},
        ])
    async with engine.connect() as c:
        rows = (await c.execute(sa.select(items).order_by(items.c.id))).all()
        a = rows[0]
        out["row_a"] = [a.name, a.doc, a.plain, str(a.key), a.key == key,
                        [a.span.lower, a.span.upper], a.tags]
        out["row_b"] = [rows[1].doc, rows[1].tags]
        out["json_path"] = await c.scalar(
            sa.select(items.c.doc["n"][1].as_integer()).where(items.c.name == "a"))
        # Rolled back: never visible afterwards.
        await c.execute(items.delete())
        await c.rollback()
        out["after_rollback"] = await c.scalar(sa.select(sa.func.count()).select_from(items))
        try:
            await c.execute(items.insert().values(name="a"))
        except exc.IntegrityError as e:
            out["integrity"] = [type(e.orig).__name__, e.orig.sqlstate,
                                type(e.orig.__cause__).__module__]
        await c.rollback()
        try:
            await c.execute(sa.text("SELEC 1"))
        except exc.ProgrammingError as e:
            out["programming"] = e.orig.sqlstate
        await c.rollback()
        streamed = await c.stream(sa.select(items.c.name).order_by(items.c.name))
        out["streamed"] = [name async for name in streamed.scalars()]
        result = await c.execute(items.update().where(items.c.name == "b").values(tags=["z"]))
        out["rowcount"] = result.rowcount
        await c.commit()
        level = await c.execution_options(isolation_level="SERIALIZABLE")
        out["isolation"] = await level.scalar(sa.text("SHOW transaction_isolation"))
    await engine.dispose()
    return out

print(json.dumps(asyncio.run(main())))
""",
        database_url,
    )
    assert got["driver_module"].startswith("pgjet")
    assert got["row_a"][:3] == ["a", {"n": [1, 2]}, [1, "x"]]
    assert got["row_a"][4] is True
    assert got["row_a"][5:] == [[1, 5], ["p", "q"]]
    assert got["row_b"] == [None, []]
    assert got["json_path"] == 2
    assert got["after_rollback"] == 2
    assert got["integrity"] == ["UniqueViolationError", "23505", "pgjet.errors"]
    assert got["programming"] == "42601"
    assert got["streamed"] == ["a", "b"]
    assert got["rowcount"] == 1
    assert got["isolation"] == "serializable"


def test_sqlalchemy_asyncpg_dialect_orm(database_url: str) -> None:
    got = run_program(
        SQLALCHEMY_PRELUDE
        + """
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

class Base(DeclarativeBase):
    pass

class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(40), unique=True)
    meta: Mapped[dict] = mapped_column(JSONB, default=dict)
    key: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)

async def main():
    out = {}
    engine = create_async_engine(URL)
    async with engine.begin() as c:
        await c.run_sync(Base.metadata.create_all)
    Session = async_sessionmaker(engine, expire_on_commit=False)
    async with Session() as s:
        s.add_all([Note(title=f"n{i}", meta={"i": i}) for i in range(3)])
        await s.commit()
    async with Session() as s:
        notes = (await s.scalars(sa.select(Note).order_by(Note.id))).all()
        out["notes"] = [[n.title, n.meta, isinstance(n.key, uuid.UUID)] for n in notes]
        first_id = notes[0].id  # read now: rollback() expires the loaded objects
        notes[0].meta = {"i": 0, "edited": True}
        s.add(Note(title="temporary"))
        await s.flush()
        out["in_transaction"] = await s.scalar(sa.select(sa.func.count()).select_from(Note))
        await s.rollback()
        out["after_rollback"] = await s.scalar(sa.select(sa.func.count()).select_from(Note))
        out["meta_after_rollback"] = (await s.get(Note, first_id)).meta
        s.add(Note(title="n1"))
        try:
            await s.commit()
        except exc.IntegrityError as e:
            out["integrity"] = [e.orig.pgcode, e.orig.detail]
            await s.rollback()
        out["final"] = sorted(await s.scalars(sa.select(Note.title)))
    await engine.dispose()
    return out

print(json.dumps(asyncio.run(main())))
""",
        database_url,
    )
    assert got["notes"] == [["n0", {"i": 0}, True], ["n1", {"i": 1}, True], ["n2", {"i": 2}, True]]
    assert got["in_transaction"] == 4
    assert got["after_rollback"] == 3
    assert got["meta_after_rollback"] == {"i": 0}
    assert got["integrity"] == ["23505", "Key (title)=(n1) already exists."]
    assert got["final"] == ["n0", "n1", "n2"]

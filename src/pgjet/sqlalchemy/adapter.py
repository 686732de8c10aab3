"""pgjet's asyncio connection seen as a PEP 249 connection, for SQLAlchemy's greenlets.

Statements: pgjet has its own per-connection statement cache (LRU, re-prepared
after DDL, pooler-safe naming), so this layer adds none. Each ``execute()``
runs through the same engine path as ``Connection.fetch``: a cached statement
costs Bind/Execute/Sync, one round trip, and the answer carries the rows, the
status tag (for ``rowcount``) and the column description together. SQLAlchemy's
asyncpg dialect instead keeps an LRU of ``prepare()``d statements on top of
asyncpg's own cache: two caches, two server-side statements per query text.
DDL goes through the simple protocol: it is never worth a cache entry.

Transactions: PEP 249 has an implicit transaction. The BEGIN is sent only
with the first statement after a COMMIT/ROLLBACK, *pipelined* with it (one
round trip for both), and whether a transaction is open is read from the
server's own transaction status, so a BEGIN/COMMIT issued as SQL text keeps
everything in step.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeVar

from sqlalchemy.connectors.asyncio import (
    AsyncAdapt_dbapi_connection,
    AsyncAdapt_dbapi_cursor,
    AsyncAdapt_terminate,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

from pgjet import errors
from pgjet.connection import Connection
from pgjet.sqlalchemy import dbapi, paramstyle

_T = TypeVar("_T")

# Status tags that end in a row count ("INSERT 0 5": the last number).
_COUNTED_TAGS = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "FETCH", "MOVE"}
)
# SQL isolation level names by the dialect's lower-case names.
_ISOLATION_SQL = {
    "read_committed": "READ COMMITTED",
    "read_uncommitted": "READ UNCOMMITTED",
    "repeatable_read": "REPEATABLE READ",
    "serializable": "SERIALIZABLE",
}
# Rows fetched per round trip by a server-side cursor's fetchone()/iteration.
SERVER_SIDE_BATCH = 100


def rowcount_from(status: str | None) -> int:
    """``"UPDATE 3"`` -> 3; -1 when the tag carries no count (``"CREATE TABLE"``)."""
    if not status:
        return -1
    parts = status.split()
    if parts[0] in _COUNTED_TAGS and parts[-1].isdigit():
        return int(parts[-1])
    return -1


def _describe(columns: Sequence[tuple[str, int]]) -> list[tuple[Any, ...]] | None:
    # PEP 249: (name, type_code, display_size, internal_size, precision, scale, null_ok);
    # type_code is the type's OID, which SQLAlchemy's numeric result processors read.
    if not columns:
        return None
    return [(name, oid, None, None, None, None, None) for name, oid in columns]


class Cursor(AsyncAdapt_dbapi_cursor):
    """A client-side cursor: every row is fetched by ``execute()``."""

    __slots__ = ("_arraysize", "_description", "_rowcount", "_schema_asof", "use_simple_protocol")

    _awaitable_cursor_close = False
    _adapt_connection: AdaptedConnection
    _connection: Connection  # type: ignore[assignment]

    def __init__(self, adapt_connection: AdaptedConnection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # no driver cursor underneath
        self._rows = collections.deque()
        self._soft_closed_memoized = EMPTY_DICT
        self._description: list[tuple[Any, ...]] | None = None
        self._rowcount = -1
        self._arraysize = 1
        # Set by the execution context: when DDL last changed the schema.
        self._schema_asof = 0.0
        # Set by the execution context for DDL (no arguments, no rows, no caching).
        self.use_simple_protocol = False

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    @property
    def lastrowid(self) -> int:
        raise dbapi.NotSupportedError("lastrowid: use RETURNING")

    def execute(self, operation: Any, parameters: Any = None) -> None:
        await_(self._execute(operation, parameters))

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        await_(self._executemany(operation, seq_of_parameters))

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass  # types come from the server's description of each statement

    async def _execute(self, operation: str, parameters: Any) -> None:
        adapted = self._adapt_connection
        async with adapted._execute_mutex:
            try:
                query, args = adapted.to_dollar_params(operation, parameters)
                await adapted.check_schema(self._schema_asof)
                self._description = None
                self._rows.clear()
                if not args and (self.use_simple_protocol or paramstyle.several_statements(query)):
                    # DDL, or a script of several statements: the simple protocol
                    # runs it as is (no rows are kept: the last status counts).
                    status = await adapted.in_transaction(lambda: self._connection.execute(query))
                    self._rowcount = rowcount_from(status)
                    return
                op = await adapted.in_transaction(lambda: adapted.run(query, args))
                self._description = _describe(op.state.columns)
                self._rows = collections.deque(op.rows)
                self._rowcount = rowcount_from(op.status)
            except Exception as error:
                adapted._handle_exception(error)

    async def _executemany(self, operation: str, seq_of_parameters: Any) -> None:
        adapted = self._adapt_connection
        async with adapted._execute_mutex:
            try:
                rows = [adapted.to_dollar_params(operation, p) for p in seq_of_parameters]
                query = rows[0][0] if rows else operation
                await adapted.check_schema(self._schema_asof)
                self._description = None
                self._rows.clear()
                self._rowcount = -1
                # pgjet pipelines every Bind/Execute under one Sync: one round trip.
                await adapted.in_transaction(
                    lambda: self._connection.executemany(query, [args for _, args in rows])
                )
            except Exception as error:
                adapted._handle_exception(error)


class ServerSideCursor(Cursor):
    """``stream_results``: a pgjet portal cursor, read in batches.

    A portal lives until the end of its transaction; in AUTOCOMMIT mode the
    cursor opens a transaction of its own and ends it when closed.
    """

    __slots__ = ("_own_transaction", "_pgjet_cursor")

    server_side = True

    def __init__(self, adapt_connection: AdaptedConnection) -> None:
        super().__init__(adapt_connection)
        self._pgjet_cursor: Any = None
        self._own_transaction = False

    async def _execute(self, operation: str, parameters: Any) -> None:
        adapted = self._adapt_connection
        conn = self._connection
        async with adapted._execute_mutex:
            try:
                query, args = adapted.to_dollar_params(operation, parameters)
                await adapted.check_schema(self._schema_asof)
                self._rows.clear()
                if not conn.is_in_transaction():
                    if adapted.autocommit:
                        self._own_transaction = True
                        await conn.execute("BEGIN")
                    else:
                        await adapted.begin()
                cursor = await conn.cursor(query, *args)
                self._pgjet_cursor = cursor
                self._description = _describe(cursor._state.columns)
                self._rowcount = -1
            except Exception as error:
                adapted._handle_exception(error)

    async def _executemany(self, operation: str, seq_of_parameters: Any) -> None:
        raise dbapi.NotSupportedError("a server-side cursor cannot run executemany()")

    async def _fetch(self, n: int) -> list[Any]:
        if self._pgjet_cursor is None:
            return []
        try:
            rows: list[Any] = await self._pgjet_cursor.fetch(n)
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        return rows

    def fetchone(self) -> Any:
        if not self._rows:
            self._rows.extend(await_(self._fetch(SERVER_SIDE_BATCH)))
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> Any:
        if size is None:
            size = self._arraysize
        wanted = size - len(self._rows)
        if wanted > 0:
            self._rows.extend(await_(self._fetch(wanted)))
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    def fetchall(self) -> Any:
        rows = list(self._rows)
        self._rows.clear()
        while True:
            batch = await_(self._fetch(1000))
            if not batch:
                return rows
            rows.extend(batch)

    def __iter__(self) -> Any:
        while True:
            row = self.fetchone()
            if row is None:
                return
            yield row

    def close(self) -> None:
        self._rows.clear()
        cursor, self._pgjet_cursor = self._pgjet_cursor, None
        if cursor is not None:
            cursor._close_portal()  # queued: rides along with the next message
        if self._own_transaction:
            self._own_transaction = False
            with contextlib.suppress(Exception):
                await_(self._connection.execute("COMMIT"))


class AdaptedConnection(AsyncAdapt_terminate, AsyncAdapt_dbapi_connection):
    """What SQLAlchemy's pool holds; ``.driver_connection`` is the pgjet Connection."""

    _cursor_cls = Cursor  # type: ignore[assignment]
    _ss_cursor_cls = ServerSideCursor  # type: ignore[assignment]
    _connection: Connection  # type: ignore[assignment]

    __slots__ = (
        "_isolation_setting",
        "_schema_asof",
        "deferrable",
        "isolation_level",
        "paramstyle",
        "readonly",
    )

    def __init__(self, dbapi_module: Any, connection: Connection) -> None:
        super().__init__(dbapi_module, connection)  # type: ignore[arg-type]
        # "autocommit" or a key of _ISOLATION_SQL; None: the server's default.
        self.isolation_level: str | None = None
        self._isolation_setting: str | None = None
        self.readonly = False
        self.deferrable = False
        self._schema_asof = time.time()
        # The dialect's paramstyle: how placeholders in sequences of parameters look.
        self.paramstyle = "numeric_dollar"

    @classmethod
    def _handle_exception_no_connection(cls, dbapi_module: Any, error: Exception) -> NoReturn:
        translated = dbapi.translate(error)
        if translated is not None:
            raise translated from error
        raise error

    def _handle_exception(self, error: Exception) -> NoReturn:
        self._handle_exception_no_connection(self.dbapi, error)

    # -- statements ----------------------------------------------------------------------

    def to_dollar_params(self, query: str, parameters: Any) -> tuple[str, Sequence[Any]]:
        """The query with ``$n`` placeholders and its arguments as a sequence."""
        if not parameters:
            if self.paramstyle in ("pyformat", "format") and "%%" in query:
                return paramstyle.convert(query, {}, "pyformat")  # only un-doubles %%
            return query, ()
        if isinstance(parameters, dict) or hasattr(parameters, "keys"):
            return paramstyle.convert(query, parameters, "pyformat")
        if self.paramstyle in ("format", "numeric"):
            return paramstyle.convert(query, parameters, self.paramstyle)
        return query, parameters

    async def run(self, query: str, args: Sequence[Any]) -> Any:
        """Run one statement as ``Connection.fetch`` does; the engine's operation.

        It carries ``rows``, ``status`` and ``state.columns`` (the description).
        """
        conn = self._connection
        conn._check_open()
        if conn._query_loggers:
            with conn._time_and_log(query, args, None):
                return await conn._engine.execute(
                    query, args, record_class=conn._record_class, timeout=None
                )
        return await conn._engine.execute(
            query, args, record_class=conn._record_class, timeout=None
        )

    async def check_schema(self, changed_at: float) -> None:
        """DDL ran (on any connection) since this one cached types: forget them."""
        if changed_at > self._schema_asof:
            await self._connection.reload_schema_state()
            self._schema_asof = changed_at

    # -- transactions --------------------------------------------------------------------

    @property
    def autocommit(self) -> bool:
        return self.isolation_level == "autocommit"

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self.isolation_level = "autocommit" if value else self._isolation_setting

    def set_isolation_level(self, level: str) -> None:
        self.rollback()  # the level applies from the next transaction on
        self.isolation_level = self._isolation_setting = level

    def _begin_sql(self) -> str:
        parts = ["BEGIN"]
        if self.isolation_level in _ISOLATION_SQL:
            parts.append("ISOLATION LEVEL " + _ISOLATION_SQL[self.isolation_level])
        if self.readonly:
            parts.append("READ ONLY")
        if self.deferrable:
            parts.append("DEFERRABLE")
        return " ".join(parts)

    async def begin(self) -> None:
        await self._connection.execute(self._begin_sql())

    async def in_transaction(self, statement: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``statement()``, preceded by a BEGIN when PEP 249 wants one open."""
        conn = self._connection
        if self.autocommit or conn.is_in_transaction():
            return await statement()
        # Both are written before either is awaited (tasks start in order), so
        # the BEGIN reaches the server first and costs no round trip of its own.
        begin = asyncio.ensure_future(conn.execute(self._begin_sql()))
        work = asyncio.ensure_future(statement())
        done = await asyncio.gather(begin, work, return_exceptions=True)
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome
        return done[1]  # type: ignore[return-value]

    def rollback(self) -> None:
        if self._connection.is_in_transaction():
            try:
                await_(self._connection.execute("ROLLBACK"))
            except Exception as error:
                self._handle_exception(error)

    def commit(self) -> None:
        if self._connection.is_in_transaction():
            try:
                await_(self._connection.execute("COMMIT"))
            except Exception as error:
                self._handle_exception(error)

    # -- liveness ------------------------------------------------------------------------

    def ping(self) -> None:
        """One round trip, never inside a transaction of its own."""
        try:
            await_(self._connection.execute("SELECT 1"))
        except Exception as error:
            self._handle_exception(error)

    def is_closed(self) -> bool:
        return self._connection.is_closed()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.rollback()
        await_(self._connection.close())

    def _terminate_handled_exceptions(self) -> tuple[type[BaseException], ...]:
        return (
            *super()._terminate_handled_exceptions(),
            errors.PostgresError,
            errors.InterfaceError,
        )

    async def _terminate_graceful_close(self) -> None:
        await self._connection.close(timeout=2)

    def _terminate_force_close(self) -> None:
        self._connection.terminate()

"""Connection: the public query API (asyncpg's) over the query engine.

Concurrent calls on one connection are pipelined: each call writes its
messages and queues its operation at once, so ``asyncio.gather(conn.fetch(a),
conn.fetch(b))`` costs one round trip and every caller gets its own result or
its own error: outside a transaction each call has its own Sync, so one
call's error touches no other call.

Inside a transaction the calls run in the order they were issued; an error in
one aborts the transaction, so the calls after it fail with
``InFailedSQLTransactionError``, as they would if awaited one by one. One
exception today: a call whose query text is new prepares it (Parse/Describe)
before it executes, so if a *later* call's new query fails to prepare, an
earlier call still waiting to execute fails with ``InFailedSQLTransactionError``
too. Queries already in the statement cache (and prepared statements) are not
affected.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from pgjet import _copy_api, errors
from pgjet._engine import Columnar, QueryEngine
from pgjet._numpy_columns import import_numpy, sink_to_array
from pgjet._transport import WireTransport
from pgjet._wire.core import ColumnSink, WireProtocol
from pgjet.cancel import send_cancel_request
from pgjet.copy import CopyIn, CopyOut
from pgjet.cursor import CursorFactory
from pgjet.introspection import ConnectionTypes, SharedTypeCatalogs
from pgjet.listen import ListenerCallback, Notification, NotificationHub
from pgjet.pipeline import Pipeline
from pgjet.prepared import PreparedStatement
from pgjet.record import Record, record_class_error
from pgjet.rows import RowShape, row_factory_error
from pgjet.statements import StatementCache
from pgjet.transaction import Transaction
from pgjet.types import DateTimeMapping

if TYPE_CHECKING:
    import numpy.typing as npt

LogListener = Callable[["Connection", errors.PostgresMessage], Any]
TerminationListener = Callable[["Connection"], Any]
QueryLogger = Callable[["LoggedQuery"], Any]


class ServerVersion(NamedTuple):
    """As asyncpg's ``ServerVersion``: ``(major, minor, micro, releaselevel, serial)``."""

    major: int
    minor: int
    micro: int
    releaselevel: str
    serial: int


class LoggedQuery(NamedTuple):
    """What a query logger receives, as asyncpg's ``LoggedQuery``."""

    query: str
    args: Any  # the call's arguments; for executemany() its iterable of rows
    timeout: float | None
    elapsed: float
    exception: BaseException | None
    conn_addr: tuple[str, int]
    conn_params: Any


def parse_server_version(text: str) -> ServerVersion:
    """Parse ``server_version`` ("18.1", "15.18 (Debian 15.18-0+deb12u1)", "19devel").

    As asyncpg: "18.1" is ``(18, 0, 1, "final", 0)`` and "9.6.3" is ``(9, 6, 3, "final", 0)``.
    """
    match = re.match(r"\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*(devel|alpha|beta|rc)?(\d+)?", text)
    if match is None:
        raise errors.ProtocolError(f"cannot parse the server version {text!r}")
    major = int(match.group(1))
    minor = int(match.group(2) or 0)
    micro = int(match.group(3) or 0)
    level = match.group(4) or "final"
    serial = int(match.group(5) or 0)
    if major >= 10:
        # Since PostgreSQL 10 versions have two parts; asyncpg reads "18.1" as
        # 18.0.1 so that checks on version[:2] survive bug-fix releases.
        minor, micro = 0, minor
    return ServerVersion(major, minor, micro, level, serial)


class ConnectionSettings:
    """Server parameters reported by ParameterStatus, as attributes (asyncpg's style)."""

    __slots__ = ("_params",)

    def __init__(self, params: dict[str, str]) -> None:
        self._params = params

    def __getattr__(self, name: str) -> str:
        try:
            return self._params[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"<ConnectionSettings {self._params!r}>"


class Connection:
    """A connection to a PostgreSQL server. Create it with :func:`pgjet.connect`."""

    def __init__(
        self,
        transport: WireTransport,
        *,
        addr: tuple[str, int],
        database: str,
        user: str,
        command_timeout: float | None = None,
        statement_cache_size: int = 100,
        max_cached_statement_lifetime: float = 300,
        max_cacheable_statement_size: int = 15 * 1024,
        record_class: type[Record] = Record,
        params: Any = None,
        json_loads: Callable[[str], Any] | None = None,
        json_dumps: Callable[[Any], str | bytes] | None = None,
        prepared_statements: str = "auto",
        row_factory: RowShape | None = None,
    ) -> None:
        if statement_cache_size == 0 and prepared_statements == "auto":
            # asyncpg's advice behind PgBouncer: no named statements. Unnamed
            # ones keep the query's types client-side, so this costs nothing.
            prepared_statements = "unnamed"
        if prepared_statements == "unnamed" and statement_cache_size == 0:
            statement_cache_size = 100  # descriptions only: no server-side state
        self._wire = transport
        self._core: WireProtocol = transport.core
        self._addr = addr
        self._database = database
        self._user = user
        self._params = params
        self._record_class = record_class
        # What fetch() & co. return by default: Records of record_class, or a row factory's.
        self._row_shape: Any = record_class if row_factory is None else row_factory
        self._stmt_cache = StatementCache(
            statement_cache_size, max_cached_statement_lifetime, max_cacheable_statement_size
        )
        self._engine = QueryEngine(
            transport,
            self._stmt_cache,
            command_timeout=command_timeout,
            cancel=self._cancel,
            prepared_statements=prepared_statements,
        )
        self._log_listeners: list[LogListener] = []
        self._termination_listeners: list[TerminationListener] = []
        self._query_loggers: list[QueryLogger] = []
        self._listener_tasks: set[asyncio.Task[Any]] = set()
        self._top_transaction: Transaction | None = None
        self._notifications = NotificationHub(self)
        self._closed = False
        self._server_version = parse_server_version(
            self._core.parameters.get("server_version", "0")
        )
        self._types = ConnectionTypes()
        self._types.multiranges = self._server_version.major >= 14
        self._types.set_json_codecs(json_loads, json_dumps)
        self._engine.types = self._types
        transport.on_event = self._on_event
        transport.on_lost = self._on_lost

    # -- queries ---------------------------------------------------------------------

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        """Run a command; return its status tag (e.g. ``"INSERT 0 1"``).

        Without arguments it uses the simple protocol, so several statements
        separated by semicolons are allowed.
        """
        self._check_open()
        if self._query_loggers:
            with self._time_and_log(query, args, timeout):
                return await self._execute(query, args, timeout)
        if args:
            engine = self._engine  # the hot path, as in fetch()
            op = engine.send_cached(query, args, self._row_shape, 0, True, timeout)
            if op is not None:
                try:
                    await op.waiter
                except asyncio.CancelledError:
                    engine.abandon(op)
                    raise
                if not op.clean:  # its answer needs handling
                    op = await engine.execute(
                        query,
                        args,
                        record_class=self._row_shape,
                        timeout=None,
                        discard_rows=True,
                        sent=op,
                    )
                return op.status or ""
        return await self._execute(query, args, timeout)

    async def _execute(self, query: str, args: Sequence[Any], timeout: float | None) -> str:
        if not args:
            op = await self._engine.simple_query(query, timeout)
            return op.status or ""
        eop = await self._engine.execute(
            query, args, record_class=self._row_shape, timeout=timeout, discard_rows=True
        )
        return eop.status or ""

    async def fetch(
        self,
        query: str,
        *args: Any,
        timeout: float | None = None,
        record_class: type[Record] | None = None,
        row_factory: RowShape | None = None,
    ) -> list[Any]:
        """Run a query and return all its rows (Records, or what `row_factory` makes)."""
        if (
            record_class is None
            and row_factory is None
            and not (self._query_loggers or self._closed or self._wire.closed)
        ):
            # The hot path: no coroutine between this call and the answer's
            # future (each level costs ~5% of a one-row query); see send_cached().
            engine = self._engine
            op = engine.send_cached(query, args, self._row_shape, 0, False, timeout)
            if op is not None:
                try:
                    await op.waiter
                except asyncio.CancelledError:
                    engine.abandon(op)
                    raise
            if op is None or not op.clean:  # not sent that way, or its answer needs handling
                op = await engine.execute(
                    query, args, record_class=self._row_shape, timeout=timeout, sent=op
                )
            return op.rows
        return await self._fetch(query, args, timeout, record_class, 0, row_factory)

    async def fetchrow(
        self,
        query: str,
        *args: Any,
        timeout: float | None = None,
        record_class: type[Record] | None = None,
        row_factory: RowShape | None = None,
    ) -> Any:
        """The first row, or None (only one row is transferred)."""
        if (
            record_class is None
            and row_factory is None
            and not (self._query_loggers or self._closed or self._wire.closed)
        ):
            engine = self._engine  # the hot path, as in fetch()
            op = engine.send_cached(query, args, self._row_shape, 1, False, timeout)
            if op is not None:
                try:
                    await op.waiter
                except asyncio.CancelledError:
                    engine.abandon(op)
                    raise
            if op is None or not op.clean:  # not sent that way, or its answer needs handling
                op = await engine.execute(
                    query, args, record_class=self._row_shape, timeout=timeout, limit=1, sent=op
                )
            rows = op.rows
        else:
            rows = await self._fetch(query, args, timeout, record_class, 1, row_factory)
        return rows[0] if rows else None

    async def fetchval(
        self, query: str, *args: Any, column: int | str = 0, timeout: float | None = None
    ) -> Any:
        """The value of one column of the first row, or None when there is no row."""
        if not (self._query_loggers or self._closed or self._wire.closed):
            engine = self._engine  # the hot path, as in fetch()
            op = engine.send_cached(query, args, self._record_class, 1, False, timeout)
            if op is not None:
                try:
                    await op.waiter
                except asyncio.CancelledError:
                    engine.abandon(op)
                    raise
            if op is None or not op.clean:  # not sent that way, or its answer needs handling
                op = await engine.execute(
                    query, args, record_class=self._record_class, timeout=timeout, limit=1, sent=op
                )
            rows = op.rows
        else:
            rows = await self._fetch(query, args, timeout, None, 1)
        return rows[0][column] if rows else None

    async def fetch_columns(
        self, query: str, *args: Any, timeout: float | None = None
    ) -> dict[str, list[Any]]:
        """All rows as columns: ``{column name: [value of each row]}``.

        No row object is built at all, which makes large results cheaper to
        fetch and to hand to columnar tools (``pandas.DataFrame(cols)``). A
        repeated column name keeps the last column, as ``dict_row`` does.
        """
        sinks = await self._fetch_sinks(query, args, timeout, "lists")
        return {sink.name: sink.items for sink in sinks}  # type: ignore[misc]

    async def fetch_numpy(
        self, query: str, *args: Any, timeout: float | None = None
    ) -> dict[str, npt.NDArray[Any]]:
        """All rows as numpy arrays: ``{column name: array of each row's value}``.

        bool, int2/4/8, oid, float4/8, date, timestamp and timestamptz columns
        are decoded straight into typed arrays (``int32``, ``float64``,
        ``datetime64[D]``, ``datetime64[us]`` in UTC...), with no Python object
        per value; such a column with NULLs is a ``numpy.ma.MaskedArray``
        masked at the NULLs. Every other column (and one whose codec was
        replaced with ``set_type_codec``) is an ``object`` array of the values
        ``fetch()`` returns, None for NULL. ±infinity dates and timestamps
        have no datetime64 value and raise ValueError. Needs numpy.
        """
        numpy = import_numpy()
        sinks = await self._fetch_sinks(query, args, timeout, "packed")
        return {sink.name: sink_to_array(numpy, sink) for sink in sinks}

    async def _fetch_sinks(
        self, query: str, args: Sequence[Any], timeout: float | None, columnar: Columnar
    ) -> list[ColumnSink]:
        self._check_open()
        if self._query_loggers:
            with self._time_and_log(query, args, timeout):
                op = await self._engine.execute(
                    query, args, record_class=self._row_shape, timeout=timeout, columnar=columnar
                )
        else:
            op = await self._engine.execute(
                query, args, record_class=self._row_shape, timeout=timeout, columnar=columnar
            )
        return op.column_sinks or []  # None: the statement's result had no column

    async def fetchmany(
        self,
        query: str,
        args: Iterable[Sequence[Any]],
        *,
        timeout: float | None = None,
        record_class: type[Record] | None = None,
        row_factory: RowShape | None = None,
    ) -> list[Any]:
        """Run a statement for every argument tuple and return all rows, atomically."""
        self._check_open()
        rc = self._pick_record_class(record_class, row_factory)
        if self._query_loggers:
            with self._time_and_log(query, args, timeout):
                return await self._executemany(query, args, timeout, rc, keep_rows=True)
        return await self._executemany(query, args, timeout, rc, keep_rows=True)

    async def executemany(
        self, command: str, args: Iterable[Sequence[Any]], *, timeout: float | None = None
    ) -> None:
        """Run a command for every argument tuple, pipelined and atomically.

        All executions share one Sync: either all of them take effect or, on
        the first error, none (outside an explicit transaction; inside one,
        the transaction is aborted).
        """
        self._check_open()
        if self._query_loggers:
            with self._time_and_log(command, args, timeout):
                await self._executemany(command, args, timeout, self._row_shape, False)
                return
        await self._executemany(command, args, timeout, self._row_shape, False)

    async def _executemany(
        self,
        query: str,
        args: Iterable[Sequence[Any]],
        timeout: float | None,
        record_class: Any,
        keep_rows: bool,
    ) -> list[Any]:
        engine = self._engine
        if timeout is None:
            timeout = engine.command_timeout
        loop = asyncio.get_running_loop()
        started = loop.time()
        # In a transaction, keep the order of calls (see pgjet._call_order).
        order = engine.order
        prepared = engine.cache.get(query, record_class) is not None
        in_transaction = self._core.transaction_status != "I"
        turn = await order.take() if order.needs_turn(prepared, in_transaction) else None
        try:
            state = await engine.statement(query, record_class, timeout)
            if state.closed:
                # Evicted from the cache while this call waited for another's Parse.
                state = await engine.statement(query, record_class, timeout)
        finally:
            order.end(turn)
        if timeout is not None:
            # One budget for the whole call, preparation included.
            timeout = max(timeout - (loop.time() - started), 1e-6)
        op = await engine.executemany(state, args, timeout, keep_rows=keep_rows)
        return list(op.rows)

    async def _fetch(
        self,
        query: str,
        args: Sequence[Any],
        timeout: float | None,
        record_class: type[Record] | None,
        limit: int,
        row_factory: RowShape | None = None,
    ) -> list[Any]:
        self._check_open()
        rc = self._pick_record_class(record_class, row_factory)
        if self._query_loggers:
            with self._time_and_log(query, args, timeout):
                op = await self._engine.execute(
                    query, args, record_class=rc, timeout=timeout, limit=limit
                )
                return op.rows
        op = await self._engine.execute(query, args, record_class=rc, timeout=timeout, limit=limit)
        return op.rows

    async def prepare(
        self,
        query: str,
        *,
        name: str | None = None,
        timeout: float | None = None,
        record_class: type[Record] | None = None,
        row_factory: RowShape | None = None,
    ) -> PreparedStatement:
        """Prepare a statement (named server-side) for repeated execution."""
        self._check_open()
        rc = self._pick_record_class(record_class, row_factory)
        state = await self._engine.prepare(query, rc, timeout, named=True, name=name)
        return PreparedStatement(self, state)

    def pipeline(self, *, sync_each: bool = False, timeout: float | None = None) -> Pipeline:
        """``async with conn.pipeline() as p``: statements sent together, one Sync.

        ``p.execute/fetch/fetchrow/fetchval`` queue a statement and return an
        awaitable result; everything goes in one write when the block ends (or
        at ``await p.sync()``, or when a result not sent yet is awaited). See
        :mod:`pgjet.pipeline` for the error semantics.
        """
        self._check_open()
        return Pipeline(self, sync_each=sync_each, timeout=timeout)

    def cursor(
        self,
        query: str,
        *args: Any,
        prefetch: int | None = None,
        timeout: float | None = None,
        record_class: type[Record] | None = None,
        row_factory: RowShape | None = None,
    ) -> CursorFactory:
        """A cursor over `query` (portal-based; needs a transaction)."""
        shape = self._pick_record_class(record_class, row_factory)
        return CursorFactory(self, query, None, args, prefetch, timeout, shape)

    def transaction(
        self,
        *,
        isolation: str | None = None,
        readonly: bool = False,
        deferrable: bool = False,
    ) -> Transaction:
        """A transaction (a savepoint when nested) as an async context manager.

        While one task's block is open, another running task cannot open one on
        this connection (it would silently share the first one's fate).
        """
        return Transaction(self, isolation, readonly, deferrable)

    # -- COPY (pgjet.copy; asyncpg's methods in pgjet._copy_api) ------------------------

    def copy_in(
        self, sql: str, *, types: Sequence[str | int] | None = None, timeout: float | None = None
    ) -> CopyIn:
        """``async with conn.copy_in("COPY t (a, b) FROM STDIN") as copy: await copy.write_row(r)``.

        Binary COPY unless the statement names a format; column types are read
        from the table (or given as ``types``: type names or OIDs).
        """
        return CopyIn(self, sql, rows=True, types=types, timeout=timeout)

    def copy_in_raw(self, sql: str, *, timeout: float | None = None) -> CopyIn:
        """As :meth:`copy_in`, writing raw data in the statement's format: ``copy.write(b)``."""
        return CopyIn(self, sql, rows=False, timeout=timeout)

    def copy_out(
        self, sql: str, *, types: Sequence[str | int] | None = None, timeout: float | None = None
    ) -> CopyOut:
        """``async for row in conn.copy_out("COPY (...) TO STDOUT")``: decoded rows (tuples)."""
        return CopyOut(self, sql, rows=True, types=types, timeout=timeout)

    def copy_out_raw(self, sql: str, *, timeout: float | None = None) -> CopyOut:
        """``async for chunk in conn.copy_out_raw(sql)``: the COPY data as bytes chunks."""
        return CopyOut(self, sql, rows=False, timeout=timeout)

    async def copy_records_to_table(
        self,
        table_name: str,
        *,
        records: Iterable[Sequence[Any]] | AsyncIterable[Sequence[Any]],
        columns: Sequence[str] | None = None,
        schema_name: str | None = None,
        timeout: float | None = None,
        where: str | None = None,
    ) -> str:
        """Copy rows (an iterable or async iterable) into a table with binary COPY."""
        self._check_open()
        return await _copy_api.copy_records_to_table(
            self,
            table_name,
            records=records,
            columns=columns,
            schema_name=schema_name,
            timeout=timeout,
            where=where,
        )

    async def copy_to_table(
        self,
        table_name: str,
        *,
        source: Any,
        columns: Sequence[str] | None = None,
        schema_name: str | None = None,
        timeout: float | None = None,
        where: str | None = None,
        **options: Any,
    ) -> str:
        """Copy data (bytes, a path, a file object, an (async) iterable of bytes) into a table.

        ``options`` are asyncpg's: format, oids, freeze, delimiter, null, header,
        quote, escape, force_quote, force_not_null, force_null, encoding.
        """
        self._check_open()
        return await _copy_api.copy_to_table(
            self,
            table_name,
            source=source,
            columns=columns,
            schema_name=schema_name,
            timeout=timeout,
            where=where,
            **options,
        )

    async def copy_from_table(
        self,
        table_name: str,
        *,
        output: Any,
        columns: Sequence[str] | None = None,
        schema_name: str | None = None,
        timeout: float | None = None,
        **options: Any,
    ) -> str:
        """Copy a table to ``output``: a path, a file object, or an (async) callable."""
        self._check_open()
        return await _copy_api.copy_from_table(
            self,
            table_name,
            output=output,
            columns=columns,
            schema_name=schema_name,
            timeout=timeout,
            **options,
        )

    async def copy_from_query(
        self, query: str, *args: Any, output: Any, timeout: float | None = None, **options: Any
    ) -> str:
        """Copy a query's result to ``output`` (arguments are inlined as typed literals)."""
        self._check_open()
        return await _copy_api.copy_from_query(
            self, query, args, output=output, timeout=timeout, **options
        )

    # -- LISTEN / NOTIFY (pgjet.listen) --------------------------------------------------

    async def add_listener(self, channel: str, callback: ListenerCallback) -> None:
        """Call ``callback(connection, pid, channel, payload)`` for every NOTIFY on `channel`."""
        self._check_open()
        if await self._engine.check_pooler(self._engine.command_timeout):
            raise errors.InterfaceError(
                "LISTEN cannot work through a connection pooler: notifications are "
                "delivered to one server session, which the pooler shares and swaps; "
                "connect to the server directly to listen"
            )
        await self._notifications.add_listener(channel, callback)

    async def remove_listener(self, channel: str, callback: ListenerCallback) -> None:
        await self._notifications.remove_listener(channel, callback)

    def notifies(
        self, *, timeout: float | None = None, stop_after: int | None = None
    ) -> AsyncIterator[Notification]:
        """``async for n in conn.notifies()``: notifications of the channels LISTENed to.

        None is lost between iterations (bounded backlog: see pgjet.listen).
        """
        return self._notifications.notifies(timeout=timeout, stop_after=stop_after)

    # -- type codecs (pgjet.introspection) ------------------------------------------------

    async def set_type_codec(
        self,
        typename: str,
        *,
        schema: str = "public",
        encoder: Callable[[Any], Any],
        decoder: Callable[[Any], Any],
        format: str = "text",
    ) -> None:
        """Exchange `typename` through ``encoder``/``decoder`` (asyncpg's semantics).

        ``format`` is the exchange datum: ``'text'`` (str), ``'binary'`` (bytes)
        or ``'tuple'`` (date/time types and composites). Per connection.
        """
        self._check_open()
        await self._types.set_type_codec(self._engine, typename, schema, encoder, decoder, format)
        self._stmt_cache.clear()  # their codecs changed

    async def reset_type_codec(self, typename: str, *, schema: str = "public") -> None:
        """Back to pgjet's own codec for `typename`."""
        self._check_open()
        await self._types.reset_type_codec(self._engine, typename, schema)
        self._stmt_cache.clear()

    async def set_builtin_type_codec(
        self,
        typename: str,
        *,
        schema: str = "public",
        codec_name: str,
        format: str | None = None,
    ) -> None:
        """Exchange `typename` with a builtin codec (``"int4"``, ``"pg_contrib.hstore"``...)."""
        self._check_open()
        await self._types.set_builtin_type_codec(self._engine, typename, schema, codec_name, format)
        self._stmt_cache.clear()

    def set_infinity_mapping(
        self, infinity: str | tuple[Any, Any] = "asyncpg", *, out_of_range: str = "raise"
    ) -> None:
        """How ±infinity dates/timestamps and years outside 1..9999 map (docs/types.md)."""
        self._types.set_datetime_mapping(DateTimeMapping(infinity, out_of_range))
        self._stmt_cache.clear()  # their codecs changed

    async def reload_schema_state(self) -> None:
        """Forget the types read from the catalog and the cached statements."""
        self._types.reload()
        self._stmt_cache.clear()

    def _share_type_catalog(self, shared: SharedTypeCatalogs) -> None:
        """Read types once for all connections of a pool to the same server."""
        self._types.use_catalog(shared.for_server((self._addr, self._database)))

    # -- state -------------------------------------------------------------------------

    def get_server_pid(self) -> int:
        return self._core.backend_pid

    def get_server_version(self) -> ServerVersion:
        return self._server_version

    def get_settings(self) -> ConnectionSettings:
        return ConnectionSettings(self._core.parameters)

    @property
    def statement_mode(self) -> str:
        """``"named"`` (server-side prepared statements) or ``"unnamed"`` (one round trip).

        What ``prepared_statements="auto"`` chose so far: it turns to
        ``"unnamed"`` when a pooler is detected.
        """
        return "named" if self._engine.named else "unnamed"

    @property
    def pooler_detected(self) -> bool:
        """Whether a connection pooler was found between us and the server."""
        return self._engine.pooler_detected

    def is_in_transaction(self) -> bool:
        return self._core.transaction_status != "I"

    def is_closed(self) -> bool:
        return self._closed or self._wire.closed

    # -- listeners -----------------------------------------------------------------------

    def add_log_listener(self, callback: LogListener) -> None:
        self._log_listeners.append(callback)

    def remove_log_listener(self, callback: LogListener) -> None:
        with contextlib.suppress(ValueError):
            self._log_listeners.remove(callback)

    def add_termination_listener(self, callback: TerminationListener) -> None:
        self._termination_listeners.append(callback)

    def remove_termination_listener(self, callback: TerminationListener) -> None:
        with contextlib.suppress(ValueError):
            self._termination_listeners.remove(callback)

    def add_query_logger(self, callback: QueryLogger) -> None:
        self._query_loggers.append(callback)

    def remove_query_logger(self, callback: QueryLogger) -> None:
        with contextlib.suppress(ValueError):
            self._query_loggers.remove(callback)

    @contextlib.contextmanager
    def query_logger(self, callback: QueryLogger) -> Iterator[QueryLogger]:
        self.add_query_logger(callback)
        try:
            yield callback
        finally:
            self.remove_query_logger(callback)

    # -- closing -------------------------------------------------------------------------

    async def close(self, *, timeout: float | None = None) -> None:
        """Say goodbye to the server (Terminate) and close the socket."""
        if self.is_closed():
            self._closed = True
            return
        self._closed = True
        transport = self._wire.transport
        try:
            self._core.out.terminate()
            self._wire.flush_output()
        finally:
            if transport is not None:
                transport.close()

    def terminate(self) -> None:
        """Close the socket at once, without telling the server."""
        self._closed = True
        if self._wire.transport is not None:
            self._wire.transport.abort()

    def _pick_record_class(
        self, record_class: type[Record] | None, row_factory: RowShape | None = None
    ) -> Any:
        """The rows' shape for a call: its `record_class` or `row_factory` (checked), else
        the connection's."""
        if row_factory is not None:
            if record_class is not None:
                raise errors.InterfaceError("pass record_class or row_factory, not both")
            problem = row_factory_error(row_factory)
            if problem is not None:
                raise errors.InterfaceError(problem)
            return row_factory
        if record_class is None:
            return self._row_shape
        problem = record_class_error(record_class)
        if problem is not None:
            # Checked here: a bad class found while decoding rows would kill the connection.
            raise errors.InterfaceError(problem)
        return record_class

    def _check_open(self) -> None:
        if self.is_closed():
            reason = self._wire.lost_reason
            raise errors.ConnectionDoesNotExistError(
                "connection is closed" if reason is None else f"connection is closed: {reason}"
            )

    async def _cancel(self) -> None:
        """Send a CancelRequest for this connection's backend (errors are ignored)."""
        key = self._core.backend_key
        if key is None:
            return
        host, port = self._addr
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await send_cancel_request(host, port, self._core.backend_pid, key)

    # -- events from the wire --------------------------------------------------------

    def _on_event(self, event: tuple[Any, ...]) -> None:
        kind = event[0]
        if kind == "notice":
            message = errors.notice_from_fields(event[1])
            for listener in list(self._log_listeners):
                _call_soon(self, listener, message)
        elif kind == "notification":
            self._notifications.dispatch(event[1], event[2], event[3])
        elif kind == "error" and self._wire.lost_reason is None:
            # A FATAL error while idle (e.g. pg_terminate_backend): the server
            # closes next. Not a log message (asyncpg does not pass it on
            # either) but the reason the connection is gone.
            self._wire.lost_reason = errors.from_fields(event[1], None)

    def _on_lost(self, exc: BaseException | None) -> None:
        self._closed = True
        self._notifications.connection_lost(exc)
        for listener in list(self._termination_listeners):
            _call_soon(self, listener)

    @contextlib.contextmanager
    def _time_and_log(
        self, query: str, args: Iterable[Any], timeout: float | None
    ) -> Iterator[None]:
        """Time the call and hand a LoggedQuery to every query logger, as asyncpg does.

        Loggers run soon after, not inside the call: a slow or failing logger
        can neither delay the query nor replace its result with its own error.
        """
        if timeout is None:
            timeout = self._engine.command_timeout
        started = time.monotonic()
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            record = LoggedQuery(
                query,
                args,
                timeout,
                time.monotonic() - started,
                error,
                self._addr,
                self._params,
            )
            loop = asyncio.get_running_loop()
            for logger in list(self._query_loggers):
                loop.call_soon(self._run_query_logger, logger, record)

    def _run_query_logger(self, logger: QueryLogger, record: LoggedQuery) -> None:
        result = logger(record)
        if asyncio.iscoroutine(result):
            task = asyncio.get_running_loop().create_task(result)
            self._listener_tasks.add(task)
            task.add_done_callback(self._listener_tasks.discard)

    def __repr__(self) -> str:
        host, port = self._addr
        state = "closed" if self.is_closed() else "open"
        return f"<pgjet.Connection {state} {host}:{port} db={self._database!r} user={self._user!r}>"


def _call_soon(conn: Connection, callback: Callable[..., Any], *args: Any) -> None:
    """Run a listener outside the protocol callback; coroutines become tasks."""
    loop = asyncio.get_running_loop()

    def run() -> None:
        result = callback(conn, *args)
        if asyncio.iscoroutine(result):
            # Keep a reference: the loop holds tasks only weakly.
            task = loop.create_task(result)
            conn._listener_tasks.add(task)
            task.add_done_callback(conn._listener_tasks.discard)

    loop.call_soon(run)

"""Streaming COPY in both directions, with bounded memory.

``conn.copy_in(sql)`` is an async context manager that writes rows (binary
COPY, column types learned from the table) or raw data (``copy_in_raw``);
``conn.copy_out(sql)`` iterates over decoded rows, ``copy_out_raw`` over
bytes. asyncpg's ``copy_*`` methods (:mod:`pgjet._copy_api`) are built on them.

Memory stays flat however many rows go through:

* in: rows are encoded into one CopyData batch of ``batch_bytes``; a full
  batch is written and the writer waits for the socket to drain;
* out: the core hands CopyData over in chunks; past ``high_water`` bytes not
  yet consumed, reading from the socket pauses until the consumer catches up.

Failure rules: a row that cannot be encoded (wrong type, NUL in text, wrong
length) raises :class:`CopyRowError` naming its row and column; that error,
the server's, or any exception raised inside ``async with`` (or by a records
iterator) ends the COPY with CopyFail, so the server keeps none of it, and the
connection stays usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterable, Awaitable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from pgjet import errors
from pgjet._copy_columns import named_types, table_columns
from pgjet._copy_sql import CopyStatement, parse_copy, with_format
from pgjet._copy_text import text_row
from pgjet._wire.buffer import WriteBuffer
from pgjet._wire.codecs import Codec, get_codec
from pgjet._wire.core import CopyDecoder, CopyEncoder, CopyInOp, CopyOutOp
from pgjet._wire.core import CopyRowError as _CoreRowError

if TYPE_CHECKING:
    from pgjet.connection import Connection

__all__ = ["CopyIn", "CopyOut", "CopyRowError"]

# One CopyData batch: large enough to amortize the per-write cost, small
# enough that memory does not depend on the number of rows.
BATCH_BYTES = 256 * 1024
# COPY OUT data received but not consumed yet before reading pauses.
HIGH_WATER = 256 * 1024

_T = TypeVar("_T")


class CopyRowError(errors.InvalidQueryInputError):
    """A COPY row could not be encoded. ``row`` and ``column`` are 1-based.

    ``column`` is None when the row as a whole is wrong (its length or type).
    A ``DataError`` (SQLSTATE 22000), like asyncpg's errors for bad arguments.
    """

    def __init__(self, msg: str, *, row: int, column: int | None, column_name: str | None):
        super().__init__(msg)
        self.row = row
        self.column = column
        self.column_name = column_name


# -- what both directions share --------------------------------------------------------------


class _CopyExchange:
    """One COPY on a connection: its statement, deadline, column types and outcome."""

    def __init__(
        self,
        conn: Connection,
        sql: str,
        *,
        rows: bool,
        types: Sequence[str | int] | None,
        timeout: float | None,
    ) -> None:
        self._conn = conn
        self._sql = sql
        self._rows = rows  # rows encoded or decoded here; else raw data
        self._types = types
        self._timeout = timeout if timeout is not None else conn._engine.command_timeout
        self._deadline: float | None = None
        self._op: Any = None
        self._ended = False
        self.status: str | None = None

    def _start_clock(self) -> None:
        if self._timeout is not None:
            self._deadline = asyncio.get_running_loop().time() + self._timeout

    def _time_left(self) -> float | None:
        if self._deadline is None:
            return None
        return max(self._deadline - asyncio.get_running_loop().time(), 1e-6)

    def _bounded(self, aw: Awaitable[_T]) -> Awaitable[_T]:
        """`aw`, cut short at the COPY's deadline (with asyncio.TimeoutError)."""
        if self._deadline is None:
            return aw
        return asyncio.wait_for(aw, self._time_left())

    def _parse(self, direction: str) -> tuple[CopyStatement, str, str | None]:
        """The user's COPY, the SQL to send for it, and its format (None: text).

        A statement naming neither a format nor other options is sent as binary.
        """
        stmt = parse_copy(self._sql)
        _check_stdio(stmt, direction)
        if stmt.format is None and not stmt.has_options:
            return stmt, with_format(self._sql, stmt, "binary"), "binary"
        return stmt, self._sql, stmt.format

    async def _known_columns(self, stmt: CopyStatement) -> tuple[list[str], list[Codec]] | None:
        """Column names and codecs from ``types=`` or from the table; None for a query."""
        if self._types is not None:
            codecs = await named_types(self._conn, self._types, self._time_left())
            return [str(t) for t in self._types], codecs
        if stmt.table is not None:
            return await table_columns(self._conn, stmt.table, stmt.columns, self._time_left())
        return None

    def _raise_outcome(self, query: str) -> None:
        """Raise what ended the operation early (the server's error, a lost connection).

        `query` is the SQL as sent, which the server's error positions refer to.
        """
        op = self._op
        fut = op.waiter
        if fut.done() and not fut.cancelled() and fut.exception() is not None:
            raise fut.exception()
        if op.error_fields is not None:
            raise self._conn._engine.error(op.error_fields, query)


def _check_stdio(stmt: CopyStatement, direction: str) -> None:
    expected = "FROM STDIN" if direction == "from" else "TO STDOUT"
    if stmt.direction != direction or not stmt.stdio:
        raise errors.InterfaceError(f"this call needs a COPY ... {expected} statement")


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


# -- COPY FROM STDIN -------------------------------------------------------------------------


async def _hold_wire(conn: Connection) -> None:
    """Wait until no other exchange (executemany, COPY) holds the wire."""
    conn._check_open()
    await conn._wire.wait_exclusive_free()


class CopyIn(_CopyExchange):
    """``async with conn.copy_in(sql) as copy:`` — write rows or data, COPY on exit.

    Leaving the block normally ends the COPY (CopyDone) and waits for the
    server; ``copy.status`` then holds its tag (``"COPY 3"``). Leaving it with
    an exception aborts the COPY server-side (CopyFail) and re-raises.
    """

    def __init__(
        self,
        conn: Connection,
        sql: str,
        *,
        rows: bool,
        types: Sequence[str | int] | None = None,
        timeout: float | None = None,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        super().__init__(conn, sql, rows=rows, types=types, timeout=timeout)
        self._batch_bytes = batch_bytes
        self._encoder: Any = None
        self._names: list[str] = []
        self._held = False
        self._failed: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> CopyIn:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.finish()
        else:
            await self.abort(exc)

    async def start(self) -> None:
        conn = self._conn
        conn._check_open()
        if self._op is not None:
            raise errors.InterfaceError("this COPY has already started")
        loop = asyncio.get_running_loop()
        self._start_clock()
        sql = self._sql
        if self._rows:
            stmt, sql, fmt = self._parse("from")
            if fmt != "binary":
                raise errors.InterfaceError(
                    "copy_in() writes rows in binary COPY format; this statement asks for "
                    f"{fmt or 'text'} (send such data with copy_in_raw())"
                )
            columns = await self._known_columns(stmt)
            if columns is None:  # pragma: no cover - parse_copy always finds a table for FROM
                raise errors.InterfaceError("cannot find the table of this COPY")
            self._names, codecs = columns
            self._encoder = CopyEncoder(codecs, self._batch_bytes)
        else:
            self._encoder = CopyEncoder([], self._batch_bytes)
        await _hold_wire(conn)
        started: asyncio.Future[None] = loop.create_future()

        def on_start(_: Any) -> None:
            if not started.done():
                started.set_result(None)

        op = CopyInOp(on_start)
        wire = conn._wire
        conn._core.out.query(sql)
        wire.begin_exclusive(op)  # nothing else may reach the server until CopyDone
        self._op = op
        self._held = True
        try:
            waiter: asyncio.Future[Any] = op.waiter
            done, _ = await asyncio.wait(
                [started, waiter],
                timeout=self._time_left(),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                raise asyncio.TimeoutError("the COPY did not start within its timeout")
        except BaseException as exc:
            started.cancel()
            await self.abort(exc)
            raise
        if not op.started:
            # The statement failed before copying (no such table, a syntax error).
            self._stop_sending()
            await conn._engine.wait(op, self._time_left())
            self._raise_outcome(sql)
            raise errors.InterfaceError("the statement is not a COPY ... FROM STDIN")
        if self._rows:
            self._encoder.write_header()

    async def finish(self) -> str:
        """End the COPY; return its status tag. Raises what went wrong, if anything."""
        if self._failed is not None:
            await self.abort(self._failed)
            raise self._failed
        if self._ended:
            return self.status or ""
        op = self._check_started()
        conn = self._conn
        if self._rows:
            self._encoder.write_trailer()
        data = self._encoder.take()
        if not op.waiter.done():
            conn._wire.write_exclusive(data + _COPY_DONE)
        self._stop_sending()
        await conn._engine.wait(op, self._time_left())
        if op.error_fields is not None:
            raise conn._engine.error(op.error_fields, self._sql)
        self.status = op.status
        return op.status or ""

    async def abort(self, exc: BaseException) -> None:
        """End the COPY with CopyFail (the server keeps nothing of it)."""
        op = self._op
        if self._ended or op is None:
            return
        self._ended = True
        if self._held and not op.waiter.done():
            fail = WriteBuffer()
            fail.copy_fail(_fail_message(exc))
            self._conn._wire.write_exclusive(fail.take())
        self._stop_sending()
        if isinstance(exc, asyncio.CancelledError):
            # No waiting while being cancelled: the server answers the
            # CopyFail by itself and the operation ends in the background.
            op.waiter.add_done_callback(_consume)
            return
        if isinstance(exc, asyncio.TimeoutError):
            self._conn._engine.abandon(op)  # the server may be stuck: cancel it
            return
        # The server answers our CopyFail with an error: the caller raises its own.
        with contextlib.suppress(errors.PostgresError, errors.InterfaceError, asyncio.TimeoutError):
            await self._conn._engine.wait(op, self._conn._engine.cancel_grace)

    # -- writing ---------------------------------------------------------------------

    async def write_row(self, row: Sequence[Any]) -> None:
        """Encode one row (a sequence, one value per column; None is NULL)."""
        encoder = self._writable(rows=True)
        try:
            full = encoder.add_row(row)
        except _CoreRowError as exc:
            raise self._row_failed(exc) from exc.error
        if full:
            await self._flush()

    async def write_rows(
        self, rows: Iterable[Sequence[Any]] | AsyncIterable[Sequence[Any]]
    ) -> None:
        """Encode rows from an iterable or async iterable, sending batch by batch.

        An exception raised by the iterable aborts the COPY (when the block
        exits) and propagates unchanged.
        """
        encoder = self._writable(rows=True)
        if isinstance(rows, AsyncIterable):
            add_row = encoder.add_row
            async for row in rows:
                try:
                    full = add_row(row)
                except _CoreRowError as exc:
                    raise self._row_failed(exc) from exc.error
                if full:
                    await self._flush()
            return
        iterator = iter(rows)
        while True:
            try:
                exhausted = encoder.add_rows(iterator)
            except _CoreRowError as exc:
                raise self._row_failed(exc) from exc.error
            if exhausted:
                return
            await self._flush()

    async def write(self, data: bytes | bytearray | memoryview | str) -> None:
        """Raw COPY data in the statement's format (str is sent as UTF-8)."""
        encoder = self._writable(rows=False)
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif not isinstance(data, (bytes, bytearray, memoryview)):
            raise errors.InterfaceError(
                f"COPY data must be bytes, bytearray, memoryview or str, not {type(data).__name__}"
            )
        encoder.write_raw(data)
        if len(encoder) >= self._batch_bytes:
            await self._flush()

    async def _flush(self) -> None:
        op = self._check_started()
        if op.waiter.done():
            # The server gave up early (a constraint, a bad value): stop sending.
            self._stop_sending()
            self._raise_outcome(self._sql)
        wire = self._conn._wire
        wire.write_exclusive(self._encoder.take())
        await self._bounded(wire.drain())

    # -- internals ---------------------------------------------------------------------

    def _writable(self, *, rows: bool) -> Any:
        if self._failed is not None:
            raise errors.InterfaceError(
                "this COPY was aborted by an earlier bad row; nothing of it will be stored"
            ) from self._failed
        if self._ended:
            raise errors.InterfaceError("this COPY has ended")
        self._check_started()
        if rows != self._rows:
            raise errors.InterfaceError(
                "write_row()/write_rows() need copy_in(); write() needs copy_in_raw()"
            )
        return self._encoder

    def _check_started(self) -> Any:
        if self._op is None:
            raise errors.InterfaceError("the COPY has not started: use `async with`")
        return self._op

    def _row_failed(self, exc: _CoreRowError) -> CopyRowError:
        column = exc.column
        name = (
            self._names[column - 1] if column is not None and column <= len(self._names) else None
        )
        where = f"row {exc.row}" if column is None else f"row {exc.row}, column {column}"
        if name is not None:
            where += f" ({name})"
        error = CopyRowError(
            f"invalid input for COPY {where}: {exc.error}",
            row=exc.row,
            column=column,
            column_name=name,
        )
        self._failed = error
        return error

    def _stop_sending(self) -> None:
        """The COPY is over on this side: let other queries use the wire again."""
        self._ended = True
        if self._held:
            self._held = False
            self._conn._wire.end_exclusive()


# CopyDone: type 'c', length 4, no body.
_COPY_DONE = b"c\x00\x00\x00\x04"


def _fail_message(exc: BaseException) -> str:
    text = f"COPY aborted by the client: {type(exc).__name__}: {exc}".replace("\x00", "\\0")
    return text[:1000]


# -- COPY TO STDOUT -----------------------------------------------------------------------


class _OutFlow:
    """What a CopyOutOp calls back into: wakes the consumer, pauses reading.

    Kept apart from :class:`CopyOut` so that the operation (queued in the
    core) holds no reference to the user's object: dropping it mid-iteration
    lets a finalizer stop the flow.
    """

    __slots__ = ("paused", "transport", "wakeup", "wire")

    def __init__(self, wire: Any) -> None:
        self.wire = wire
        self.transport = wire.transport
        self.paused = False
        self.wakeup: asyncio.Future[None] | None = None

    def on_data(self, op: Any) -> None:
        if self.wire.core.wants_flush:  # a CopyFail for an unexpected COPY FROM STDIN
            self.wire.core.wants_flush = False
            self.wire.flush_output()
        if op.buffered >= op.high_water and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self.wake()

    def wake(self, _: object = None) -> None:
        w = self.wakeup
        if w is not None and not w.done():
            w.set_result(None)

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()


def _stop_flow(conn_ref: weakref.ref[Connection], op: Any, flow: _OutFlow) -> None:
    """The consumer is gone: drop the rest of the data and stop the query."""
    if op.waiter is None or op.waiter.done():
        flow.resume()
        return
    op.discard = True
    op.take()
    flow.resume()
    conn = conn_ref()
    if conn is None:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        op.waiter.add_done_callback(_consume)
        return
    conn._engine.abandon(op)


class CopyOut(_CopyExchange):
    """``async for row in conn.copy_out(sql)`` — rows (tuples) or, raw, bytes chunks.

    Rows of a binary COPY are decoded with the columns' binary codecs (types
    learned from the table or query); a statement naming no format is run in
    binary. ``FORMAT text`` (with no other option) gives tuples of str/None.
    ``timeout`` bounds the whole COPY. Leaving the loop early stops the COPY
    server-side; the connection stays usable.
    """

    def __init__(
        self,
        conn: Connection,
        sql: str,
        *,
        rows: bool,
        types: Sequence[str | int] | None = None,
        timeout: float | None = None,
        high_water: int = HIGH_WATER,
    ) -> None:
        super().__init__(conn, sql, rows=rows, types=types, timeout=timeout)
        self._high_water = high_water
        self._flow: _OutFlow | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._decoder: Any = None
        self._text_rest = b""
        self._ready: list[Any] = []
        self._ready_pos = 0

    def __aiter__(self) -> CopyOut:
        return self

    async def __anext__(self) -> Any:
        if self._ready_pos < len(self._ready):
            item = self._ready[self._ready_pos]
            self._ready_pos += 1
            return item
        while True:
            chunks = await self._next_chunks()
            if chunks is None:
                raise StopAsyncIteration
            if not self._rows:
                return b"".join(chunks)
            self._ready = self._decode(chunks)
            self._ready_pos = 0
            if self._ready:
                self._ready_pos = 1
                return self._ready[0]

    async def __aenter__(self) -> CopyOut:
        await self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop early (the rest of the data is dropped and the query cancelled)."""
        if self._finalizer is not None:
            self._finalizer()
        self._ended = True

    # -- internals ---------------------------------------------------------------------

    async def _start(self) -> None:
        if self._op is not None:
            return
        conn = self._conn
        conn._check_open()
        self._start_clock()
        sql = self._sql
        if self._rows:
            sql = await self._prepare_rows()
        flow = _OutFlow(conn._wire)
        op = CopyOutOp(flow.on_data, self._high_water)
        conn._core.out.query(sql)
        conn._wire.send(op)
        op.waiter.add_done_callback(flow.wake)
        self._op = op
        self._flow = flow
        self._finalizer = weakref.finalize(self, _stop_flow, weakref.ref(conn), op, flow)

    async def _prepare_rows(self) -> str:
        stmt, sql, fmt = self._parse("to")
        if fmt == "binary":
            self._decoder = CopyDecoder(await self._codecs(stmt))
        elif fmt != "text" or _has_other_options(stmt):
            raise errors.InterfaceError(
                "copy_out() decodes rows of binary COPY or of text COPY without options; "
                "use copy_out_raw() for CSV or custom delimiters"
            )
        return sql

    async def _codecs(self, stmt: CopyStatement) -> list[Codec]:
        columns = await self._known_columns(stmt)
        if columns is not None:
            return columns[1]
        conn = self._conn
        assert stmt.query is not None
        state = await conn._engine.prepare(
            stmt.query, conn._record_class, self._time_left(), named=False
        )
        oids = [oid for _, oid in state.columns]
        codecs = [get_codec(oid) for oid in oids]
        if all(c.format == 1 for c in codecs):
            return codecs
        # Enums (binary form = label) or types without a binary codec: ask the catalog.
        return await named_types(conn, oids, self._time_left())

    async def _next_chunks(self) -> list[bytes] | None:
        if self._ended:
            return None
        await self._start()
        op, flow = self._op, self._flow
        assert flow is not None
        while True:
            chunks = op.take()
            if chunks:
                flow.resume()
                return chunks  # type: ignore[no-any-return]
            if op.waiter.done():
                self._end()
                return None
            flow.wakeup = asyncio.get_running_loop().create_future()
            try:
                await self._bounded(flow.wakeup)
            except asyncio.TimeoutError:
                await self.aclose()
                raise asyncio.TimeoutError(
                    "the COPY did not finish within its timeout and was cancelled"
                ) from None
            except asyncio.CancelledError:
                await self.aclose()
                raise

    def _end(self) -> None:
        self._ended = True
        op = self._op
        if self._finalizer is not None:
            self._finalizer.detach()
        assert self._flow is not None
        self._flow.resume()
        self._raise_outcome(self._sql)
        if self._decoder is not None and not self._decoder.finished:
            raise errors.ProtocolError("the binary COPY data ended without its trailer")
        self.status = op.status

    def _decode(self, chunks: list[bytes]) -> list[Any]:
        decoder = self._decoder
        if decoder is not None:
            out: list[Any] = []
            for chunk in chunks:
                out.extend(decoder.feed(chunk))
            return out
        data = self._text_rest + b"".join(chunks)
        lines = data.split(b"\n")
        self._text_rest = lines.pop()
        return [text_row(line) for line in lines]


def _has_other_options(stmt: CopyStatement) -> bool:
    # Only "(FORMAT text)" keeps the default delimiter and NULL marker.
    return any(name != "format" for name in stmt.options)

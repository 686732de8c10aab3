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
from collections.abc import AsyncIterable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pgjet import errors
from pgjet._copy_sql import CopyStatement, parse_copy, with_format
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

_COLUMNS_SQL = """
SELECT a.attname::text, b.oid, b.typtype::text, a.attgenerated <> ''
FROM pg_catalog.pg_attribute a
CROSS JOIN LATERAL (
    WITH RECURSIVE d(oid, base, typtype, depth) AS (
        SELECT t.oid, t.typbasetype, t.typtype, 0
        FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid
        UNION ALL
        SELECT t.oid, t.typbasetype, t.typtype, d.depth + 1
        FROM pg_catalog.pg_type t JOIN d ON t.oid = d.base WHERE d.typtype = 'd')
    SELECT oid, typtype FROM d ORDER BY depth DESC LIMIT 1) b
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_TYPES_SQL = """
SELECT b.oid, b.typtype::text
FROM unnest($1::text[]) WITH ORDINALITY AS u(name, i)
CROSS JOIN LATERAL (
    WITH RECURSIVE d(oid, base, typtype, depth) AS (
        SELECT t.oid, t.typbasetype, t.typtype, 0
        FROM pg_catalog.pg_type t WHERE t.oid = u.name::regtype
        UNION ALL
        SELECT t.oid, t.typbasetype, t.typtype, d.depth + 1
        FROM pg_catalog.pg_type t JOIN d ON t.oid = d.base WHERE d.typtype = 'd')
    SELECT oid, typtype FROM d ORDER BY depth DESC LIMIT 1) b
ORDER BY u.i
"""


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


# -- column types ------------------------------------------------------------------------


async def table_columns(
    conn: Connection, table: str, columns: Sequence[str] | None, timeout: float | None
) -> tuple[list[str], list[Codec]]:
    """Names and binary codecs of the columns a COPY of `table` moves, in order."""
    rows = await conn.fetch(_COLUMNS_SQL, table, timeout=timeout)
    found = {r[0]: (r[1], r[2]) for r in rows}
    if columns is None:
        names = [r[0] for r in rows if not r[3]]  # COPY skips generated columns
    else:
        names = list(columns)
        for name in names:
            if name not in found:
                raise errors.from_fields(
                    {
                        "S": "ERROR",
                        "C": "42703",
                        "M": f'column "{name}" of relation {table} does not exist',
                    },
                    None,
                )
    codecs = [_binary_codec(found[n][0], found[n][1], n) for n in names]
    return names, codecs


async def named_types(
    conn: Connection, types: Sequence[str | int], timeout: float | None
) -> list[Codec]:
    """Binary codecs for type names (``"int4"``, ``"public.mood"``) or OIDs."""
    names = [str(t) if isinstance(t, int) else t for t in types]
    for t in types:
        if not isinstance(t, (str, int)) or isinstance(t, bool):
            raise errors.InterfaceError(f"types must be type names or OIDs, not {t!r}")
    rows = await conn.fetch(_TYPES_SQL, names, timeout=timeout)
    return [_binary_codec(r[0], r[1], str(t)) for r, t in zip(rows, types, strict=True)]


def _binary_codec(oid: int, typtype: str, column: str) -> Codec:
    codec = get_codec(oid)
    # An enum's binary form is its label, which the text codec writes and reads.
    if codec.format != 1 and typtype != "e":
        raise errors.UnsupportedClientFeatureError(
            f"column {column!r} has type {codec.name or oid} (oid {oid}), which pgjet has "
            "no binary codec for, so it cannot take part in a binary COPY",
            hint="use COPY in text or CSV format (copy_in_raw / copy_out_raw / "
            "copy_to_table / copy_from_query) for this table",
        )
    return codec


# -- the wire -------------------------------------------------------------------------------


async def _hold_wire(conn: Connection) -> None:
    """Wait until no other exchange (executemany, COPY) holds the wire."""
    conn._check_open()
    await conn._wire.wait_exclusive_free()


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(deadline - asyncio.get_running_loop().time(), 1e-6)


def _raise_outcome(conn: Connection, op: Any, query: str) -> None:
    """Raise what ended `op` early (the server's error, a lost connection)."""
    fut = op.waiter
    if fut.done() and not fut.cancelled() and fut.exception() is not None:
        raise fut.exception()
    if op.error_fields is not None:
        raise conn._engine.error(op.error_fields, query)


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


# -- COPY FROM STDIN -------------------------------------------------------------------------


class CopyIn:
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
        self._conn = conn
        self._sql = sql
        self._rows = rows
        self._types = types
        self._timeout = timeout if timeout is not None else conn._engine.command_timeout
        self._batch_bytes = batch_bytes
        self._deadline: float | None = None
        self._encoder: Any = None
        self._names: list[str] = []
        self._op: Any = None
        self._held = False
        self._failed: BaseException | None = None
        self._done = False
        self.status: str | None = None

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
        if self._timeout is not None:
            self._deadline = loop.time() + self._timeout
        sql = self._sql
        if self._rows:
            stmt = parse_copy(sql)
            _check_stdio(stmt, "from")
            if stmt.format is None and not stmt.has_options:
                sql = with_format(sql, stmt, "binary")
            elif stmt.format != "binary":
                raise errors.InterfaceError(
                    "copy_in() writes rows in binary COPY format; this statement asks for "
                    f"{stmt.format or 'text'} (send such data with copy_in_raw())"
                )
            if self._types is not None:
                codecs = await named_types(conn, self._types, _remaining(self._deadline))
                self._names = [str(t) for t in self._types]
            elif stmt.table is not None:
                self._names, codecs = await table_columns(
                    conn, stmt.table, stmt.columns, _remaining(self._deadline)
                )
            else:  # pragma: no cover - parse_copy always finds a table for FROM
                raise errors.InterfaceError("cannot find the table of this COPY")
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
                timeout=_remaining(self._deadline),
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
            self._release()
            self._done = True
            await conn._engine.wait(op, _remaining(self._deadline))
            _raise_outcome(conn, op, sql)
            raise errors.InterfaceError("the statement is not a COPY ... FROM STDIN")
        if self._rows:
            self._encoder.write_header()

    async def finish(self) -> str:
        """End the COPY; return its status tag. Raises what went wrong, if anything."""
        if self._failed is not None:
            await self.abort(self._failed)
            raise self._failed
        if self._done:
            return self.status or ""
        op = self._check_started()
        conn = self._conn
        if self._rows:
            self._encoder.write_trailer()
        data = self._encoder.take()
        if not op.waiter.done():
            conn._wire.write_exclusive(data + _COPY_DONE)
        self._release()
        self._done = True
        await conn._engine.wait(op, _remaining(self._deadline))
        if op.error_fields is not None:
            raise conn._engine.error(op.error_fields, self._sql)
        self.status = op.status
        return op.status or ""

    async def abort(self, exc: BaseException) -> None:
        """End the COPY with CopyFail (the server keeps nothing of it)."""
        op = self._op
        if self._done or op is None:
            return
        self._done = True
        if self._held:
            if not op.waiter.done():
                fail = WriteBuffer()
                fail.copy_fail(_fail_message(exc))
                self._conn._wire.write_exclusive(fail.take())
            self._release()
        if isinstance(exc, asyncio.CancelledError):
            # No waiting while being cancelled: the server answers the
            # CopyFail by itself and the operation ends in the background.
            op.waiter.add_done_callback(_consume)
            return
        if isinstance(exc, asyncio.TimeoutError):
            self._conn._engine._abandon(op)  # the server may be stuck: cancel it
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
            self._release()
            self._done = True
            _raise_outcome(self._conn, op, self._sql)
        wire = self._conn._wire
        wire.write_exclusive(self._encoder.take())
        if self._deadline is None:
            await wire.drain()
        else:
            await asyncio.wait_for(wire.drain(), _remaining(self._deadline))

    # -- internals ---------------------------------------------------------------------

    def _writable(self, *, rows: bool) -> Any:
        if self._failed is not None:
            raise errors.InterfaceError(
                "this COPY was aborted by an earlier bad row; nothing of it will be stored"
            ) from self._failed
        if self._done:
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

    def _release(self) -> None:
        if self._held:
            self._held = False
            self._conn._wire.end_exclusive()


# CopyDone: type 'c', length 4, no body.
_COPY_DONE = b"c\x00\x00\x00\x04"


def _fail_message(exc: BaseException) -> str:
    text = f"COPY aborted by the client: {type(exc).__name__}: {exc}".replace("\x00", "\\0")
    return text[:1000]


def _check_stdio(stmt: CopyStatement, direction: str) -> None:
    expected = "FROM STDIN" if direction == "from" else "TO STDOUT"
    if stmt.direction != direction or not stmt.stdio:
        raise errors.InterfaceError(f"this call needs a COPY ... {expected} statement")


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
    conn._engine._abandon(op)


class CopyOut:
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
        self._conn = conn
        self._sql = sql
        self._rows = rows
        self._types = types
        self._timeout = timeout if timeout is not None else conn._engine.command_timeout
        self._high_water = high_water
        self._deadline: float | None = None
        self._op: Any = None
        self._flow: _OutFlow | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._decoder: Any = None
        self._text_rest = b""
        self._ready: list[Any] = []
        self._ready_pos = 0
        self._ended = False
        self.status: str | None = None

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
        loop = asyncio.get_running_loop()
        if self._timeout is not None:
            self._deadline = loop.time() + self._timeout
        sql = self._sql
        if self._rows:
            sql = await self._prepare_rows(sql)
        flow = _OutFlow(conn._wire)
        op = CopyOutOp(flow.on_data, self._high_water)
        conn._core.out.query(sql)
        conn._wire.send(op)
        op.waiter.add_done_callback(flow.wake)
        self._op = op
        self._flow = flow
        self._finalizer = weakref.finalize(self, _stop_flow, weakref.ref(conn), op, flow)

    async def _prepare_rows(self, sql: str) -> str:
        stmt = parse_copy(sql)
        _check_stdio(stmt, "to")
        fmt = stmt.format
        if fmt is None and not stmt.has_options:
            sql = with_format(sql, stmt, "binary")
            fmt = "binary"
        if fmt == "binary":
            self._decoder = CopyDecoder(await self._codecs(stmt))
        elif fmt != "text" or _has_other_options(stmt):
            raise errors.InterfaceError(
                "copy_out() decodes rows of binary COPY or of text COPY without options; "
                "use copy_out_raw() for CSV or custom delimiters"
            )
        return sql

    async def _codecs(self, stmt: CopyStatement) -> list[Codec]:
        conn = self._conn
        remaining = _remaining(self._deadline)
        if self._types is not None:
            return await named_types(conn, self._types, remaining)
        if stmt.table is not None:
            return (await table_columns(conn, stmt.table, stmt.columns, remaining))[1]
        assert stmt.query is not None
        state = await conn._engine.prepare(stmt.query, conn._record_class, remaining, named=False)
        oids = [oid for _, oid in state.columns]
        codecs = [get_codec(oid) for oid in oids]
        if all(c.format == 1 for c in codecs):
            return codecs
        # Enums (binary form = label) or types without a binary codec: ask the catalog.
        return await named_types(conn, oids, _remaining(self._deadline))

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
                if self._deadline is None:
                    await flow.wakeup
                else:
                    await asyncio.wait_for(flow.wakeup, _remaining(self._deadline))
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
        _raise_outcome(self._conn, op, self._sql)
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
        return [_text_row(line) for line in lines]


def _has_other_options(stmt: CopyStatement) -> bool:
    # Only "(FORMAT text)" keeps the default delimiter and NULL marker.
    return any(name != "format" for name in stmt.options)


_ESCAPES = {
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("v"): b"\v",
    ord("\\"): b"\\",
}


def _text_row(line: bytes) -> tuple[str | None, ...]:
    """One line of text-format COPY (default delimiter and NULL marker)."""
    return tuple(None if f == b"\\N" else _unescape(f) for f in line.split(b"\t"))


def _unescape(field: bytes) -> str:
    if b"\\" not in field:
        return field.decode("utf-8")
    out = bytearray()
    i, n = 0, len(field)
    while i < n:
        c = field[i]
        if c != 0x5C or i + 1 == n:
            out.append(c)
            i += 1
            continue
        nxt = field[i + 1]
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt]
            i += 2
        elif 0x30 <= nxt <= 0x37:
            j = i + 1
            while j < n and j < i + 4 and 0x30 <= field[j] <= 0x37:
                j += 1
            out.append(int(field[i + 1 : j], 8) & 0xFF)
            i = j
        elif nxt == ord("x") and i + 2 < n and field[i + 2 : i + 3] in b"0123456789abcdefABCDEF":
            j = i + 2
            while j < n and j < i + 4 and field[j : j + 1] in b"0123456789abcdefABCDEF":
                j += 1
            out.append(int(field[i + 2 : j], 16))
            i = j
        else:
            out.append(nxt)
            i += 2
    return out.decode("utf-8")

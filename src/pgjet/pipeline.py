"""Explicit pipelines: ``async with conn.pipeline() as p``.

Statements queued on a pipeline are sent together, in one write, when it
syncs (``await p.sync()``, leaving the block, or awaiting a result that was
not sent yet). By default they share ONE Sync: the server runs them as one
implicit transaction (inside an explicit transaction, as part of it), and an
error skips every later statement up to the Sync, each of which then raises
:class:`~pgjet.errors.PipelineAbortedError`. With ``sync_each=True`` every
statement has a Sync of its own and fails alone, as concurrent calls do.

Statements whose types pgjet does not know yet are described first, all in
one round trip; then the whole pipeline costs one more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pgjet import errors
from pgjet._wire.core import ExecuteOp, Operation, StatementState, SyncOp

if TYPE_CHECKING:
    from pgjet.connection import Connection

T = TypeVar("T")

_CLIENT_INPUT_ERRORS = (errors.InterfaceError, errors.InvalidQueryInputError)
# Errors of the exchange as a whole, not of one statement.
_EXCHANGE_ERRORS = (
    asyncio.CancelledError,
    asyncio.TimeoutError,
    errors.ConnectionDoesNotExistError,
    errors.ProtocolError,
)


class PipelineResult(Generic[T]):
    """The result of one pipelined statement: ``await`` it (sends the pipeline if needed)."""

    __slots__ = ("_future", "_item", "_pipeline")

    def __init__(self, pipeline: Pipeline, item: _Item) -> None:
        self._pipeline = pipeline
        self._item = item
        self._future: asyncio.Future[T] = item.future

    def done(self) -> bool:
        return self._future.done()

    def result(self) -> T:
        """The result (or the statement's error) once the pipeline has synced."""
        self._item.retrieved = True
        return self._future.result()

    def __await__(self) -> Generator[Any, None, T]:
        return self._wait().__await__()

    async def _wait(self) -> T:
        if not self._item.sent:
            await self._pipeline._sync_quietly()
        self._item.retrieved = True
        return await self._future

    def __repr__(self) -> str:
        state = "done" if self._future.done() else "pending"
        return f"<pgjet.PipelineResult {self._item.kind} {self._item.query[:40]!r} {state}>"


@dataclass(eq=False)
class _Item:
    kind: str  # execute | fetch | fetchrow | fetchval
    query: str
    args: Sequence[Any]
    record_class: Any
    future: asyncio.Future[Any]
    column: int | str = 0
    sent: bool = False
    retrieved: bool = False  # its result was asked for
    reported: bool = False  # its error was raised by sync()
    op: ExecuteOp | None = field(default=None, repr=False)


class Pipeline:
    """Queue statements, send them in one write; see the module's docstring."""

    def __init__(
        self, conn: Connection, *, sync_each: bool = False, timeout: float | None = None
    ) -> None:
        self._conn = conn
        self._sync_each = sync_each
        self._timeout = timeout
        self._queued: list[_Item] = []
        self._all: list[_Item] = []
        self._closed = False

    # -- queueing ----------------------------------------------------------------------

    def execute(self, query: str, *args: Any) -> PipelineResult[str]:
        """Queue a command; its result is the status tag (e.g. ``"INSERT 0 1"``)."""
        return self._queue("execute", query, args)

    def fetch(
        self, query: str, *args: Any, record_class: type[Any] | None = None
    ) -> PipelineResult[list[Any]]:
        return self._queue("fetch", query, args, record_class=record_class)

    def fetchrow(
        self, query: str, *args: Any, record_class: type[Any] | None = None
    ) -> PipelineResult[Any]:
        return self._queue("fetchrow", query, args, record_class=record_class)

    def fetchval(self, query: str, *args: Any, column: int | str = 0) -> PipelineResult[Any]:
        return self._queue("fetchval", query, args, column=column)

    def _queue(
        self,
        kind: str,
        query: str,
        args: Sequence[Any],
        *,
        record_class: type[Any] | None = None,
        column: int | str = 0,
    ) -> PipelineResult[Any]:
        if self._closed:
            raise errors.InterfaceError("the pipeline is closed (its block has ended)")
        self._conn._check_open()
        if not isinstance(query, str):
            raise errors.InterfaceError(f"query must be a str, not {type(query).__name__}")
        item = _Item(
            kind,
            query,
            args,
            # fetchval reads one value by index or name: always from a Record.
            self._conn._record_class
            if kind == "fetchval"
            else self._conn._pick_record_class(record_class),
            asyncio.get_running_loop().create_future(),
            column,
        )
        # Nobody may ever look at a result: don't let asyncio warn about it.
        item.future.add_done_callback(_consume)
        self._queued.append(item)
        self._all.append(item)
        return PipelineResult(self, item)

    # -- syncing -----------------------------------------------------------------------

    async def sync(self) -> None:
        """Send everything queued and wait for it; raise the first statement error."""
        items = await self._sync_quietly()
        for item in items:
            item.reported = True
        error = _first_error(items)
        if error is not None:
            raise error

    async def _sync_quietly(self) -> list[_Item]:
        items, self._queued = self._queued, []
        if not items:
            return items
        for item in items:
            item.sent = True
        try:
            await self._run(items)
        except BaseException as exc:
            # The exchange as a whole failed (timeout, cancellation, lost
            # connection): no statement of it may wait forever.
            for item in items:
                if not item.future.done():
                    if isinstance(exc, Exception):
                        item.future.set_exception(exc)
                    else:
                        item.future.cancel()
            raise
        return items

    async def _run(self, items: list[_Item]) -> None:
        engine = self._conn._engine
        loop = asyncio.get_running_loop()
        timeout = engine.command_timeout if self._timeout is None else self._timeout
        deadline = None if timeout is None else loop.time() + timeout
        states = await self._statements(items, deadline)
        unprepared = next((s for s in states if isinstance(s, BaseException)), None)
        if unprepared is not None and engine.core.transaction_status != "I":
            # A statement could not be described inside a transaction: that
            # aborted it, so nothing else could run; send nothing.
            for item, state in zip(items, states, strict=True):
                _fail(item, state if isinstance(state, BaseException) else _aborted(unprepared))
            return
        if self._conn.is_closed():
            raise errors.ConnectionDoesNotExistError("the connection was closed")
        out = engine.core.out
        ops: list[Operation] = []
        sent: list[tuple[_Item, ExecuteOp, bytes]] = []
        failure: BaseException | None = None
        for item, state in zip(items, states, strict=True):
            if failure is not None and not self._sync_each:
                _fail(item, _aborted(failure))
                continue
            if isinstance(state, BaseException):
                # It could not be described (a syntax error, a missing
                # table): it fails as it would have failed in the pipeline.
                failure = state
                _fail(item, state)
                continue
            sent_name = state.name
            try:
                engine._write_bind(state, item.args, b"")
            except _CLIENT_INPUT_ERRORS as exc:
                failure = exc
                _fail(item, exc)
                continue
            out.execute(b"", 1 if item.kind in ("fetchrow", "fetchval") else 0)
            if self._sync_each:
                out.sync()
            else:
                # The server holds its output until a Sync or a Flush: flush
                # so each result arrives when ready, not with the last one.
                out.flush()
            op = ExecuteOp(state, item.kind == "execute", not self._sync_each)
            item.op = op
            ops.append(op)
            sent.append((item, op, sent_name))
        if not ops:
            return
        if not self._sync_each:
            out.sync()
            ops.append(SyncOp())
        engine.wire.send_many(ops)
        for sent_op in ops:
            # Not awaited if an earlier wait times out: no "never retrieved".
            sent_op.waiter.add_done_callback(_consume)
        first_error: BaseException | None = None
        for item, op, sent_name in sent:
            remaining = None if deadline is None else max(deadline - loop.time(), 1e-6)
            try:
                await engine.wait(op, remaining)
            except _EXCHANGE_ERRORS:
                raise
            except Exception as exc:
                # Its rows could not be decoded (the stream stayed in step):
                # this statement's error only.
                _fail(item, exc)
                first_error = first_error or exc
                continue
            error = self._outcome(item, op, sent_name, first_error)
            if error is not None and not isinstance(error, errors.PipelineAbortedError):
                first_error = first_error or error
        if not self._sync_each:
            remaining = None if deadline is None else max(deadline - loop.time(), 1e-6)
            await engine.wait(ops[-1], remaining)

    async def _statements(
        self, items: list[_Item], deadline: float | None
    ) -> list[StatementState | BaseException]:
        """A described statement per item: cached ones, the others prepared in one round trip."""
        engine = self._conn._engine
        loop = asyncio.get_running_loop()
        found: dict[tuple[str, Any], StatementState | BaseException] = {}
        keys = list(dict.fromkeys((item.query, item.record_class) for item in items))
        remaining = None if deadline is None else max(deadline - loop.time(), 1e-6)
        answers = await asyncio.gather(
            *(engine.statement(query, rc, remaining) for query, rc in keys),
            return_exceptions=True,
        )
        for key, answer in zip(keys, answers, strict=True):
            if isinstance(answer, _EXCHANGE_ERRORS):
                raise answer
            if isinstance(answer, StatementState) and answer.closed:
                # Evicted meanwhile (its Close goes with our write): the
                # description still holds, for the unnamed statement.
                answer = answer.unnamed_copy()
            found[key] = answer
        return [found[(item.query, item.record_class)] for item in items]

    def _outcome(
        self, item: _Item, op: ExecuteOp, sent_name: bytes, earlier: BaseException | None
    ) -> BaseException | None:
        """Resolve `item` from its finished operation; return its error, if any."""
        engine = self._conn._engine
        if op.aborted:
            error: BaseException = _aborted(earlier)
        elif op.error_fields is not None:
            fields = op.error_fields
            engine._went_missing(op.state, sent_name, fields)  # next time it is re-parsed
            if engine._is_stale(fields):
                engine.cache.discard(item.query)
            error = engine.error(fields, item.query)
        else:
            try:
                item.future.set_result(_result(item, op))
            except (KeyError, IndexError) as exc:  # fetchval(column=) that does not exist
                error = exc
            else:
                return None
        _fail(item, error)
        return error

    # -- context manager ---------------------------------------------------------------

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        if exc is not None:
            # The block failed: what it queued but never sent is not sent.
            items, self._queued = self._queued, []
            for item in items:
                _fail(item, errors.PipelineAbortedError("not sent: the pipeline block raised"))
            return
        await self.sync()
        # Errors of statements sent when a result was awaited, not seen yet.
        error = _first_error([i for i in self._all if not (i.reported or i.retrieved)])
        if error is not None:
            raise error


def _result(item: _Item, op: ExecuteOp) -> Any:
    kind = item.kind
    if kind == "execute":
        return op.status or ""
    if kind == "fetch":
        return op.rows
    if not op.rows:
        return None
    row = op.rows[0]
    return row if kind == "fetchrow" else row[item.column]


def _aborted(cause: BaseException | None) -> errors.PipelineAbortedError:
    error = errors.PipelineAbortedError(
        "not run: an earlier statement of the pipeline failed"
        + (f" ({type(cause).__name__}: {cause})" if cause is not None else "")
    )
    error.__cause__ = cause
    return error


def _first_error(items: list[_Item]) -> BaseException | None:
    """The error that explains the others: the first one that is not an abort."""
    found = [
        fut.exception()
        for fut in (item.future for item in items)
        if fut.done() and not fut.cancelled() and fut.exception() is not None
    ]
    causes = [e for e in found if not isinstance(e, errors.PipelineAbortedError)]
    return (causes or found or [None])[0]


def _fail(item: _Item, error: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(error)


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()

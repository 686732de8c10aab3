"""The query engine of one connection: statements, operations, timeouts, cancellation.

Every call writes its messages and queues an operation with the sans-I/O core
in one synchronous step, so concurrent calls are pipelined and each answer
reaches the operation that asked for it, by construction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pgjet import errors
from pgjet._call_order import CallOrder
from pgjet._transport import WireTransport
from pgjet._wire.buffer import WriteBuffer
from pgjet._wire.codecs import OutdatedTypeError
from pgjet._wire.core import (
    ArgumentError,
    BatchRowError,
    ExecuteOp,
    Operation,
    PrepareOp,
    QueryOp,
    RowShape,
    StatementState,
    SyncOp,
    WireProtocol,
    column_sinks,
    queue_named_execute,
)
from pgjet.introspection import ConnectionTypes
from pgjet.statements import StatementCache

# SQLSTATE / routine pairs meaning "this prepared statement is stale".
_STALE_PLAN_ROUTINE = "RevalidateCachedQuery"

# executemany writes this much before handing it to the transport.
_EXECUTEMANY_BATCH_BYTES = 256 * 1024
# A portal name no one creates: executing it aborts a half-sent executemany.
_NO_SUCH_PORTAL = b"pgjet: executemany aborted by a bad argument"


# How an ExecuteOp keeps rows: "" as rows, "lists" one list per column
# (fetch_columns), "packed" numpy-ready where the type allows (fetch_numpy).
Columnar = Literal["", "lists", "packed"]

# What `prepared_statements=` accepts (see docs/pgbouncer.md).
STATEMENT_MODES = ("auto", "named", "unnamed")

# The server's own pid: behind a pooler it differs from BackendKeyData's.
_PID_PROBE = "SELECT pg_backend_pid()"
# SQLSTATEs a transaction-mode pooler causes on named statements: the
# statement is on another server session (26000) or, there, already (42P05).
_POOLER_SYMPTOMS = frozenset({"26000", "42P05"})


class QueryEngine:
    def __init__(
        self,
        wire: WireTransport,
        cache: StatementCache,
        *,
        command_timeout: float | None,
        cancel: Any,
        prepared_statements: str = "auto",
    ) -> None:
        if prepared_statements not in STATEMENT_MODES:
            raise errors.ClientConfigurationError(
                f"prepared_statements must be one of {', '.join(STATEMENT_MODES)}, "
                f"not {prepared_statements!r}"
            )
        self.wire = wire
        self.core: WireProtocol = wire.core
        self.cache = cache
        self.command_timeout = command_timeout
        self.requested_mode = prepared_statements
        # Whether statements are prepared server-side under a name (else: the
        # unnamed statement, parsed again in the same write as each Bind).
        self.named = prepared_statements != "unnamed"
        self.pooler_detected = False
        # The pooler probe: None (not run yet), the query in flight, or True (done).
        self._probe: QueryOp | bool | None = None
        # Inside a transaction, calls reach the wire in the order they were
        # made even when one must first prepare its statement.
        self.order = CallOrder()
        self._cancel = cancel  # async callable: sends a CancelRequest
        self._preparing: dict[tuple[str, Any], asyncio.Future[StatementState | None]] = {}
        self._portals_to_close: list[bytes] = []
        self._background: set[asyncio.Task[Any]] = set()
        # How long a cancelled or timed-out query may take to wind down.
        self.cancel_grace = 10.0
        # Codecs of non-builtin types and the user's overrides (None: builtins only).
        self.types: ConnectionTypes | None = None

    # -- statements ----------------------------------------------------------------

    async def statement(
        self, query: str, record_class: Any, timeout: float | None
    ) -> StatementState:
        """A described statement for `query`: from the cache, or prepared now."""
        if not self.cache.cacheable(query):
            return await self.prepare(query, record_class, timeout, named=False)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        key = (query, record_class)
        while True:
            state = self.cache.get(query, record_class)
            if state is not None:
                return state
            pending = self._preparing.get(key)
            if pending is None:
                break
            # Another task is preparing the same text: share its answer, within
            # our own deadline. None means that task gave up (its timeout or
            # cancellation is not ours): then prepare it ourselves.
            shared = asyncio.shield(pending)
            remaining = _remaining(deadline, loop)
            state = await (shared if remaining is None else asyncio.wait_for(shared, remaining))
            if state is not None:
                return state
        fut: asyncio.Future[StatementState | None] = loop.create_future()
        self._preparing[key] = fut
        try:
            state = await self.prepare(query, record_class, _remaining(deadline, loop), named=True)
        except (asyncio.CancelledError, asyncio.TimeoutError):
            fut.set_result(None)
            raise
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # consumed: the waiters re-raise it themselves
            raise
        finally:
            del self._preparing[key]
        self.cache.put(query, state)
        fut.set_result(state)
        return state

    async def prepare(
        self,
        query: str,
        record_class: Any,
        timeout: float | None,
        *,
        named: bool,
        name: str | None = None,
    ) -> StatementState:
        if name is not None:
            name_bytes = name.encode("utf-8")
        else:
            name_bytes = self.cache.new_name() if named else b""
        if name_bytes and not self.named:
            name_bytes = b""  # behind a pooler: described now, parsed with every Bind
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            state = StatementState(name_bytes, query)
            state.record_class = record_class
            if isinstance(record_class, RowShape):
                state.row_shape = record_class
            out = self.core.out
            self._write_closures()
            if name_bytes and self._probe is None and self.requested_mode == "auto":
                self._start_probe()
            out.parse(name_bytes, query.encode("utf-8"), ())
            out.describe(ord("S"), name_bytes)
            out.sync()
            try:
                await self.run(PrepareOp(state), _remaining(deadline, loop))
            except errors.PostgresError as exc:
                if name is None and name_bytes and exc.sqlstate in _POOLER_SYMPTOMS:
                    # Our own name can only clash on a server session a
                    # pooler shares: describe it unnamed instead.
                    self.found_pooler()
                    name_bytes = b""
                    continue
                raise
            break
        if isinstance(self._probe, QueryOp):
            self._finish_probe(self._probe)
        if state.name and not self.named:
            # A pooler was found meanwhile: our named statement sits on some
            # server session; use this description unnamed from now on.
            self._unname(state)
        if self.types is not None:
            # Types the compiled codecs don't know: read from the catalog (one
            # query for all of them), before the statement's first Bind.
            await self.types.resolve(self, state, _remaining(deadline, loop))
        return state

    # -- poolers -------------------------------------------------------------------

    def _start_probe(self) -> None:
        """Ask the server its pid, in the same write as the first named statement.

        A pooler (PgBouncer, Supavisor, RDS Proxy...) hands out cancel keys of
        its own, so the pid in BackendKeyData is not the server's: behind one,
        a session's named statements may be on another server session next time.
        """
        op = QueryOp()
        op.waiter = self.wire.loop.create_future()
        op.waiter.add_done_callback(_consume_outcome)
        self.core.out.query(_PID_PROBE)
        self.core.push(op)
        self._probe = op

    def _finish_probe(self, op: QueryOp) -> None:
        fut = op.waiter
        if not fut.done():
            return  # still in flight: a later statement looks again
        self._probe = None  # unless it gave an answer: try again later
        if fut.cancelled() or fut.exception() is not None or op.error_fields is not None:
            return
        try:
            pid = int(op.rows[0][0])
        except (IndexError, TypeError, ValueError):
            return
        self._probe = True
        if pid != self.core.backend_pid:
            self.found_pooler()

    async def check_pooler(self, timeout: float | None) -> bool:
        """Run the pooler probe now if it never ran; True when behind a pooler."""
        if self._probe is not True:
            self._write_closures()
            self.core.out.query(_PID_PROBE)
            op = QueryOp()
            await self.run(op, timeout)
            self._probe = op
            self._finish_probe(op)
        return self.pooler_detected

    def found_pooler(self) -> None:
        """A pooler shares server sessions among clients: stop relying on named statements.

        In "auto" mode every statement becomes unnamed (the cached ones are
        closed with the next write, wherever they are); "named" keeps naming
        new statements but each that went missing is re-parsed unnamed.
        """
        self.pooler_detected = True
        if self.requested_mode == "auto" and self.named:
            self.named = False
            self.cache.clear()

    def _went_missing(
        self, state: StatementState, sent_name: bytes, fields: dict[str, str]
    ) -> bool:
        """Did the server lose `state`, bound as `sent_name` (a pooler moved us)?

        Then the state goes unnamed (concurrent executions of it may fail the
        same way: each retries). The name is looked for in the message, so a
        user's own ``EXECUTE missing`` is not taken for a pooler.
        """
        if (
            not sent_name
            or fields.get("C") not in _POOLER_SYMPTOMS
            or sent_name.decode() not in fields.get("M", "")
        ):
            return False
        self.found_pooler()
        if state.name:
            self._unname(state)
        return True

    def _rerun_unnamed(
        self, state: StatementState, sent_name: bytes, fields: dict[str, str]
    ) -> bool:
        """Run it again, re-parsed? Only if the server lost it and no transaction holds us:
        its Bind failed, so nothing of it ran."""
        return self._went_missing(state, sent_name, fields) and self.core.transaction_status == "I"

    def _unname(self, state: StatementState) -> None:
        self.cache.to_close.append(state.name)
        state.name = b""

    def close_portal(self, portal: bytes) -> None:
        """Close a cursor's portal with the next write (no round trip)."""
        self._portals_to_close.append(portal)

    def close_statement(self, state: StatementState) -> None:
        """Close a named statement server-side with the next write (no round trip)."""
        if not state.closed:
            state.closed = True
            if state.name:
                self.cache.to_close.append(state.name)

    # -- execution -----------------------------------------------------------------

    def start_execute(
        self,
        state: StatementState,
        args: Sequence[Any],
        *,
        limit: int = 0,
        discard_rows: bool = False,
        portal: bytes = b"",
        sync: bool = True,
        columnar: Columnar = "",
    ) -> ExecuteOp:
        """Write Bind/Execute(/Sync) for `state` and queue the operation."""
        self._write_bind(state, args, portal)
        out = self.core.out
        out.execute(portal, limit)
        if sync:
            out.sync()
        op = ExecuteOp(state, discard_rows)
        if columnar:
            op.column_sinks = column_sinks(state, columnar == "packed")
        self.wire.send(op)
        return op

    async def execute_prepared(
        self, state: StatementState, args: Sequence[Any], timeout: float | None, limit: int
    ) -> ExecuteOp:
        """Run a PreparedStatement's state; re-parsed unnamed if a pooler lost it."""
        await self.order.wait_if_pending()
        for attempt in (1, 2):
            sent_name = state.name
            op = self.start_execute(state, args, limit=limit)
            await self.wait(op, timeout)
            fields = op.error_fields
            if fields is None:
                return op
            if attempt == 1 and self._rerun_unnamed(state, sent_name, fields):
                continue
            raise self.error(fields, state.query)
        raise AssertionError("unreachable")

    def start_bind(self, state: StatementState, args: Sequence[Any], *, portal: bytes) -> ExecuteOp:
        """Bind a named portal (a cursor) without executing it yet.

        The operation is an ExecuteOp that receives no rows: it checks the
        portal's description when the statement was parsed again.
        """
        self._write_bind(state, args, portal)
        self.core.out.sync()
        op = ExecuteOp(state, True)
        self.wire.send(op)
        return op

    def start_portal_execute(self, state: StatementState, portal: bytes, n: int) -> ExecuteOp:
        self._write_closures()
        out = self.core.out
        out.execute(portal, n)
        out.sync()
        op = ExecuteOp(state, False)
        self.wire.send(op)
        return op

    def _write_bind(
        self,
        state: StatementState,
        args: Sequence[Any],
        portal: bytes,
        out: WriteBuffer | None = None,
        element: int | None = None,
        reparse: bool = True,
    ) -> None:
        """Bind `args`; `element` is the row's index within an executemany() sequence.

        An unnamed statement is parsed again first, unless `reparse` is false
        (a later Bind of the same executemany() call).
        """
        if element is not None and (
            isinstance(args, (str, bytes)) or not isinstance(args, Sequence)
        ):
            raise errors.InvalidQueryInputError(
                f"invalid input in executemany() argument sequence element #{element}: "
                f"expected a sequence, got {type(args).__name__}"
            )
        expected = len(state.param_oids)
        if len(args) != expected:
            raise errors.InterfaceError(
                f"the server expects {expected} argument{'s' * (expected != 1)} for this "
                f"query, {len(args)} {'was' if len(args) == 1 else 'were'} passed"
                f"{_where(element)}"
            )
        if state.name and not self.named:
            self._unname(state)  # prepared before a pooler was found
        if self.cache.to_close or self._portals_to_close:
            self._write_closures()
        if out is None:
            out = self.core.out
        mark = len(out)
        reparse = reparse and not state.name
        if reparse:
            # The unnamed statement may have been replaced by a concurrent
            # call since it was described: parse it again in the same write,
            # so this Bind can only ever refer to this query.
            out.parse(b"", state.query.encode("utf-8"), state.param_oids)
        try:
            state.write_bind(out, portal, args)
        except ArgumentError as exc:
            out.rewind(mark)  # nothing of this call may reach the server
            raise errors.InvalidQueryInputError(
                f"invalid input for query argument ${exc.position}{_where(element)}: {exc.error}"
            ) from exc.error
        except BaseException:
            out.rewind(mark)
            raise
        if reparse:
            # Parsing again may give other result types than the description
            # our codecs come from (DDL committed in between): the portal's
            # description lets ExecuteOp notice before decoding any row.
            out.describe(ord("P"), portal)

    async def executemany(
        self,
        state: StatementState,
        args: Iterable[Sequence[Any]],
        timeout: float | None,
        *,
        keep_rows: bool,
    ) -> ExecuteOp:
        """Bind+Execute per argument tuple under ONE Sync: all or nothing.

        Messages are built in a buffer of their own and written in batches
        with the transport's back-pressure, so a million rows never sit in
        memory at once; while batches go out the wire is held, so no other
        call's messages can land before this call's Sync. If an argument fails
        to encode after batches were sent, an Execute of a portal that cannot
        exist makes the server abort the implicit transaction (nothing of the
        call is committed) and the encoding error is raised.
        """
        op = ExecuteOp(state, not keep_rows)
        self._write_closures()
        if state.name and not self.named:
            self._unname(state)
        sent_name = state.name
        buf = WriteBuffer()
        held = False
        finished = False
        bad_input: BaseException | None = None
        rows = iter(args)
        element = 0
        exhausted = False
        try:
            # The first row in Python (it may parse the statement again and
            # check its description), the others in compiled batches.
            for row in rows:
                try:
                    self._write_bind(state, row, b"", buf, 0)
                except (errors.InterfaceError, errors.InvalidQueryInputError) as exc:
                    bad_input = exc
                buf.execute(b"", 0)
                element = 1
                break
            else:
                exhausted = True
            while bad_input is None and not exhausted:
                try:
                    written, exhausted = state.write_batch(
                        buf, rows, element, _EXECUTEMANY_BATCH_BYTES
                    )
                    element += written
                except BatchRowError as exc:
                    bad_input = _row_error(exc)
                    break
                if len(buf) >= _EXECUTEMANY_BATCH_BYTES:
                    if not held:
                        # Another executemany or COPY may be streaming: its
                        # messages must end before ours begin.
                        await self.wire.wait_exclusive_free()
                        self.wire.begin_exclusive(op)
                        held = True
                    self.wire.write_exclusive(buf.take())
                    await self.wire.drain()
            if bad_input is not None and not held:
                raise bad_input
            if bad_input is not None:
                buf.execute(_NO_SUCH_PORTAL, 0)
            buf.sync()
            if held:
                self.wire.write_exclusive(buf.take())
            else:
                self.wire.send_with(op, buf.take())
            finished = True
        finally:
            if held:
                if not finished:
                    # Cancelled, or the argument iterator raised, half-way:
                    # end the exchange so the server rolls all of it back.
                    tail = WriteBuffer()
                    tail.execute(_NO_SUCH_PORTAL, 0)
                    tail.sync()
                    self.wire.write_exclusive(tail.take())
                self.wire.end_exclusive()
        await self.wait(op, timeout)
        if bad_input is not None:
            raise bad_input
        if op.error_fields is not None:
            if isinstance(args, Sequence) and self._rerun_unnamed(
                state, sent_name, op.error_fields
            ):
                # Nothing ran (the first Bind failed): again, parsed in the same write.
                return await self.executemany(state, args, timeout, keep_rows=keep_rows)
            if self._is_stale(op.error_fields):
                self.cache.discard(state.query)  # or every later call fails the same way
            raise self.error(op.error_fields, state.query)
        return op

    def send_cached(
        self,
        query: str,
        args: Sequence[Any],
        record_class: Any,
        limit: int,
        discard_rows: bool,
        timeout: float | None,
    ) -> ExecuteOp | None:
        """The hot path's first half, with no coroutine: write and queue a cached statement.

        Only when nothing could make execute() do more than that (a deadline,
        a call-order turn, a statement to prepare or to close first, a bad
        argument to name): then None, and the caller takes execute(). On
        success the caller awaits ``op.waiter`` (calling abandon(op) when
        cancelled) and hands the op to ``execute(..., sent=op)`` if it did
        not end cleanly.
        """
        if timeout is not None or self.command_timeout is not None or self.order.last is not None:
            return None
        state = self.cache.get(query, record_class)
        return None if state is None else self._queue_named(state, args, limit, discard_rows)

    def _queue_named(
        self, state: StatementState, args: Sequence[Any], limit: int, discard_rows: bool
    ) -> ExecuteOp | None:
        """Bind/Execute/Sync of a named statement, written and queued by one compiled call.

        None when it cannot go this way: no name (unnamed mode), Close
        messages that must go first, a closed wire, or a bad argument (the
        full path names what was wrong).
        """
        wire = self.wire
        if (
            not state.name
            or not self.named
            or wire.closed
            or self.cache.to_close
            or self._portals_to_close
        ):
            return None
        try:
            op: ExecuteOp = queue_named_execute(self.core, state, args, limit, discard_rows)
        except (ArgumentError, ValueError):
            return None
        wire.send_queued(op)
        return op

    async def execute(
        self,
        query: str,
        args: Sequence[Any],
        *,
        record_class: Any,
        timeout: float | None,
        limit: int = 0,
        discard_rows: bool = False,
        columnar: Columnar = "",
        sent: ExecuteOp | None = None,
    ) -> ExecuteOp:
        """Prepare (or reuse) and run one statement; retry once if the plan went stale.

        `timeout` bounds the whole call, preparation included. `sent`: the
        first attempt, already sent by send_cached() and answered; what is
        left is to check its outcome (and retry, as for any first attempt).
        """
        if timeout is None:
            timeout = self.command_timeout
        loop = deadline = None
        if timeout is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
        order = self.order
        # A cached statement without a coroutine call: the hot path.
        cached = sent.state if sent is not None else self.cache.get(query, record_class)
        turn = None
        if (
            sent is None
            and (order.last is not None or cached is None)
            and order.needs_turn(cached is not None, self.core.transaction_status != "I")
        ):
            turn = await order.take()
            cached = self.cache.get(query, record_class)  # it may have changed meanwhile
        try:
            moved: StatementState | None = None
            for attempt in (1, 2):
                if attempt == 2:
                    cached = self.cache.get(query, record_class)
                if moved is not None:
                    state, moved = moved, None
                else:
                    if cached is not None:
                        state = cached
                    else:
                        state = await self.statement(
                            query, record_class, _remaining(deadline, loop)
                        )
                        if state.closed:
                            continue  # evicted while we waited: prepare again
                sent_name = state.name if sent is None else (sent.sent_name or b"")
                try:
                    fast: ExecuteOp | None
                    if sent is not None:
                        fast, sent = sent, None  # written and answered already
                    elif columnar:
                        fast = None
                    else:  # the hot path: one compiled call writes and queues it all
                        fast = self._queue_named(state, args, limit, discard_rows)
                    if fast is not None:
                        op = fast
                    else:
                        op = self.start_execute(
                            state, args, limit=limit, discard_rows=discard_rows, columnar=columnar
                        )
                    if turn is not None:
                        order.end(turn)  # written: later calls may go
                except errors.InvalidQueryInputError:
                    # A cached statement's custom parameter types may be stale (a
                    # type dropped and created again, a composite that gained an
                    # attribute): nothing was sent, so read them again and retry once.
                    if attempt == 1 and self.types is not None and self.types.custom_params(state):
                        self.cache.discard(query)
                        self.types.outdated()
                        continue
                    raise
                if deadline is None:
                    try:
                        await op.waiter
                    except asyncio.CancelledError:
                        self.abandon(op)
                        raise
                    if op.schema_changed or op.decode_error is not None:
                        await self.wait(op, None)  # decodes again, or raises what went wrong
                else:
                    await self.wait(op, _remaining(deadline, loop), timeout)
                fields = op.error_fields
                if fields is None:
                    return op
                if attempt == 1 and self._rerun_unnamed(state, sent_name, fields):
                    # A pooler gave us a server session without our statement:
                    # its Bind failed, nothing ran. Outside a transaction, run it
                    # again parsed in the same write (the state is unnamed now).
                    moved = state
                    continue
                if self._is_stale(fields):
                    # The schema changed under a cached statement (e.g. a column's
                    # type). Never reuse it; outside a transaction it is safe to
                    # prepare again and retry, inside one the error is raised
                    # (the transaction is aborted anyway).
                    self.cache.discard(query)
                    if attempt == 1 and self.core.transaction_status == "I":
                        continue
                raise self.error(fields, query)
            raise errors.InternalClientError("statement kept being evicted while preparing it")
        finally:
            if turn is not None:
                order.end(turn)

    async def simple_query(self, sql: str, timeout: float | None) -> QueryOp:
        """The simple protocol: several statements allowed, text results, no arguments."""
        await self.order.wait_if_pending()
        self._write_closures()
        self.core.out.query(sql)
        op = QueryOp()
        self.wire.send(op)
        await self.wait(op, timeout)
        if op.error_fields is not None:
            raise self.error(op.error_fields, sql)
        return op

    async def run(self, op: Operation, timeout: float | None) -> None:
        """Send what is in the output buffer as `op` and wait for it."""
        self.wire.send(op)
        await self.wait(op, timeout)
        if op.error_fields is not None:
            query = getattr(getattr(op, "state", None), "query", None)
            raise self.error(op.error_fields, query)

    # -- waiting, timeouts and cancellation ------------------------------------------

    async def wait(self, op: Operation, timeout: float | None, budget: float | None = None) -> None:
        """Wait for `op`; on timeout or task cancellation, cancel it server-side.

        The operation stays queued until its ReadyForQuery arrives, so the
        stream stays in step and the connection usable. `budget` is the
        caller's whole timeout when `timeout` is what is left of it (the
        error names the former).
        """
        if timeout is None:
            timeout = self.command_timeout
        fut: asyncio.Future[Any] = op.waiter
        try:
            # No shield: the operation stays queued in the core whatever
            # happens to this future, so a cancelled wait costs nothing here
            # and abandon() tracks the rest (one future less per query).
            if timeout is None:
                await fut
            else:
                await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self.abandon(op)
            # asyncpg raises asyncio.TimeoutError here too.
            raise asyncio.TimeoutError(
                f"the query did not finish within {budget or timeout:.3g}s and was cancelled"
            ) from None
        except asyncio.CancelledError:
            self.abandon(op)
            raise
        if isinstance(op, ExecuteOp):
            if op.schema_changed:
                self.cache.discard(op.state.query)
                raise errors.OutdatedSchemaCacheError(
                    "the result types of the statement changed between its preparation "
                    "and its execution (a concurrent schema change); no row was decoded"
                )
            if op.decode_error is not None:
                if isinstance(op.decode_error, OutdatedTypeError):
                    await self._outdated_type(op, op.decode_error)
                    return  # decoded again with the types read afresh
                raise op.decode_error

    async def _outdated_type(self, op: ExecuteOp, exc: OutdatedTypeError) -> None:
        """Never decode with a stale layout: read the types again and decode the rows kept.

        The statement's codecs are rebuilt in place (a PreparedStatement keeps
        working) and the rows the server sent are decoded again: nothing runs
        twice. Only if that fails does the caller get OutdatedSchemaCacheError,
        as from asyncpg.
        """
        state = op.state
        self.cache.discard(state.query)
        if self.types is not None:
            self.types.outdated()
            with contextlib.suppress(Exception):
                await self.types.resolve(self, state, self.cancel_grace)
                if op.decode_again():
                    return
        raise errors.OutdatedSchemaCacheError(
            f"{exc}; the type information was read again, run the query again",
            data_type=exc.type_name,
        ) from exc

    def abandon(self, op: Operation) -> None:
        """The caller gave up on `op`: cancel it server-side when it runs.

        Only the operation the server is working on can be cancelled without
        hitting a later, innocent one; an operation still queued behind others
        is cancelled as soon as it reaches the head. If it still hasn't ended
        (with its ReadyForQuery) `cancel_grace` seconds later, the connection
        is closed rather than left in an unknown state.
        """
        loop = asyncio.get_running_loop()
        pending = self.core.pending_operations()
        if op not in pending:
            return  # it ended already
        index = pending.index(op)
        # The caller's future went with the caller (cancelled): follow the
        # operation's end with a future of our own, resolved at its
        # ReadyForQuery like any waiter.
        fut: asyncio.Future[Any] = loop.create_future()
        fut.add_done_callback(_consume_outcome)
        op.waiter = fut

        # New requests wait until the cancel signal has landed and `op` has
        # ended: written earlier, one could start in the window and be
        # cancelled instead (the server cancels whatever runs when the
        # signal arrives; a signal reaching an idle backend is ignored).
        self.wire.hold()
        waiting_for = {"op", "cancel"}

        def settled(what: str) -> None:
            if what in waiting_for:
                waiting_for.discard(what)
                if not waiting_for:
                    self.wire.release()

        fut.add_done_callback(lambda _: settled("op"))

        def cancel_now(_: object = None) -> None:
            if fut.done():
                settled("cancel")
                return
            task = loop.create_task(self._cancel())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            task.add_done_callback(lambda _: settled("cancel"))
            # The grace period starts now, not while an earlier, innocent
            # query still runs (it may rightly take longer than the grace).
            watchdog = loop.call_later(self.cancel_grace, self._give_up, op)
            fut.add_done_callback(lambda _: watchdog.cancel())

        if index == 0:
            cancel_now()
        else:
            ahead = pending[index - 1]
            if ahead.waiter is None:
                # Operations queued without a caller (closing evicted
                # statements) get a future too, resolved like any other.
                ahead.waiter = loop.create_future()
                ahead.waiter.add_done_callback(_consume_outcome)
            ahead.waiter.add_done_callback(cancel_now)
            if all(self._is_internal(o) for o in pending[:index]):
                # Only pgjet's own short exchanges are ahead (closing statements,
                # the pooler probe): if they never end, neither will `op`.
                watchdog = loop.call_later(self.cancel_grace, self._give_up, op)
                fut.add_done_callback(lambda _: watchdog.cancel())

    def _is_internal(self, op: Operation) -> bool:
        return op is self._probe or type(op) is SyncOp

    def _give_up(self, op: Operation) -> None:
        if not op.waiter.done() and self.wire.transport is not None:
            self.wire.lost_reason = errors.ConnectionDoesNotExistError(
                f"a cancelled query did not end within {self.cancel_grace:g}s; "
                "the connection was closed"
            )
            self.wire.transport.abort()

    # -- errors --------------------------------------------------------------------

    def error(self, fields: dict[str, str], query: str | None) -> errors.PostgresError:
        return errors.from_fields(fields, query)

    @staticmethod
    def _is_stale(fields: dict[str, str]) -> bool:
        code = fields.get("C")
        if code == "0A000" and fields.get("R") == _STALE_PLAN_ROUTINE:
            return True
        # The statement's types are gone (a dropped type, a changed composite).
        return code == "XX000" and "cache lookup failed for type" in fields.get("M", "")

    def _write_closures(self) -> None:
        """Close evicted statements and finished portals ahead of the next query.

        They go in the same write, with a Sync and an operation of their own,
        so their answers can never be mistaken for the next query's.
        """
        names = self.cache.take_closures()
        portals = self._portals_to_close
        if names or portals:
            out = self.core.out
            for name in names:
                out.close(ord("S"), name)
            for portal in portals:
                out.close(ord("P"), portal)
            self._portals_to_close = []
            out.sync()
            self.core.push(SyncOp())


def _row_error(exc: BatchRowError) -> errors.InterfaceError | errors.InvalidQueryInputError:
    """The error _write_bind() raises for a bad executemany() row, from the compiled loop's."""
    if exc.position is not None:
        error = errors.InvalidQueryInputError(
            f"invalid input for query argument ${exc.position}{_where(exc.element)}: {exc.error}"
        )
        error.__cause__ = exc.error
        return error
    message = str(exc.error)
    if message.startswith("invalid input"):
        return errors.InvalidQueryInputError(message)
    return errors.InterfaceError(message)


def _where(element: int | None) -> str:
    """Where a bad argument was, for an executemany() row."""
    return "" if element is None else f" in element #{element} of executemany() sequence"


def _consume_outcome(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()  # nobody else awaits it: don't warn "never retrieved"


def _remaining(deadline: float | None, loop: asyncio.AbstractEventLoop | None) -> float | None:
    if deadline is None or loop is None:
        return None
    # Never 0: an already-passed deadline still gets a (failing) wait.
    return max(deadline - loop.time(), 1e-6)

"""The asyncio side of the wire: feeds received bytes to the sans-I/O core.

`WireTransport` is an `asyncio.BufferedProtocol`: the event loop reads straight
into the core's buffer, the core frames and dispatches messages, and this
adapter resolves the futures of the operations that completed. It holds no
protocol logic of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pgjet import errors
from pgjet._wire.core import (
    BufferedReceiver,
    Operation,
    ProtocolViolation,
    WireProtocol,
    complete_waiters,
)

EventHandler = Callable[[tuple[Any, ...]], None]


class WireTransport(BufferedReceiver, asyncio.BufferedProtocol):
    """Connects one socket to one `WireProtocol` core.

    get_buffer() and buffer_updated(), called for every read, and
    send_queued(), called for every request, are compiled (BufferedReceiver);
    the rare paths they take are the methods below.
    """

    def __init__(self, core: WireProtocol) -> None:
        self.core = core
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.on_event: EventHandler | None = None
        self.on_lost: Callable[[BaseException | None], None] | None = None
        self.closed = False
        self.lost_reason: BaseException | None = None
        # TLS negotiation: the one-byte answer to SSLRequest is read here,
        # before any message framing starts.
        self.negotiation: asyncio.Future[bytes] | None = None
        self.negotiation_buf = bytearray(64)
        self.unexpected_plaintext = False
        self._paused_writing: asyncio.Future[None] | None = None
        self._exclusive = False
        self._exclusive_waiters: list[asyncio.Future[None]] = []
        self._holds = 0
        # Bytes of operations queued while the wire was held, in queue order.
        self._held_back: list[bytes] = []

    # -- asyncio.BufferedProtocol --------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def _read_failed(self, exc: Exception) -> None:
        if isinstance(exc, ProtocolViolation):
            self._fatal(errors.ProtocolError(f"protocol violation from the server: {exc}"))
            return
        # Whatever else went wrong while reading, the stream position is
        # unknown: fail every operation and close, rather than letting the
        # event loop log it and leave the callers waiting.
        error = errors.ProtocolError(f"cannot process the server's message: {exc!r}")
        error.__cause__ = exc
        self._fatal(error)

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost does the rest

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.lost_reason is None:
            self.lost_reason = exc
        if self.negotiation is not None and not self.negotiation.done():
            self.negotiation.set_exception(
                errors.ServerClosedDuringStartupError(
                    "the server closed the connection during TLS negotiation"
                )
            )
        self._fail_pending(self._lost_error())
        self._wake_exclusive_waiters()
        if self._paused_writing is not None and not self._paused_writing.done():
            self._paused_writing.set_result(None)
        if self.on_lost is not None:
            self.on_lost(exc)

    def pause_writing(self) -> None:
        if self._paused_writing is None or self._paused_writing.done():
            self._paused_writing = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._paused_writing is not None and not self._paused_writing.done():
            self._paused_writing.set_result(None)

    # -- sending ---------------------------------------------------------------

    def send(self, op: Operation) -> asyncio.Future[Operation]:
        """Write what was built into `core.out` and queue `op` to receive the answer.

        While the wire is held (see `begin_exclusive` and `hold`), the bytes
        wait in `core.out`: queue order and wire order must stay the same.
        """
        if self.closed or self.transport is None:
            raise self._lost_error()
        self.core.push(op)
        return self.send_queued(op)  # type: ignore[no-any-return]

    def send_many(self, ops: list[Operation]) -> None:
        """`send` for several operations whose messages are all in `core.out`: one write."""
        if self.closed or self.transport is None:
            raise self._lost_error()
        for op in ops:
            op.waiter = self.loop.create_future()
            self.core.push(op)
        if self._writable():
            self.transport.write(self.core.out.take())

    def flush_output(self) -> None:
        """Write output the caller built without an operation (e.g. Terminate)."""
        if self.transport is None or self.closed or not self._writable():
            return
        held, self._held_back = self._held_back, []
        for data in held:
            self.transport.write(data)
        if len(self.core.out):
            self.transport.write(self.core.out.take())

    def send_with(self, op: Operation, data: bytes) -> asyncio.Future[Operation]:
        """`send`, followed by `data` built in a buffer of the caller's own."""
        fut = self.send(op)
        if self._writable():
            self.transport.write(data)  # type: ignore[union-attr]
        else:
            # Held: keep `data` right behind what `send` left in core.out.
            self._held_back.append(self.core.out.take())
            self._held_back.append(data)
        return fut

    def begin_exclusive(self, op: Operation) -> asyncio.Future[Operation]:
        """Queue `op` and hold the wire for its messages, written in several parts.

        Until `end_exclusive`, other operations still queue (behind this one)
        but their bytes wait, so nothing lands between this one's messages.
        """
        if self._exclusive:
            raise AssertionError("the wire is already held")
        fut = self.send(op)
        if self._holds:
            self._held_back.append(self.core.out.take())
        self._exclusive = True
        return fut

    def write_exclusive(self, data: bytes) -> None:
        if self.transport is None or self.closed:
            return
        if self._holds:
            self._held_back.append(data)
        else:
            self.transport.write(data)

    def end_exclusive(self) -> None:
        self._exclusive = False
        self._wake_exclusive_waiters()
        self.flush_output()

    async def wait_exclusive_free(self) -> None:
        """Wait until no other exchange (executemany, COPY) holds the wire.

        Call `begin_exclusive` right after, without awaiting anything between.
        """
        while self._exclusive:
            if self.closed:
                raise self._lost_error()
            fut: asyncio.Future[None] = self.loop.create_future()
            self._exclusive_waiters.append(fut)
            await fut
        if self.closed:
            raise self._lost_error()

    def _wake_exclusive_waiters(self) -> None:
        waiters, self._exclusive_waiters = self._exclusive_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def hold(self) -> None:
        """Keep new requests off the wire (they still queue) until `release`.

        Used while a CancelRequest is in flight: a query written now could
        start before the cancel signal lands and be cancelled in its place.
        """
        self._holds += 1

    def release(self) -> None:
        self._holds -= 1
        self.flush_output()

    def _writable(self) -> bool:
        return not self._exclusive and not self._holds

    async def drain(self) -> None:
        """Wait while the transport's write buffer is over its high-water mark."""
        if self._paused_writing is not None and not self._paused_writing.done():
            await self._paused_writing

    # -- TLS negotiation -----------------------------------------------------

    def expect_negotiation_byte(self) -> asyncio.Future[bytes]:
        self.negotiation = self.loop.create_future()
        return self.negotiation

    def _negotiation_answer(self, nbytes: int) -> None:
        fut = self.negotiation
        self.negotiation = None
        assert fut is not None
        if fut.done():
            return
        if nbytes != 1:
            # A server (or a man in the middle) that sends more than the one
            # answer byte before the handshake could inject plaintext data
            # we would later take for encrypted (CVE-2021-23222).
            fut.set_exception(
                errors.ProtocolError(
                    "the server sent unexpected data after its answer to SSLRequest"
                )
            )
            return
        fut.set_result(bytes(self.negotiation_buf[:1]))
        # Until start_tls takes over, nothing else may arrive: remember if
        # something does, so the connect code can refuse the connection.
        guard: asyncio.Future[bytes] = self.loop.create_future()
        guard.add_done_callback(self._plaintext_after_answer)
        self.negotiation = guard

    def _plaintext_after_answer(self, fut: asyncio.Future[bytes]) -> None:
        if not fut.cancelled():
            fut.exception()
            self.unexpected_plaintext = True

    def end_negotiation(self) -> None:
        fut = self.negotiation
        self.negotiation = None
        if fut is not None and not fut.done():
            fut.cancel()

    # -- internals -------------------------------------------------------------

    def _dispatch(self) -> None:
        core = self.core
        if core.wants_flush:
            core.wants_flush = False
            self.flush_output()
        if core.events:
            events = core.events
            core.events = []
            handler = self.on_event
            if handler is not None:
                for event in events:
                    handler(event)
        complete_waiters(core)

    def _lost_error(self) -> errors.ConnectionDoesNotExistError:
        reason = self.lost_reason
        msg = "connection was closed in the middle of operation"
        if reason is not None:
            msg += f": {reason}"
        exc = errors.ConnectionDoesNotExistError(msg)
        exc.__cause__ = reason
        return exc

    def _fail_pending(self, exc: BaseException) -> None:
        for op in self.core.abort_pending():
            fut = op.waiter
            if fut is not None and not fut.done():
                fut.set_exception(exc)

    def _fatal(self, exc: BaseException) -> None:
        """The stream can't be trusted any more: fail everything and close."""
        self.lost_reason = exc
        self.closed = True  # now, not at connection_lost(): no call may write any more
        # Operations completed earlier in the same read were never handed over (the
        # violation interrupted processing): fail them too, or their waiters hang.
        done, self.core.completed = self.core.completed, []
        for op in done:
            if op.waiter is not None and not op.waiter.done():
                op.waiter.set_exception(exc)
        self._fail_pending(exc)
        if self.transport is not None:
            self.transport.abort()

"""LISTEN/NOTIFY: asyncpg's callbacks, ``async for n in conn.notifies()``, and a
listener that survives reconnects.

Per connection, a :class:`NotificationHub` receives every NotificationResponse
(from the wire core's events) and

* calls the callbacks registered with ``add_listener`` (soon after, never
  inside the protocol callback; coroutine functions become tasks);
* once ``notifies()`` has been called, keeps every notification in a bounded
  backlog until an iterator takes it, so none is lost between iterations.

Overflow policy: the backlog holds ``backlog_size`` notifications (10,000 by
default); when it is full the *oldest* one is dropped, counted in
``hub.dropped``, and logged as a warning (once per overflow episode). The
:class:`Listener` instead reports an overflow in its stream as a
:class:`Gap`, as it does for a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from pgjet import errors
from pgjet._copy_sql import quote_ident

if TYPE_CHECKING:
    from pgjet.connection import Connection

__all__ = ["Gap", "Listener", "Notification", "NotificationHub"]

logger = logging.getLogger("pgjet.listen")

DEFAULT_BACKLOG = 10_000

ListenerCallback = Callable[[Any, int, str, str], Any]

# What a lost or refused connection raises; the Listener retries after these.
_RECOVERABLE = (OSError, errors.PostgresError, errors.InterfaceError, asyncio.TimeoutError)


class Notification(NamedTuple):
    """One NOTIFY, as psycopg's ``Notify``: ``(channel, payload, pid)``."""

    channel: str
    payload: str
    pid: int


class Gap(NamedTuple):
    """Notifications may have been missed between ``since`` and ``until`` (time.time()).

    ``reason`` says why: ``"reconnect"`` (the connection was lost; ``error`` is
    why) or ``"overflow"`` (the backlog was full; ``dropped`` were discarded).
    A Gap is yielded after listening resumed: state read after it is current.
    """

    reason: str
    since: float
    until: float
    dropped: int
    error: BaseException | None


class NotificationHub:
    """The notifications of one connection: callbacks, backlog, iterators."""

    def __init__(self, conn: Connection, backlog_size: int = DEFAULT_BACKLOG) -> None:
        self._conn = conn
        self.callbacks: dict[str, list[ListenerCallback]] = {}
        self.backlog_size = backlog_size
        self.backlog: deque[Notification] | None = None
        self.dropped = 0
        self._overflowing = False
        self._wakeup: asyncio.Future[None] | None = None
        self._lost: BaseException | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- from the connection --------------------------------------------------------------

    def dispatch(self, pid: int, channel: str, payload: str) -> None:
        callbacks = self.callbacks.get(channel)
        if callbacks:
            loop = asyncio.get_running_loop()
            for cb in list(callbacks):
                loop.call_soon(self._run_callback, cb, pid, channel, payload)
        backlog = self.backlog
        if backlog is not None:
            if len(backlog) >= self.backlog_size:
                backlog.popleft()
                self.dropped += 1
                if not self._overflowing:
                    self._overflowing = True
                    logger.warning(
                        "notification backlog of %d is full: dropping the oldest "
                        "notifications (iterate conn.notifies() faster or raise backlog_size)",
                        self.backlog_size,
                    )
            else:
                self._overflowing = False
            backlog.append(Notification(channel, payload, pid))
            self._wake()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost = errors.ConnectionDoesNotExistError(
            "the connection was lost while waiting for notifications" + (f": {exc}" if exc else "")
        )
        self._wake()

    def _wake(self) -> None:
        w = self._wakeup
        if w is not None and not w.done():
            w.set_result(None)

    def _run_callback(self, cb: ListenerCallback, pid: int, channel: str, payload: str) -> None:
        try:
            result = cb(self._conn, pid, channel, payload)
        except Exception:
            logger.exception("notification listener %r raised", cb)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- asyncpg's API ------------------------------------------------------------------

    async def add_listener(self, channel: str, callback: ListenerCallback) -> None:
        if not callable(callback):
            raise errors.InterfaceError(f"a listener must be callable, not {callback!r}")
        callbacks = self.callbacks.get(channel)
        if callbacks is None:
            await self._conn.execute(f"LISTEN {quote_ident(channel)}")
            callbacks = self.callbacks.setdefault(channel, [])
        if callback not in callbacks:
            callbacks.append(callback)

    async def remove_listener(self, channel: str, callback: ListenerCallback) -> None:
        if self._conn.is_closed():
            return
        callbacks = self.callbacks.get(channel)
        if not callbacks or callback not in callbacks:
            return
        callbacks.remove(callback)
        if not callbacks:
            del self.callbacks[channel]
            await self._conn.execute(f"UNLISTEN {quote_ident(channel)}")

    # -- async for n in conn.notifies() --------------------------------------------------

    def notifies(
        self, *, timeout: float | None = None, stop_after: int | None = None
    ) -> AsyncIterator[Notification]:
        """Notifications as they arrive (and those that waited in the backlog).

        Ends after ``timeout`` seconds in all, or after ``stop_after``
        notifications. Raises ConnectionDoesNotExistError when the connection
        is lost (after yielding what arrived before). Buffering starts with
        this call, so notifications arriving between two iterations wait.
        """
        if stop_after is not None and stop_after < 0:
            raise errors.InterfaceError("stop_after must be >= 0")
        if self.backlog is None:
            self.backlog = deque()
        return self._iterate(timeout, stop_after)

    async def _iterate(
        self, timeout: float | None, stop_after: int | None
    ) -> AsyncIterator[Notification]:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        count = 0
        backlog = self.backlog
        assert backlog is not None
        while stop_after is None or count < stop_after:
            if backlog:
                count += 1
                yield backlog.popleft()
                continue
            if self._lost is not None or self._conn.is_closed():
                raise self._lost or errors.ConnectionDoesNotExistError("the connection is closed")
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return
            if self._wakeup is None or self._wakeup.done():
                self._wakeup = loop.create_future()
            # asyncio.wait never cancels the shared future on timeout.
            await asyncio.wait([self._wakeup], timeout=remaining)

    def reset(self) -> None:
        """Forget callbacks and the backlog (the session's LISTENs are gone)."""
        self.callbacks.clear()
        self.backlog = None
        self.dropped = 0


# -- a listener that survives reconnects ----------------------------------------------------


class Listener:
    """Listens on channels over a connection of its own, reconnecting when it is lost.

    ``async for item in listener`` yields :class:`Notification` objects and,
    after every reconnect (or backlog overflow), a :class:`Gap`: the
    application should then re-read whatever state the notifications track.
    LISTEN is issued again on every new connection before the Gap is yielded.

    ``connect`` is an async callable returning a connection; by default
    ``pgjet.connect(dsn, **connect_kwargs)``. Reconnects back off from
    ``min_delay`` to ``max_delay`` seconds. Every ``check_interval`` seconds
    without traffic, a ``SELECT 1`` checks that the connection still works.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        channels: Iterable[str] = (),
        connect: Callable[[], Awaitable[Connection]] | None = None,
        backlog_size: int = DEFAULT_BACKLOG,
        min_delay: float = 0.05,
        max_delay: float = 5.0,
        check_interval: float | None = 30.0,
        **connect_kwargs: Any,
    ) -> None:
        if connect is None:
            from pgjet.connect import connect as pgjet_connect

            async def connect() -> Connection:
                return await pgjet_connect(dsn, **connect_kwargs)

        self._connect = connect
        self.channels: list[str] = []
        for ch in channels:
            if ch not in self.channels:
                self.channels.append(ch)
        self.backlog_size = backlog_size
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.check_interval = check_interval
        self.connection: Connection | None = None
        self.reconnects = 0
        self.dropped = 0
        self._queue: deque[Notification | Gap] = deque()
        self._overflow_since: float | None = None
        self._overflow_count = 0
        self._wakeup: asyncio.Future[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._fatal: BaseException | None = None

    async def __aenter__(self) -> Listener:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect and LISTEN; raises if the first connection attempt fails."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._task = loop.create_task(self._run())
        try:
            await asyncio.shield(self._ready)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        self._closed = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        conn = self.connection
        self.connection = None
        if conn is not None and not conn.is_closed():
            await conn.close()
        self._wake()

    async def listen(self, channel: str) -> None:
        if channel in self.channels:
            return
        self.channels.append(channel)
        conn = self.connection
        if conn is not None and not conn.is_closed():
            await conn.add_listener(channel, self._on_notification)

    async def unlisten(self, channel: str) -> None:
        if channel not in self.channels:
            return
        self.channels.remove(channel)
        conn = self.connection
        if conn is not None and not conn.is_closed():
            await conn.remove_listener(channel, self._on_notification)

    def __aiter__(self) -> AsyncIterator[Notification | Gap]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Notification | Gap]:
        loop = asyncio.get_running_loop()
        while True:
            if self._overflow_since is not None:
                gap = Gap("overflow", self._overflow_since, time.time(), self._overflow_count, None)
                self._overflow_since = None
                self._overflow_count = 0
                yield gap
                continue
            if self._queue:
                yield self._queue.popleft()
                continue
            if self._fatal is not None:
                raise self._fatal
            if self._closed:
                return
            if self._wakeup is None or self._wakeup.done():
                self._wakeup = loop.create_future()
            await asyncio.wait([self._wakeup])

    # -- internals ---------------------------------------------------------------------

    def _push(self, item: Notification | Gap) -> None:
        queue = self._queue
        if len(queue) >= self.backlog_size:
            # Drop the oldest notification; a Gap is never dropped.
            for i, queued in enumerate(queue):
                if isinstance(queued, Notification):
                    del queue[i]
                    break
            self.dropped += 1
            if self._overflow_since is None:
                self._overflow_since = time.time()
            self._overflow_count += 1
        queue.append(item)
        self._wake()

    def _wake(self) -> None:
        w = self._wakeup
        if w is not None and not w.done():
            w.set_result(None)

    def _on_notification(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        if conn is self.connection:
            self._push(Notification(channel, payload, pid))

    async def _run(self) -> None:
        delay = self.min_delay
        lost_at: float | None = None
        last_error: BaseException | None = None
        while not self._closed:
            try:
                conn = await self._connect()
            except _RECOVERABLE as exc:
                if self._ready is not None and not self._ready.done():
                    self._ready.set_exception(exc)
                    return
                last_error = exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
                continue
            gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def on_terminated(_: Any, gone: asyncio.Future[None] = gone) -> None:
                if not gone.done():
                    gone.set_result(None)

            conn.add_termination_listener(on_terminated)
            self.connection = conn
            try:
                for channel in list(self.channels):
                    await conn.add_listener(channel, self._on_notification)
            except (OSError, errors.PostgresError, errors.InterfaceError) as exc:
                last_error = exc
                self.connection = None
                conn.terminate()
                if self._ready is not None and not self._ready.done():
                    self._ready.set_exception(exc)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
                continue
            delay = self.min_delay
            if lost_at is not None:
                self.reconnects += 1
                self._push(Gap("reconnect", lost_at, time.time(), 0, last_error))
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            last_error = await self._watch(conn, gone)
            lost_at = time.time()
            self.connection = None
            if not conn.is_closed():
                conn.terminate()

    async def _watch(self, conn: Connection, gone: asyncio.Future[None]) -> BaseException | None:
        """Wait until `conn` is lost; return why."""
        while True:
            done, _ = await asyncio.wait([gone], timeout=self.check_interval)
            if done or conn.is_closed():
                return conn._wire.lost_reason
            try:
                await conn.execute("SELECT 1", timeout=min(self.check_interval or 10.0, 10.0))
            except _RECOVERABLE as exc:
                return exc

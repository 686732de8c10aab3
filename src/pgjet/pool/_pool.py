"""The connection pool: asyncpg's interface, psycopg_pool's lifecycle.

Policy in one place:

* Leases come from a LIFO stack of idle connections (hot connections stay
  hot; the coldest ones idle out above ``min_size``). Waiters queue FIFO and a
  released connection goes straight to the first of them.
* Release costs no round trip unless the lease changed something (see
  ``_session.py``); the cleanup that is needed runs in a task of its own, so
  a caller cancelled mid-release cannot leak or poison the connection.
* New connections are opened in background tasks, for waiters and to keep
  ``min_size``. After a failure the pool backs off exponentially (with
  jitter) and probes with one attempt at a time; waiters wait for their own
  deadline, and a timeout names the last connection error.
* One maintenance task closes connections past ``max_lifetime``, idle ones
  above ``min_size`` past ``max_idle``, and refills ``min_size``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import time
import warnings
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any

from pgjet import errors
from pgjet.connect import connect as pgjet_connect
from pgjet.connection import Connection
from pgjet.introspection import SharedTypeCatalogs
from pgjet.pool._backoff import Backoff
from pgjet.pool._cleanup import clean_session, close_quietly, forget_client_listeners
from pgjet.pool._config import check_config
from pgjet.pool._errors import (
    PoolClosedError,
    PoolForkedError,
    PoolTimeout,
    TooManyWaitersError,
)
from pgjet.pool._lease import PoolConnectionProxy
from pgjet.pool._session import (
    Change,
    cancel_requests_in_flight,
    pending_operations,
    transaction_status,
)
from pgjet.pool._shortcuts import PoolShortcuts
from pgjet.pool._slot import Slot
from pgjet.pool._stats import Stats
from pgjet.record import Record

logger = logging.getLogger("pgjet.pool")

ConnectionCallback = Callable[[Any], Awaitable[None]]

# Bumped in a child process after fork(): pools made before it refuse to work there.
_fork_generation = [0]


def _after_fork_in_child() -> None:
    _fork_generation[0] += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Pool(PoolShortcuts):
    """A pool of connections. Create it with :func:`create_pool`."""

    def __init__(
        self,
        *connect_args: Any,
        min_size: int = 10,
        max_size: int = 10,
        init_size: int | None = None,
        max_queries: int = 50000,
        max_inactive_connection_lifetime: float = 300.0,
        max_idle: float | None = None,
        max_lifetime: float | None = 3600.0,
        connect: Callable[..., Awaitable[Connection]] | None = None,
        setup: ConnectionCallback | None = None,
        init: ConnectionCallback | None = None,
        reset: ConnectionCallback | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        connection_class: type[Connection] = Connection,
        record_class: type[Record] = Record,
        acquire_timeout: float | None = 30.0,
        max_waiting: int = 0,
        health_check_after: float | None = 10.0,
        health_check_timeout: float = 5.0,
        session_reset: str = "tracked",
        reset_timeout: float = 10.0,
        reconnect_initial_delay: float = 0.1,
        reconnect_max_delay: float = 10.0,
        reconnect_timeout: float = 300.0,
        reconnect_failed: Callable[[Pool], Any] | None = None,
        null_pool: bool = False,
        **connect_kwargs: Any,
    ) -> None:
        if max_idle is not None:
            max_inactive_connection_lifetime = max_idle
        if init_size is None:
            init_size = min_size
        check_config(
            min_size=min_size,
            max_size=max_size,
            init_size=init_size,
            max_queries=max_queries,
            max_inactive_connection_lifetime=max_inactive_connection_lifetime,
            max_lifetime=max_lifetime,
            acquire_timeout=acquire_timeout,
            max_waiting=max_waiting,
            health_check_after=health_check_after,
            health_check_timeout=health_check_timeout,
            reset_timeout=reset_timeout,
            reconnect_initial_delay=reconnect_initial_delay,
            reconnect_max_delay=reconnect_max_delay,
            reconnect_timeout=reconnect_timeout,
            session_reset=session_reset,
            null_pool=null_pool,
        )
        if not (isinstance(connection_class, type) and issubclass(connection_class, Connection)):
            raise errors.ClientConfigurationError(
                f"connection_class must be a subclass of pgjet.Connection, got {connection_class!r}"
            )
        self._min_size = min_size
        self._max_size = max_size
        self._init_size = init_size
        self._max_queries = max_queries
        self._max_idle = max_inactive_connection_lifetime
        self._max_lifetime = max_lifetime
        self._connect_fn = connect if connect is not None else pgjet_connect
        self._connect_args = connect_args
        self._connect_kwargs = connect_kwargs
        self._setup = setup
        self._init = init
        self._reset = reset
        self._user_loop = loop
        self._connection_class = connection_class
        self._record_class = record_class
        self._type_catalogs = SharedTypeCatalogs()
        self._acquire_timeout = acquire_timeout
        self._max_waiting = max_waiting
        self._health_check_after = health_check_after
        self._health_check_timeout = health_check_timeout
        self._always_reset = session_reset == "always"
        self._reset_timeout = reset_timeout
        self._backoff = Backoff(reconnect_initial_delay, reconnect_max_delay)
        self._reconnect_timeout = reconnect_timeout
        self._reconnect_failed = reconnect_failed
        self._null = null_pool

        self._loop: asyncio.AbstractEventLoop | None = None
        self._fork_mark = _fork_generation[0]
        self._opened = False
        self._initialized = False
        self._initializing = False
        self._closing = False
        self._closed = False
        self._generation = 0
        self._slots: set[Slot] = set()
        self._idle: collections.deque[Slot] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[Slot]] = collections.deque()
        self._n_waiting = 0
        self._connecting = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._all_returned: asyncio.Event | None = None
        self._grown: asyncio.Event | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._backoff_timer: asyncio.TimerHandle | None = None
        self._reconnect_failed_called = False
        self._stats = Stats()

    # -- opening -------------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, Pool]:
        return self._initialize().__await__()

    async def __aenter__(self) -> Pool:
        return await self._initialize()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _initialize(self) -> Pool:
        """asyncpg's ``await pool``: open ``init_size`` connections, raising the first error."""
        if self._initialized:
            return self
        if self._initializing:
            raise errors.InterfaceError("the pool is being initialized by another task")
        self._check_usable()
        self._initializing = True
        try:
            self._start()
            if self._init_size:
                # One first, so that a wrong password or an unreachable server
                # surfaces as one clear error, then the rest together.
                self._add_initial(await self._begin_connect())
                rest = [self._begin_connect() for _ in range(self._init_size - 1)]
                results = await asyncio.gather(*rest, return_exceptions=True)
                failure: BaseException | None = None
                for result in results:
                    if isinstance(result, BaseException):
                        failure = failure or result
                    else:
                        self._add_initial(result)
                if failure is not None:
                    raise failure
            self._initialized = True
        except BaseException:
            self.terminate()
            raise
        finally:
            self._initializing = False
        return self

    def _add_initial(self, slot: Slot) -> None:
        self._slots.add(slot)
        self._hand_off(slot)

    async def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        """psycopg_pool's ``open()``: start filling to ``min_size`` in the background.

        Connection failures are retried with back-off, never raised here;
        ``wait=True`` (or :meth:`wait`) waits until ``min_size`` are proven.
        """
        self._check_usable()
        if not self._opened:
            self._start()
            self._initialized = True
        if wait:
            await self.wait(timeout)

    async def wait(self, timeout: float = 30.0) -> None:
        """Wait until ``min_size`` connections are open; raise PoolTimeout after `timeout`."""
        self._check_usable()
        if not self._opened:
            raise errors.InterfaceError("the pool is not open: call open() first")
        assert self._grown is not None
        deadline = time.monotonic() + timeout
        while len(self._slots) < self._min_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout_error(
                    f"the pool did not reach min_size={self._min_size} within {timeout:g}s "
                    f"({len(self._slots)} connection(s) open)"
                )
            self._grown.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._grown.wait(), remaining)

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._user_loop is not None and self._user_loop is not loop:
            raise errors.InterfaceError("create_pool(loop=...) must be the running event loop")
        self._loop = loop
        self._opened = True
        self._grown = asyncio.Event()
        self._maintenance = loop.create_task(self._maintain())

    # -- acquiring -----------------------------------------------------------------

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext:
        """A connection: ``async with pool.acquire() as conn:`` or ``conn = await pool.acquire()``.

        `timeout` (default: the pool's ``acquire_timeout``) bounds the wait,
        health check and ``setup`` included.
        """
        self._check_usable()
        return PoolAcquireContext(self, timeout)

    async def _acquire(self, timeout: float | None) -> PoolConnectionProxy:
        self._check_usable()
        if not self._initialized:
            raise errors.InterfaceError(
                "the pool is not initialized: `await pool` (or `await pool.open()`) first"
            )
        if timeout is None:
            timeout = self._acquire_timeout
        elif timeout <= 0:
            raise errors.ClientConfigurationError(f"timeout must be positive, got {timeout!r}")
        now = time.monotonic()
        deadline = None if timeout is None else now + timeout
        self._stats.requests_num += 1
        while True:
            slot = self._take_idle()
            if slot is None:
                slot = await self._wait_for_slot(deadline, timeout)
            elif (
                self._health_check_after is not None
                and now - slot.idle_since >= self._health_check_after
                and not await self._check_health(slot, deadline)
            ):
                now = time.monotonic()
                continue
            break
        lease = PoolConnectionProxy(self, slot)
        slot.lease = lease
        slot.leased_at = time.monotonic()
        if self._setup is not None:
            try:
                await self._run_bounded(self._setup(lease), deadline, "setup")
            except BaseException:
                task = self._release(lease)
                if task is not None:
                    await asyncio.shield(task)
                raise
        return lease

    def _take_idle(self) -> Slot | None:
        idle = self._idle
        while idle:
            slot = idle.pop()
            if slot.conn.is_closed():
                self._stats.connections_lost += 1
                self._discard(slot)
            elif slot.generation != self._generation or time.monotonic() >= slot.expires:
                self._retire(slot)
            else:
                return slot
        return None

    async def _wait_for_slot(self, deadline: float | None, timeout: float | None) -> Slot:
        if deadline is not None and time.monotonic() >= deadline:
            self._stats.requests_errors += 1
            raise self._acquire_timeout_error(timeout)
        if self._max_waiting and self._n_waiting >= self._max_waiting:
            self._stats.requests_errors += 1
            raise TooManyWaitersError(
                f"{self._n_waiting} requests are already waiting for a connection "
                f"(max_waiting={self._max_waiting}); refusing this one"
            )
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Slot] = loop.create_future()
        self._waiters.append(fut)
        self._n_waiting += 1
        self._stats.requests_queued += 1
        started = time.monotonic()
        timer = None
        if deadline is not None:
            timer = loop.call_later(deadline - started, self._waiter_timed_out, fut, timeout)
        self._grow()
        try:
            return await fut
        except BaseException as exc:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                # Cancelled just after a connection was handed over: pass it on.
                self._hand_off(fut.result())
            if not isinstance(exc, asyncio.CancelledError):
                self._stats.requests_errors += 1
            raise
        finally:
            if fut.cancelled():
                self._n_waiting -= 1  # else the pool counted it when it settled the future
            if timer is not None:
                timer.cancel()
            self._stats.requests_wait_time += time.monotonic() - started

    def _waiter_timed_out(self, fut: asyncio.Future[Slot], timeout: float | None) -> None:
        if not fut.done():
            self._n_waiting -= 1
            fut.set_exception(self._acquire_timeout_error(timeout))

    def _acquire_timeout_error(self, timeout: float | None) -> PoolTimeout:
        in_use = len(self._slots) - len(self._idle)
        return self._timeout_error(
            f"no connection became available within {timeout:g}s "
            f"({len(self._slots)} open of max_size={self._max_size}, {in_use} in use, "
            f"{self._n_waiting} waiting)"
        )

    def _timeout_error(self, message: str) -> PoolTimeout:
        cause = self._backoff.last_error
        if cause is not None:
            message += "; " + self._backoff.describe()
        exc = PoolTimeout(message)
        exc.__cause__ = cause
        return exc

    async def _check_health(self, slot: Slot, deadline: float | None) -> bool:
        """A round trip on a connection that sat idle long; False if it was discarded."""
        budget = self._health_check_timeout
        if deadline is not None:
            budget = max(min(budget, deadline - time.monotonic()), 1e-3)
        self._stats.health_checks += 1
        try:
            await slot.conn.execute("", timeout=budget)
        except Exception as exc:
            logger.info("a pooled connection failed its health check (%r); replacing it", exc)
            self._stats.connections_lost += 1
            self._discard(slot)
            return False
        except BaseException:
            self._discard(slot)  # cancelled mid-check: its state is unknown
            raise
        return True

    async def _run_bounded(self, aw: Awaitable[Any], deadline: float | None, what: str) -> Any:
        if deadline is None:
            return await aw
        try:
            return await asyncio.wait_for(aw, max(deadline - time.monotonic(), 1e-3))
        except asyncio.TimeoutError:
            raise PoolTimeout(f"the pool's {what} callback did not finish in time") from None

    # -- releasing -----------------------------------------------------------------

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:
        """Give a connection back (what ``async with pool.acquire()`` does on exit).

        Costs no round trip when the lease changed nothing in the session.
        Releasing twice does nothing.
        """
        if type(connection) is not PoolConnectionProxy or connection._pool is not self:
            raise errors.InterfaceError(
                f"Pool.release() received an invalid connection: {connection!r} "
                "was not acquired from this pool"
            )
        task = self._release(connection)
        if task is not None:
            await asyncio.shield(task)

    def _release(self, lease: PoolConnectionProxy) -> asyncio.Task[None] | None:
        """Return the lease's connection; a task when it needs I/O first, else None."""
        con = lease._detach()
        if con is None:
            return None  # already released
        slot = lease._slot
        slot.lease = None
        now = time.monotonic()
        stats = self._stats
        stats.usage_time += now - slot.leased_at
        slot.queries += lease._queries
        changes = lease._changes
        if con.is_closed():
            stats.returns_bad += 1
            self._discard(slot)
            return None
        if (
            self._closing
            or self._null
            or changes & Change.REPLACE
            or slot.generation != self._generation
            or slot.queries >= self._max_queries
            or now >= slot.expires
        ):
            stats.releases_replaced += 1
            self._retire(slot)
            return None
        forget_client_listeners(con)
        if (
            changes
            or lease._listeners
            or transaction_status(con) != "I"
            or pending_operations(con)
            or cancel_requests_in_flight(con)
            or slot.settings_changed()
            or self._reset is not None
            or self._always_reset
        ):
            loop = asyncio.get_running_loop()
            task = loop.create_task(self._clean_then_return(slot, changes, lease._listeners))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return task
        self._hand_off(slot)
        return None

    async def _clean_then_return(
        self, slot: Slot, changes: Change, listeners: list[tuple[str, Any]]
    ) -> None:
        try:
            if await clean_session(
                slot,
                changes,
                listeners,
                always=self._always_reset,
                user_reset=self._reset,
                timeout=self._reset_timeout,
            ):
                self._stats.releases_reset += 1
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                logger.warning("resetting a released connection failed (%r); closing it", exc)
            self._stats.returns_bad += 1
            self._discard(slot)
            if isinstance(exc, asyncio.CancelledError) and not self._closing:
                raise
            return
        self._hand_off(slot)

    def _hand_off(self, slot: Slot) -> None:
        """Give a clean connection to the first waiter, or make it idle."""
        if self._closing:
            self._retire(slot)
            return
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                self._n_waiting -= 1
                fut.set_result(slot)
                return
        if self._null:
            self._retire(slot)
            return
        slot.idle_since = time.monotonic()
        self._idle.append(slot)

    def _discard(self, slot: Slot) -> None:
        """Drop a broken or dirty connection at once (no goodbye to the server)."""
        self._slots.discard(slot)
        with contextlib.suppress(ValueError):
            self._idle.remove(slot)
        if not slot.conn.is_closed():
            slot.conn.terminate()
        self._after_shrink()

    def _retire(self, slot: Slot) -> None:
        """Close a healthy connection politely (Terminate) and drop it."""
        self._slots.discard(slot)
        with contextlib.suppress(ValueError):
            self._idle.remove(slot)
        self._spawn(close_quietly(slot.conn))
        self._after_shrink()

    def _after_shrink(self) -> None:
        if not self._closing:
            self._grow()
            self._wake_maintenance()
        elif not self._slots and self._all_returned is not None:
            self._all_returned.set()

    # -- opening connections -----------------------------------------------------------

    def _begin_connect(self) -> Awaitable[Slot]:
        """Count the attempt now (so concurrent growth decisions see it), open it later."""
        self._connecting += 1
        return self._counted_connect()

    async def _counted_connect(self) -> Slot:
        try:
            return await self._new_slot()
        finally:
            self._connecting -= 1

    async def _new_slot(self) -> Slot:
        """Open one connection (connect + init). Raises what connecting raised."""
        started = time.monotonic()
        try:
            con = await self._connect_fn(
                *self._connect_args,
                connection_class=self._connection_class,
                record_class=self._record_class,
                **self._connect_kwargs,
            )
        except BaseException:
            self._stats.connections_errors += 1
            raise
        try:
            if not isinstance(con, self._connection_class):
                raise errors.InterfaceError(
                    f"the pool's connect() returned {con!r}, not a {self._connection_class!r}"
                )
            con._share_type_catalog(self._type_catalogs)  # read types once per pool
            if self._init is not None:
                await self._init(con)
        except BaseException:
            con.terminate()
            self._stats.connections_errors += 1
            raise
        self._stats.connections_num += 1
        self._stats.connections_time += time.monotonic() - started
        return Slot(con, self._generation, self._max_lifetime)

    def _grow(self) -> None:
        """Start opening connections for waiters and for ``min_size``, within the back-off."""
        if self._closing or not self._initialized:
            return
        total = len(self._slots) + self._connecting
        wanted = max(self._min_size - total, self._n_waiting - self._connecting)
        wanted = min(wanted, self._max_size - total)
        if wanted <= 0:
            return
        if self._backoff.failing:
            # Recovering: probe with one attempt at a time, after the delay.
            wanted = 1 - self._connecting
            if wanted <= 0:
                return
            delay = self._backoff.wait_left()
            if delay > 0:
                if self._backoff_timer is None:
                    assert self._loop is not None
                    self._backoff_timer = self._loop.call_later(delay, self._backoff_over)
                return
        for _ in range(wanted):
            self._spawn(self._open_in_background(self._begin_connect()))

    def _backoff_over(self) -> None:
        self._backoff_timer = None
        self._grow()

    async def _open_in_background(self, attempt: Awaitable[Slot]) -> None:
        try:
            slot = await attempt
        except Exception as exc:
            self._connect_failed(exc)
            return
        if self._closing:
            await close_quietly(slot.conn)
            return
        self._connect_succeeded()
        self._slots.add(slot)
        if self._grown is not None:
            self._grown.set()
        self._hand_off(slot)
        self._grow()

    def _connect_failed(self, exc: BaseException) -> None:
        backoff = self._backoff
        delay = backoff.failed(exc)
        logger.warning(
            "could not open a pooled connection (%d failure(s) in a row): %s: %s; "
            "retrying in %.2fs",
            backoff.failures,
            type(exc).__name__,
            exc,
            delay,
        )
        if not self._reconnect_failed_called and backoff.failing_for() >= self._reconnect_timeout:
            self._reconnect_failed_called = True  # once per outage
            if self._reconnect_failed is not None:
                result = self._reconnect_failed(self)
                if asyncio.iscoroutine(result):
                    self._spawn(result)
        self._grow()

    def _connect_succeeded(self) -> None:
        if self._backoff.failing:
            logger.info(
                "the pool opened a connection again after %d failure(s)", self._backoff.failures
            )
        self._backoff.succeeded()
        self._reconnect_failed_called = False

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- maintenance -------------------------------------------------------------------

    async def _maintain(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            next_run = self._expire_idle()
            self._grow()
            wake: asyncio.Future[None] = loop.create_future()
            self._wake = wake
            handle = loop.call_later(max(next_run - time.monotonic(), 0.01), _settle, wake)
            try:
                await wake
            finally:
                handle.cancel()
                self._wake = None

    def _wake_maintenance(self) -> None:
        if self._wake is not None:
            _settle(self._wake)

    def _expire_idle(self) -> float:
        """Close idle connections that are dead, expired or idle too long; when to look again."""
        now = time.monotonic()
        next_run = now + 1.0
        excess = len(self._slots) - self._min_size
        for slot in list(self._idle):  # oldest idle first
            if slot.conn.is_closed():
                self._stats.connections_lost += 1
                self._discard(slot)
                excess -= 1
            elif (
                slot.generation != self._generation
                or now >= slot.expires
                or (self._max_idle and excess > 0 and now - slot.idle_since >= self._max_idle)
            ):
                self._retire(slot)
                excess -= 1
            else:
                next_run = min(next_run, slot.expires)
                if self._max_idle and excess > 0:
                    next_run = min(next_run, slot.idle_since + self._max_idle)
        return next_run

    # -- closing -----------------------------------------------------------------------

    async def close(self, *, timeout: float | None = None) -> None:
        """Wait for every connection to be released, then close them all.

        New acquires fail at once and queued ones get :class:`PoolClosedError`.
        Without a `timeout` it waits as long as it takes (warning after 60s);
        with one, connections still leased after it are terminated.
        """
        if self._closed:
            return
        if self._forked():
            self._forget_after_fork()
            return
        self._begin_closing()
        returned = self._all_returned
        assert returned is not None
        if self._slots:
            if timeout is None:
                try:
                    await asyncio.wait_for(asyncio.shield(returned.wait()), 60.0)
                except asyncio.TimeoutError:
                    warnings.warn(
                        f"Pool.close() has waited 60s for {len(self._slots)} leased "
                        "connection(s) to be released",
                        errors.InterfaceWarning,
                        stacklevel=2,
                    )
                    await returned.wait()
            else:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(returned.wait(), timeout)
        for slot in list(self._slots):
            if slot.lease is not None:
                slot.lease._detach()
            self._discard(slot)
        await self._finish_tasks()
        self._closed = True

    def terminate(self) -> None:
        """Close every connection at once, leased or not."""
        if self._closed:
            return
        if self._forked():
            self._forget_after_fork()
            return
        self._begin_closing()
        for slot in list(self._slots):
            if slot.lease is not None:
                slot.lease._detach()
            self._discard(slot)
        for task in list(self._tasks):
            task.cancel()
        self._closed = True

    def _begin_closing(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._all_returned = asyncio.Event()
        if self._maintenance is not None:
            self._maintenance.cancel()
        if self._backoff_timer is not None:
            self._backoff_timer.cancel()
            self._backoff_timer = None
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                self._n_waiting -= 1
                fut.set_exception(PoolClosedError("the pool is closing"))
        for slot in list(self._idle):
            self._retire(slot)
        if not self._slots:
            self._all_returned.set()

    async def _finish_tasks(self) -> None:
        for _ in range(3):  # closing tasks may spawn one more round of them
            tasks = [t for t in self._tasks if not t.done()]
            if not tasks:
                break
            await asyncio.wait(tasks, timeout=5.0)
        if self._maintenance is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance

    def _forget_after_fork(self) -> None:
        """In a child after fork: drop everything without touching the parent's sockets."""
        self._closing = self._closed = True
        self._slots.clear()
        self._idle.clear()
        self._waiters.clear()
        self._tasks.clear()

    async def expire_connections(self) -> None:
        """Replace every connection: idle ones now, leased ones when released."""
        self._generation += 1
        for slot in list(self._idle):
            self._retire(slot)

    def set_connect_args(self, dsn: str | None = None, **connect_kwargs: Any) -> None:
        """New connection arguments, used by connections opened from now on."""
        self._connect_args = (dsn,)
        self._connect_kwargs = connect_kwargs

    # -- state -------------------------------------------------------------------------

    def get_size(self) -> int:
        """Open connections, leased and idle."""
        return len(self._slots)

    def get_min_size(self) -> int:
        return self._min_size

    def get_max_size(self) -> int:
        return self._max_size

    def get_idle_size(self) -> int:
        return len(self._idle)

    def is_closing(self) -> bool:
        return self._closing or self._closed

    def get_stats(self) -> dict[str, int]:
        """Gauges (pool_*, requests_waiting) and counters since the last pop_stats()."""
        stats = {
            "pool_min": self._min_size,
            "pool_max": self._max_size,
            "pool_size": len(self._slots) + self._connecting,
            "pool_available": len(self._idle),
            "requests_waiting": self._n_waiting,
        }
        stats.update(self._stats.as_dict())
        return stats

    def pop_stats(self) -> dict[str, int]:
        """:meth:`get_stats`, then zero the counters."""
        stats = self.get_stats()
        self._stats = Stats()
        return stats

    def _forked(self) -> bool:
        return self._fork_mark != _fork_generation[0]

    def _check_usable(self) -> None:
        if self._fork_mark != _fork_generation[0]:
            raise PoolForkedError(
                f"this pool was created in a parent process; a child process (pid "
                f"{os.getpid()}) must create its own pool after fork(): sharing the "
                "parent's connections would mix the two processes' queries"
            )
        if self._closing or self._closed:
            state = "closed" if self._closed else "closing"
            raise PoolClosedError(f"the pool is {state}")

    def __repr__(self) -> str:
        state = "closed" if self._closed else "closing" if self._closing else "open"
        return (
            f"<pgjet.Pool {state} size={len(self._slots)} idle={len(self._idle)} "
            f"min={self._min_size} max={self._max_size}>"
        )


class PoolAcquireContext:
    """What ``pool.acquire()`` returns: awaitable, and an async context manager."""

    __slots__ = ("_lease", "_pool", "_timeout")

    def __init__(self, pool: Pool, timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._lease: PoolConnectionProxy | None = None

    async def __aenter__(self) -> PoolConnectionProxy:
        if self._lease is not None:
            raise errors.InterfaceError("a connection is already acquired by this context")
        self._lease = await self._pool._acquire(self._timeout)
        return self._lease

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        lease = self._lease
        self._lease = None
        if lease is not None:
            task = self._pool._release(lease)
            if task is not None:
                await asyncio.shield(task)

    def __await__(self) -> Generator[Any, None, PoolConnectionProxy]:
        return self._pool._acquire(self._timeout).__await__()


def create_pool(dsn: str | None = None, **kwargs: Any) -> Pool:
    """A :class:`Pool`; ``await`` it (or ``async with`` it) to open it, as asyncpg's.

    Takes asyncpg's arguments (``min_size``, ``max_size``, ``max_queries``,
    ``max_inactive_connection_lifetime``, ``setup``, ``init``, ``reset``,
    ``connection_class``, ``record_class``, ``**connect_kwargs``) and
    psycopg_pool's lifecycle ones; see docs/pool.md.
    """
    return Pool(dsn, **kwargs)


# -- helpers ------------------------------------------------------------------------------


def _settle(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)

"""Acquiring: the idle stack, the waiting queue, and handing connections over.

Leases come from a LIFO stack of idle connections (hot connections stay hot;
the coldest ones idle out above ``min_size``). Waiters queue FIFO, bounded by
``max_waiting``, each until its own deadline; a released or newly opened
connection goes straight to the first of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Generator
from types import TracebackType
from typing import Any

from pgjet import errors
from pgjet.pool._core import PoolCore
from pgjet.pool._errors import PoolTimeout, TooManyWaitersError
from pgjet.pool._lease import PoolConnectionProxy
from pgjet.pool._slot import Slot


class Acquiring(PoolCore):
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

    async def _run_bounded(self, aw: Awaitable[Any], deadline: float | None, what: str) -> Any:
        if deadline is None:
            return await aw
        try:
            return await asyncio.wait_for(aw, max(deadline - time.monotonic(), 1e-3))
        except asyncio.TimeoutError:
            raise PoolTimeout(f"the pool's {what} callback did not finish in time") from None

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


class PoolAcquireContext:
    """What ``pool.acquire()`` returns: awaitable, and an async context manager."""

    __slots__ = ("_lease", "_pool", "_timeout")

    def __init__(self, pool: Acquiring, timeout: float | None) -> None:
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

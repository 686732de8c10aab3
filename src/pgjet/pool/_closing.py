"""Closing: politely (waiting for leases) or at once, and forgetting after fork()."""

from __future__ import annotations

import asyncio
import contextlib
import warnings

from pgjet import errors
from pgjet.pool._core import PoolCore
from pgjet.pool._errors import PoolClosedError


class Closing(PoolCore):
    async def close(self, *, timeout: float | None = None) -> None:
        """Wait for every connection to be released, then close them all.

        New acquires fail at once and queued ones get :class:`PoolClosedError`.
        Without a `timeout` it waits as long as it takes (warning after 60s);
        with one, connections still leased after it are terminated.
        """
        if not self._begin_closing():
            return
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
        self._drop_connections()
        await self._finish_tasks()
        self._closed = True

    def terminate(self) -> None:
        """Close every connection at once, leased or not."""
        if not self._begin_closing():
            return
        self._drop_connections()
        for task in list(self._tasks):
            task.cancel()
        self._closed = True

    def _begin_closing(self) -> bool:
        """Refuse new requests, fail queued ones; False when there is nothing to close."""
        if self._closed:
            return False
        if self._forked():
            self._forget_after_fork()
            return False
        if self._closing:
            return True
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
        return True

    def _drop_connections(self) -> None:
        """Close what is left at once; a lease still out can no longer reach its connection."""
        for slot in list(self._slots):
            if slot.lease is not None:
                slot.lease._detach()
            self._discard(slot)

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

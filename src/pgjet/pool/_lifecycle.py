"""The end of a pooled connection's life: health checks, lifetimes, idling out.

One maintenance task closes connections past ``max_lifetime``, idle ones
above ``min_size`` past ``max_idle``, and refills ``min_size``. A connection
that sat idle long gets a health check before it is leased again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from pgjet.pool._cleanup import close_quietly
from pgjet.pool._core import PoolCore, logger
from pgjet.pool._slot import Slot


class ConnectionLifecycle(PoolCore):
    # -- dropping a connection ---------------------------------------------------------

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

    async def expire_connections(self) -> None:
        """Replace every connection: idle ones now, leased ones when released."""
        self._generation += 1
        for slot in list(self._idle):
            self._retire(slot)

    # -- health checks -----------------------------------------------------------------

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


def _settle(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)

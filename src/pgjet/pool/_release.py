"""Releasing: a connection goes back clean, at no round trip when nothing changed.

What a lease changed is tracked (see ``_session.py``); the cleanup that is
needed runs in a task of its own, so that a caller cancelled mid-release
cannot leak or poison the connection.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pgjet import errors
from pgjet.pool._cleanup import clean_session, forget_client_listeners
from pgjet.pool._core import PoolCore, logger
from pgjet.pool._lease import PoolConnectionProxy
from pgjet.pool._session import (
    Change,
    cancel_requests_in_flight,
    pending_operations,
    transaction_status,
)
from pgjet.pool._slot import Slot


class Releasing(PoolCore):
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

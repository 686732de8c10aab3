"""Opening connections: for waiters and for ``min_size``, in the background.

After a failure the pool backs off exponentially (with jitter) and probes
with one attempt at a time; ``reconnect_failed`` is called once per outage
that lasts ``reconnect_timeout``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

from pgjet import errors
from pgjet.pool._cleanup import close_quietly
from pgjet.pool._core import PoolCore, logger
from pgjet.pool._slot import Slot


class Growth(PoolCore):
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

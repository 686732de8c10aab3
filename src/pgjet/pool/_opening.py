"""Opening: asyncpg's ``await pool`` (raising the first connection error) and
psycopg_pool's ``open()``/``wait()`` (filling ``min_size`` in the background)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TypeVar

from pgjet import errors
from pgjet.pool._core import PoolCore
from pgjet.pool._slot import Slot

_Self = TypeVar("_Self", bound="Opening")


class Opening(PoolCore):
    async def _initialize(self: _Self) -> _Self:
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

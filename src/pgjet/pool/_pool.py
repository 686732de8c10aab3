"""The connection pool: asyncpg's interface, psycopg_pool's lifecycle.

:class:`Pool` is the public face; its behaviour lives in one module per
concern, mixed in over the shared state of ``_core.py``:

* ``_opening.py``: ``await pool`` / ``open()`` / ``wait()``;
* ``_acquire.py``: the LIFO idle stack, the FIFO waiting queue, hand-over;
* ``_release.py``: release at no round trip unless the lease changed something;
* ``_growth.py``: opening connections in the background, with back-off;
* ``_lifecycle.py``: health checks, ``max_lifetime``, ``max_idle``, maintenance;
* ``_closing.py``: ``close()`` / ``terminate()``, and forgetting after fork().
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any

from pgjet.connect import connect as pgjet_connect
from pgjet.connection import Connection
from pgjet.pool._acquire import Acquiring, PoolAcquireContext
from pgjet.pool._backoff import Backoff
from pgjet.pool._closing import Closing
from pgjet.pool._config import check_config
from pgjet.pool._core import ConnectionCallback
from pgjet.pool._growth import Growth
from pgjet.pool._lifecycle import ConnectionLifecycle
from pgjet.pool._opening import Opening
from pgjet.pool._release import Releasing
from pgjet.pool._shortcuts import PoolShortcuts
from pgjet.pool._stats import Stats
from pgjet.record import Record

__all__ = ["Pool", "PoolAcquireContext", "create_pool"]


class Pool(Opening, Acquiring, Releasing, Closing, Growth, ConnectionLifecycle, PoolShortcuts):
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
            connection_class=connection_class,
        )
        super().__init__()
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

    def __repr__(self) -> str:
        state = "closed" if self._closed else "closing" if self._closing else "open"
        return (
            f"<pgjet.Pool {state} size={len(self._slots)} idle={len(self._idle)} "
            f"min={self._min_size} max={self._max_size}>"
        )


def create_pool(dsn: str | None = None, **kwargs: Any) -> Pool:
    """A :class:`Pool`; ``await`` it (or ``async with`` it) to open it, as asyncpg's.

    Takes asyncpg's arguments (``min_size``, ``max_size``, ``max_queries``,
    ``max_inactive_connection_lifetime``, ``setup``, ``init``, ``reset``,
    ``connection_class``, ``record_class``, ``**connect_kwargs``) and
    psycopg_pool's lifecycle ones; see docs/pool.md.
    """
    return Pool(dsn, **kwargs)

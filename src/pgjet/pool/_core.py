"""What every part of the pool shares: its settings, its state, and their contract.

:class:`~pgjet.pool.Pool` is assembled from one class per concern (opening,
acquiring, releasing, closing, growing, the connections' lifecycle), each in
a module of its own and each a subclass of :class:`PoolCore`. They all work
on the state declared here; what one part asks of another is declared at the
end of the class, for the type checker, and defined by the part named there.
Mixing them in (rather than delegating to helper objects) keeps the acquire
and release paths free of extra calls.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pgjet.connection import Connection
from pgjet.introspection import SharedTypeCatalogs
from pgjet.pool._backoff import Backoff
from pgjet.pool._errors import PoolClosedError, PoolTimeout
from pgjet.pool._fork import fork_generation, forked_error
from pgjet.pool._slot import Slot
from pgjet.pool._stats import Stats
from pgjet.record import Record

if TYPE_CHECKING:
    from pgjet.pool._lease import PoolConnectionProxy

logger = logging.getLogger("pgjet.pool")

ConnectionCallback = Callable[[Any], Awaitable[None]]


class PoolCore:
    # -- settings: checked and set by Pool.__init__ ------------------------------------

    _min_size: int
    _max_size: int
    _init_size: int
    _max_queries: int
    _max_idle: float  # max_inactive_connection_lifetime; 0 disables it
    _max_lifetime: float | None
    _connect_fn: Callable[..., Awaitable[Connection]]
    _connect_args: tuple[Any, ...]
    _connect_kwargs: dict[str, Any]
    _setup: ConnectionCallback | None
    _init: ConnectionCallback | None
    _reset: ConnectionCallback | None
    _user_loop: asyncio.AbstractEventLoop | None
    _connection_class: type[Connection]
    _record_class: type[Record]
    _acquire_timeout: float | None
    _max_waiting: int
    _health_check_after: float | None
    _health_check_timeout: float
    _always_reset: bool  # session_reset="always"
    _reset_timeout: float
    _backoff: Backoff
    _reconnect_timeout: float
    _reconnect_failed: Callable[[Any], Any] | None  # called with the Pool
    _null: bool  # null_pool: every connection is closed on release

    # -- state -------------------------------------------------------------------------

    def __init__(self) -> None:
        self._type_catalogs = SharedTypeCatalogs()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fork_mark = fork_generation[0]
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

    # -- helpers every part uses -------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _forked(self) -> bool:
        return self._fork_mark != fork_generation[0]

    def _check_usable(self) -> None:
        if self._fork_mark != fork_generation[0]:
            raise forked_error()
        if self._closing or self._closed:
            state = "closed" if self._closed else "closing"
            raise PoolClosedError(f"the pool is {state}")

    def _timeout_error(self, message: str) -> PoolTimeout:
        cause = self._backoff.last_error
        if cause is not None:
            message += "; " + self._backoff.describe()
        exc = PoolTimeout(message)
        exc.__cause__ = cause
        return exc

    # -- what the parts ask of each other -----------------------------------------------

    if TYPE_CHECKING:
        # _lifecycle.py
        def _discard(self, slot: Slot) -> None: ...
        def _retire(self, slot: Slot) -> None: ...
        async def _check_health(self, slot: Slot, deadline: float | None) -> bool: ...
        async def _maintain(self) -> None: ...

        # _growth.py
        def _grow(self) -> None: ...
        def _begin_connect(self) -> Awaitable[Slot]: ...

        # _acquire.py
        def _hand_off(self, slot: Slot) -> None: ...

        # _release.py
        def _release(self, lease: PoolConnectionProxy) -> asyncio.Task[None] | None: ...

        # _closing.py
        async def close(self, *, timeout: float | None = None) -> None: ...
        def terminate(self) -> None: ...

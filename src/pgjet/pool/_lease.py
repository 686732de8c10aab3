"""The connection object a pool hands out: one lease of one pooled connection.

As asyncpg's ``PoolConnectionProxy``: it forwards to the connection while
leased and raises ``InterfaceError`` once released, so a stale reference can
never run a query inside someone else's lease. Prepared statements and
cursors obtained through it are bound to the lease the same way.

It also notes, per lease, what the SQL it forwarded may have changed in the
session (:func:`pgjet.pool._session.classify`), so that release can skip
the reset round trip when nothing did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pgjet import errors
from pgjet.connection import Connection
from pgjet.pool._session import Change, classify

if TYPE_CHECKING:
    from pgjet.pool._core import PoolCore
    from pgjet.pool._slot import Slot


class PoolConnectionProxy:
    """A leased connection. Everything of :class:`~pgjet.Connection` works on it."""

    __slots__ = ("__weakref__", "_changes", "_con", "_listeners", "_pool", "_queries", "_slot")

    def __init__(self, pool: PoolCore, slot: Slot) -> None:
        self._pool = pool
        self._slot = slot
        self._con: Connection | None = slot.conn
        self._changes = Change.NONE
        self._queries = 0
        self._listeners: list[tuple[str, Any]] = []

    # -- queries: forwarded, noting what they may change -----------------------------

    def _note(self, query: object) -> Connection:
        con = self._con
        if con is None:
            raise _released("run a query")
        self._queries += 1
        if type(query) is str:
            found = classify(query)
            if found:
                self._changes |= found
        return con

    def execute(self, query: str, *args: Any, timeout: float | None = None) -> Awaitable[str]:
        return self._note(query).execute(query, *args, timeout=timeout)

    def executemany(
        self, command: str, args: Iterable[Sequence[Any]], *, timeout: float | None = None
    ) -> Awaitable[None]:
        return self._note(command).executemany(command, args, timeout=timeout)

    def fetch(
        self, query: str, *args: Any, timeout: float | None = None, record_class: Any = None
    ) -> Awaitable[list[Any]]:
        return self._note(query).fetch(query, *args, timeout=timeout, record_class=record_class)

    def fetchrow(
        self, query: str, *args: Any, timeout: float | None = None, record_class: Any = None
    ) -> Awaitable[Any]:
        return self._note(query).fetchrow(query, *args, timeout=timeout, record_class=record_class)

    def fetchval(
        self, query: str, *args: Any, column: int | str = 0, timeout: float | None = None
    ) -> Awaitable[Any]:
        return self._note(query).fetchval(query, *args, column=column, timeout=timeout)

    def fetchmany(
        self,
        query: str,
        args: Iterable[Sequence[Any]],
        *,
        timeout: float | None = None,
        record_class: Any = None,
    ) -> Awaitable[list[Any]]:
        return self._note(query).fetchmany(query, args, timeout=timeout, record_class=record_class)

    async def prepare(self, query: str, **kwargs: Any) -> Any:
        statement = await self._note(query).prepare(query, **kwargs)
        return LeaseBound(self, statement, "PreparedStatement")

    def cursor(self, query: str, *args: Any, **kwargs: Any) -> Any:
        factory = self._note(query).cursor(query, *args, **kwargs)
        return LeaseBound(self, factory, "CursorFactory")

    def copy_from_query(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        method: Callable[..., Awaitable[Any]] = _method(self._note(query), "copy_from_query")
        return method(query, *args, **kwargs)

    async def add_listener(self, channel: str, callback: Any) -> None:
        method: Callable[..., Awaitable[None]] = _method(self._note("LISTEN"), "add_listener")
        await method(channel, callback)
        self._listeners.append((channel, callback))

    # -- everything else -------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        con = self._con
        if con is None:
            raise _released(f"use Connection.{name}")
        return getattr(con, name)

    def _detach(self) -> Connection | None:
        con = self._con
        self._con = None
        return con

    def __repr__(self) -> str:
        if self._con is None:
            return f"<{type(self).__name__} [released] {id(self):#x}>"
        return f"<{type(self).__name__} {self._con!r} {id(self):#x}>"


class LeaseBound:
    """A prepared statement or cursor usable only while its lease lasts."""

    __slots__ = ("_kind", "_lease", "_obj")

    def __init__(self, lease: PoolConnectionProxy, obj: Any, kind: str) -> None:
        self._lease = lease
        self._obj = obj
        self._kind = kind

    def _target(self, what: str) -> Any:
        if self._lease._con is None:
            raise errors.InterfaceError(
                f"cannot {what} of a {self._kind}: its connection has been released "
                "back to the pool"
            )
        return self._obj

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(f"use .{name}"), name)

    def __aiter__(self) -> Any:
        return self._target("iterate").__aiter__()

    def __await__(self) -> Generator[Any, None, Any]:
        cursor = yield from self._target("open").__await__()
        return LeaseBound(self._lease, cursor, "Cursor")

    def __repr__(self) -> str:
        return f"<lease-bound {self._obj!r}>"


def _method(con: Connection, name: str) -> Any:
    method = getattr(con, name, None)
    if method is None:
        raise AttributeError(f"{type(con).__name__!r} object has no attribute {name!r}")
    return method


def _released(what: str) -> errors.InterfaceError:
    return errors.InterfaceError(
        f"cannot {what}: the connection has been released back to the pool"
    )

"""Cursors over portals, as asyncpg's: ``async for`` with prefetch, or fetch/forward.

A portal lives until the end of its transaction, so cursors need one (as in
asyncpg). Each fetch is Execute(portal, n) + Sync: its own round trip and its
own operation, pipelined like everything else.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Generator, Sequence
from typing import TYPE_CHECKING, Any

from pgjet import errors
from pgjet._wire.core import StatementState

if TYPE_CHECKING:
    from pgjet.connection import Connection

_portal_ids = itertools.count(1)
DEFAULT_PREFETCH = 50


class CursorFactory:
    """``conn.cursor(...)``: iterate it with ``async for``, or ``await`` it for a Cursor."""

    __slots__ = (
        "_args",
        "_conn",
        "_owner",
        "_prefetch",
        "_query",
        "_record_class",
        "_state",
        "_timeout",
    )

    def __init__(
        self,
        conn: Connection,
        query: str,
        state: StatementState | None,
        args: Sequence[Any],
        prefetch: int | None,
        timeout: float | None,
        record_class: Any,
        owner: object = None,
    ) -> None:
        if prefetch is not None and prefetch <= 0:
            raise errors.InterfaceError(f"prefetch must be a positive integer, got {prefetch!r}")
        self._conn = conn
        self._query = query
        self._state = state
        self._args = args
        self._prefetch = prefetch or DEFAULT_PREFETCH
        self._timeout = timeout
        self._record_class = record_class
        # The PreparedStatement `state` belongs to: while it is referenced its
        # server-side statement stays open (dropping it queues a Close, which
        # would reach the server before this cursor's Bind).
        self._owner = owner

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        cursor = await self._open()
        try:
            while True:
                rows = await cursor._execute(self._prefetch)
                for row in rows:
                    yield row
                if cursor._exhausted:
                    break
        finally:
            cursor._close_portal()

    def __await__(self) -> Generator[Any, None, Cursor]:
        return self._open().__await__()

    async def _open(self) -> Cursor:
        conn = self._conn
        conn._check_open()
        if not conn.is_in_transaction():
            raise errors.NoActiveSQLTransactionError(
                "cursor cannot be created outside of a transaction"
            )
        state = self._state
        if state is None:
            for _ in range(3):
                state = await conn._engine.statement(self._query, self._record_class, self._timeout)
                if not state.closed:
                    break  # else evicted from the cache while we waited: again
        assert state is not None
        if state.closed:
            raise errors.InterfaceError("the prepared statement is closed")
        cursor = Cursor(conn, state, self._timeout, self._owner)
        await cursor._bind(self._args)
        return cursor


class Cursor:
    """An open portal: ``await cur.fetch(n)``, ``fetchrow()``, ``forward(n)``."""

    __slots__ = ("_conn", "_exhausted", "_owner", "_portal", "_state", "_timeout")

    def __init__(
        self,
        conn: Connection,
        state: StatementState,
        timeout: float | None,
        owner: object = None,
    ) -> None:
        self._conn = conn
        self._owner = owner  # see CursorFactory
        self._state = state
        self._timeout = timeout
        self._portal = f"pgjet_cursor_{next(_portal_ids)}".encode()
        self._exhausted = False

    async def _bind(self, args: Sequence[Any]) -> None:
        # Bind alone (Execute with 0 rows would fetch everything): ask for no
        # rows yet by executing nothing; the portal persists in the transaction.
        engine = self._conn._engine
        op = engine.start_bind(self._state, args, portal=self._portal)
        await engine.wait(op, self._timeout)
        if op.error_fields is not None:
            raise engine.error(op.error_fields, self._state.query)

    async def _execute(self, n: int, timeout: float | None = None) -> list[Any]:
        if self._exhausted:
            return []
        self._conn._check_open()
        engine = self._conn._engine
        op = engine.start_portal_execute(self._state, self._portal, n)
        await engine.wait(op, self._timeout if timeout is None else timeout)
        if op.error_fields is not None:
            raise engine.error(op.error_fields, self._state.query)
        if not op.suspended:
            self._exhausted = True
        return op.rows

    async def fetch(self, n: int, *, timeout: float | None = None) -> list[Any]:
        """The next `n` rows (fewer at the end)."""
        self._check_n(n)
        return await self._execute(n, timeout)

    async def fetchrow(self, *, timeout: float | None = None) -> Any:
        rows = await self._execute(1, timeout)
        return rows[0] if rows else None

    async def forward(self, n: int, *, timeout: float | None = None) -> int:
        """Skip `n` rows; return how many were skipped."""
        self._check_n(n)
        if self._exhausted:
            return 0
        portal = self._portal.decode()
        status = await self._conn.execute(
            f'MOVE FORWARD {int(n)} FROM "{portal}"',
            timeout=self._timeout if timeout is None else timeout,
        )
        moved = int(status.split()[-1])
        if moved < n:
            self._exhausted = True
        return moved

    def _close_portal(self) -> None:
        if not self._conn.is_closed():
            self._conn._engine.close_portal(self._portal)

    @staticmethod
    def _check_n(n: int) -> None:
        if not isinstance(n, int) or n <= 0:
            raise errors.InterfaceError(f"n must be a positive integer, got {n!r}")

    def __repr__(self) -> str:
        state = "exhausted" if self._exhausted else "open"
        return f"<pgjet.Cursor {state} {self._state.query!r}>"

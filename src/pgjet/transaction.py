"""Transactions: BEGIN/COMMIT/ROLLBACK, and savepoints when nested (asyncpg's semantics).

One rule beyond asyncpg's (which refuses any concurrent call on a connection):
while a task's transaction block is open, another *running* task cannot open
a block on the same connection; it would silently become a savepoint of the
first and share its fate.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
from types import TracebackType
from typing import TYPE_CHECKING

from pgjet import errors

if TYPE_CHECKING:
    from pgjet.connection import Connection

ISOLATION_LEVELS = {
    "read_committed": "READ COMMITTED",
    "read_uncommitted": "READ UNCOMMITTED",
    "repeatable_read": "REPEATABLE READ",
    "serializable": "SERIALIZABLE",
}

_savepoint_ids = itertools.count(1)


class TransactionState(enum.Enum):
    NEW = 0
    STARTED = 1
    COMMITTED = 2
    ROLLEDBACK = 3
    FAILED = 4


class Transaction:
    """Returned by :meth:`Connection.transaction`; use ``async with``."""

    __slots__ = (
        "_conn",
        "_deferrable",
        "_isolation",
        "_managed",
        "_nested",
        "_readonly",
        "_savepoint",
        "_state",
        "_task",
    )

    def __init__(
        self, conn: Connection, isolation: str | None, readonly: bool, deferrable: bool
    ) -> None:
        if isolation is not None and isolation not in ISOLATION_LEVELS:
            raise ValueError(
                f"isolation must be one of {sorted(ISOLATION_LEVELS)} or None, got {isolation!r}"
            )
        self._conn = conn
        self._isolation = isolation
        self._readonly = readonly
        self._deferrable = deferrable
        self._state = TransactionState.NEW
        self._nested = False
        self._savepoint: str | None = None
        self._managed = False  # inside `async with`: the block decides commit or rollback
        self._task: asyncio.Task[object] | None = None  # the task that opened a top block

    async def __aenter__(self) -> Transaction:
        if self._managed:
            raise errors.InterfaceError("cannot enter the transaction: already in `async with`")
        self._managed = True
        try:
            await self.start()
        except BaseException:
            self._managed = False
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self._commit()
            else:
                await self._rollback_quietly()
        finally:
            self._managed = False

    async def start(self) -> None:
        """Enter the transaction: BEGIN, or SAVEPOINT when one is already open."""
        self._check_state(TransactionState.NEW, "start")
        conn = self._conn
        top = conn._top_transaction
        if top is None:
            if conn.is_in_transaction():
                raise errors.InterfaceError(
                    "cannot use Connection.transaction() in a manually started transaction"
                )
            query = self._begin_query()
        else:
            owner = top._task
            if owner is not None and owner is not asyncio.current_task() and not owner.done():
                # Calls are pipelined, so another task's block would silently
                # become a savepoint of this one and share its fate: work it
                # "committed" would vanish if the outer block rolled back.
                raise errors.InterfaceError(
                    "cannot start a transaction: the connection is in a transaction block "
                    "opened by another task that is still running (use one connection per "
                    "concurrent transaction)"
                )
            # As asyncpg: a nested block inherits readonly/deferrable, and may
            # name an isolation level only if it is the one in force.
            if self._isolation is not None:
                outer = top._isolation
                if outer is None:
                    shown = await conn.fetchval("SHOW transaction_isolation")
                    outer = str(shown).replace(" ", "_")
                if self._isolation != outer:
                    raise errors.InterfaceError(
                        f"nested transaction has a different isolation level: current "
                        f"{self._isolation!r} != outer {outer!r}"
                    )
            self._nested = True
            self._savepoint = f"pgjet_savepoint_{next(_savepoint_ids)}"
            query = f"SAVEPOINT {self._savepoint}"
        if not self._nested:
            conn._top_transaction = self
            self._task = asyncio.current_task()
        try:
            await conn.execute(query)
        except BaseException:
            self._state = TransactionState.FAILED
            if not self._nested:
                conn._top_transaction = None
            raise
        self._state = TransactionState.STARTED

    async def commit(self) -> None:
        """COMMIT (or RELEASE the savepoint); not allowed inside ``async with``."""
        if self._managed:
            raise errors.InterfaceError("cannot commit manually inside an `async with` block")
        await self._commit()

    async def _commit(self) -> None:
        self._check_state(TransactionState.STARTED, "commit")
        query = f"RELEASE SAVEPOINT {self._savepoint}" if self._nested else "COMMIT"
        await self._end(query, TransactionState.COMMITTED)

    async def rollback(self) -> None:
        """ROLLBACK (to the savepoint); not allowed inside ``async with``."""
        if self._managed:
            raise errors.InterfaceError("cannot roll back manually inside an `async with` block")
        await self._rollback()

    async def _rollback(self) -> None:
        self._check_state(TransactionState.STARTED, "rollback")
        query = f"ROLLBACK TO {self._savepoint}" if self._nested else "ROLLBACK"
        await self._end(query, TransactionState.ROLLEDBACK)

    async def _end(self, query: str, outcome: TransactionState) -> None:
        """Run the COMMIT/ROLLBACK-like `query`; the block is left whatever happens."""
        try:
            await self._conn.execute(query)
        except BaseException:
            self._state = TransactionState.FAILED
            raise
        finally:
            self._leave()
        self._state = outcome

    async def _rollback_quietly(self) -> None:
        if self._state is not TransactionState.STARTED:
            return
        if self._conn.is_closed():
            self._state = TransactionState.FAILED
            self._leave()
            return
        await self._rollback()

    def _leave(self) -> None:
        if not self._nested and self._conn._top_transaction is self:
            self._conn._top_transaction = None

    def _begin_query(self) -> str:
        parts = ["BEGIN"]
        if self._isolation is not None:
            parts.append(f"ISOLATION LEVEL {ISOLATION_LEVELS[self._isolation]}")
        if self._readonly:
            parts.append("READ ONLY")
        if self._deferrable:
            parts.append("DEFERRABLE")
        return " ".join(parts)

    def _check_state(self, wanted: TransactionState, action: str) -> None:
        if self._state is not wanted:
            raise errors.InterfaceError(
                f"cannot {action}; the transaction is in {self._state.name.lower()} state"
            )

    def __repr__(self) -> str:
        attrs = [self._state.name.lower()]
        if self._isolation:
            attrs.append(f"isolation={self._isolation}")
        if self._readonly:
            attrs.append("readonly")
        if self._deferrable:
            attrs.append("deferrable")
        if self._nested:
            attrs.append("nested")
        return f"<pgjet.Transaction {' '.join(attrs)}>"

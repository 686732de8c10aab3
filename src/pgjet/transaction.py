"""Transactions: BEGIN/COMMIT/ROLLBACK, and savepoints when nested (asyncpg's semantics)."""

from __future__ import annotations

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
        "_nested",
        "_readonly",
        "_savepoint",
        "_state",
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

    async def __aenter__(self) -> Transaction:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.commit()
        else:
            await self._rollback_quietly()

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
            if self._isolation is not None and self._isolation != top._isolation:
                raise errors.InterfaceError(
                    f"nested transaction has a different isolation level: current "
                    f"{top._isolation!r} != outer {self._isolation!r}"
                )
            if self._readonly != top._readonly or self._deferrable != top._deferrable:
                raise errors.InterfaceError(
                    "nested transaction has different readonly/deferrable settings than "
                    "the outer one"
                )
            self._nested = True
            self._savepoint = f"pgjet_savepoint_{next(_savepoint_ids)}"
            query = f"SAVEPOINT {self._savepoint}"
        if not self._nested:
            conn._top_transaction = self
        try:
            await conn.execute(query)
        except BaseException:
            self._state = TransactionState.FAILED
            if not self._nested:
                conn._top_transaction = None
            raise
        self._state = TransactionState.STARTED

    async def commit(self) -> None:
        self._check_state(TransactionState.STARTED, "commit")
        query = f"RELEASE SAVEPOINT {self._savepoint}" if self._nested else "COMMIT"
        try:
            await self._conn.execute(query)
        except BaseException:
            self._state = TransactionState.FAILED
            raise
        finally:
            self._leave()
        self._state = TransactionState.COMMITTED

    async def rollback(self) -> None:
        self._check_state(TransactionState.STARTED, "rollback")
        query = f"ROLLBACK TO {self._savepoint}" if self._nested else "ROLLBACK"
        try:
            await self._conn.execute(query)
        except BaseException:
            self._state = TransactionState.FAILED
            raise
        finally:
            self._leave()
        self._state = TransactionState.ROLLEDBACK

    async def _rollback_quietly(self) -> None:
        if self._state is not TransactionState.STARTED:
            return
        if self._conn.is_closed():
            self._state = TransactionState.FAILED
            self._leave()
            return
        await self.rollback()

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

"""PreparedStatement: a server-side named statement, as asyncpg's."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from pgjet import errors
from pgjet._wire.core import ExecuteOp, StatementState
from pgjet.oids import BUILTIN_TYPES

if TYPE_CHECKING:
    from pgjet.connection import Connection
    from pgjet.cursor import CursorFactory


class Type(NamedTuple):
    """A data type, as asyncpg's ``Type``."""

    oid: int
    name: str
    kind: str
    schema: str


class Attribute(NamedTuple):
    """A result column, as asyncpg's ``Attribute``."""

    name: str
    type: Type


# oid -> (name, kind) of every builtin type, named the way asyncpg names them.
_BUILTIN_KINDS = {"r": "range", "m": "multirange"}
_BUILTINS: dict[int, tuple[str, str]] = {
    oid: (
        (name.removeprefix("_") + "[]", "array")
        if category == "A"
        else (name, _BUILTIN_KINDS.get(typtype, "scalar"))
    )
    for oid, name, typtype, category, *_ in BUILTIN_TYPES
}


def _type(conn: Connection, oid: int) -> Type:
    builtin = _BUILTINS.get(oid)
    if builtin is None:
        # Read from the catalog when the statement was prepared.
        described = conn._types.describe(oid)
        if described is None:
            return Type(oid, "", "scalar", "")
        return Type(oid, *described)
    name, kind = builtin
    return Type(oid, name, kind, "pg_catalog")


class PreparedStatement:
    """Returned by :meth:`Connection.prepare`."""

    __slots__ = ("_conn", "_last_status", "_state")

    def __init__(self, conn: Connection, state: StatementState) -> None:
        self._conn = conn
        self._state = state
        self._last_status: str | None = None

    def get_name(self) -> str:
        return self._state.name.decode()

    def get_query(self) -> str:
        return self._state.query

    def get_statusmsg(self) -> str | None:
        """The status tag of the last execution (e.g. ``"SELECT 3"``)."""
        return self._last_status

    def get_parameters(self) -> tuple[Type, ...]:
        return tuple(_type(self._conn, oid) for oid in self._state.param_oids)

    def get_attributes(self) -> tuple[Attribute, ...]:
        return tuple(Attribute(name, _type(self._conn, oid)) for name, oid in self._state.columns)

    async def fetch(self, *args: Any, timeout: float | None = None) -> list[Any]:
        op = await self._run(args, timeout, 0)
        return op.rows

    async def fetchrow(self, *args: Any, timeout: float | None = None) -> Any:
        op = await self._run(args, timeout, 1)
        return op.rows[0] if op.rows else None

    async def fetchval(
        self, *args: Any, column: int | str = 0, timeout: float | None = None
    ) -> Any:
        op = await self._run(args, timeout, 1)
        return op.rows[0][column] if op.rows else None

    async def fetchmany(
        self, args: Iterable[Sequence[Any]], *, timeout: float | None = None
    ) -> list[Any]:
        self._check()
        op = await self._conn._engine.executemany(self._state, args, timeout, keep_rows=True)
        self._last_status = op.status
        return list(op.rows)

    async def executemany(
        self, args: Iterable[Sequence[Any]], *, timeout: float | None = None
    ) -> None:
        self._check()
        op = await self._conn._engine.executemany(self._state, args, timeout, keep_rows=False)
        self._last_status = op.status

    def cursor(
        self, *args: Any, prefetch: int | None = None, timeout: float | None = None
    ) -> CursorFactory:
        from pgjet.cursor import CursorFactory

        self._check()
        return CursorFactory(
            self._conn,
            self._state.query,
            self._state,
            args,
            prefetch,
            timeout,
            self._state.record_class,
            owner=self,
        )

    async def explain(self, *args: Any, analyze: bool = False) -> Any:
        """The plan as parsed JSON; with ``analyze=True`` the statement runs (rolled back)."""
        self._check()
        if not analyze:
            text = await self._conn.fetchval(
                "EXPLAIN (FORMAT JSON, VERBOSE) " + self._state.query, *args
            )
            return json.loads(text)
        # ANALYZE really runs the statement: undo whatever it changed.
        transaction = self._conn.transaction()
        await transaction.start()
        try:
            text = await self._conn.fetchval(
                "EXPLAIN (FORMAT JSON, VERBOSE, ANALYZE) " + self._state.query, *args
            )
        finally:
            await transaction.rollback()
        return json.loads(text)

    async def _run(self, args: Sequence[Any], timeout: float | None, limit: int) -> ExecuteOp:
        self._check()
        op = await self._conn._engine.execute_prepared(self._state, args, timeout, limit)
        self._last_status = op.status
        return op

    def _check(self) -> None:
        self._conn._check_open()
        if self._state.closed:
            raise errors.InterfaceError("the prepared statement is closed")

    def __del__(self) -> None:
        # Close the statement server-side with the connection's next write.
        conn = getattr(self, "_conn", None)
        if conn is not None and not conn.is_closed():
            conn._engine.close_statement(self._state)

    def __repr__(self) -> str:
        return f"<pgjet.PreparedStatement {self._state.query!r}>"

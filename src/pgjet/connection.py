"""Connection: the public query API over the wire core.

Concurrent calls on one connection are pipelined by construction: each call
writes its messages and queues an operation; the core hands each answer to
the operation at the head of its queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from pgjet import _textformat, errors
from pgjet._transport import WireTransport
from pgjet._wire.core import Operation, QueryOp, WireProtocol
from pgjet.record import Record

LogListener = Callable[["Connection", errors.PostgresMessage], Any]
TerminationListener = Callable[["Connection"], Any]


class ServerVersion(NamedTuple):
    """As asyncpg's ``ServerVersion``: ``(major, minor, micro, releaselevel, serial)``."""

    major: int
    minor: int
    micro: int
    releaselevel: str
    serial: int


def parse_server_version(text: str) -> ServerVersion:
    """Parse ``server_version`` as reported at startup ("18.1", "15.18 (Debian …)", "19devel")."""
    match = re.match(r"\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*(devel|alpha|beta|rc)?(\d+)?", text)
    if match is None:
        raise errors.ProtocolError(f"cannot parse the server version {text!r}")
    major = int(match.group(1))
    minor = int(match.group(2) or 0)
    micro = int(match.group(3) or 0)
    level = match.group(4) or "final"
    serial = int(match.group(5) or 0)
    if major >= 10:
        # Since PostgreSQL 10 the version has two parts: "15.18" is 15, minor 18.
        micro = 0
    return ServerVersion(major, minor, micro, level, serial)


class ConnectionSettings:
    """Server parameters reported by ParameterStatus, as attributes (asyncpg's style)."""

    __slots__ = ("_params",)

    def __init__(self, params: dict[str, str]) -> None:
        self._params = params

    def __getattr__(self, name: str) -> str:
        try:
            return self._params[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"<ConnectionSettings {self._params!r}>"


class Connection:
    """A connection to a PostgreSQL server. Create it with :func:`pgjet.connect`."""

    def __init__(
        self,
        transport: WireTransport,
        *,
        addr: tuple[str, int],
        database: str,
        user: str,
        command_timeout: float | None = None,
    ) -> None:
        self._wire = transport
        self._core: WireProtocol = transport.core
        self._addr = addr
        self._database = database
        self._user = user
        self._command_timeout = command_timeout
        self._log_listeners: list[LogListener] = []
        self._termination_listeners: list[TerminationListener] = []
        self._closed = False
        self._listener_tasks: set[asyncio.Task[Any]] = set()
        self._server_version = parse_server_version(
            self._core.parameters.get("server_version", "0")
        )
        transport.on_event = self._on_event
        transport.on_lost = self._on_lost

    # -- queries ---------------------------------------------------------------

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        """Run a command (or several, without arguments); return the last status tag."""
        op = self._start_query(query, args)
        await self._wait(op, timeout)
        return op.status or ""

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[Record]:
        op = self._start_query(query, args)
        await self._wait(op, timeout)
        return list(op.rows)

    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None) -> Record | None:
        rows = await self.fetch(query, *args, timeout=timeout)
        return rows[0] if rows else None

    async def fetchval(
        self, query: str, *args: Any, column: int = 0, timeout: float | None = None
    ) -> Any:
        row = await self.fetchrow(query, *args, timeout=timeout)
        return None if row is None else row[column]

    def _start_query(self, query: str, args: tuple[Any, ...]) -> QueryOp:
        self._check_open()
        op = QueryOp(_textformat.DECODERS, Record)
        out = self._core.out
        if args:
            params = [_textformat.encode(i, v) for i, v in enumerate(args, 1)]
            sql = query.encode("utf-8")
            out.parse(b"", sql, ())
            out.bind_text(b"", b"", params, 0)
            out.describe(ord("P"), b"")
            out.execute(b"", 0)
            out.sync()
        else:
            out.query(query)
        self._wire.send(op)
        return op

    async def _wait(self, op: Operation, timeout: float | None) -> None:
        if timeout is None:
            timeout = self._command_timeout
        fut = op.waiter
        if timeout is None:
            await fut
        else:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        if op.error_fields is not None:
            raise errors.from_fields(op.error_fields)

    # -- state -----------------------------------------------------------------

    def get_server_pid(self) -> int:
        return self._core.backend_pid

    def get_server_version(self) -> ServerVersion:
        return self._server_version

    def get_settings(self) -> ConnectionSettings:
        return ConnectionSettings(self._core.parameters)

    def is_in_transaction(self) -> bool:
        return self._core.transaction_status != "I"

    def is_closed(self) -> bool:
        return self._closed or self._wire.closed

    # -- listeners ---------------------------------------------------------------

    def add_log_listener(self, callback: LogListener) -> None:
        self._log_listeners.append(callback)

    def remove_log_listener(self, callback: LogListener) -> None:
        with contextlib.suppress(ValueError):
            self._log_listeners.remove(callback)

    def add_termination_listener(self, callback: TerminationListener) -> None:
        self._termination_listeners.append(callback)

    def remove_termination_listener(self, callback: TerminationListener) -> None:
        with contextlib.suppress(ValueError):
            self._termination_listeners.remove(callback)

    # -- closing -----------------------------------------------------------------

    async def close(self, *, timeout: float | None = None) -> None:
        """Say goodbye to the server (Terminate) and close the socket."""
        if self.is_closed():
            self._closed = True
            return
        self._closed = True
        transport = self._wire.transport
        try:
            self._core.out.terminate()
            self._wire.flush_output()
        finally:
            if transport is not None:
                transport.close()

    def terminate(self) -> None:
        """Close the socket at once, without telling the server."""
        self._closed = True
        if self._wire.transport is not None:
            self._wire.transport.abort()

    def _check_open(self) -> None:
        if self.is_closed():
            raise errors.ConnectionDoesNotExistError("connection is closed")

    # -- events from the wire ------------------------------------------------------

    def _on_event(self, event: tuple[Any, ...]) -> None:
        kind = event[0]
        if kind == "notice" or kind == "error":
            message = errors.notice_from_fields(event[1])
            for listener in list(self._log_listeners):
                _call_soon(self, listener, message)

    def _on_lost(self, exc: BaseException | None) -> None:
        self._closed = True
        for listener in list(self._termination_listeners):
            _call_soon(self, listener)

    def __repr__(self) -> str:
        host, port = self._addr
        state = "closed" if self.is_closed() else "open"
        return f"<pgjet.Connection {state} {host}:{port} db={self._database!r} user={self._user!r}>"


def _call_soon(conn: Connection, callback: Callable[..., Any], *args: Any) -> None:
    """Run a listener outside the protocol callback; coroutines become tasks."""
    loop = asyncio.get_running_loop()

    def run() -> None:
        result = callback(conn, *args)
        if asyncio.iscoroutine(result):
            # Keep a reference: the loop holds tasks only weakly.
            task = loop.create_task(result)
            conn._listener_tasks.add(task)
            task.add_done_callback(conn._listener_tasks.discard)

    loop.call_soon(run)

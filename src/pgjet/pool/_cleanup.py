"""Making a released connection clean again (only called when it needs I/O)."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from pgjet import errors
from pgjet.connection import Connection
from pgjet.pool._session import (
    FULL,
    Change,
    cancel_requests_in_flight,
    last_pending_waiter,
    pending_operations,
    reset_sql,
    transaction_status,
)
from pgjet.pool._slot import Slot


async def clean_session(
    slot: Slot,
    changes: Change,
    listeners: list[tuple[str, Any]],
    *,
    always: bool,
    user_reset: Callable[[Connection], Awaitable[None]] | None,
    timeout: float,
) -> bool:
    """Bring the session back to how it was opened, within `timeout`.

    Returns whether a reset round trip was made. Raises if the connection
    can't be trusted: the caller then discards it.
    """
    con = slot.conn
    deadline = time.monotonic() + timeout
    # 1. Queries still running (the lease was cancelled or released mid-query).
    await _drain(con, deadline)
    # 2. Cancel requests still on their way could hit the next lease's query.
    cancels = cancel_requests_in_flight(con)
    if cancels:
        await asyncio.wait(list(cancels), timeout=_left(deadline))
        if cancel_requests_in_flight(con):
            raise errors.InterfaceError("a cancel request is still on its way")
    for channel, callback in listeners:
        remove = getattr(con, "remove_listener", None)
        if remove is not None:
            await asyncio.wait_for(remove(channel, callback), _left(deadline))
    # 3. The session state: one simple Query, one round trip.
    rollback = transaction_status(con) != "I"
    if rollback:
        _forget_transaction(con)
    if slot.settings_changed():
        changes |= Change.SETTINGS
    if always:
        changes |= FULL
    sql = reset_sql(changes, rollback=rollback)
    if sql:
        await con.execute(sql, timeout=_left(deadline))
    if user_reset is not None:
        await asyncio.wait_for(user_reset(con), _left(deadline))
    if transaction_status(con) != "I" or pending_operations(con):
        raise errors.InterfaceError("the reset left the session busy or in a transaction")
    slot.remember_clean_settings()
    return bool(sql)


async def _drain(con: Connection, deadline: float) -> None:
    """Wait until queries still running on `con` end."""
    while pending_operations(con):
        waiter = last_pending_waiter(con)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise errors.InterfaceError("queries still running on a released connection")
        if waiter is not None:
            await asyncio.wait([waiter], timeout=remaining)
        else:
            await asyncio.sleep(min(remaining, 0.01))
        if con.is_closed():
            raise errors.ConnectionDoesNotExistError("the connection closed while draining")


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 1e-3)


def _forget_transaction(con: Connection) -> None:
    """The pool rolls the transaction back: the lease's Transaction object is void."""
    con._top_transaction = None


def forget_client_listeners(con: Connection) -> None:
    """Log listeners, termination listeners, query loggers and buffered
    notifications belong to the lease."""
    hub = getattr(con, "_notifications", None)
    if hub is not None:
        # Notifications buffered for notifies() must not reach the next lease.
        hub.reset()
    for attr in ("_log_listeners", "_termination_listeners", "_query_loggers"):
        listeners = getattr(con, attr, None)
        if listeners:
            warnings.warn(
                f"a connection was released to the pool with active {attr[1:]}; they were removed",
                errors.InterfaceWarning,
                stacklevel=5,
            )
            listeners.clear()


async def close_quietly(con: Connection) -> None:
    """Close politely; closing is best effort, the server cleans up either way."""
    try:
        await con.close(timeout=1.0)
    except Exception:
        con.terminate()

"""Exceptions raised by the pool."""

from __future__ import annotations

import asyncio

from pgjet.errors import InterfaceError


class PoolError(InterfaceError):
    """Base class of the pool's own errors (an ``InterfaceError``, as in asyncpg)."""


class PoolClosedError(PoolError):
    """The pool is closing or closed."""


class PoolTimeout(PoolError, asyncio.TimeoutError):
    """No connection became available within the timeout.

    Also an ``asyncio.TimeoutError``, which is what asyncpg raises here. When
    the pool could not open connections, the last failure is the ``__cause__``
    and is named in the message.
    """


class TooManyWaitersError(PoolError):
    """``max_waiting`` requests are already queued: this one is refused at once."""


class PoolForkedError(PoolError):
    """The pool was used in a child process after ``fork()``.

    Its sockets belong to the parent: sharing them would interleave two
    processes' queries on one server session.
    """

"""Call order inside transactions: turns.

A call whose statement must be prepared first (one round trip) would
otherwise let later calls overtake it, and its Parse could reach the server
before an earlier call's Execute (a failing Parse would abort the
transaction under that call). Such a call takes a *turn*: later calls wait
until its messages are written. Outside a transaction calls are independent
and nothing waits.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CallOrder:
    """The queue of turns of one connection."""

    __slots__ = ("_active", "last")

    def __init__(self) -> None:
        # The last call holding or awaiting a turn (done once its messages
        # are written), or None when nobody is.
        self.last: asyncio.Future[None] | None = None
        # The turn being taken now, and the task taking it.
        self._active: tuple[asyncio.Future[None], asyncio.Task[Any] | None] | None = None

    def needs_turn(self, prepared: bool, in_transaction: bool) -> bool:
        """Must a call wait for the calls made before it to be written?

        Yes while an earlier call holds a turn, and inside a transaction for
        a statement that is not `prepared` yet.
        """
        if self.last is not None:
            return self.pending()
        return in_transaction and not prepared

    def pending(self) -> bool:
        """Does a call made now have to wait for earlier turns?

        Not when the task whose turn it is makes it: that is part of its own
        call (reading the catalog for its statement's types, say), and
        waiting would wait for itself.
        """
        if self.last is None:
            return False
        active = self._active
        return active is None or active[1] is not asyncio.current_task()

    async def take(self) -> asyncio.Future[None]:
        """Wait until every earlier turn has written its messages; end it with end()."""
        previous = self.last
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last = mine
        if previous is not None and not previous.done():
            try:
                await asyncio.shield(previous)
            except asyncio.CancelledError:
                # Our caller gave up: hand the turn on once the previous one ends.
                previous.add_done_callback(lambda _: self.end(mine))
                raise
        self._active = (mine, asyncio.current_task())
        return mine

    def end(self, turn: asyncio.Future[None] | None) -> None:
        if turn is None:
            return
        if not turn.done():
            turn.set_result(None)
        if self._active is not None and self._active[0] is turn:
            self._active = None
        if self.last is turn:
            self.last = None

    async def wait_if_pending(self) -> None:
        """For calls that never prepare: wait only behind an earlier turn."""
        if self.last is not None and self.pending():
            self.end(await self.take())

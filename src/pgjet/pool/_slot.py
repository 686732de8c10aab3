"""One pooled connection and the pool's bookkeeping about it."""

from __future__ import annotations

import math
import random
import time
from typing import TYPE_CHECKING

from pgjet.connection import Connection
from pgjet.pool._session import server_parameters

if TYPE_CHECKING:
    from pgjet.pool._lease import PoolConnectionProxy


class Slot:
    __slots__ = (
        "baseline",
        "conn",
        "created",
        "expires",
        "generation",
        "idle_since",
        "lease",
        "leased_at",
        "queries",
    )

    def __init__(self, conn: Connection, generation: int, max_lifetime: float | None) -> None:
        now = time.monotonic()
        self.conn = conn
        self.created = now
        # Up to 10% early, so connections opened together don't all expire together.
        self.expires = now + max_lifetime * random.uniform(0.9, 1.0) if max_lifetime else math.inf
        self.generation = generation
        self.idle_since = now
        self.leased_at = now
        self.lease: PoolConnectionProxy | None = None
        self.queries = 0
        self.baseline = dict(server_parameters(conn))
        """The reported settings of a clean session: any difference means SET ran."""

    def settings_changed(self) -> bool:
        return server_parameters(self.conn) != self.baseline

    def remember_clean_settings(self) -> None:
        self.baseline = dict(server_parameters(self.conn))

"""The per-connection statement cache, with asyncpg's knobs.

LRU by query text, bounded by ``statement_cache_size`` entries, entries older
than ``max_cached_statement_lifetime`` seconds are re-prepared, and queries
longer than ``max_cacheable_statement_size`` characters are never cached.
Evicted statements are closed server-side lazily: their Close messages ride
along with the next query instead of costing a round trip of their own.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections import OrderedDict
from typing import Any

from pgjet._wire.core import StatementState


class StatementCache:
    def __init__(
        self,
        max_size: int = 100,
        max_lifetime: float = 300.0,
        max_query_size: int = 15 * 1024,
    ) -> None:
        if max_size < 0:
            raise ValueError(f"statement_cache_size must be >= 0, got {max_size}")
        if max_lifetime < 0:
            raise ValueError(f"max_cached_statement_lifetime must be >= 0, got {max_lifetime}")
        if max_query_size < 0:
            raise ValueError(f"max_cacheable_statement_size must be >= 0, got {max_query_size}")
        self.max_size = max_size
        self.max_lifetime = max_lifetime
        self.max_query_size = max_query_size
        self._entries: OrderedDict[str, tuple[StatementState, float]] = OrderedDict()
        self.to_close: list[bytes] = []
        # A random prefix per connection: behind a pooler in transaction mode
        # several clients share one server session, and their statement names
        # must never collide.
        self._prefix = f"_pj{secrets.token_hex(4)}_"
        self._counter = itertools.count(1)

    @property
    def enabled(self) -> bool:
        return self.max_size > 0

    def new_name(self) -> bytes:
        return f"{self._prefix}{next(self._counter)}".encode()

    def cacheable(self, query: str) -> bool:
        return self.enabled and (self.max_query_size == 0 or len(query) <= self.max_query_size)

    def get(self, query: str, record_class: Any) -> StatementState | None:
        entry = self._entries.get(query)
        if entry is None:
            return None
        state, created = entry
        if state.closed or (self.max_lifetime and time.monotonic() - created > self.max_lifetime):
            self.discard(query)
            return None
        if state.record_class is not record_class:
            return None
        self._entries.move_to_end(query)
        return state

    def put(self, query: str, state: StatementState) -> None:
        replaced = self._entries.get(query)
        if replaced is not None and replaced[0] is not state:
            # Same text, another record class: the old statement would
            # otherwise stay prepared on the server for the session's life.
            self._retire(replaced[0])
        self._entries[query] = (state, time.monotonic())
        self._entries.move_to_end(query)
        while len(self._entries) > self.max_size:
            _, (old, _) = self._entries.popitem(last=False)
            self._retire(old)

    def discard(self, query: str) -> None:
        entry = self._entries.pop(query, None)
        if entry is not None:
            self._retire(entry[0])

    def clear(self) -> None:
        """Forget everything (e.g. after DDL invalidated the types)."""
        for state, _ in self._entries.values():
            self._retire(state)
        self._entries.clear()

    def forget_server_side(self) -> None:
        """The session was reset (DISCARD ALL, new server): nothing is prepared any more."""
        for state, _ in self._entries.values():
            state.closed = True
        self._entries.clear()
        self.to_close.clear()

    def take_closures(self) -> list[bytes]:
        names, self.to_close = self.to_close, []
        return names

    def _retire(self, state: StatementState) -> None:
        if not state.closed:
            state.closed = True
            if state.name:
                self.to_close.append(state.name)

    def __len__(self) -> int:
        return len(self._entries)

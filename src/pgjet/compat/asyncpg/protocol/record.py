"""``asyncpg.protocol.record`` on pgjet."""

from pgjet.record import Record

__all__ = ["Record"]

"""``asyncpg.protocol.protocol`` on pgjet: only ``Record``."""

from pgjet.record import Record

__all__ = ["Record"]

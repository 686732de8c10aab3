"""``asyncpg.protocol`` on pgjet: only ``Record`` (asyncpg's wire protocol is not emulated)."""

from pgjet.compat.asyncpg.protocol import protocol, record
from pgjet.record import Record

__all__ = ["Record", "protocol", "record"]

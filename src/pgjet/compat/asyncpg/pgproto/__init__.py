"""``asyncpg.pgproto`` on pgjet."""

from pgjet.compat.asyncpg.pgproto import pgproto, types

__all__ = ["pgproto", "types"]

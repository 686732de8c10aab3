"""``asyncpg.prepared_stmt`` on pgjet."""

from pgjet.prepared import PreparedStatement

__all__ = ["PreparedStatement"]

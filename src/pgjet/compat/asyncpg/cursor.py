"""``asyncpg.cursor`` on pgjet."""

from pgjet.cursor import Cursor, CursorFactory

__all__ = ["Cursor", "CursorFactory"]

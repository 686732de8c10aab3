"""``asyncpg.connection`` on pgjet."""

from pgjet.connect import connect
from pgjet.connection import Connection, LoggedQuery

__all__ = ["Connection", "LoggedQuery", "connect"]

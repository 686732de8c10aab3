"""``asyncpg.serverversion`` on pgjet."""

from pgjet.connection import ServerVersion
from pgjet.connection import parse_server_version as split_server_version_string

__all__ = ["ServerVersion", "split_server_version_string"]

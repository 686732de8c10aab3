"""The ``asyncpg`` module as pgjet presents it (see :func:`pgjet.compat.install_asyncpg`).

Importable directly as well: ``import pgjet.compat.asyncpg as asyncpg``. Every name
here is pgjet's own object; nothing of the real asyncpg is imported.
"""

import pgjet

# Submodules as attributes, as after `import asyncpg` (`asyncpg.exceptions.X`).
from pgjet.compat.asyncpg import connection as connection
from pgjet.compat.asyncpg import cursor as cursor
from pgjet.compat.asyncpg import exceptions as exceptions
from pgjet.compat.asyncpg import pgproto as pgproto
from pgjet.compat.asyncpg import pool as pool
from pgjet.compat.asyncpg import prepared_stmt as prepared_stmt
from pgjet.compat.asyncpg import protocol as protocol
from pgjet.compat.asyncpg import serverversion as serverversion
from pgjet.compat.asyncpg import transaction as transaction
from pgjet.compat.asyncpg import types as types
from pgjet.compat.asyncpg.connection import Connection, connect
from pgjet.compat.asyncpg.exceptions import *  # noqa: F403  (asyncpg exposes them at top level)
from pgjet.compat.asyncpg.exceptions import __all__ as _exception_names
from pgjet.compat.asyncpg.pool import Pool, create_pool
from pgjet.compat.asyncpg.protocol import Record
from pgjet.compat.asyncpg.types import (
    Attribute,
    BitString,
    Box,
    Circle,
    Line,
    LineSegment,
    Path,
    Point,
    Polygon,
    Range,
    ServerVersion,
    Type,
)

# The asyncpg release whose API this shim follows. Libraries gate features on
# asyncpg's version (SQLAlchemy reads it as the DBAPI version), so it must look
# like one; pgjet's own version is `pgjet_version`.
__version__ = "0.30.0"
pgjet_version = pgjet.__version__

# As asyncpg's own: the top-level API, the value types and every exception class.
__all__ = [
    "Attribute",
    "BitString",
    "Box",
    "Circle",
    "Connection",
    "Line",
    "LineSegment",
    "Path",
    "Point",
    "Polygon",
    "Pool",
    "Range",
    "Record",
    "ServerVersion",
    "Type",
    "connect",
    "create_pool",
]
__all__ += _exception_names

"""pgjet: an asyncio PostgreSQL driver with asyncpg's API.

Switching from asyncpg is a changed import: ``import pgjet as asyncpg``.
"""

from pgjet import errors
from pgjet.connect import connect
from pgjet.connection import Connection, ConnectionSettings, ServerVersion
from pgjet.cursor import Cursor, CursorFactory
from pgjet.errors import *  # noqa: F403  (asyncpg exposes its exceptions at top level)
from pgjet.errors import __all__ as _error_names
from pgjet.listen import Gap, Listener, Notification
from pgjet.pipeline import Pipeline, PipelineResult
from pgjet.pool import Pool, create_pool
from pgjet.prepared import Attribute, PreparedStatement, Type
from pgjet.record import Record
from pgjet.transaction import Transaction
from pgjet.types import (
    BitString,
    Box,
    Circle,
    Line,
    LineSegment,
    Path,
    Point,
    Polygon,
    Range,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "Attribute",
    "BitString",
    "Box",
    "Circle",
    "Connection",
    "ConnectionSettings",
    "Cursor",
    "CursorFactory",
    "Gap",
    "Line",
    "LineSegment",
    "Listener",
    "Notification",
    "Path",
    "Pipeline",
    "PipelineResult",
    "Point",
    "Polygon",
    "Pool",
    "PreparedStatement",
    "Range",
    "Record",
    "ServerVersion",
    "Transaction",
    "Type",
    "__version__",
    "connect",
    "create_pool",
    "errors",
]
__all__ += _error_names

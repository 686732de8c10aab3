"""``asyncpg.types`` on pgjet: the same value classes pgjet decodes into."""

from pgjet.connection import ServerVersion
from pgjet.prepared import Attribute, Type
from pgjet.types import BitString, Box, Circle, Line, LineSegment, Path, Point, Polygon, Range

__all__ = [
    "Attribute",
    "BitString",
    "Box",
    "Circle",
    "Line",
    "LineSegment",
    "Path",
    "Point",
    "Polygon",
    "Range",
    "ServerVersion",
    "Type",
]

"""``asyncpg.pgproto.types`` on pgjet: the value classes (also in ``asyncpg.types``)."""

from pgjet.types import BitString, Box, Circle, Line, LineSegment, Path, Point, Polygon

__all__ = ["BitString", "Box", "Circle", "Line", "LineSegment", "Path", "Point", "Polygon"]

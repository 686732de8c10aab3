"""``asyncpg.exceptions`` on pgjet: every SQLSTATE class and asyncpg's client errors.

pgjet's classes already carry asyncpg's names and hierarchy, so these are the very
same objects as ``pgjet.errors.*`` (an ``except`` on either catches both).
"""

from pgjet.errors import *  # noqa: F403
from pgjet.errors import __all__ as __all__

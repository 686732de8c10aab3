"""``asyncpg.pgproto.pgproto`` on pgjet.

asyncpg decodes ``uuid`` into its own fast ``UUID`` subclass; pgjet returns the
standard :class:`uuid.UUID`. Code that checks ``isinstance(v, pgproto.UUID)``
therefore needs ``UUID`` to *be* ``uuid.UUID`` here.
"""

from uuid import UUID

__all__ = ["UUID"]

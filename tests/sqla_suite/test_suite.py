"""SQLAlchemy's dialect compliance suite, every test of it."""

from typing import Any

from sqlalchemy.testing.suite import *  # noqa: F403
from sqlalchemy.testing.suite import ServerSideCursorsTest as _ServerSideCursorsTest


class ServerSideCursorsTest(_ServerSideCursorsTest):  # type: ignore[misc]
    # The suite recognises server-side cursors only of the drivers it knows
    # (by driver name); ours say so the way asyncpg's adapted cursors do.
    __backend__ = True

    def _is_server_side(self, cursor: Any) -> bool:
        return bool(cursor.server_side)

"""pgjet's exceptions: asyncpg's names and hierarchy, psycopg's names as aliases.

- One class per SQLSTATE (``UniqueViolationError`` for 23505, ...), generated from
  PostgreSQL's errcodes.txt by ``tools/gen_errors.py``; psycopg's names are the same
  class objects (``UniqueViolation is UniqueViolationError``).
- ``from_fields()`` / ``notice_from_fields()`` build them from a server message's
  fields; ``lookup("23505")`` or ``lookup("unique_violation")`` finds a class.
- Client-side errors keep asyncpg's names (``InterfaceError``, ...); connection
  establishment failures have precise classes that asyncpg-style handlers still catch.
"""

from . import _base, _client, _connect, _factory, _sqlstate
from ._base import *  # noqa: F403
from ._client import *  # noqa: F403
from ._connect import *  # noqa: F403
from ._factory import *  # noqa: F403
from ._sqlstate import *  # noqa: F403

# psycopg's names that shadow built-ins: reachable as attributes, kept out of __all__.
from ._sqlstate import SyntaxError as SyntaxError
from ._sqlstate import SystemError as SystemError

__all__: list[str] = []
__all__ += _base.__all__
__all__ += _client.__all__
__all__ += _connect.__all__
__all__ += _factory.__all__
__all__ += _sqlstate.__all__


def _present_as_public() -> None:
    # Tracebacks and pickles then say pgjet.errors.UniqueViolationError, not the
    # private module that happens to define it.
    namespace = globals()
    for name in __all__:
        obj = namespace[name]
        if isinstance(obj, type) and obj.__name__ == name and obj.__module__.startswith(__name__):
            obj.__module__ = __name__


_present_as_public()

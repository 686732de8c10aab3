"""Row factories: rows as dicts, tuples, namedtuples or instances of your class.

Pass one as ``row_factory=`` to :func:`pgjet.connect` (the connection's
default), or to ``fetch``/``fetchrow``/``fetchmany``/``cursor``/``prepare``::

    rows = await conn.fetch("SELECT id, name FROM users", row_factory=dict_row)
    users = await conn.fetch("SELECT id, name FROM users", row_factory=class_row(User))

Dicts, tuples and namedtuples are built by the compiled decoder with no
Python call per row; ``class_row``/``kwargs_row``/``args_row`` call your
class or function once per row (a dataclass, a pydantic model, attrs...).
``fetchval`` is not affected: it returns one value.

Each factory is one object per class or function (memoised), because the
statement cache keeps a statement per query *and* row shape.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable
from typing import Any

from pgjet._wire.core import RowShape

__all__ = [
    "RowShape",
    "args_row",
    "class_row",
    "dict_row",
    "kwargs_row",
    "namedtuple_row",
    "tuple_row",
]

# RowShape kinds (the compiled decoder's RowKind).
_DICT, _TUPLE, _NAMEDTUPLE, _KEYWORDS, _POSITIONAL = 1, 2, 3, 4, 5


def row_factory_error(row_factory: object) -> str | None:
    """Why `row_factory` cannot be used, or None."""
    if isinstance(row_factory, RowShape):
        return None
    return (
        "row_factory must be one of pgjet.rows' factories (dict_row, tuple_row, "
        f"namedtuple_row, class_row(cls), kwargs_row(f), args_row(f)), not {row_factory!r}"
    )


@functools.lru_cache(maxsize=512)
def _namedtuple_class(names: tuple[str, ...]) -> type[tuple[Any, ...]]:
    # rename=True: columns like "?column?" or duplicates become _0, _1...
    return namedtuple("Row", names, rename=True)


dict_row = RowShape(_DICT, None, "dict_row")
"""Rows as ``{column name: value}`` dicts (a repeated name keeps the last column)."""

tuple_row = RowShape(_TUPLE, None, "tuple_row")
"""Rows as plain tuples."""

namedtuple_row = RowShape(_NAMEDTUPLE, _namedtuple_class, "namedtuple_row")
"""Rows as namedtuples (one class per set of column names)."""


@functools.cache
def class_row(cls: type[Any]) -> RowShape:
    """Rows as ``cls(**{column name: value})``: a dataclass, a pydantic model..."""
    if not isinstance(cls, type):
        raise TypeError(f"class_row() needs a class, got {cls!r}")
    return RowShape(_KEYWORDS, cls, f"class_row({cls.__qualname__})")


@functools.cache
def kwargs_row(func: Callable[..., Any]) -> RowShape:
    """Rows as ``func(**{column name: value})``."""
    if not callable(func):
        raise TypeError(f"kwargs_row() needs a callable, got {func!r}")
    return RowShape(_KEYWORDS, func, f"kwargs_row({getattr(func, '__qualname__', func)!r})")


@functools.cache
def args_row(func: Callable[..., Any]) -> RowShape:
    """Rows as ``func(*values)``, values in column order."""
    if not callable(func):
        raise TypeError(f"args_row() needs a callable, got {func!r}")
    return RowShape(_POSITIONAL, func, f"args_row({getattr(func, '__qualname__', func)!r})")

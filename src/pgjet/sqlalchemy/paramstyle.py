"""Placeholders of other DBAPI paramstyles rewritten as PostgreSQL's ``$n``.

The dialect compiles to ``$n`` itself (paramstyle ``numeric_dollar``), so
SQLAlchemy's own statements need no rewriting. These conversions serve
``exec_driver_sql()`` with a mapping (``%(name)s``) and engines created with
``paramstyle="pyformat"``, ``"format"`` or ``"numeric"``.

Placeholders inside string literals, quoted identifiers, dollar-quoted
strings and comments are left alone. Results are cached by query text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ParamstyleError", "convert", "several_statements"]

# Everything a placeholder can hide in, and the placeholders themselves.
_TOKENS = re.compile(
    r"""
    (?P<skip>
        '(?:[^']|'')*'                       # 'string' ('' escapes a quote)
      | [eE]'(?:[^'\\]|\\.|'')*'             # E'string' with backslash escapes
      | "(?:[^"]|"")*"                       # "identifier"
      | (?P<dollar>\$[A-Za-z_]\w*\$|\$\$)(?:.|\n)*?(?P=dollar)  # $tag$ ... $tag$
      | --[^\n]*                             # -- comment
      | /\*(?:.|\n)*?\*/                     # /* comment */
      | ::                                   # a cast, not a :n placeholder
    )
    | (?P<pyformat>%\((?P<name>[^)]*)\)s)
    | (?P<format>%s)
    | (?P<percent>%%)
    | (?P<numeric>:(?P<number>\d+))
    """,
    re.VERBOSE,
)

# A semicolon with more SQL after it (comments and strings are skipped first).
_STATEMENT_BREAK = re.compile(r";\s*[^\s;]")

_CACHE_LIMIT = 500
# (style, query) -> (query with $n, parameter names or positions in $n order)
_cache: dict[tuple[str, str], tuple[str, tuple[Any, ...]]] = {}


class ParamstyleError(ValueError):
    """The parameters do not fit the query's placeholders."""


def _rewrite(query: str, style: str) -> tuple[str, tuple[Any, ...]]:
    order: list[Any] = []
    numbers: dict[Any, int] = {}

    def replace(match: re.Match[str]) -> str:
        if match.group("skip") is not None:
            return match.group(0)
        if match.group("percent") is not None:
            # SQLAlchemy doubles a literal % in pyformat/format statements.
            return "%" if style in ("pyformat", "format") else match.group(0)
        if style == "pyformat" and match.group("pyformat") is not None:
            key: Any = match.group("name")
        elif style == "format" and match.group("format") is not None:
            key = len(order)  # every %s is a new parameter
        elif style == "numeric" and match.group("numeric") is not None:
            key = int(match.group("number")) - 1
        else:
            return match.group(0)
        if key not in numbers:
            order.append(key)
            numbers[key] = len(order)
        return f"${numbers[key]}"

    return _TOKENS.sub(replace, query), tuple(order)


def several_statements(query: str) -> bool:
    """Whether ``query`` holds more than one statement (``"CREATE ...; INSERT ..."``)."""
    if ";" not in query:
        return False
    bare = _TOKENS.sub(lambda m: " " if m.group("skip") is not None else m.group(0), query)
    return _STATEMENT_BREAK.search(bare) is not None


def convert(query: str, params: Any, style: str) -> tuple[str, Sequence[Any]]:
    """``query`` with ``$n`` placeholders and its arguments in ``$n`` order.

    ``style`` is ``"pyformat"`` (``params`` a mapping), ``"format"`` or
    ``"numeric"`` (a sequence).
    """
    key = (style, query)
    entry = _cache.get(key)
    if entry is None:
        entry = _rewrite(query, style)
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()  # simple bound; statements repeat, so it refills with the hot ones
        _cache[key] = entry
    text, order = entry
    if style == "pyformat":
        if not isinstance(params, Mapping):
            raise ParamstyleError(
                f"%(name)s placeholders need a mapping of parameters, got {type(params).__name__}"
            )
        missing = [name for name in order if name not in params]
        if missing:
            raise ParamstyleError(f"no value for the parameter(s) {', '.join(missing)}")
        return text, [params[name] for name in order]
    if isinstance(params, (Mapping, str, bytes)):
        raise ParamstyleError(
            f"{style} placeholders need a sequence of parameters, got {type(params).__name__}"
        )
    values = list(params)
    if style == "format" and len(values) != len(order):
        raise ParamstyleError(
            f"the query has {len(order)} %s placeholder(s) "
            f"but {len(values)} parameter(s) were given"
        )
    try:
        return text, [values[position] for position in order]
    except IndexError:
        raise ParamstyleError(
            f"the query refers to :{max(order) + 1} but only {len(values)} parameter(s) were given"
        ) from None

"""COPY statements: building them (asyncpg's options) and reading a user's one.

Reading is a small tokenizer, not a SQL parser: it knows quoting, comments
and parentheses well enough to find a COPY's table, column list or inner
query, its direction, and whether it names a format, so that ``copy_in()``
can learn column types and default to binary without a user call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pgjet import errors


def quote_ident(name: str) -> str:
    if not isinstance(name, str):
        raise errors.InterfaceError(f"an identifier must be a str, not {type(name).__name__}")
    if "\x00" in name:
        raise errors.InterfaceError(f"identifier {name!r} contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    if "\x00" in value:
        raise errors.InterfaceError(f"COPY option value {value!r} contains a NUL character")
    return "'" + value.replace("'", "''") + "'"


def table_name(table: str, schema: str | None) -> str:
    """asyncpg's rule: table and schema are names, always quoted."""
    return quote_ident(table) if schema is None else f"{quote_ident(schema)}.{quote_ident(table)}"


def column_list(columns: Iterable[str] | None) -> str:
    if columns is None:
        return ""
    if isinstance(columns, str):
        raise errors.InterfaceError("columns must be a list of column names, not one str")
    names = [quote_ident(c) for c in columns]
    return f" ({', '.join(names)})" if names else ""


def copy_table(table: str, schema: str | None, columns: Iterable[str] | None) -> str:
    """``COPY "schema"."table" ("a", "b")``, the start of asyncpg's table COPYs."""
    return f"COPY {table_name(table, schema)}{column_list(columns)}"


def copy_options(
    *,
    format: str | None = None,
    oids: bool | None = None,
    freeze: bool | None = None,
    delimiter: str | None = None,
    null: str | None = None,
    header: bool | str | None = None,
    quote: str | None = None,
    escape: str | None = None,
    force_quote: bool | Iterable[str] | None = None,
    force_not_null: bool | Iterable[str] | None = None,
    force_null: bool | Iterable[str] | None = None,
    encoding: str | None = None,
) -> str:
    """The ``WITH (...)`` clause for asyncpg's keyword options ('' when none is given)."""
    opts: list[str] = []
    if format is not None:
        if format.lower() not in ("text", "csv", "binary"):
            raise errors.InterfaceError(f"COPY format must be text, csv or binary, not {format!r}")
        opts.append(f"FORMAT {format.lower()}")
    for name, flag in (("OIDS", oids), ("FREEZE", freeze)):
        if flag is not None:
            opts.append(f"{name} {_bool(flag)}")
    for name, text in (
        ("DELIMITER", delimiter),
        ("NULL", null),
        ("QUOTE", quote),
        ("ESCAPE", escape),
        ("ENCODING", encoding),
    ):
        if text is not None:
            opts.append(f"{name} {quote_literal(text)}")
    if header is not None:
        # PostgreSQL 15+ also takes HEADER MATCH.
        opts.append(f"HEADER {header}" if isinstance(header, str) else f"HEADER {_bool(header)}")
    for name, cols in (
        ("FORCE_QUOTE", force_quote),
        ("FORCE_NOT_NULL", force_not_null),
        ("FORCE_NULL", force_null),
    ):
        if cols is None or cols is False:
            continue
        if cols is True:
            opts.append(f"{name} *")
        else:
            names = column_list(cols)
            if names:
                opts.append(f"{name}{names}")
    return f" WITH ({', '.join(opts)})" if opts else ""


def _bool(flag: object) -> str:
    return "TRUE" if flag else "FALSE"


# -- reading a COPY statement ------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|--[^\n]*)
  | (?P<string>[Ee]'(?:[^'\\]|''|\\.)*'|[BbXxNn]?'(?:[^']|'')*')
  | (?P<ident>[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)
  | (?P<qident>"(?:[^"]|"")*")
  | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*)?\$)
  | (?P<param>\$\d+)
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)
  | (?P<punct>[(),.;])
  | (?P<comment>/\*)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str  # ident (case-folded), qident (unquoted), string, param, punct, other
    value: str
    start: int
    end: int


def tokenize(sql: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(sql):
        m = _TOKEN.match(sql, pos)
        if m is None:  # pragma: no cover - the "other" branch matches anything
            raise errors.InterfaceError(f"cannot read the statement at offset {pos}")
        kind = m.lastgroup or "other"
        if kind == "tag":
            kind = "dollar"
        end = m.end()
        if kind == "comment":
            end = _comment_end(sql, pos)
        elif kind == "dollar":
            close = sql.find(m.group(), end)
            end = len(sql) if close < 0 else close + len(m.group())
            kind = "string"
        if kind not in ("ws", "comment"):
            text = sql[pos:end]
            if kind == "ident":
                value = text.lower()
            elif kind == "qident":
                value = text[1:-1].replace('""', '"')
            else:
                value = text
            tokens.append(Token(kind, value, pos, end))
        pos = end
    return tokens


def _comment_end(sql: str, pos: int) -> int:
    """Block comments nest in PostgreSQL."""
    depth = 0
    i = pos
    while i < len(sql):
        if sql.startswith("/*", i):
            depth += 1
            i += 2
        elif sql.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return len(sql)


@dataclass(frozen=True)
class CopyStatement:
    direction: str  # "from" or "to"
    table: str | None  # the table as written (a regclass input), or None for a query
    columns: list[str] | None  # column names as the server sees them
    query: str | None  # COPY (query) TO ...
    io_end: int  # offset just after STDIN/STDOUT: options may be inserted there
    stdio: bool  # FROM STDIN / TO STDOUT (not a server file or program)
    format: str | None  # text, csv, binary, or None when the statement names none
    has_options: bool
    options: tuple[str, ...]  # option names, lower case (legacy keywords included)


def parse_copy(sql: str) -> CopyStatement:
    """Read the parts of a COPY statement the client needs; raise if it isn't one."""
    toks = tokenize(sql)
    if not toks or toks[0].kind != "ident" or toks[0].value != "copy":
        raise errors.InterfaceError("the statement is not a COPY statement")
    i = 1
    table = query = None
    columns: list[str] | None = None
    if _is(toks, i, "punct", "("):
        close = _matching(toks, i)
        query = sql[toks[i].end : toks[close].start]
        i = close + 1
    else:
        first = i
        while i < len(toks) and toks[i].kind in ("ident", "qident"):
            i += 1
            if not _is(toks, i, "punct", "."):
                break
            i += 1
        if i == first:
            raise errors.InterfaceError("cannot find the table of this COPY statement")
        table = sql[toks[first].start : toks[i - 1].end]
        if _is(toks, i, "punct", "("):
            close = _matching(toks, i)
            columns = [t.value for t in toks[i + 1 : close] if t.kind in ("ident", "qident")]
            i = close + 1
    if i >= len(toks) or toks[i].kind != "ident" or toks[i].value not in ("from", "to"):
        raise errors.InterfaceError("cannot find FROM or TO in this COPY statement")
    direction = toks[i].value
    i += 1
    if i >= len(toks):
        raise errors.InterfaceError("the COPY statement ends after FROM/TO")
    stdio = toks[i].kind == "ident" and toks[i].value in ("stdin", "stdout")
    io_end = toks[i].end
    i += 1
    fmt: str | None = None
    has_options = False
    options: list[str] = []
    depth = 0
    while i < len(toks):
        tok = toks[i]
        if depth == 0 and tok.kind == "ident" and tok.value == "where":
            break
        if tok.kind == "punct" and tok.value == ";":
            break
        has_options = True
        if tok.kind == "punct":
            depth += {"(": 1, ")": -1}.get(tok.value, 0)
        elif tok.kind == "ident":
            prev = toks[i - 1]
            at_depth0 = depth == 0 and tok.value != "with"
            if at_depth0 or (prev.kind == "punct" and prev.value in "(,"):
                options.append(tok.value)
            if tok.value == "format" and i + 1 < len(toks):
                fmt = toks[i + 1].value.lower()
                i += 1
            elif tok.value in ("binary", "csv") and fmt is None:
                fmt = tok.value  # the pre-9.0 syntax: COPY t TO STDOUT BINARY / CSV
        i += 1
    return CopyStatement(
        direction, table, columns, query, io_end, stdio, fmt, has_options, tuple(options)
    )


def _is(toks: list[Token], i: int, kind: str, value: str) -> bool:
    return i < len(toks) and toks[i].kind == kind and toks[i].value == value


def _matching(toks: list[Token], i: int) -> int:
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].kind == "punct":
            if toks[j].value == "(":
                depth += 1
            elif toks[j].value == ")":
                depth -= 1
                if depth == 0:
                    return j
    raise errors.InterfaceError("unbalanced parentheses in the COPY statement")


def with_format(sql: str, stmt: CopyStatement, fmt: str) -> str:
    """The statement with ``(FORMAT fmt)`` right after STDIN/STDOUT."""
    return f"{sql[: stmt.io_end]} (FORMAT {fmt}){sql[stmt.io_end :]}"


def substitute_params(sql: str, literals: list[str]) -> str:
    """Replace ``$n`` placeholders (outside quotes and comments) by SQL literals."""
    out: list[str] = []
    last = 0
    for tok in tokenize(sql):
        if tok.kind == "param":
            n = int(tok.value[1:])
            if not 1 <= n <= len(literals):
                raise errors.InterfaceError(
                    f"the query refers to ${n} but has {len(literals)} args"
                )
            out.append(sql[last : tok.start])
            out.append(literals[n - 1])
            last = tok.end
    out.append(sql[last:])
    return "".join(out)

"""What a leased connection changed in its server session, and how to undo it.

The pool must hand out clean sessions without paying a round trip on every
release. It learns what a lease changed from three sources:

* the protocol: ReadyForQuery's transaction status (open or failed
  transaction) and ParameterStatus (reported settings such as ``TimeZone``,
  ``search_path`` on PostgreSQL 18, ``is_superuser`` after ``SET ROLE``);
* the SQL text the lease sent through the pool's connection wrapper,
  classified once per distinct text (see :func:`classify`);
* the connection's client-side state (listeners, loggers, cancel requests).

Tracked, and undone in one round trip: open/failed transactions (ROLLBACK);
SET/RESET/set_config/SET ROLE/SET SESSION AUTHORIZATION and any change of a
reported setting (SET SESSION AUTHORIZATION DEFAULT; RESET ROLE; RESET ALL);
LISTEN (UNLISTEN *); temporary objects (DISCARD TEMP); session advisory locks
(pg_advisory_unlock_all); DECLARE cursors (CLOSE ALL); DO/CALL or unparsable
text (all of them, plus DISCARD SEQUENCES). SQL-level PREPARE, DEALLOCATE,
DISCARD and LOAD replace the connection instead.

Classification is deliberately conservative: a keyword inside a string or a
comment still counts (a needless reset costs one round trip; a missed one
hands out a dirty session). Not tracked (docs/pool.md): session changes made
inside server-side functions called by name (unless they change a reported
setting), SQL sent by a connection subclass's own methods, currval/lastval
state. ``session_reset="always"`` exists for applications that do those.
"""

from __future__ import annotations

import asyncio
import enum
import re
from typing import Any

from pgjet.connection import Connection


class Change(enum.IntFlag):
    """Kinds of session state a lease may have changed."""

    NONE = 0
    SETTINGS = enum.auto()  # SET / RESET / set_config(): settings and the current role
    LISTEN = enum.auto()  # LISTEN: this session receives notifications
    TEMP = enum.auto()  # temporary tables, views, sequences
    ADVISORY = enum.auto()  # session-level advisory locks
    CURSORS = enum.auto()  # DECLARE ... WITH HOLD cursors outlive the transaction
    SEQUENCES = enum.auto()  # currval()/lastval() state (only reset by the full reset)
    REPLACE = enum.auto()  # state that cannot be reset cheaply: close the connection
    UNKNOWN = enum.auto()  # code we cannot see into (DO, CALL): the full reset


FULL = (
    Change.SETTINGS
    | Change.LISTEN
    | Change.TEMP
    | Change.ADVISORY
    | Change.CURSORS
    | Change.SEQUENCES
)

# One statement per kind of change, in the order they must run. SET SESSION
# AUTHORIZATION DEFAULT also clears SET ROLE, which RESET ALL leaves alone;
# RESET ROLE then restores a role given at connect time. Prepared statements
# are never deallocated: the driver's statement cache owns them.
_RESET_STATEMENTS: tuple[tuple[Change, str], ...] = (
    (Change.CURSORS, "CLOSE ALL"),
    (Change.SETTINGS, "SET SESSION AUTHORIZATION DEFAULT; RESET ROLE; RESET ALL"),
    (Change.LISTEN, "UNLISTEN *"),
    (Change.ADVISORY, "SELECT pg_advisory_unlock_all()"),
    (Change.TEMP, "DISCARD TEMP"),
    (Change.SEQUENCES, "DISCARD SEQUENCES"),
)


def reset_sql(changes: Change, *, rollback: bool) -> str:
    """The statements (one simple Query, one round trip) undoing `changes`."""
    if changes & Change.UNKNOWN:
        changes |= FULL
    parts = ["ROLLBACK"] if rollback else []
    parts.extend(sql for flag, sql in _RESET_STATEMENTS if changes & flag)
    return "; ".join(parts)


# -- classifying SQL text -------------------------------------------------------------

# Anywhere in the text (strings and comments included, on purpose).
_ANYWHERE: tuple[tuple[re.Pattern[str], Change], ...] = (
    (re.compile(r"\bset_config\b"), Change.SETTINGS),
    (re.compile(r"\bpg_(?:try_)?advisory_lock"), Change.ADVISORY),
    (re.compile(r"\blisten\b"), Change.LISTEN),
    (re.compile(r"\btemp(?:orary)?\b|\bpg_temp\b"), Change.TEMP),
    (re.compile(r"\bdeclare\b"), Change.CURSORS),
)

# The first word(s) of a statement.
_STATEMENT_START: dict[str, Change] = {
    "set": Change.SETTINGS,
    "reset": Change.SETTINGS,
    "listen": Change.LISTEN,
    "declare": Change.CURSORS,
    # SQL-level prepared statements (names could collide with the next
    # lease's), DEALLOCATE/DISCARD (they can drop the driver's own prepared
    # statements) and LOAD (a library stays loaded): replace the connection.
    "prepare": Change.REPLACE,
    "deallocate": Change.REPLACE,
    "discard": Change.REPLACE,
    "load": Change.REPLACE,
    # Procedural code may change anything: the full reset.
    "do": Change.UNKNOWN,
    "call": Change.UNKNOWN,
}

# SET forms that only last until the end of the transaction.
_TRANSACTION_SCOPED_SET = frozenset({"local", "transaction", "constraints"})

_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<line_comment>--[^\n]*)
    | (?P<block_comment>/\*)
    | (?P<estring>[eE]')
    | (?P<string>')
    | (?P<ident>"(?:[^"]|"")*")
    | (?P<dollar>\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$)
    | (?P<semicolon>;)
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_CACHE_LIMIT = 4096
_cache: dict[str, Change] = {}


def classify(sql: str) -> Change:
    """The session changes `sql` may make (cached per distinct text)."""
    found = _cache.get(sql)
    if found is not None:
        return found
    found = _classify(sql)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()  # bounded: texts built per call must not grow it forever
    _cache[sql] = found
    return found


def _classify(sql: str) -> Change:
    lowered = sql.lower()
    changes = Change.NONE
    for pattern, change in _ANYWHERE:
        if pattern.search(lowered):
            changes |= change
    try:
        for first, second in _statement_starts(sql):
            change = _STATEMENT_START.get(first, Change.NONE)
            if first == "set" and second in _TRANSACTION_SCOPED_SET:
                change = Change.NONE
            changes |= change
    except _Unparsable:
        changes |= Change.UNKNOWN
    return changes


class _Unparsable(Exception):
    pass


def _statement_starts(sql: str) -> list[tuple[str, str]]:
    """The first two words of each statement, skipping comments and literals.

    Raises _Unparsable on an unterminated literal or comment: the caller
    then assumes the worst.
    """
    starts: list[tuple[str, str]] = []
    words: list[str] = []  # the current statement's first words (at most two)
    pos = 0
    end = len(sql)
    while pos < end:
        match = _TOKEN.match(sql, pos)
        if match is None:  # pragma: no cover - `other` matches any character
            raise _Unparsable
        kind = match.lastgroup
        pos = match.end()
        if kind == "block_comment":
            pos = _skip_block_comment(sql, pos)
        elif kind == "string":
            pos = _skip_string(sql, pos, backslashes=False)
            words.append("")
        elif kind == "estring":
            pos = _skip_string(sql, pos, backslashes=True)
            words.append("")
        elif kind == "dollar":
            close = sql.find(match.group(), pos)
            if close < 0:
                raise _Unparsable
            pos = close + len(match.group())
            words.append("")
        elif kind == "semicolon":
            if words:
                starts.append(_first_two(words))
            words = []
        elif kind == "word":
            if len(words) < 2:
                words.append(match.group().lower())
        elif kind in ("ident", "other") and len(words) < 2:
            words.append("")
    if words:
        starts.append(_first_two(words))
    return starts


def _first_two(words: list[str]) -> tuple[str, str]:
    return (words[0], words[1] if len(words) > 1 else "")


def _skip_block_comment(sql: str, pos: int) -> int:
    depth = 1  # PostgreSQL's block comments nest
    while depth:
        opening = sql.find("/*", pos)
        closing = sql.find("*/", pos)
        if closing < 0:
            raise _Unparsable
        if 0 <= opening < closing:
            depth += 1
            pos = opening + 2
        else:
            depth -= 1
            pos = closing + 2
    return pos


def _skip_string(sql: str, pos: int, *, backslashes: bool) -> int:
    end = len(sql)
    while pos < end:
        char = sql[pos]
        if backslashes and char == "\\":
            pos += 2
            continue
        if char == "'":
            if pos + 1 < end and sql[pos + 1] == "'":
                pos += 2  # a doubled quote
                continue
            return pos + 1
        pos += 1
    raise _Unparsable


# -- what the connection reports -------------------------------------------------------


def server_parameters(conn: Connection) -> dict[str, str]:
    """The live ParameterStatus dictionary of `conn` (updated by the wire core)."""
    return conn._core.parameters


def transaction_status(conn: Connection) -> str:
    """ReadyForQuery's status: ``I`` idle, ``T`` in a transaction, ``E`` failed one."""
    return conn._core.transaction_status


def pending_operations(conn: Connection) -> int:
    """Queries sent on `conn` whose answer has not fully arrived yet."""
    return conn._core.pending_count()


def cancel_requests_in_flight(conn: Connection) -> set[asyncio.Task[Any]]:
    """CancelRequests the connection is still sending for queries it gave up on.

    Until one has reached the server it could cancel whatever runs next on
    this backend: another lease's query.
    """
    return conn._engine._background


def last_pending_waiter(conn: Connection) -> asyncio.Future[Any] | None:
    """The future of the last query still running on `conn`, if any has one."""
    for op in reversed(conn._core.pending_operations()):
        if op.waiter is not None:
            waiter: asyncio.Future[Any] = op.waiter
            return waiter
    return None

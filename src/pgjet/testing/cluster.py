"""Throwaway PostgreSQL clusters for tests.

>>> with Cluster() as cluster:
...     cluster.sql("select 1")
'1'
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from .binaries import PostgresInstallation, find_postgres
from .cache import copy_tree, runnable_installation, template_datadir
from .certs import TlsFiles, generate_tls_files
from .errors import ClusterError, UnsupportedFeatureError
from .hba import AUTH_METHODS, Auth, HbaRule, rules_of
from .reaper import get_reaper
from .runas import ServerUser, chown_to, clean_env, server_user

__all__ = ["AUTH_METHODS", "Cluster", "HbaRule"]

# Unix socket paths are limited to 107 bytes; ".s.PGSQL.65535" takes 14 of them.
_MAX_SOCKET_DIR = 90
_BIND_ERRORS = ("could not bind", "could not create any TCP/IP sockets", "Address already in use")

Settings = Mapping[str, str | int | float | bool]


def quote_ident(name: str) -> str:
    """SQL identifier quoting (for names given to the role and database helpers)."""
    if "\0" in name:
        raise ValueError(f"identifier contains a NUL byte: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """SQL string literal quoting (standard_conforming_strings is on)."""
    if "\0" in value:
        raise ValueError("string literal contains a NUL byte")
    return "'" + value.replace("'", "''") + "'"


def _conf_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        value = "on" if value else "off"
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _q(value: object) -> str:
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    return quote(text, safe="")


def _free_port(ipv6: bool) -> int:
    """A TCP port free right now on 127.0.0.1 (and ::1); the caller retries on a race."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if not ipv6:
            return port
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s6:
                s6.bind(("::1", port))
        except OSError:
            continue
        return port
    raise ClusterError("could not find a free TCP port")


def default_base_dir() -> Path:
    """Where clusters live: ``PGJET_TMPDIR``, else ``/dev/shm`` when it is a writable tmpfs
    with at least 1 GiB free (creating files there is ~15x faster than on a disk, and a
    cluster is ~40 MB), else the system temp directory.
    """
    configured = os.environ.get("PGJET_TMPDIR")
    if configured:
        return Path(configured)
    shm = Path("/dev/shm")
    try:
        stats = os.statvfs(shm)
        if os.access(shm, os.W_OK | os.X_OK) and stats.f_bavail * stats.f_frsize >= 1 << 30:
            return shm
    except OSError:
        pass
    return Path(tempfile.gettempdir())


class Cluster:
    """A PostgreSQL cluster in a temporary directory, started by :meth:`start`.

    Use it as a context manager (``with Cluster() as c:``) or async context manager
    (``async with Cluster() as c:``); leaving stops the server and removes every file.
    If the test process dies first, a watchdog process does the same.

    Args:
        installation: a :class:`PostgresInstallation`, a bindir path, or ``None`` for
            :func:`find_postgres`'s choice.
        settings: extra ``postgresql.conf`` settings (values: str, int, float, bool).
        auth: TCP authentication: a method name for all users (``"trust"``,
            ``"password"``, ``"md5"``, ``"scram-sha-256"``, ``"cert"``, ``"reject"``),
            or :class:`HbaRule` objects. Unix-socket connections are always ``trust``.
        tls: generate certificates and turn on ``ssl`` (needs an SSL build and the
            ``cryptography`` package). See :class:`~pgjet.testing.certs.TlsFiles`.
        tls_users: user names to make client certificates for (CN = user).
        superuser: name of the bootstrap superuser.
        ipv6: listen on ``::1`` as well as ``127.0.0.1``.
        base_dir: parent directory of the cluster directory (default: :func:`default_base_dir`).
        use_template: copy a cached initdb'd data directory instead of running initdb.
        timeout: seconds allowed for each start, stop or promotion.
    """

    def __init__(
        self,
        installation: PostgresInstallation | str | os.PathLike[str] | None = None,
        *,
        settings: Settings | None = None,
        auth: Auth = "trust",
        tls: bool = False,
        tls_users: Iterable[str] = (),
        superuser: str = "postgres",
        ipv6: bool = False,
        base_dir: str | os.PathLike[str] | None = None,
        use_template: bool = True,
        timeout: float = 60.0,
    ) -> None:
        if not isinstance(installation, PostgresInstallation):
            installation = find_postgres(installation)
        self.installation: PostgresInstallation = installation
        self.settings: dict[str, str | int | float | bool] = dict(settings or {})
        self.rules: tuple[HbaRule, ...] = rules_of(auth)
        self.tls_enabled = tls
        self.tls_users: tuple[str, ...] = tuple(tls_users)
        self.superuser = superuser
        self.ipv6 = ipv6
        self.use_template = use_template
        self.timeout = timeout
        self.host = "127.0.0.1"
        """TCP host the server listens on."""
        self.port = 0
        """TCP port, chosen when first started and kept across restarts."""
        self.server_user: ServerUser = server_user()
        self.roles: dict[str, str | None] = {}
        """Roles made with :meth:`create_role`: name -> password (used by PgBouncer's userlist)."""
        self.tls: TlsFiles | None = None
        """Certificate paths when started with ``tls=True``."""
        self.primary: Cluster | None = None
        """For a standby: the cluster it replicates."""
        self.standbys: list[Cluster] = []
        self._base_dir_parent = Path(base_dir) if base_dir is not None else None
        self._base: Path | None = None
        self._socket_dir: Path | None = None
        self._server_bindir: Path | None = None
        self._reaper_keys: list[str] = []
        self._closed = False
        if any(rule.needs_tls for rule in self.rules) and not tls:
            raise ValueError("auth rules use hostssl/cert, which needs tls=True")
        if tls and not installation.has_ssl:
            raise UnsupportedFeatureError(
                f"tls=True, but {installation} was built without SSL support; "
                "use an installation with SSL (e.g. Debian's postgresql package) via "
                "PGJET_PG_BINDIR or the installation argument"
            )

    # -- paths and facts -------------------------------------------------------------------

    @property
    def version(self) -> str:
        """Server version, e.g. ``"18.6"``."""
        return self.installation.version

    @property
    def major(self) -> int:
        """Server major version, e.g. ``18``."""
        return self.installation.major

    @property
    def base_dir(self) -> Path:
        """The cluster's own directory (data, log, certificates)."""
        if self._base is None:
            raise ClusterError("the cluster has not been started yet")
        return self._base

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        """The server log (print it when a test fails: :meth:`log_tail`)."""
        return self.base_dir / "postgresql.log"

    @property
    def socket_dir(self) -> Path:
        """Directory of the unix socket (also a valid libpq ``host``)."""
        if self._socket_dir is None:
            raise ClusterError("the cluster has not been started yet")
        return self._socket_dir

    @property
    def server_bindir(self) -> Path:
        """The bindir the server user runs programs from: the installation's, or a copy of
        it in the cache when that user cannot reach the original (see ``runas``)."""
        if self._server_bindir is None:
            raise ClusterError("the cluster has not been started yet")
        return self._server_bindir

    @property
    def postmaster_pid(self) -> int | None:
        """PID of the running postmaster, or None."""
        from .reaper import _postmaster_pid

        if self._base is None:
            return None
        return _postmaster_pid(os.fspath(self.data_dir))

    def is_running(self) -> bool:
        return self.postmaster_pid is not None

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server log ('' when there is none)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, ClusterError):
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def dsn(
        self,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        host: str | None = None,
        *,
        port: int | None = None,
        unix_socket: bool = False,
        **params: object,
    ) -> str:
        """A ``postgresql://`` URI for this cluster, every part percent-encoded.

        TCP to :attr:`host` by default; ``host="localhost"`` for TLS hostname checks;
        ``unix_socket=True`` (or a ``host`` starting with ``/``) for the unix socket.
        ``params`` become query parameters (``sslmode="verify-full"``, ...).
        """
        user = user or self.superuser
        database = database or "postgres"
        host = os.fspath(self.socket_dir) if unix_socket else (host or self.host)
        port = port or self.port
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        query: dict[str, object] = {}
        if host.startswith("/"):
            location = ""
            query.update(host=host, port=port)
        else:
            location = (f"[{host}]" if ":" in host else host) + f":{port}"
        query.update(params)
        uri = f"postgresql://{auth}@{location}/{quote(database, safe='')}"
        if query:
            uri += "?" + "&".join(f"{_q(k)}={_q(v)}" for k, v in query.items())
        return uri

    def connect_kwargs(
        self, user: str | None = None, password: str | None = None, database: str | None = None
    ) -> dict[str, object]:
        """``host``/``port``/``user``/``password``/``database`` keywords (asyncpg style)."""
        kwargs: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "user": user or self.superuser,
            "database": database or "postgres",
        }
        if password is not None:
            kwargs["password"] = password
        return kwargs

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Cluster:
        """Create the cluster on first call, then start the server. Returns ``self``."""
        if self._closed:
            raise ClusterError("the cluster was closed; create a new one")
        first = self._base is None
        try:
            if first:
                self._create()
            elif self.is_running():
                raise ClusterError(f"the server of {self.data_dir} is already running")
            self._launch(keep_port=self.port != 0)
        except BaseException:
            if first:
                self.close()  # nothing to keep: the error message carries the log tail
            raise
        return self

    def stop(self, mode: str = "fast", timeout: float | None = None) -> None:
        """Stop the server (``mode``: ``smart``, ``fast`` or ``immediate``).

        Falls back to ``immediate`` and then SIGKILL when the shutdown takes longer than
        ``timeout``. Stopping a stopped server does nothing.
        """
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"stop mode must be smart, fast or immediate, not {mode!r}")
        if self._base is None or not self.is_running():
            return
        timeout = self.timeout if timeout is None else timeout
        try:
            self._pg_ctl("stop", "-m", mode, "-t", str(max(1, int(timeout))))
        except ClusterError:
            if self.is_running() and mode != "immediate":
                with contextlib.suppress(ClusterError):
                    self._pg_ctl("stop", "-m", "immediate", "-t", "10")
            if self.is_running():
                self.kill()

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again on the same port."""
        self.stop(mode)
        self._launch(keep_port=True)

    def reload(self) -> None:
        """Make the server re-read its configuration files (``pg_ctl reload``)."""
        self._pg_ctl("reload")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the postmaster (crash simulation) and wait for its processes to end.

        After SIGKILL the server can be started again (it runs crash recovery).
        """
        pid = self.postmaster_pid
        if pid is None:
            return
        family = [pid, *_children(pid)]
        os.kill(pid, sig)
        _wait_gone(family if sig == signal.SIGKILL else [pid], self.timeout)
        # The dead postmaster may stay a zombie until its parent (init) reaps it, and the
        # next postmaster would take that zombie for a live owner of the lock files. All
        # processes of the old server are gone, so its lock files are stale: remove them.
        for lock in (
            self.data_dir / "postmaster.pid",
            self.socket_dir / f".s.PGSQL.{self.port}.lock",
        ):
            with contextlib.suppress(OSError, ValueError):
                if int(lock.read_text().split("\n", 1)[0]) == pid:
                    lock.unlink()

    def close(self) -> None:
        """Stop the server (and standbys made from it) and remove all its files."""
        if self._closed:
            return
        self._closed = True
        for standby in self.standbys:
            standby.close()
        try:
            if self._base is not None:
                self.stop(timeout=min(self.timeout, 30))
        finally:
            for path in (self._base, self._socket_dir):
                if path is not None:
                    shutil.rmtree(path, ignore_errors=True)
            reaper = get_reaper() if self._reaper_keys else None
            for key in self._reaper_keys:
                assert reaper is not None
                reaper.forget(key)
            self._reaper_keys.clear()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Cluster:
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
        where = f"{self.host}:{self.port}" if self.port else "not started"
        return f"<Cluster PostgreSQL {self.version} {where}>"

    # -- SQL helpers -----------------------------------------------------------------------

    def sql(
        self,
        query: str,
        *,
        database: str | None = None,
        user: str | None = None,
        timeout: float = 60,
    ) -> str:
        """Run SQL with ``psql`` over the unix socket; return its output.

        Rows come one per line, columns separated by ``|``, without headers; the
        trailing newline is removed. Statements run one after another (autocommit), so
        ``CREATE DATABASE`` works; the first error raises :class:`ClusterError`.
        """
        args: list[str | os.PathLike[str]] = [
            self.installation.binary("psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.socket_dir,
            "-p",
            str(self.port),
            "-U",
            user or self.superuser,
            "-d",
            database or "postgres",
            "-f",
            "-",
        ]
        client = ServerUser("", os.geteuid(), os.getegid(), (), switch=False)
        try:
            out = client.run(args, input=query, timeout=timeout, what="psql")
        except ClusterError as exc:
            raise ClusterError(f"SQL failed on {self!r}: {exc}\nquery: {query}") from None
        return out[:-1] if out.endswith("\n") else out

    def create_role(
        self,
        name: str,
        password: str | None = None,
        *,
        password_encryption: str = "scram-sha-256",
        superuser: bool = False,
        login: bool = True,
        replication: bool = False,
        options: str = "",
    ) -> None:
        """Create a role; its password is stored as SCRAM or md5 (``password_encryption``)."""
        if password_encryption not in ("scram-sha-256", "md5"):
            raise ValueError(
                f"password_encryption must be 'scram-sha-256' or 'md5', not {password_encryption!r}"
            )
        attrs = ["LOGIN" if login else "NOLOGIN"]
        if superuser:
            attrs.append("SUPERUSER")
        if replication:
            attrs.append("REPLICATION")
        statements = []
        if password is not None:
            attrs.append("PASSWORD " + quote_literal(password))
            statements.append(f"SET password_encryption = {quote_literal(password_encryption)};")
        statements.append(f"CREATE ROLE {quote_ident(name)} {' '.join(attrs)} {options};")
        self.sql("\n".join(statements))
        self.roles[name] = password

    def create_database(self, name: str, owner: str | None = None, template: str = "") -> None:
        """Create a database (optionally owned by ``owner``, copied from ``template``)."""
        statement = f"CREATE DATABASE {quote_ident(name)}"
        if owner:
            statement += f" OWNER {quote_ident(owner)}"
        if template:
            statement += f" TEMPLATE {quote_ident(template)}"
        self.sql(statement + ";")

    def configure(self, settings: Settings, *, restart: bool = False) -> None:
        """Change ``postgresql.conf`` settings of a created cluster and reload (or restart).

        Settings marked "server start" in the PostgreSQL docs need ``restart=True``.
        """
        self.settings.update(settings)
        self._write_conf()
        if restart:
            self.restart()
        elif self.is_running():
            self.reload()

    def set_auth(self, auth: Auth) -> None:
        """Replace the TCP rules of ``pg_hba.conf`` and reload the server."""
        rules = rules_of(auth)
        if any(rule.needs_tls for rule in rules) and not self.tls_enabled:
            raise ValueError("auth rules use hostssl/cert, which needs tls=True")
        self.rules = rules
        self._write_hba()
        if self.is_running():
            self.reload()

    # -- replication -----------------------------------------------------------------------

    def create_standby(
        self, *, settings: Settings | None = None, timeout: float | None = None
    ) -> Cluster:
        """Start a streaming replica of this (running) cluster on its own port.

        Made with ``pg_basebackup -R -X stream``; returns once the standby is in
        recovery and its WAL receiver is streaming. It inherits this cluster's settings,
        auth rules and certificates; :meth:`close` of the primary closes it too.
        """
        if not self.is_running():
            raise ClusterError("create_standby needs a running primary")
        standby = Cluster(
            self.installation,
            settings={**self.settings, **(settings or {})},
            auth=self.rules,
            tls=self.tls_enabled,
            tls_users=self.tls_users,
            superuser=self.superuser,
            ipv6=self.ipv6,
            base_dir=self._base_dir_parent,
            timeout=timeout or self.timeout,
        )
        standby.primary = self
        standby.roles = dict(self.roles)
        self.standbys.append(standby)
        standby.start()
        standby._wait_streaming()
        return standby

    def promote(self) -> None:
        """Turn this standby into a primary (``pg_ctl promote -w``)."""
        self._pg_ctl("promote", "-t", str(int(self.timeout)))
        deadline = time.monotonic() + self.timeout
        while self.sql("select pg_is_in_recovery()") != "f":
            if time.monotonic() > deadline:
                raise ClusterError(f"{self!r} still in recovery after promotion")
            time.sleep(0.05)

    def _wait_streaming(self) -> None:
        deadline = time.monotonic() + self.timeout
        query = "select pg_is_in_recovery(), (select status from pg_stat_wal_receiver)"
        while True:
            state = self.sql(query)
            if state == "t|streaming":
                return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"standby not streaming after {self.timeout}s (state {state!r})\n"
                    + self.log_tail()
                )
            time.sleep(0.05)

    # -- internals -------------------------------------------------------------------------

    def _create(self) -> None:
        user = self.server_user
        reaper = get_reaper()
        parent = self._base_dir_parent or default_base_dir()
        self._base = Path(tempfile.mkdtemp(prefix="pgjet-", dir=parent)).resolve()
        self._reaper_keys.append(reaper.watch_dir(self._base))
        if user.switch:
            os.chmod(self._base, 0o711)  # the server user only needs to traverse it
        socket_dir = self._base / "s"
        if len(os.fspath(socket_dir)) > _MAX_SOCKET_DIR:
            socket_dir = Path(tempfile.mkdtemp(prefix="pgjet-s-", dir="/tmp"))
            self._reaper_keys.append(reaper.watch_dir(socket_dir))
        else:
            socket_dir.mkdir()
        os.chmod(socket_dir, 0o755)
        chown_to(user, socket_dir)
        self._socket_dir = socket_dir
        self.log_path.touch(mode=0o644)
        chown_to(user, self.log_path)
        self._server_bindir = runnable_installation(self.installation, user)
        # Register before the server exists, so a death during startup is covered too.
        self._reaper_keys.append(reaper.watch_postmaster(self.data_dir))
        if self.tls_enabled:
            self._make_tls()
        if self.primary is not None:
            self._base_backup(self.primary)
        else:
            self._init_data_dir()
        with open(self.data_dir / "postgresql.conf", "a+") as conf:
            conf.seek(0)
            if "include = 'pgjet.conf'" not in conf.read():
                conf.write("\n# added by pgjet.testing\ninclude = 'pgjet.conf'\n")
        self._write_hba()

    def _initdb_args(self) -> tuple[str, ...]:
        args = ["-U", self.superuser, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]
        if self.major >= 14:
            args.append("--no-instructions")
        return tuple(args)

    def _init_data_dir(self) -> None:
        assert self._server_bindir is not None
        args = self._initdb_args()
        if self.use_template:
            template = template_datadir(
                self._server_bindir, self.installation, self.server_user, args
            )
            copy_tree(template, self.data_dir)
            return
        self.data_dir.mkdir(mode=0o700)
        chown_to(self.server_user, self.data_dir)
        self.server_user.run(
            [self._server_bindir / "initdb", "-D", self.data_dir, *args], what="initdb"
        )

    def _base_backup(self, primary: Cluster) -> None:
        assert self._server_bindir is not None
        self.data_dir.mkdir(mode=0o700)
        chown_to(self.server_user, self.data_dir)
        self.server_user.run(
            [
                self._server_bindir / "pg_basebackup",
                "-D",
                self.data_dir,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
                "-h",
                primary.socket_dir,
                "-p",
                str(primary.port),
                "-U",
                primary.superuser,
            ],
            timeout=self.timeout,
            what="pg_basebackup",
        )

    def _make_tls(self) -> None:
        directory = self.base_dir / "tls"
        if self.primary is not None and self.primary.tls is not None:
            source = self.primary.tls
            shutil.copytree(source.directory, directory)
            self.tls = dataclasses.replace(
                source,
                directory=directory,
                **{
                    f.name: directory / getattr(source, f.name).name
                    for f in dataclasses.fields(source)
                    if isinstance(getattr(source, f.name), Path) and f.name != "directory"
                },
            )
        else:
            self.tls = generate_tls_files(directory, self.tls_users)
        # The server reads its key as the server user and refuses group/world access.
        chown_to(self.server_user, self.tls.server_key, self.tls.wrong_host_key)

    def _write_conf(self) -> None:
        lines = [
            "# written by pgjet.testing",
            f"port = {self.port}",
            "listen_addresses = " + _conf_value("127.0.0.1, ::1" if self.ipv6 else "127.0.0.1"),
            "unix_socket_directories = " + _conf_value(os.fspath(self.socket_dir)),
            "fsync = off",
            "full_page_writes = off",
            "synchronous_commit = off",
            "log_line_prefix = '%m [%p] %q%u@%d '",
        ]
        if _on_tmpfs(self.base_dir):
            # Dynamic shared memory as files in the data directory, which is deleted with
            # it: POSIX segments of a SIGKILLed server would otherwise stay in /dev/shm.
            lines.append("dynamic_shared_memory_type = mmap")
        if self.tls is not None:
            lines += [
                "ssl = on",
                "ssl_cert_file = " + _conf_value(os.fspath(self.tls.server_cert)),
                "ssl_key_file = " + _conf_value(os.fspath(self.tls.server_key)),
                "ssl_ca_file = " + _conf_value(os.fspath(self.tls.ca_cert)),
            ]
        for key, value in self.settings.items():
            lines.append(f"{key} = {_conf_value(value)}")
        path = self.data_dir / "pgjet.conf"
        path.write_text("\n".join(lines) + "\n")
        chown_to(self.server_user, path)

    def _write_hba(self) -> None:
        lines = [
            "# written by pgjet.testing",
            "local all all trust",
            "local replication all trust",
        ]
        for rule in self.rules:
            lines += rule.lines()
        path = self.data_dir / "pg_hba.conf"
        path.write_text("\n".join(lines) + "\n")
        chown_to(self.server_user, path)

    def _launch(self, keep_port: bool) -> None:
        attempts = 1 if keep_port else 5
        for attempt in range(attempts):
            if not keep_port:
                self.port = _free_port(self.ipv6)
            self._write_conf()
            log_start = self.log_path.stat().st_size
            try:
                self._pg_ctl("start", "-l", self.log_path, "-t", str(int(self.timeout)))
                return
            except ClusterError as exc:
                new_log = self.log_path.read_text(errors="replace")[log_start:]
                if attempt + 1 < attempts and any(e in new_log for e in _BIND_ERRORS):
                    continue  # another process took the port in between: pick another
                raise ClusterError(
                    f"starting PostgreSQL {self.version} in {self.data_dir} failed: {exc}\n"
                    f"--- {self.log_path} (tail) ---\n{self.log_tail()}"
                ) from None

    def _pg_ctl(self, command: str, *args: str | os.PathLike[str]) -> None:
        assert self._server_bindir is not None
        self.server_user.run(
            [self._server_bindir / "pg_ctl", command, "-D", self.data_dir, "-w", *args],
            env=clean_env(),
            timeout=self.timeout + 15,
            what=f"pg_ctl {command}",
        )


def _on_tmpfs(path: Path) -> bool:
    """Whether ``path`` lies on a tmpfs mount (per /proc/self/mounts)."""
    best, fstype = "", ""
    target = os.path.realpath(path)
    try:
        with open("/proc/self/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mount = fields[1]
                inside = target == mount or target.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) > len(best):
                    best, fstype = mount, fields[2]
    except OSError:
        return False
    return fstype == "tmpfs"


def _children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (the postmaster's backends and auxiliary processes)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(b")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _wait_gone(pids: Sequence[int], timeout: float) -> None:
    from .reaper import _state_of

    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive:
        alive = [pid for pid in alive if _state_of(pid) is not None]
        if not alive:
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"processes {alive} still alive after {timeout}s")
        time.sleep(0.02)

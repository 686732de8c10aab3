"""connect(): asyncpg's signature, libpq's multi-host and TLS semantics.

Policy only: which addresses, in which order, with which TLS fallbacks, and
whether a server fits ``target_session_attrs``. One attempt at one address is
:func:`pgjet.startup.attempt`.
"""

from __future__ import annotations

import asyncio
import random
import ssl as ssl_module
from collections.abc import Callable, Iterator
from typing import Any

from pgjet import dsn as dsn_module
from pgjet import errors, tls
from pgjet._engine import STATEMENT_MODES
from pgjet.connection import Connection
from pgjet.record import Record, record_class_error
from pgjet.rows import RowShape, row_factory_error
from pgjet.startup import AttemptResult, AttemptSpec, TLSUse, attempt

# Sent in every StartupMessage unless the user overrides them: the driver
# reads and writes UTF-8 and parses ISO dates.
_STARTUP_DEFAULTS = {"client_encoding": "UTF8", "DateStyle": "ISO"}


async def connect(
    dsn: str | None = None,
    *,
    host: Any = None,
    port: Any = None,
    user: str | None = None,
    password: Any = None,
    passfile: str | None = None,
    service: str | None = None,
    servicefile: str | None = None,
    database: str | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
    timeout: float = 60,
    statement_cache_size: int = 100,
    max_cached_statement_lifetime: float = 300,
    max_cacheable_statement_size: int = 1024 * 15,
    command_timeout: float | None = None,
    ssl: Any = None,
    direct_tls: bool | None = None,
    connection_class: type[Connection] = Connection,
    record_class: type[Record] = Record,
    server_settings: dict[str, str] | None = None,
    target_session_attrs: str | None = None,
    krbsrvname: str | None = None,
    gsslib: str | None = None,
    load_balance_hosts: str | None = None,
    channel_binding: str | None = None,
    connect_timeout: float | None = None,
    max_message_size: int = 1 << 30,
    json_loads: Callable[[str], Any] | None = None,
    json_dumps: Callable[[Any], str | bytes] | None = None,
    prepared_statements: str = "auto",
    row_factory: RowShape | None = None,
) -> Connection:
    """Open a connection, as ``asyncpg.connect`` does.

    Beyond asyncpg: key=value DSNs, service files, ``load_balance_hosts``,
    ``channel_binding`` (SCRAM-SHA-256-PLUS), ``sslnegotiation=direct`` in the
    DSN, and one :class:`~pgjet.errors.ConnectionAttemptsFailedError` listing
    every failed attempt when several hosts were tried. ``timeout`` bounds the
    whole call; ``connect_timeout`` (or the DSN's) bounds each attempt.
    ``json_loads``/``json_dumps`` decode and encode json and jsonb values
    (e.g. ``orjson.loads``/``orjson.dumps``); by default they are str.
    ``prepared_statements`` is ``"auto"`` (named server-side statements,
    unless a pooler is detected), ``"named"`` or ``"unnamed"`` (one round
    trip per query, safe behind PgBouncer in transaction mode); see
    docs/pgbouncer.md. ``row_factory`` (see :mod:`pgjet.rows`) makes rows
    dicts, tuples, namedtuples or instances of a class instead of Records.
    """
    if loop is not None and loop is not asyncio.get_running_loop():
        raise errors.InterfaceError("connect(loop=...) must be the running event loop")
    if not issubclass(connection_class, Connection):
        raise errors.ClientConfigurationError(
            f"connection_class must be a subclass of pgjet.Connection, got {connection_class!r}"
        )
    if command_timeout is not None and command_timeout <= 0:
        raise errors.ClientConfigurationError(
            f"command_timeout must be a positive number, got {command_timeout!r}"
        )
    if timeout is None or timeout <= 0:
        raise errors.ClientConfigurationError(f"timeout must be a positive number, got {timeout!r}")
    if prepared_statements not in STATEMENT_MODES:
        raise errors.ClientConfigurationError(
            f"prepared_statements must be one of {', '.join(STATEMENT_MODES)}, "
            f"not {prepared_statements!r}"
        )
    problem = record_class_error(record_class)
    if problem is None and row_factory is not None:
        problem = row_factory_error(row_factory)
    if problem is not None:
        raise errors.InterfaceError(problem)
    params = dsn_module.parse_connect_args(
        dsn,
        host=host,
        port=port,
        user=user,
        password=password,
        passfile=passfile,
        service=service,
        servicefile=servicefile,
        database=database,
        ssl=ssl,
        direct_tls=direct_tls,
        server_settings=server_settings,
        target_session_attrs=target_session_attrs,
        load_balance_hosts=load_balance_hosts,
        channel_binding=channel_binding,
        connect_timeout=connect_timeout,
        krbsrvname=krbsrvname,
        gsslib=gsslib,
    )
    connector = _Connector(params, timeout, max_message_size)
    result, spec = await connector.run()
    return connection_class(
        result.transport,
        addr=(spec.host, spec.port),
        database=spec.database,
        user=spec.user,
        command_timeout=command_timeout,
        statement_cache_size=statement_cache_size,
        max_cached_statement_lifetime=max_cached_statement_lifetime,
        max_cacheable_statement_size=max_cacheable_statement_size,
        record_class=record_class,
        params=params,
        json_loads=json_loads,
        json_dumps=json_dumps,
        prepared_statements=prepared_statements,
        row_factory=row_factory,
    )


class _Connector:
    """Tries addresses in order until one fits; remembers every failure."""

    def __init__(self, params: dsn_module.ConnectParams, timeout: float, max_message_size: int):
        self.params = params
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + timeout
        self.timeout = timeout
        self.max_message_size = max_message_size
        self.failures: list[tuple[str, int | str, BaseException]] = []
        # Set when the whole-call `timeout` (not a per-host connect_timeout) ran out.
        self.out_of_time = False

    async def run(self) -> tuple[AttemptResult, AttemptSpec]:
        addrs = list(self.params.addrs)
        if self.params.load_balance_hosts == dsn_module.LoadBalanceHosts.random:
            random.shuffle(addrs)
        attrs = self.params.target_session_attrs.value
        passes = ["standby", "any"] if attrs == "prefer-standby" else [attrs]
        for wanted in passes:
            for addr in addrs:
                if self.loop.time() >= self.deadline:
                    self.out_of_time = True
                    raise self._final_error()
                found = await self._try_address(addr, wanted)
                if found is not None:
                    return found
        raise self._final_error()

    async def _try_address(
        self, addr: dsn_module.Address, wanted: str
    ) -> tuple[AttemptResult, AttemptSpec] | None:
        for spec in self._specs(addr):
            remaining = self.deadline - self.loop.time()
            if remaining <= 0:
                self.out_of_time = True
                return None
            per_host = self.params.connect_timeout
            bounded_by_call = per_host is None or remaining <= per_host
            per_attempt = remaining if bounded_by_call or per_host is None else per_host
            try:
                result = await asyncio.wait_for(attempt(spec), per_attempt)
            except asyncio.TimeoutError:
                self.out_of_time = bounded_by_call
                limit = (
                    f"timeout={self.timeout:g}s of the whole connect"
                    if bounded_by_call
                    else f"connect_timeout={per_host:g}s"
                )
                self._fail(
                    spec,
                    errors.ConnectTimeoutError(f"connecting to {_where(spec)} timed out ({limit})"),
                )
                return None
            except (
                OSError,
                errors.PostgresError,
                errors.InterfaceError,
                errors.InternalClientError,
                ssl_module.SSLError,
            ) as exc:
                self._fail(spec, exc)
                if _worth_next_spec(spec, exc):
                    continue
                return None
            try:
                fits = await _server_fits(result, wanted, self.deadline)
            except asyncio.TimeoutError:
                # Only servers older than 14 need a query to tell (see _server_fits).
                result.transport.transport.abort()  # type: ignore[union-attr]
                self.out_of_time = True
                self._fail(
                    spec,
                    errors.ConnectTimeoutError(
                        f"checking target_session_attrs at {_where(spec)} timed out "
                        f"(timeout={self.timeout:g}s of the whole connect)"
                    ),
                )
                return None
            except BaseException:
                result.transport.transport.abort()  # type: ignore[union-attr]
                raise
            if fits:
                return result, spec
            result.transport.transport.abort()  # type: ignore[union-attr]
            self._fail(
                spec,
                errors.TargetServerAttributeNotMatched(
                    f"server at {_where(spec)} does not match target_session_attrs={wanted!r}"
                ),
            )
            return None
        return None

    def _specs(self, addr: dsn_module.Address) -> Iterator[AttemptSpec]:
        """The attempts for one address, in libpq's sslmode order."""
        p = self.params
        host, port = _attempt_host_port(addr)
        base = dict(
            host=host,
            port=port,
            user=p.user,
            database=p.database,
            password=p.password_for(addr),
            startup_params=self._startup_params(),
            channel_binding=p.channel_binding.value,
            max_message_size=self.max_message_size,
        )
        mode = p.ssl_mode
        SSLMode = dsn_module.SSLMode
        if addr.is_unix or mode == SSLMode.disable:
            yield AttemptSpec(**base)  # type: ignore[arg-type]
            return
        context = tls.make_ssl_context(p, addr.host)
        assert context is not None  # only sslmode=disable has none
        tls_use: TLSUse = "direct" if p.sslnegotiation == "direct" else "negotiate"
        hostname = None if _is_ip(addr.host) and not context.check_hostname else addr.host
        secure = AttemptSpec(
            **base,  # type: ignore[arg-type]
            tls=tls_use,
            ssl_context=context,
            tls_optional=mode in (SSLMode.allow, SSLMode.prefer),
            server_hostname=hostname,
        )
        if mode == SSLMode.allow:
            yield AttemptSpec(**base)  # type: ignore[arg-type]
            yield secure
        elif mode == SSLMode.prefer:
            yield secure
            yield AttemptSpec(**base)  # type: ignore[arg-type]
        else:
            yield secure

    def _startup_params(self) -> dict[str, str]:
        p = self.params
        startup = dict(_STARTUP_DEFAULTS)
        startup.update(p.server_settings)
        startup["user"] = p.user
        startup["database"] = p.database
        return startup

    def _fail(self, spec: AttemptSpec, exc: BaseException) -> None:
        self.failures.append((spec.host, spec.port, exc))

    def _final_error(self) -> BaseException:
        failures = self.failures
        if not failures:
            return errors.ConnectTimeoutError(
                f"timed out after {self.timeout:g}s (timeout= of the whole connect) "
                "before any attempt finished"
            )
        last = failures[-1][2]
        if len({(a.host, a.port) for a in self.params.addrs}) == 1:
            # One address (perhaps tried with and without TLS): its last
            # error is the specific one, as asyncpg raises it.
            if self.out_of_time and not isinstance(last, errors.ConnectTimeoutError):
                return self._timeout_error(last)
            return last
        cause = last
        if len({(h, p) for h, p, _ in failures}) > 1:
            cause = errors.ConnectionAttemptsFailedError(failures)
            cause.__cause__ = last
        if self.out_of_time:
            # asyncpg raises TimeoutError when `timeout` runs out, whatever came
            # before; the attempts stay listed, and reachable as the cause.
            return self._timeout_error(cause)
        return cause

    def _timeout_error(self, cause: BaseException) -> errors.ConnectTimeoutError:
        tried = {(h, p) for h, p, _ in self.failures}
        untried = [
            _address(a.host, a.port) for a in self.params.addrs if (a.host, a.port) not in tried
        ]
        lines = [f"timed out after {self.timeout:g}s (timeout= of the whole connect)"]
        lines += [f"  {_address(h, p)}: {_one_line(e)}" for h, p, e in self.failures]
        if untried:
            lines.append(f"  not tried: {', '.join(untried)}")
        error = errors.ConnectTimeoutError("\n".join(lines))
        error.__cause__ = cause
        return error


def _worth_next_spec(spec: AttemptSpec, exc: BaseException) -> bool:
    """Whether libpq would retry the same address with the other TLS choice."""
    if spec.tls == "none":
        # sslmode=allow: a plaintext attempt the server rejected is retried with TLS.
        return isinstance(exc, errors.PostgresError)
    if not spec.tls_optional:
        return False
    # sslmode=prefer: a failed handshake is retried in plaintext, and so is a server
    # that rejected the encrypted session (e.g. only a hostnossl rule matches).
    if isinstance(exc, (ssl_module.SSLError, errors.ProtocolError)):
        return True
    if not isinstance(exc, errors.PostgresError) or isinstance(exc, _SAME_IN_PLAINTEXT):
        return False
    # Not when the server had refused TLS and this attempt went on in plaintext
    # anyway (if startup recorded that): the retry would only repeat it.
    return spec.extra.get("tls_used", True) is not False


# Rejections that a plaintext retry cannot change: libpq retries them all the same,
# which doubles every failed login on a server without TLS.
_SAME_IN_PLAINTEXT = (errors.InvalidPasswordError, errors.InvalidCatalogNameError)


async def _server_fits(result: AttemptResult, wanted: str, deadline: float) -> bool:
    """target_session_attrs, from ParameterStatus when the server reports it (PG 14+)."""
    if wanted in (None, "any"):
        return True
    core = result.transport.core
    params = core.parameters
    hot_standby = params.get("in_hot_standby")
    read_only_default = params.get("default_transaction_read_only")
    if hot_standby is None or read_only_default is None:
        hot_standby, read_only_default = await _query_session_state(result, deadline)
    in_recovery = hot_standby == "on"
    read_only = in_recovery or read_only_default == "on"
    if wanted == "read-write":
        return not read_only
    if wanted == "read-only":
        return read_only
    if wanted == "primary":
        return not in_recovery
    if wanted == "standby":
        return in_recovery
    raise errors.ClientConfigurationError(f"unknown target_session_attrs {wanted!r}")


async def _query_session_state(result: AttemptResult, deadline: float) -> tuple[str, str]:
    """Servers older than 14 don't report in_hot_standby: ask (one round trip)."""
    from pgjet._wire.core import QueryOp

    wire = result.transport
    op = QueryOp()
    wire.core.out.query(
        "SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN 'on' ELSE 'off' END, "
        "pg_catalog.current_setting('default_transaction_read_only')"
    )
    fut = wire.send(op)
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(fut, max(deadline - loop.time(), 0.001))
    if op.error_fields is not None:
        raise errors.from_fields(op.error_fields)
    row = op.rows[0]
    return str(row[0]), str(row[1])


def _attempt_host_port(addr: dsn_module.Address) -> tuple[str, int]:
    """A full socket path as host (asyncpg accepts one) becomes its directory and port."""
    if addr.is_unix:
        directory, _, name = addr.host.rpartition("/")
        prefix = ".s.PGSQL."
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return directory or "/", int(name[len(prefix) :])
    return addr.host, addr.port


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _where(spec: AttemptSpec) -> str:
    return _address(spec.host, spec.port)


def _address(host: str, port: int | str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _one_line(error: BaseException) -> str:
    text = " ".join(part.strip() for part in str(error).splitlines() if part.strip())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__

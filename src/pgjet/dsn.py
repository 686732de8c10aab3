"""Connection parameters: from ``connect()``'s arguments, the DSN, a service file and
the environment to one validated, immutable :class:`ConnectParams`.

Precedence, highest first (asyncpg's order, which is libpq's with keyword arguments
on top):

1. keyword arguments of ``connect()`` (``ssl=`` / ``direct_tls=`` included);
2. the DSN: a ``postgresql://`` / ``postgres://`` URI or a libpq ``key=value`` string;
3. the connection service file section named by ``service`` (see :mod:`pgjet.service`);
4. ``PG*`` environment variables;
5. defaults: the Unix socket directories that exist, then ``localhost``; port 5432;
   the OS user; database = user; ``sslmode=prefer``; ``target_session_attrs=any``.

The password is looked up in the password file (:mod:`pgjet.passfile`) separately for
each address, and only when no level above gave one.

Deliberate choices, where libpq and asyncpg differ or are silent:

- Unknown DSN options become ``server_settings`` (asyncpg); ``application_name``,
  ``options`` (and ``PGAPPNAME``/``PGOPTIONS``) do too. libpq options that pgjet cannot
  honour (``hostaddr``, ``require_auth``, ...) are errors rather than being ignored;
  pure TCP tuning hints (``keepalives*``, ``tcp_user_timeout``, ``sslsni``,
  ``sslcompression``) are accepted without effect.
- A port written in a URI's host list (``h1:5433,h2``) belongs to the DSN's port
  list, so ``?port=`` or ``port=`` overrides it; an empty entry of a port list means
  the default port (``PGPORT`` when it names one port, else 5432).
- ``+`` in a URI is a plus sign (libpq), not a space; bad percent-escapes are errors.
- ``connect_timeout`` accepts fractions; zero or less means no timeout.
- Empty values (``host=``, ``PGUSER=``) mean "not set" at every level.
- ``ssl=True`` means ``verify-full`` against the system's CAs (asyncpg), unless an
  ``sslrootcert`` is given; ``sslrootcert=system`` forces ``verify-full`` (libpq).
"""

from __future__ import annotations

import enum
import getpass
import math
import os
import ssl as ssl_module
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TypeAlias, TypedDict, TypeVar

from pgjet.conninfo import (
    Layer,
    Merged,
    check_nul,
    env_layer,
    invalid_choice,
    layer_from_pairs,
    parse_dsn,
)
from pgjet.errors import ClientConfigurationError
from pgjet.hostlist import resolve_hosts, resolve_ports
from pgjet.passfile import PassfileEntry, default_passfile_path, lookup_password, read_passfile
from pgjet.service import find_service

PasswordSpec: TypeAlias = "str | Callable[[], str | Awaitable[str]]"
"""A password, or a (possibly async) callable returning one, resolved per attempt."""


class SSLMode(str, enum.Enum):
    """libpq's sslmode, declared from weakest to strongest; equal to its libpq spelling."""

    disable = "disable"
    allow = "allow"
    prefer = "prefer"
    require = "require"
    verify_ca = "verify-ca"
    verify_full = "verify-full"

    @property
    def label(self) -> str:
        return str(self.value)

    def at_least(self, other: SSLMode) -> bool:
        """Whether this mode is as strict as ``other`` or stricter."""
        order = list(SSLMode)
        return order.index(self) >= order.index(other)

    @classmethod
    def parse(cls, text: str, where: str = "sslmode") -> SSLMode:
        wanted = text.strip().lower().replace("_", "-")
        for member in cls:
            if member.value == wanted:
                return member
        raise invalid_choice(where, text, [m.label for m in cls])


class SSLNegotiation(str, enum.Enum):
    postgres = "postgres"
    direct = "direct"


class ChannelBinding(str, enum.Enum):
    disable = "disable"
    prefer = "prefer"
    require = "require"


class SessionAttribute(str, enum.Enum):
    """target_session_attrs: which server of a multi-host list is acceptable."""

    any = "any"
    primary = "primary"
    standby = "standby"
    prefer_standby = "prefer-standby"
    read_write = "read-write"
    read_only = "read-only"


class LoadBalanceHosts(str, enum.Enum):
    disable = "disable"
    random = "random"


_MASK = "********"


@dataclass(frozen=True)
class Address:
    """One server to try: a TCP host, a Unix socket directory ('/...') or an abstract
    socket ('@...'), with the password to use there (after the password file)."""

    host: str
    port: int
    password: PasswordSpec | None = field(default=None, compare=False)

    @property
    def is_unix(self) -> bool:
        return self.host.startswith(("/", "@"))

    @property
    def socket_path(self) -> str:
        """The socket file to connect to; for an abstract socket it starts with NUL."""
        if not self.is_unix:
            raise ValueError(f"{self.host!r} is not a Unix socket address")
        if os.path.basename(self.host).startswith(".s.PGSQL."):
            path = self.host  # a full socket path (asyncpg accepts these)
        else:
            path = f"{self.host.rstrip('/') or '/'}/.s.PGSQL.{self.port}".replace("//", "/")
        return "\0" + path[1:] if path.startswith("@") else path

    @property
    def tls_server_name(self) -> str | None:
        """The name to verify the certificate against (and send as SNI); None for sockets."""
        return None if self.is_unix else self.host

    def __repr__(self) -> str:
        shown = _MASK if self.password is not None else None
        return f"Address(host={self.host!r}, port={self.port!r}, password={shown})"


@dataclass(frozen=True)
class ConnectParams:
    """Everything needed to connect, validated; passwords never appear in its repr."""

    addrs: tuple[Address, ...]
    user: str
    database: str
    password: PasswordSpec | None
    passfile: str | None
    ssl_mode: SSLMode
    ssl_context: ssl_module.SSLContext | None
    sslrootcert: str | None
    sslcert: str | None
    sslkey: str | None
    sslpassword: str | None
    sslcrl: str | None
    ssl_min_protocol_version: str
    ssl_max_protocol_version: str | None
    sslnegotiation: SSLNegotiation
    channel_binding: ChannelBinding
    server_settings: dict[str, str]
    target_session_attrs: SessionAttribute
    load_balance_hosts: LoadBalanceHosts
    connect_timeout: float | None
    krbsrvname: str | None
    gsslib: str
    service: str | None

    def password_for(self, addr: Address) -> PasswordSpec | None:
        return addr.password

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("password", "sslpassword") and value is not None:
                parts.append(f"{f.name}={_MASK}")
            else:
                parts.append(f"{f.name}={value!r}")
        return f"ConnectParams({', '.join(parts)})"


_SERVER_SETTING_OPTIONS = ("application_name", "options")
_TLS_VERSIONS = {"tlsv1": "TLSv1", "tlsv1.1": "TLSv1.1", "tlsv1.2": "TLSv1.2", "tlsv1.3": "TLSv1.3"}


# --- the entry point ------------------------------------------------------------------


def parse_connect_args(
    dsn: str | None = None,
    *,
    host: str | Sequence[str] | None = None,
    port: int | str | Sequence[int | str] | None = None,
    user: str | None = None,
    password: PasswordSpec | None = None,
    passfile: str | os.PathLike[str] | None = None,
    database: str | None = None,
    ssl: bool | str | SSLMode | ssl_module.SSLContext | None = None,
    direct_tls: bool | None = None,
    server_settings: Mapping[str, str] | None = None,
    target_session_attrs: str | SessionAttribute | None = None,
    load_balance_hosts: str | LoadBalanceHosts | None = None,
    channel_binding: str | ChannelBinding | None = None,
    connect_timeout: float | None = None,
    krbsrvname: str | None = None,
    gsslib: str | None = None,
    service: str | None = None,
    servicefile: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ConnectParams:
    """Combine ``connect()``'s arguments with the DSN, service file and environment.

    ``environ`` defaults to ``os.environ``. Raises ``ClientConfigurationError`` naming
    the offending option and where it came from; never includes a password.
    """
    env = os.environ if environ is None else environ
    dsn_layer = layer_from_pairs("DSN", parse_dsn(dsn) if dsn is not None else [])
    environment = env_layer(env)

    service_name = _opt_str(service, "service") or dsn_layer.options.get("service")
    service_name = service_name or env.get("PGSERVICE") or None
    layers = [dsn_layer]
    if service_name:
        check_nul(service_name, "service")
        servicefile = servicefile or dsn_layer.options.get("servicefile")
        pairs = find_service(service_name, servicefile=servicefile, environ=env)
        layers.append(layer_from_pairs(f"service {service_name!r}", pairs))
    layers.append(environment)
    merged = Merged(layers)

    hosts = resolve_hosts(host, merged)
    ports = resolve_ports(port, merged, env, len(hosts))

    user = _opt_str(user, "user") or merged.get("user")[0] or _os_user()
    database = _opt_str(database, "database") or merged.get("dbname")[0] or user
    explicit_password = _resolve_password(password, merged)

    passfile_path: str | None = None
    entries: list[PassfileEntry] = []
    if explicit_password is None:
        passfile_path = _resolve_passfile(passfile, merged)
        if passfile_path is not None:
            entries = read_passfile(passfile_path)
    addrs = tuple(
        Address(
            h,
            p,
            explicit_password
            if explicit_password is not None
            else lookup_password(entries, host=h, port=p, database=database, user=user),
        )
        for h, p in zip(hosts, ports, strict=True)
    )

    tls = _resolve_tls(ssl, direct_tls, merged)
    return ConnectParams(
        addrs=addrs,
        user=user,
        database=database,
        password=explicit_password,
        passfile=passfile_path,
        server_settings=_resolve_server_settings(server_settings, layers),
        target_session_attrs=_resolve_choice(
            target_session_attrs, "target_session_attrs", merged, SessionAttribute
        ),
        load_balance_hosts=_resolve_choice(
            load_balance_hosts, "load_balance_hosts", merged, LoadBalanceHosts
        ),
        channel_binding=_resolve_choice(
            channel_binding, "channel_binding", merged, ChannelBinding, ChannelBinding.prefer
        ),
        connect_timeout=_resolve_timeout(connect_timeout, merged),
        krbsrvname=_opt_str(krbsrvname, "krbsrvname") or merged.get("krbsrvname")[0],
        gsslib=_resolve_gsslib(gsslib, merged),
        service=service_name,
        **tls,
    )


# --- user, password, passfile ---------------------------------------------------------


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        raise ClientConfigurationError(
            "could not determine the user name to connect as; pass user= or set PGUSER"
        ) from None


def _resolve_password(password: PasswordSpec | None, merged: Merged) -> PasswordSpec | None:
    if password is not None and password != "":
        if isinstance(password, str):
            check_nul(password, "argument password")
            return password
        if callable(password):
            return password
        raise ClientConfigurationError(
            f"argument password must be a str or a callable, not {type(password).__name__}"
        )
    return merged.get("password")[0]


def _resolve_passfile(passfile: str | os.PathLike[str] | None, merged: Merged) -> str | None:
    if passfile is not None and passfile != "":
        path = os.fspath(passfile)
        check_nul(path, "argument passfile")
        return path
    text = merged.get("passfile")[0]
    if text is not None:
        return text
    default = default_passfile_path()
    return None if default is None else str(default)


# --- TLS --------------------------------------------------------------------------------


class _TlsOptions(TypedDict):
    ssl_mode: SSLMode
    ssl_context: ssl_module.SSLContext | None
    sslrootcert: str | None
    sslcert: str | None
    sslkey: str | None
    sslpassword: str | None
    sslcrl: str | None
    ssl_min_protocol_version: str
    ssl_max_protocol_version: str | None
    sslnegotiation: SSLNegotiation


def _resolve_tls(
    ssl: bool | str | SSLMode | ssl_module.SSLContext | None,
    direct_tls: bool | None,
    merged: Merged,
) -> _TlsOptions:
    context: ssl_module.SSLContext | None = None
    mode: SSLMode | None
    if ssl is None:
        text, where = merged.get("sslmode")
        mode = None if text is None else SSLMode.parse(text, where or "sslmode")
    elif ssl is True:
        mode = SSLMode.verify_full
    elif ssl is False:
        mode = SSLMode.disable
    elif isinstance(ssl, ssl_module.SSLContext):
        context, mode = ssl, SSLMode.require  # a given context is used as is, never dropped
    elif isinstance(ssl, SSLMode):
        mode = ssl
    elif isinstance(ssl, str):
        mode = SSLMode.parse(ssl, "argument ssl")
    else:
        raise ClientConfigurationError(
            "argument ssl must be None, a bool, an sslmode string or an ssl.SSLContext, "
            f"not {type(ssl).__name__}"
        )

    rootcert = merged.get("sslrootcert")[0]
    if ssl is True and rootcert is None:
        rootcert = "system"  # asyncpg's ssl=True: the default context's trust store
    if rootcert == "system" and context is None:
        if mode is None:
            mode = SSLMode.verify_full
        elif mode is not SSLMode.verify_full:
            raise ClientConfigurationError(
                f'weak sslmode "{mode.label}" may not be used with sslrootcert=system '
                '(use "verify-full")'
            )
    mode = SSLMode.prefer if mode is None else mode

    if direct_tls is not None:
        negotiation = SSLNegotiation.direct if direct_tls else SSLNegotiation.postgres
        neg_where = "argument direct_tls"
    else:
        negotiation = _resolve_choice(
            None, "sslnegotiation", merged, SSLNegotiation, SSLNegotiation.postgres
        )
        neg_where = "sslnegotiation=direct"
    if negotiation is SSLNegotiation.direct and not mode.at_least(SSLMode.require):
        raise ClientConfigurationError(
            f'{neg_where} requires sslmode "require", "verify-ca" or "verify-full", '
            f'not "{mode.label}"'
        )

    min_version = _tls_version(merged, "ssl_min_protocol_version") or "TLSv1.2"
    max_version = _tls_version(merged, "ssl_max_protocol_version")
    if max_version is not None and _version_key(max_version) < _version_key(min_version):
        raise ClientConfigurationError(
            f"invalid TLS protocol version range: ssl_min_protocol_version={min_version} "
            f"is above ssl_max_protocol_version={max_version}"
        )
    return _TlsOptions(
        ssl_mode=mode,
        ssl_context=context,
        sslrootcert=rootcert,
        sslcert=merged.get("sslcert")[0],
        sslkey=merged.get("sslkey")[0],
        sslpassword=merged.get("sslpassword")[0],
        sslcrl=merged.get("sslcrl")[0],
        ssl_min_protocol_version=min_version,
        ssl_max_protocol_version=max_version,
        sslnegotiation=negotiation,
    )


def _tls_version(merged: Merged, key: str) -> str | None:
    text, where = merged.get(key)
    if text is None:
        return None
    version = _TLS_VERSIONS.get(text.strip().lower())
    if version is None:
        raise invalid_choice(where or key, text, list(_TLS_VERSIONS.values()))
    return version


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version[4:].split("."))


# --- everything else ------------------------------------------------------------------


def _resolve_server_settings(
    given: Mapping[str, str] | None, layers: list[Layer]
) -> dict[str, str]:
    settings: dict[str, str] = {}
    for layer in reversed(layers):  # lowest precedence first, overwritten by higher
        settings.update(layer.settings)
        for key in _SERVER_SETTING_OPTIONS:
            if layer.options.get(key):
                settings[key] = layer.options[key]
    if "application_name" not in settings:
        for layer in layers:
            fallback = layer.options.get("fallback_application_name")
            if fallback:
                settings["application_name"] = fallback
                break
    if given is not None:
        if not isinstance(given, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in given.items()
        ):
            raise ClientConfigurationError("server_settings must be a dict of str to str")
        for key, value in given.items():
            check_nul(key, "a server_settings name")
            check_nul(value, f"server_settings[{key!r}]")
        settings.update(given)
    return settings


_E = TypeVar("_E", bound=enum.Enum)


def _resolve_choice(
    given: object, key: str, merged: Merged, enum_type: type[_E], default: _E | None = None
) -> _E:
    """Parse an enum-valued option: argument, else layers, else default (or the first)."""
    value: object
    if given is not None and given != "":
        value, where = given, f"argument {key}"
    else:
        text, found = merged.get(key)
        value, where = text, found or key
    if value is None:
        return default if default is not None else next(iter(enum_type))
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        for member in enum_type:
            if member.value == value.strip().lower():
                return member
    raise invalid_choice(where, value, [str(m.value) for m in enum_type])


def _resolve_timeout(given: float | None, merged: Merged) -> float | None:
    value: object
    if given is not None:
        value, where = given, "argument connect_timeout"
    else:
        text, found = merged.get("connect_timeout")
        if text is None:
            return None
        value, where = text, found or "connect_timeout"
    if isinstance(value, bool):
        raise ClientConfigurationError(f"invalid connect_timeout ({where}): not a number")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        shown = repr(value)[:40] if isinstance(value, str) else type(value).__name__
        raise ClientConfigurationError(
            f"invalid connect_timeout {shown} ({where}): expected a number of seconds"
        ) from None
    if math.isnan(seconds):
        raise ClientConfigurationError(f"invalid connect_timeout ({where}): NaN")
    if seconds <= 0 or math.isinf(seconds):
        return None  # libpq: zero or negative means wait indefinitely
    return seconds


def _resolve_gsslib(given: str | None, merged: Merged) -> str:
    value, where = (given, "argument gsslib") if given else merged.get("gsslib")
    if value is None:
        return "sspi" if sys.platform == "win32" else "gssapi"
    if value not in ("gssapi", "sspi"):
        raise invalid_choice(where or "gsslib", value, ["gssapi", "sspi"])
    return value


def _opt_str(value: object, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ClientConfigurationError(f"argument {name} must be a str, not {type(value).__name__}")
    check_nul(value, f"argument {name}")
    return value

"""TLS for a connection: libpq's sslmode semantics turned into an ``ssl.SSLContext``.

- ``disable``: no TLS. ``allow``: plaintext first, TLS if the server insists.
  ``prefer``: TLS first, plaintext if the server refuses it. Neither verifies anything:
  a server that can be impersonated can also just decline TLS.
- ``require``: TLS, no verification -- except libpq's rule that when a root
  certificate is available (``sslrootcert`` or ``~/.postgresql/root.crt``) it behaves
  as ``verify-ca``.
- ``verify-ca``: the chain must lead to a trusted root; ``verify-full``: and the
  certificate must name the host. Both need a root certificate (or
  ``sslrootcert=system`` for the system's trust store).
- Unix-domain sockets never use TLS. A user-supplied ``SSLContext`` is used as is, except
  that direct TLS sets the ALPN protocol PostgreSQL requires on it.

Client certificates (``sslcert``/``sslkey``, default ``~/.postgresql/postgresql.crt``
and ``.key``, loaded only when they exist) are sent in every TLS mode. A file named
explicitly must exist. Minimum protocol version: TLSv1.2 unless configured.
"""

from __future__ import annotations

import os
import ssl
import stat
import sys
from pathlib import Path

from pgjet.dsn import Address, ConnectParams, SSLMode, SSLNegotiation
from pgjet.errors import ClientConfigurationError

ALPN_PROTOCOL = "postgresql"  # PostgreSQL 17+ requires it for direct TLS


def tls_attempts(params: ConnectParams, addr: Address) -> tuple[bool, ...]:
    """Whether to use TLS on each successive attempt at ``addr``, in libpq's order.

    ``(False,)``: plaintext only; ``(False, True)``: allow; ``(True, False)``: prefer;
    ``(True,)``: TLS required.
    """
    mode = params.ssl_mode
    if addr.is_unix or mode is SSLMode.disable:
        return (False,)
    if mode is SSLMode.allow:
        return (False, True)
    if mode is SSLMode.prefer:
        return (True, False)
    return (True,)


def tls_required(mode: SSLMode) -> bool:
    """Whether a TCP connection in this mode must be encrypted (no plaintext fallback)."""
    return mode.at_least(SSLMode.require)


def plaintext_allowed(mode: SSLMode) -> bool:
    """Whether a TCP connection in this mode may end up unencrypted."""
    return not tls_required(mode)


def make_ssl_context(params: ConnectParams, host: str | None = None) -> ssl.SSLContext | None:
    """The context for TLS connections with these parameters; None for ``disable``.

    The context does not depend on the host (``check_hostname`` uses the
    ``server_hostname`` given at wrap time); ``host`` only makes error messages say
    which connection they are about. Raises ``ClientConfigurationError`` for missing
    or unreadable files, a missing root certificate in a verifying mode, or a key that
    cannot be decrypted with ``sslpassword``.
    """
    if params.ssl_context is not None:
        if params.sslnegotiation is SSLNegotiation.direct and ssl.HAS_ALPN:
            # PostgreSQL 17+ hangs up on direct TLS that does not offer this ALPN
            # protocol, and an SSLContext cannot be copied: set it on the caller's.
            params.ssl_context.set_alpn_protocols([ALPN_PROTOCOL])
        return params.ssl_context
    mode = params.ssl_mode
    if mode is SSLMode.disable:
        return None
    about = f" (connecting to {host})" if host else ""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = _tls_version(params.ssl_min_protocol_version)
    if params.ssl_max_protocol_version is not None:
        context.maximum_version = _tls_version(params.ssl_max_protocol_version)

    verify = mode.at_least(SSLMode.require) and _load_roots(context, params, about)
    if mode.at_least(SSLMode.verify_ca) and not verify:
        raise ClientConfigurationError(
            f'sslmode "{mode.label}" needs a root certificate{about}, but '
            f'"{_pg_file_display("root.crt")}" does not exist: set sslrootcert to the '
            "CA file, use sslrootcert=system for the system's trusted roots, or use "
            "a weaker sslmode"
        )
    if verify:
        context.verify_mode = ssl.CERT_REQUIRED
        context.check_hostname = mode is SSLMode.verify_full
        _load_crl(context, params, about)
    else:
        context.check_hostname = False  # must precede CERT_NONE
        context.verify_mode = ssl.CERT_NONE

    _load_client_certificate(context, params, about)
    if ssl.HAS_ALPN:
        context.set_alpn_protocols([ALPN_PROTOCOL])
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:
        context.keylog_filename = keylog  # as ssl.create_default_context() does
    return context


def _load_roots(context: ssl.SSLContext, params: ConnectParams, about: str) -> bool:
    """Load the trusted roots; False when there are none to verify against."""
    rootcert = params.sslrootcert
    if rootcert == "system":
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return True
    if rootcert:
        _require_file(rootcert, "sslrootcert", about)
        path = rootcert
    else:
        default = _pg_file("root.crt")
        if default is None or not default.is_file():
            return False
        path = str(default)
    try:
        context.load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError) as exc:
        raise ClientConfigurationError(
            f"could not read root certificate file {path!r}{about}: {_reason(exc)}"
        ) from None
    return True


def _load_crl(context: ssl.SSLContext, params: ConnectParams, about: str) -> None:
    if params.sslcrl:
        _require_file(params.sslcrl, "sslcrl", about)
        path = params.sslcrl
    else:
        default = _pg_file("root.crl")
        if default is None or not default.is_file():
            return
        path = str(default)
    try:
        context.load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError) as exc:
        raise ClientConfigurationError(
            f"could not read certificate revocation list {path!r}{about}: {_reason(exc)}"
        ) from None
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN


def _load_client_certificate(context: ssl.SSLContext, params: ConnectParams, about: str) -> None:
    if params.sslcert:
        _require_file(params.sslcert, "sslcert", about)
        cert = params.sslcert
    else:
        default = _pg_file("postgresql.crt")
        if default is None or not default.is_file():
            return  # no client certificate: nothing to send (libpq ignores sslkey then)
        cert = str(default)
    if params.sslkey:
        _require_file(params.sslkey, "sslkey", about)
        key = params.sslkey
    else:
        default_key = _pg_file("postgresql.key")
        if default_key is None or not default_key.is_file():
            raise ClientConfigurationError(
                f"certificate {cert!r} present, but not private key file "
                f'"{_pg_file_display("postgresql.key")}"{about}'
            )
        key = str(default_key)
    _check_key_permissions(key, about)
    sslpassword = params.sslpassword or ""
    try:
        # An encrypted key with no sslpassword gets "" rather than a terminal prompt.
        context.load_cert_chain(cert, keyfile=key, password=lambda: sslpassword)
    except (ssl.SSLError, OSError) as exc:
        raise ClientConfigurationError(
            f"could not load client certificate {cert!r} with key {key!r}{about}: "
            f"{_reason(exc)} (if the key is encrypted, check sslpassword)"
        ) from None


def _check_key_permissions(key: str, about: str) -> None:
    # libpq's rule: a key owned by the user must be u=rw (0600) or less; one owned by
    # root may also be group-readable (0640), for keys shared through a group.
    if sys.platform == "win32":
        return
    info = os.stat(key)
    if not stat.S_ISREG(info.st_mode):
        raise ClientConfigurationError(f"private key file {key!r}{about} is not a plain file")
    too_open = info.st_uid == os.geteuid() and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    too_open = too_open or (
        info.st_uid == 0 and info.st_mode & (stat.S_IWGRP | stat.S_IXGRP | stat.S_IRWXO)
    )
    if too_open:
        raise ClientConfigurationError(
            f"private key file {key!r}{about} has group or world access; it must be "
            "u=rw (0600) or less if owned by the current user, or u=rw,g=r (0640) or "
            "less if owned by root"
        )


def _require_file(path: str, option: str, about: str) -> None:
    if not os.path.isfile(path):
        raise ClientConfigurationError(
            f"{option} file {path!r}{about} does not exist or is not a file"
        )


def _pg_file(name: str) -> Path | None:
    """A file in the user's PostgreSQL directory (~/.postgresql, %APPDATA%\\postgresql)."""
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        return Path(appdata, "postgresql", name) if appdata else None
    try:
        return Path.home() / ".postgresql" / name
    except (RuntimeError, KeyError):
        return None


def _pg_file_display(name: str) -> str:
    path = _pg_file(name)
    return str(path) if path is not None else f"~/.postgresql/{name}"


def _tls_version(text: str) -> ssl.TLSVersion:
    try:
        return ssl.TLSVersion[text.replace(".", "_")]
    except KeyError:
        raise ClientConfigurationError(f"unsupported TLS protocol version {text!r}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__

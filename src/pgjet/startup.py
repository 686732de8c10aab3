"""One connection attempt to one address: socket, TLS negotiation, startup, authentication.

The multi-host policy (which address, in which order, with which fallbacks)
lives in :mod:`pgjet.connect`; this module does exactly one attempt and either
returns a ready ``WireTransport`` or raises a specific error.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import ssl as ssl_module
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pgjet import auth, errors
from pgjet._transport import WireTransport
from pgjet._wire.core import StartupOp, WireProtocol

# Authentication request codes (AuthenticationXXX messages).
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5
AUTH_SASL = 10
AUTH_SASL_CONTINUE = 11
AUTH_SASL_FINAL = 12
_UNSUPPORTED_AUTH = {
    2: "Kerberos V5",
    6: "SCM credentials",
    7: "GSSAPI",
    8: "GSSAPI",
    9: "SSPI",
}

# Messages before authentication are small; a peer that isn't PostgreSQL (or
# is hostile) must not make us buffer a gigabyte before we know who it is.
STARTUP_MAX_MESSAGE_SIZE = 1 << 20

PasswordSource = str | Callable[[], str | Awaitable[str]] | None
TLSUse = Literal["none", "negotiate", "direct"]


@dataclass
class AttemptSpec:
    """Everything one attempt needs, already resolved for this address."""

    host: str  # a host name, an IP address, or a unix-socket directory
    port: int
    user: str
    database: str
    password: PasswordSource
    startup_params: dict[str, str]
    tls: TLSUse = "none"
    ssl_context: ssl_module.SSLContext | None = None
    tls_optional: bool = False  # sslmode allow/prefer: plaintext if the server says no
    server_hostname: str | None = None
    channel_binding: auth.ChannelBindingMode = "prefer"
    max_message_size: int = 1 << 30
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_unix(self) -> bool:
        return self.host.startswith("/") or self.host.startswith("@")

    def socket_path(self) -> str:
        path = f"{self.host.rstrip('/')}/.s.PGSQL.{self.port}"
        # '@dir' is Linux's abstract namespace: the leading NUL makes it so.
        return "\0" + path[1:] if path.startswith("@") else path


@dataclass
class AttemptResult:
    transport: WireTransport
    tls: bool
    channel_binding: bool


async def attempt(spec: AttemptSpec) -> AttemptResult:
    """Open, secure and authenticate one connection; the caller bounds it in time."""
    loop = asyncio.get_running_loop()
    core = WireProtocol(STARTUP_MAX_MESSAGE_SIZE)
    if spec.is_unix:
        _, wire = await loop.create_unix_connection(lambda: WireTransport(core), spec.socket_path())
    else:
        _, wire = await loop.create_connection(lambda: WireTransport(core), spec.host, spec.port)
        _set_nodelay(wire)
    try:
        used_tls = await _secure(wire, spec)
        # For the caller's retry policy: under sslmode=prefer, an attempt that went
        # on in plaintext (the server said 'N') is not worth repeating in plaintext.
        spec.extra["tls_used"] = used_tls
        cert_der = _peer_certificate(wire) if used_tls else None
        bound = await _startup(wire, spec, cert_der)
        if spec.channel_binding == "require" and not bound:
            raise errors.ChannelBindingError(
                "channel_binding=require, but the server authenticated the client without "
                "channel binding (it did not use SCRAM-SHA-256-PLUS)"
            )
    except BaseException:
        if wire.transport is not None:
            wire.transport.abort()
        raise
    core.max_message_size = spec.max_message_size
    return AttemptResult(wire, used_tls, bound)


def _set_nodelay(wire: WireTransport) -> None:
    sock = wire.transport.get_extra_info("socket") if wire.transport else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _peer_certificate(wire: WireTransport) -> bytes | None:
    assert wire.transport is not None
    ssl_object = wire.transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    cert: bytes | None = ssl_object.getpeercert(binary_form=True)
    return cert


async def _secure(wire: WireTransport, spec: AttemptSpec) -> bool:
    """Negotiate TLS as `spec` says; True when the connection is now encrypted."""
    if spec.tls == "none":
        return False
    assert wire.transport is not None and spec.ssl_context is not None
    if spec.tls == "negotiate":
        answer_fut = wire.expect_negotiation_byte()
        wire.core.out.ssl_request()
        wire.flush_output()
        answer = await answer_fut
        if answer == b"N":
            wire.end_negotiation()
            if spec.tls_optional:
                return False
            raise errors.TLSUnavailableError(
                f"the server at {_where(spec)} refused TLS (SSLRequest answered 'N'), "
                "and the sslmode requires it"
            )
        if answer == b"E":
            # Pre-7.x servers, or a server that can't even parse SSLRequest.
            raise errors.TLSUnavailableError(
                f"the server at {_where(spec)} answered SSLRequest with an error"
            )
        if answer != b"S":
            raise errors.ProtocolError(
                f"unexpected answer {answer!r} to SSLRequest from {_where(spec)}"
            )
    loop = asyncio.get_running_loop()
    try:
        new_transport = await loop.start_tls(
            wire.transport,
            wire,
            spec.ssl_context,
            server_hostname=spec.server_hostname or None,
        )
    except ConnectionResetError as exc:
        # asyncio's bare ConnectionResetError() says nothing; certificate and
        # protocol failures (ssl.SSLError) pass through unchanged.
        raise errors.ServerClosedDuringStartupError(
            f"the server at {_where(spec)} closed the connection during the TLS handshake"
            + _direct_tls_hint(spec)
        ) from exc
    finally:
        wire.end_negotiation()
    if wire.unexpected_plaintext:
        if new_transport is not None:
            new_transport.abort()
        raise errors.ProtocolError(
            "the server sent unencrypted data after agreeing to TLS; refusing the connection"
        )
    if new_transport is None:
        raise errors.ServerClosedDuringStartupError(
            f"the server at {_where(spec)} closed the connection during the TLS handshake"
        )
    wire.transport = new_transport
    return True


async def _startup(wire: WireTransport, spec: AttemptSpec, cert_der: bytes | None) -> bool:
    """Startup message and the authentication dialogue; True if channel binding was used."""
    core = wire.core
    core.out.startup(spec.startup_params)
    scram: auth.ScramClient | None = None
    password: str | None = None
    step = StartupOp()
    fut = wire.send(step)
    # After our SASLResponse the server sends SASLFinal and then, without waiting
    # for an answer, AuthenticationOk and the rest -- often in the same packet. The
    # operation receiving those must be queued before they can arrive.
    after_final: StartupOp | None = None
    try:
        while True:
            try:
                await fut
            except errors.ConnectionDoesNotExistError as exc:
                # The reason (a TLS alert such as "unknown ca", a reset) belongs in
                # the message: it is often the only explanation the user gets.
                reason = exc.__cause__
                why = f": {reason}" if reason is not None and str(reason) else ""
                raise errors.ServerClosedDuringStartupError(
                    f"the server at {_where(spec)} closed the connection during startup{why}"
                    + _direct_tls_hint(spec)
                ) from reason
            if step.error_fields is not None:
                raise errors.from_fields(step.error_fields)
            kind, code, payload = step.result
            if kind == "ready":
                if not core.authenticated:
                    # libpq refuses this too: a server must not skip AuthenticationOk.
                    raise errors.ProtocolError(
                        f"the server at {_where(spec)} sent ReadyForQuery without AuthenticationOk"
                    )
                if scram is not None:
                    scram.check_complete()
                return scram is not None and scram.channel_binding_used
            out = core.out
            if code in (AUTH_CLEARTEXT, AUTH_MD5) and spec.channel_binding == "require":
                # Refuse before answering: the password (or its md5 hash) must not
                # reach a server that channel binding was meant to authenticate.
                raise errors.ChannelBindingError(
                    f"channel_binding=require, but the server at {_where(spec)} requested "
                    f"{'a cleartext' if code == AUTH_CLEARTEXT else 'an MD5'} password, "
                    "which cannot use channel binding; the password was not sent"
                )
            if code == AUTH_CLEARTEXT:
                password = password or await _resolve_password(spec)
                out.password(auth.cleartext_password(password))
            elif code == AUTH_MD5:
                if len(payload) != 4:
                    raise errors.ProtocolError("AuthenticationMD5Password without a 4-byte salt")
                password = password or await _resolve_password(spec)
                out.password(auth.md5_password(password, spec.user, payload))
            elif code == AUTH_SASL:
                mechanisms = [m.decode("utf-8", "replace") for m in payload.split(b"\0") if m]
                password = password or await _resolve_password(spec)
                scram = auth.ScramClient(
                    mechanisms,
                    password,
                    channel_binding=spec.channel_binding,
                    tls_server_cert_der=cert_der,
                )
                out.sasl_initial_response(scram.mechanism, scram.client_first())
            elif code == AUTH_SASL_CONTINUE:
                if scram is None:
                    raise errors.ProtocolError(
                        "AuthenticationSASLContinue before AuthenticationSASL"
                    )
                out.sasl_response(scram.client_final(payload))
            elif code == AUTH_SASL_FINAL:
                if scram is None or after_final is None:
                    raise errors.ProtocolError(
                        "AuthenticationSASLFinal before AuthenticationSASLContinue"
                    )
                scram.verify_server_final(payload)
                step, after_final = after_final, None
                fut = step.waiter
                continue
            elif code in _UNSUPPORTED_AUTH:
                raise errors.AuthenticationMethodError(
                    f"the server at {_where(spec)} requested {_UNSUPPORTED_AUTH[code]} "
                    "authentication, which pgjet does not support"
                )
            else:
                raise errors.ProtocolError(f"unknown authentication request code {code}")
            step = StartupOp()
            fut = wire.send(step)
            if code == AUTH_SASL_CONTINUE:
                after_final = StartupOp()
                after_final.waiter = asyncio.get_running_loop().create_future()
                core.push(after_final)
    finally:
        # Not reached (e.g. the password was wrong): nobody will await its result.
        if after_final is not None:
            after_final.waiter.cancel()


async def _resolve_password(spec: AttemptSpec) -> str:
    source = spec.password
    if callable(source):
        value: Any = source()
        if inspect.isawaitable(value):
            value = await value
        source = value
    if source is None:
        raise errors.AuthenticationMethodError(
            f"the server at {_where(spec)} requested password authentication "
            f"for user {spec.user!r}, but no password was supplied"
        )
    if not isinstance(source, str):
        raise errors.ClientConfigurationError(
            f"the password callable returned {type(source).__name__}, expected str"
        )
    return source


def _direct_tls_hint(spec: AttemptSpec) -> str:
    if spec.tls != "direct":
        return ""
    return " (sslnegotiation=direct needs PostgreSQL 17 or later on the server)"


def _where(spec: AttemptSpec) -> str:
    if spec.is_unix:
        return spec.socket_path().replace("\0", "@")
    host = f"[{spec.host}]" if ":" in spec.host else spec.host
    return f"{host}:{spec.port}"

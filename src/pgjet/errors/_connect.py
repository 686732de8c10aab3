"""Errors of connection establishment that pgjet names more precisely than asyncpg.

Each one also derives from what asyncpg raises in the same situation, so code
written for asyncpg still catches it:

=================================  ==================================================
pgjet                              also caught by (asyncpg raises)
=================================  ==================================================
ConnectionAttemptsFailedError      InterfaceError, ConnectionError, OSError
TLSUnavailableError                ConnectionError, OSError (asyncpg: ConnectionError)
ConnectTimeoutError                TimeoutError, asyncio.TimeoutError, InterfaceError
ServerClosedDuringStartupError     ConnectionDoesNotExistError, ConnectionResetError
ChannelBindingError                InterfaceError
AuthenticationMethodError          InterfaceError (asyncpg: InterfaceError)
=================================  ==================================================
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from typing import Any, TypeAlias

from ._client import InterfaceError
from ._sqlstate import ConnectionDoesNotExistError

__all__ = [
    "AuthenticationMethodError",
    "ChannelBindingError",
    "ConnectTimeoutError",
    "ConnectionAttemptsFailedError",
    "ServerClosedDuringStartupError",
    "TLSUnavailableError",
]

# (host, port, error) of one failed attempt.
Attempt: TypeAlias = tuple[str, int | str, BaseException]


def _address(host: str, port: int | str) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal: keep the port readable
    return f"{host}:{port}"


def _one_line(error: BaseException) -> str:
    text = " ".join(part.strip() for part in str(error).splitlines() if part.strip())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class ConnectionAttemptsFailedError(InterfaceError, ConnectionError):
    """Every host (or every attempt) of a multi-host connect failed.

    ``attempts`` lists ``(host, port, error)`` in the order they were tried; the
    message has one ``host:port: error`` line per attempt, built only from the
    nested errors' ``str()`` so it cannot carry a password. Raise it only when
    more than one attempt was made: with a single attempt, raise that attempt's
    error itself, as asyncpg does, so that ``except InvalidPasswordError`` keeps
    working. Chain the last error as ``__cause__``.
    """

    def __init__(self, attempts: Iterable[Attempt], *, hint: str | None = None) -> None:
        self.attempts: list[Attempt] = list(attempts)
        if not self.attempts:
            raise ValueError("ConnectionAttemptsFailedError needs at least one failed attempt")
        lines = [f"could not connect: all {len(self.attempts)} attempts failed:"]
        lines += [
            f"  {_address(host, port)}: {_one_line(err)}" for host, port, err in self.attempts
        ]
        super().__init__("\n".join(lines), hint=hint)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.attempts,), dict(self.__dict__))


class TLSUnavailableError(InterfaceError, ConnectionError):
    """TLS was required (``sslmode=require`` or stricter) but the server refused the SSLRequest."""


if sys.version_info >= (3, 11):

    class ConnectTimeoutError(InterfaceError, TimeoutError):
        """Connecting (TCP, TLS handshake, authentication, startup) exceeded its timeout.

        A ``TimeoutError`` (which is ``asyncio.TimeoutError`` since Python 3.11), as
        asyncpg's connect timeout is.
        """

else:

    class ConnectTimeoutError(InterfaceError, TimeoutError, asyncio.TimeoutError):
        """Connecting (TCP, TLS handshake, authentication, startup) exceeded its timeout.

        Both ``TimeoutError`` and ``asyncio.TimeoutError`` (distinct before Python
        3.11), so code written for asyncpg catches it either way.
        """


class ServerClosedDuringStartupError(ConnectionDoesNotExistError, ConnectionResetError):
    """The server closed the connection before startup finished, without an ErrorResponse.

    asyncpg raises ``ConnectionDoesNotExistError`` here; this subclass is also a
    ``ConnectionResetError`` for code that handles socket-level failures.
    """

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.message = msg


class ChannelBindingError(InterfaceError):
    """Channel binding was required (``channel_binding=require``) but could not be done.

    Raised when the server offers no SCRAM-SHA-256-PLUS, the connection has no
    TLS certificate to bind to, or the server's binding check failed.
    """


class AuthenticationMethodError(InterfaceError):
    """The server asked for an authentication method pgjet cannot or may not use.

    For example GSSAPI, or a cleartext password where ``require_auth`` forbids it.
    """

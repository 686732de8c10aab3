"""Errors raised by pgjet itself rather than by the server, under asyncpg's names."""

from __future__ import annotations

from ._base import _with_detail_and_hint
from ._sqlstate import DataError

__all__ = [
    "ClientConfigurationError",
    "InterfaceError",
    "InterfaceWarning",
    "InternalClientError",
    "InvalidQueryInputError",
    "OutdatedSchemaCacheError",
    "PipelineAbortedError",
    "ProtocolError",
    "TargetServerAttributeNotMatched",
    "UnsupportedClientFeatureError",
    "UnsupportedServerFeatureError",
]


class InterfaceError(Exception):
    """The pgjet API was used in a way it does not allow (asyncpg's ``InterfaceError``)."""

    def __init__(self, msg: str, *, detail: str | None = None, hint: str | None = None) -> None:
        super().__init__(msg)
        self.detail = detail
        self.hint = hint

    def __str__(self) -> str:
        return _with_detail_and_hint(str(self.args[0]) if self.args else "", self.detail, self.hint)

    def with_msg(self, msg: str) -> InterfaceError:
        """A copy of this error with another message (same class, detail, hint, traceback)."""
        return type(self)(msg, detail=self.detail, hint=self.hint).with_traceback(
            self.__traceback__
        )


class ClientConfigurationError(InterfaceError, ValueError):
    """The client was configured wrongly (bad DSN, bad option value, ...)."""


class UnsupportedClientFeatureError(InterfaceError):
    """The requested feature is one pgjet does not support."""


class UnsupportedServerFeatureError(InterfaceError):
    """The requested feature is one this PostgreSQL server does not support."""


class PipelineAbortedError(InterfaceError):
    """A pipelined statement did not run: an earlier one of the same Sync failed.

    The server skips everything up to the Sync after an error, so this
    statement had no effect; the earlier statement's own error says why
    (``__cause__``).
    """


class InterfaceWarning(UserWarning):
    """A questionable use of the pgjet API (asyncpg's ``InterfaceWarning``)."""

    def __init__(self, msg: str, *, detail: str | None = None, hint: str | None = None) -> None:
        super().__init__(msg)
        self.detail = detail
        self.hint = hint

    def __str__(self) -> str:
        return _with_detail_and_hint(str(self.args[0]) if self.args else "", self.detail, self.hint)


class InternalClientError(Exception):
    """An unexpected condition inside pgjet that no other class describes."""


class ProtocolError(InternalClientError):
    """The server sent protocol input pgjet cannot make sense of."""


class TargetServerAttributeNotMatched(InternalClientError):
    """No host satisfied the requested ``target_session_attrs``."""


class OutdatedSchemaCacheError(InternalClientError):
    """A value could not be decoded because a type changed after the statement was prepared."""

    def __init__(
        self,
        msg: str,
        *,
        schema: str | None = None,
        data_type: str | None = None,
        position: str | None = None,
    ) -> None:
        super().__init__(msg)
        self.schema_name = schema
        self.data_type_name = data_type
        self.position = position


class InvalidQueryInputError(DataError, ValueError):
    """A query argument (or ``executemany`` row) could not be encoded for the server.

    asyncpg raises its ``DataError`` (SQLSTATE 22000) for such client-side input
    errors, so this subclass is caught by ``except DataError`` and
    ``except PostgresError`` just as asyncpg's is, and also by ``except ValueError``.
    Its ``sqlstate`` is 22000; no server round trip produced it.
    """

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.message = msg

"""A PEP 249 face for pgjet: the module object SQLAlchemy calls "the DBAPI".

SQLAlchemy picks its exception class (``IntegrityError``, ...) by the PEP 249
name of the DBAPI exception. pgjet's exceptions are asyncpg's (one class per
SQLSTATE), so errors are translated here: by SQLSTATE class for server errors
(the PostgreSQL conventions psycopg follows), by pgjet class for client-side
ones. The pgjet exception stays reachable as ``.orig`` and as the
``__cause__``; ``sqlstate``/``pgcode``/``diag`` are copied for convenience.
"""

from __future__ import annotations

import asyncio
import types
from typing import Any

from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_module, AsyncAdapt_Error
from sqlalchemy.util.concurrency import await_

from pgjet import errors


class Error(AsyncAdapt_Error):
    """The base of every translated error."""

    sqlstate: str | None
    pgcode: str | None
    detail: str | None

    def __init__(self, message: str, error: Exception | None = None) -> None:
        super().__init__(message, error)
        self.sqlstate = self.pgcode = getattr(error, "sqlstate", None)
        self.detail = getattr(error, "detail", None)

    @property
    def diag(self) -> Any:
        """psycopg-style diagnostics of the server error (None for client errors)."""
        return getattr(self.orig, "diag", None)


class Warning(AsyncAdapt_Error):  # PEP 249's name
    pass


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    pass


class DataError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


# SQLSTATE class (first two characters) -> PEP 249 class.
_BY_SQLSTATE_CLASS: dict[str, type[Error]] = {
    "0A": NotSupportedError,  # feature not supported
    "08": OperationalError,  # connection exception
    "20": ProgrammingError,  # case not found
    "21": ProgrammingError,  # cardinality violation
    "22": DataError,
    "23": IntegrityError,
    "24": InternalError,  # invalid cursor state
    "25": InternalError,  # invalid transaction state
    "26": ProgrammingError,  # invalid SQL statement name
    "27": OperationalError,  # triggered data change violation
    "28": OperationalError,  # invalid authorization
    "2B": InternalError,
    "2D": InternalError,
    "2F": InternalError,
    "34": ProgrammingError,  # invalid cursor name
    "38": InternalError,
    "39": InternalError,
    "3B": InternalError,
    "3D": ProgrammingError,  # invalid catalog name
    "3F": ProgrammingError,  # invalid schema name
    "40": OperationalError,  # transaction rollback (serialization failure, deadlock)
    "42": ProgrammingError,  # syntax error or access rule violation
    "44": ProgrammingError,  # WITH CHECK OPTION violation
    "53": OperationalError,  # insufficient resources
    "54": OperationalError,  # program limit exceeded
    "55": OperationalError,  # object not in prerequisite state
    "57": OperationalError,  # operator intervention (query canceled, shutdown)
    "58": OperationalError,  # system error
    "72": OperationalError,  # snapshot too old
    "F0": InternalError,
    "HV": OperationalError,
    "P0": InternalError,  # PL/pgSQL (RAISE EXCEPTION)
    "XX": InternalError,
}


def translate(error: BaseException) -> Error | None:
    """The PEP 249 error for a pgjet (or OS) error, or None to let it through as is."""
    if isinstance(error, Error):
        return None
    if isinstance(error, errors.PostgresError):
        sqlstate = error.sqlstate or ""
        if isinstance(error, errors.InvalidQueryInputError):
            cls: type[Error] = DataError  # an argument pgjet could not encode
        else:
            cls = _BY_SQLSTATE_CLASS.get(sqlstate[:2], DatabaseError)
    elif isinstance(error, (errors.ConnectionAttemptsFailedError, errors.TLSUnavailableError)):
        cls = OperationalError  # could not connect: the server side of things
    elif isinstance(error, errors.InterfaceError):
        cls = InterfaceError
    elif isinstance(error, errors.InternalClientError):
        cls = InternalError
    elif isinstance(error, (OSError, asyncio.TimeoutError)):
        cls = OperationalError  # refused, reset, timed out
    else:
        return None
    message = str(error) or type(error).__name__
    return cls(f"<{type(error).__module__}.{type(error).__name__}>: {message}", error)


class PgjetDBAPI(AsyncAdapt_dbapi_module):
    """What ``dialect.dbapi`` is: connect() plus the PEP 249 names."""

    paramstyle = "numeric_dollar"
    apilevel = "2.0"
    threadsafety = 1

    Error = Error  # type: ignore[assignment]
    Warning = Warning
    InterfaceError = InterfaceError  # type: ignore[assignment]
    DatabaseError = DatabaseError
    DataError = DataError
    OperationalError = OperationalError  # type: ignore[assignment]
    IntegrityError = IntegrityError  # type: ignore[assignment]
    InternalError = InternalError
    ProgrammingError = ProgrammingError
    NotSupportedError = NotSupportedError

    def __init__(self, pgjet_module: types.ModuleType) -> None:
        super().__init__(pgjet_module, dbapi_module=None)
        self.pgjet = pgjet_module

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        """Open a pgjet connection (keyword arguments go to ``pgjet.connect``), adapted."""
        from pgjet.sqlalchemy.adapter import AdaptedConnection

        creator = kwargs.pop("async_creator_fn", self.pgjet.connect)
        return await_(AdaptedConnection.create(self, creator(*args, **kwargs)))

    @staticmethod
    def Binary(value: Any) -> Any:  # PEP 249's name
        return value

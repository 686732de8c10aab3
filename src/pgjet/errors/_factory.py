"""Build error and notice objects from the fields of ErrorResponse / NoticeResponse."""

from __future__ import annotations

from collections.abc import Mapping

from ._base import (
    FIELD_ATTRIBUTES,
    PostgresError,
    PostgresLogMessage,
    PostgresMessage,
    UnknownPostgresError,
)
from ._sqlstate import (
    CLASSES_BY_SQLSTATE,
    SQLSTATES_BY_NAME,
    FeatureNotSupportedError,
    InvalidCachedStatementError,
    PostgresWarning,
)

__all__ = ["from_fields", "lookup", "notice_from_fields"]


def lookup(code_or_name: str) -> type[PostgresError] | type[PostgresWarning]:
    """The class for a SQLSTATE (``"23505"``) or condition name (``"unique_violation"``).

    Case-insensitive. Raises ``KeyError`` for anything else, as ``psycopg.errors.lookup``.
    """
    if not isinstance(code_or_name, str):
        raise KeyError(code_or_name)
    key = code_or_name.upper()
    cls = CLASSES_BY_SQLSTATE.get(key)
    if cls is None and key in SQLSTATES_BY_NAME:
        cls = CLASSES_BY_SQLSTATE[SQLSTATES_BY_NAME[key]]
    if cls is None:
        raise KeyError(code_or_name)
    return cls


def _class_for_sqlstate(
    sqlstate: str | None,
) -> type[PostgresError] | type[PostgresWarning] | None:
    """The exact class for ``sqlstate``, else its SQLSTATE class's, else None."""
    if not isinstance(sqlstate, str):
        return None
    code = sqlstate.upper()
    cls = CLASSES_BY_SQLSTATE.get(code)
    if cls is None and len(code) == 5:
        cls = CLASSES_BY_SQLSTATE.get(code[:2] + "000")
    return cls


def _attributes(fields: Mapping[str, str]) -> dict[str, str]:
    # Unknown field codes are skipped: the protocol lets servers add new ones.
    return {
        FIELD_ATTRIBUTES[code]: value for code, value in fields.items() if code in FIELD_ATTRIBUTES
    }


def from_fields(fields: Mapping[str, str], query: str | None = None) -> PostgresError:
    """The exception for an ErrorResponse, given its fields keyed by field code ('C', 'M', ...).

    The class is the one for the SQLSTATE, else the one for its two-character class,
    else ``UnknownPostgresError``; any mapping, even an empty one, gives an error object.
    ``query`` is the statement that failed, when the caller knows it.
    """
    attributes = _attributes(fields)
    cls = _class_for_sqlstate(attributes.get("sqlstate"))
    if cls is None or not issubclass(cls, PostgresError):
        cls = UnknownPostgresError  # also for warning codes, which are not exceptions
    if (
        cls is FeatureNotSupportedError
        and attributes.get("server_source_function") == "RevalidateCachedQuery"
    ):
        # Not the (localised) message: the server function that raised it identifies this case.
        cls = InvalidCachedStatementError
    error = cls(attributes.get("message", ""))
    error.__dict__.update(attributes)
    if query is not None:
        error.query = query
    return error


def notice_from_fields(fields: Mapping[str, str], query: str | None = None) -> PostgresMessage:
    """The object for a NoticeResponse, as asyncpg hands it to log listeners.

    Usually a ``PostgresLogMessage``: ``PostgresWarning`` (or its subclass for the
    SQLSTATE) for warnings, a plain ``PostgresLogMessage`` for other notices. A notice
    carrying an error SQLSTATE (``CREATE TABLE IF NOT EXISTS`` reports 42P07) becomes an
    instance of that error class, not raised, exactly as in asyncpg.
    """
    attributes = _attributes(fields)
    cls: type[PostgresMessage] | None = _class_for_sqlstate(attributes.get("sqlstate"))
    if cls is None:
        severity = attributes.get("severity_en") or attributes.get("severity") or ""
        cls = PostgresWarning if severity.upper() == "WARNING" else PostgresLogMessage
    message: PostgresMessage
    if issubclass(cls, BaseException):
        message = cls(attributes.get("message", ""))
    else:
        message = cls.__new__(cls)
    message.__dict__.update(attributes)
    if query is not None:
        message.__dict__["query"] = query
    return message

"""Base classes for messages the server sends: errors (ErrorResponse) and notices.

Attribute names are asyncpg's (``detail``, ``constraint_name``, ...); ``.diag``
offers the same values under psycopg's names (``message_detail``, ...), and
``pgcode``/``pgerror`` under psycopg2's.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, NoReturn

__all__ = [
    "FIELD_ATTRIBUTES",
    "Diagnostic",
    "FatalPostgresError",
    "PostgresError",
    "PostgresLogMessage",
    "PostgresMessage",
    "UnknownPostgresError",
]

# ErrorResponse/NoticeResponse field code -> attribute name (asyncpg's names).
FIELD_ATTRIBUTES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "S": "severity",
        "V": "severity_en",
        "C": "sqlstate",
        "M": "message",
        "D": "detail",
        "H": "hint",
        "P": "position",
        "p": "internal_position",
        "q": "internal_query",
        "W": "context",
        "s": "schema_name",
        "t": "table_name",
        "c": "column_name",
        "d": "data_type_name",
        "n": "constraint_name",
        "F": "server_source_filename",
        "L": "server_source_line",
        "R": "server_source_function",
    }
)


class PostgresMessage:
    """The fields of a server error or notice; every field is a ``str`` or ``None``.

    A class-level ``sqlstate`` names the code a class stands for; an instance built
    from a server message carries the code the server actually sent.
    """

    sqlstate: str | None = None
    severity: str | None = None
    severity_en: str | None = None
    message: str | None = None
    detail: str | None = None
    hint: str | None = None
    position: str | None = None
    internal_position: str | None = None
    internal_query: str | None = None
    context: str | None = None
    schema_name: str | None = None
    table_name: str | None = None
    column_name: str | None = None
    data_type_name: str | None = None
    constraint_name: str | None = None
    server_source_filename: str | None = None
    server_source_line: str | None = None
    server_source_function: str | None = None
    # The query text being run when the server answered with this message, when known
    # (asyncpg sets it the same way); not a protocol field, so as_dict() leaves it out.
    query: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The protocol fields that are set, by asyncpg attribute name."""
        fields: dict[str, str] = {}
        for name in FIELD_ATTRIBUTES.values():
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        return fields

    @property
    def diag(self) -> Diagnostic:
        """The same fields under psycopg's ``Diagnostic`` names."""
        return Diagnostic(self)

    @property
    def pgcode(self) -> str | None:
        """psycopg2's name for ``sqlstate``."""
        return self.sqlstate

    @property
    def pgerror(self) -> str | None:
        """The message formatted as libpq does (psycopg2's ``pgerror``), or ``None``."""
        if self.message is None:
            return None
        lines = [f"{self.severity or 'ERROR'}:  {self.message}"]
        if self.detail:
            lines.append(f"DETAIL:  {self.detail}")
        if self.hint:
            lines.append(f"HINT:  {self.hint}")
        return "\n".join(lines)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild by filling __dict__ directly: PostgresLogMessage refuses setattr,
        # which BaseException's own unpickling relies on.
        args = self.args if isinstance(self, BaseException) else ()
        return (_rebuild_message, (type(self), args, dict(self.__dict__)))


def _rebuild_message(
    cls: type[PostgresMessage], args: tuple[Any, ...], state: dict[str, Any]
) -> PostgresMessage:
    message = cls(*args) if issubclass(cls, BaseException) else cls.__new__(cls)
    message.__dict__.update(state)
    return message


class Diagnostic:
    """psycopg-style view of a message's fields (``error.diag.message_primary``, ...)."""

    __slots__ = ("_message",)

    def __init__(self, message: PostgresMessage) -> None:
        self._message = message

    def __repr__(self) -> str:
        return f"<Diagnostic sqlstate={self.sqlstate!r} message={self.message_primary!r}>"

    @property
    def sqlstate(self) -> str | None:
        return self._message.sqlstate

    @property
    def severity(self) -> str | None:
        return self._message.severity

    @property
    def severity_nonlocalized(self) -> str | None:
        return self._message.severity_en

    @property
    def message_primary(self) -> str | None:
        return self._message.message

    @property
    def message_detail(self) -> str | None:
        return self._message.detail

    @property
    def message_hint(self) -> str | None:
        return self._message.hint

    @property
    def statement_position(self) -> str | None:
        return self._message.position

    @property
    def internal_position(self) -> str | None:
        return self._message.internal_position

    @property
    def internal_query(self) -> str | None:
        return self._message.internal_query

    @property
    def context(self) -> str | None:
        return self._message.context

    @property
    def schema_name(self) -> str | None:
        return self._message.schema_name

    @property
    def table_name(self) -> str | None:
        return self._message.table_name

    @property
    def column_name(self) -> str | None:
        return self._message.column_name

    @property
    def datatype_name(self) -> str | None:
        return self._message.data_type_name

    @property
    def constraint_name(self) -> str | None:
        return self._message.constraint_name

    @property
    def source_file(self) -> str | None:
        return self._message.server_source_filename

    @property
    def source_line(self) -> str | None:
        return self._message.server_source_line

    @property
    def source_function(self) -> str | None:
        return self._message.server_source_function


def _with_detail_and_hint(text: str, detail: str | None, hint: str | None) -> str:
    if detail:
        text += f"\nDETAIL:  {detail}"
    if hint:
        text += f"\nHINT:  {hint}"
    return text


class PostgresError(PostgresMessage, Exception):
    """Base class of every error the server reports (ErrorResponse)."""

    def __str__(self) -> str:
        text = str(self.args[0]) if self.args else (self.message or "")
        return _with_detail_and_hint(text, self.detail, self.hint)


class FatalPostgresError(PostgresError):
    """An error after which the server closes the connection."""


class UnknownPostgresError(FatalPostgresError):
    """An error whose SQLSTATE (and SQLSTATE class) pgjet does not know."""


class PostgresLogMessage(PostgresMessage):
    """A notice, warning or other non-error message from the server (NoticeResponse).

    Instances are immutable, as in asyncpg: log listeners may share them.
    """

    def __str__(self) -> str:
        return f"{type(self).__name__}: {self.message}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} sqlstate={self.sqlstate!r} message={self.message!r}>"

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise TypeError(f"instances of {type(self).__name__} are immutable")

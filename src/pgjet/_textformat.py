"""Text-format parameters and results: the interim data path.

Until the binary codecs land (the query-engine issue), parameters are sent as
text with types inferred by the server, and results are parsed from text for
the common scalar types; every other type comes back as ``str``.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Callable
from typing import Any

from pgjet import errors


def _bool(text: str) -> bool:
    return text == "t"


def _bytea(text: str) -> bytes:
    return bytes.fromhex(text[2:])


DECODERS: dict[int, Callable[[str], Any]] = {
    16: _bool,
    17: _bytea,
    20: int,
    21: int,
    23: int,
    26: int,
    700: float,
    701: float,
    1700: decimal.Decimal,
    2950: uuid.UUID,
}


def encode(position: int, value: Any) -> bytes | None:
    """One parameter as text bytes; ``position`` is 1-based, for error messages."""
    if value is None:
        return None
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        return b"\\x" + bytes(value).hex().encode()
    elif isinstance(
        value,
        (int, float, decimal.Decimal, uuid.UUID, datetime.date, datetime.time),
    ):
        text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    else:
        raise errors.InvalidQueryInputError(
            f"invalid input for query argument ${position}: {type(value).__name__} values "
            "are not supported yet"
        )
    if "\x00" in text:
        raise errors.InvalidQueryInputError(
            f"invalid input for query argument ${position}: text contains a NUL character, "
            "which PostgreSQL cannot store"
        )
    return text.encode("utf-8")

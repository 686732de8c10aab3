"""SQLAlchemy type implementations for pgjet's values.

pgjet sends parameters in binary, typed by what the server inferred for each
``$n``, so (as for asyncpg) most types render an explicit cast after their
placeholder: ``$1::INTEGER``. The server then never guesses a type from the
context that differs from the Python value's.

Values whose Python form differs between pgjet and SQLAlchemy are converted
here: ranges (``pgjet.types.Range`` ↔ ``sqlalchemy...ranges.Range``), bit
strings, and hstore (pgjet already decodes it to a ``dict``).
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from typing import Any

from sqlalchemy import exc
from sqlalchemy.dialects.postgresql import base as pg_base
from sqlalchemy.dialects.postgresql import ranges
from sqlalchemy.dialects.postgresql.array import ARRAY as PG_ARRAY
from sqlalchemy.dialects.postgresql.base import (
    ENUM,
    INTERVAL,
    OID,
    REGCLASS,
    REGCONFIG,
)
from sqlalchemy.dialects.postgresql.bitstring import BitString as SABitString
from sqlalchemy.dialects.postgresql.hstore import HSTORE
from sqlalchemy.dialects.postgresql.json import JSONPathType
from sqlalchemy.dialects.postgresql.types import BIT, BYTEA
from sqlalchemy.engine import processors
from sqlalchemy.sql import sqltypes

from pgjet import types as pgjet_types

Processor = Callable[[Any], Any] | None

# Result type OIDs, as SQLAlchemy's PostgreSQL dialect groups them.
_FLOAT_TYPES: Any = pg_base._FLOAT_TYPES  # type: ignore[attr-defined]
_DECIMAL_TYPES: Any = pg_base._DECIMAL_TYPES  # type: ignore[attr-defined]
_INT_TYPES: Any = pg_base._INT_TYPES  # type: ignore[attr-defined]


class PgjetString(sqltypes.String):
    render_bind_cast = True


class PgjetCHAR(sqltypes.CHAR):
    render_bind_cast = True


class PgjetInteger(sqltypes.Integer):
    render_bind_cast = True


class PgjetSmallInteger(sqltypes.SmallInteger):
    render_bind_cast = True


class PgjetBigInteger(sqltypes.BigInteger):
    render_bind_cast = True


class PgjetBoolean(sqltypes.Boolean):
    render_bind_cast = True


class PgjetDate(sqltypes.Date):
    render_bind_cast = True


class PgjetDateTime(sqltypes.DateTime):
    render_bind_cast = True


class PgjetTime(sqltypes.Time):
    render_bind_cast = True


class PgjetByteA(BYTEA):
    render_bind_cast = True


class PgjetARRAY(PG_ARRAY):  # type: ignore[type-arg]
    render_bind_cast = True


class PgjetREGCONFIG(REGCONFIG):
    render_bind_cast = True


class PgjetREGCLASS(REGCLASS):
    render_bind_cast = True


class PgjetOID(OID):
    render_bind_cast = True


class PgjetEnum(ENUM):
    render_bind_cast = True


class PgjetInterval(INTERVAL):
    render_bind_cast = True

    @classmethod
    def adapt_emulated_to_native(  # type: ignore[override]  # SQLAlchemy: INTERVAL vs base
        cls, interval: sqltypes.Interval, **kw: Any
    ) -> INTERVAL:
        # sqltypes.Interval -> a native INTERVAL keeping its second precision.
        return cls(precision=interval.second_precision)


class PgjetJSONIndexType(sqltypes.JSON.JSONIndexType):
    pass


class PgjetJSONIntIndexType(sqltypes.JSON.JSONIntIndexType):
    __visit_name__ = "json_int_index"
    render_bind_cast = True


class PgjetJSONStrIndexType(sqltypes.JSON.JSONStrIndexType):
    __visit_name__ = "json_str_index"
    render_bind_cast = True


class PgjetJSONPathType(JSONPathType):
    """A JSON path (``#>``) is a ``text[]``: pgjet takes a list of str."""

    def bind_processor(self, dialect: Any) -> Any:
        def process(value: Any) -> Any:
            if isinstance(value, str):
                return value  # already in the server's path syntax, e.g. '{a,1}'
            return [str(element) for element in value] if value else []

        return process


class _NumericResults(sqltypes.NumericCommon):  # type: ignore[type-arg]
    """pgjet returns Decimal for numeric, float for float4/float8, int for integers."""

    render_bind_cast = True

    def bind_processor(self, dialect: Any) -> Any:
        return None  # pgjet encodes int, float and Decimal itself

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if self.asdecimal:
            if coltype in _FLOAT_TYPES:
                return processors.to_decimal_processor_factory(
                    decimal.Decimal, self._effective_decimal_return_scale
                )
            if coltype in _DECIMAL_TYPES or coltype in _INT_TYPES:
                return None
        else:
            if coltype in _FLOAT_TYPES:
                return None
            if coltype in _DECIMAL_TYPES or coltype in _INT_TYPES:
                return processors.to_float
        raise exc.InvalidRequestError(f"Unknown PG numeric type: {coltype}")


class PgjetNumeric(_NumericResults, sqltypes.Numeric):  # type: ignore[type-arg]
    pass


class PgjetFloat(_NumericResults, sqltypes.Float):  # type: ignore[type-arg]
    pass


class PgjetBit(BIT):
    """SQLAlchemy's BitString (a str of 0/1) ↔ pgjet's BitString."""

    render_bind_cast = True

    def bind_processor(self, dialect: Any) -> Any:
        def process(value: Any) -> Any:
            if isinstance(value, str):
                return pgjet_types.BitString(value)
            return value

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        def process(value: Any) -> Any:
            if isinstance(value, pgjet_types.BitString):
                return SABitString(value.as_string().replace(" ", ""))
            return value

        return process


class PgjetHSTORE(HSTORE):
    """pgjet exchanges hstore as a ``dict`` itself: nothing to format or parse."""

    def bind_processor(self, dialect: Any) -> Any:
        return None

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        return None


def to_pgjet_range(value: Any) -> Any:
    if isinstance(value, ranges.Range):
        return pgjet_types.Range(
            value.lower,
            value.upper,
            lower_inc=value.bounds[0] == "[",
            upper_inc=value.bounds[1] == "]",
            empty=value.empty,
        )
    return value


def from_pgjet_range(value: Any) -> Any:
    if isinstance(value, pgjet_types.Range):
        if value.isempty:
            return ranges.Range(empty=True)
        lower = "[" if value.lower_inc else "("
        upper = "]" if value.upper_inc else ")"
        return ranges.Range(value.lower, value.upper, bounds=lower + upper)  # type: ignore[arg-type]
    return value


class PgjetRange(ranges.AbstractSingleRangeImpl):  # type: ignore[type-arg]
    def bind_processor(self, dialect: Any) -> Any:
        return to_pgjet_range

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        return from_pgjet_range


class PgjetMultiRange(ranges.AbstractMultiRangeImpl):  # type: ignore[type-arg]
    def bind_processor(self, dialect: Any) -> Any:
        def process(value: Any) -> Any:
            if value is None or isinstance(value, str):
                return value  # NULL, or the server's literal syntax
            return [to_pgjet_range(element) for element in value]

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        def process(value: Any) -> Any:
            if value is None:
                return None
            return ranges.MultiRange(from_pgjet_range(element) for element in value)

        return process


COLSPECS: dict[Any, Any] = {
    sqltypes.String: PgjetString,
    sqltypes.CHAR: PgjetCHAR,
    sqltypes.ARRAY: PgjetARRAY,
    sqltypes.Integer: PgjetInteger,
    sqltypes.SmallInteger: PgjetSmallInteger,
    sqltypes.BigInteger: PgjetBigInteger,
    sqltypes.Boolean: PgjetBoolean,
    sqltypes.Date: PgjetDate,
    sqltypes.DateTime: PgjetDateTime,
    sqltypes.Time: PgjetTime,
    sqltypes.Interval: PgjetInterval,
    INTERVAL: PgjetInterval,
    sqltypes.Numeric: PgjetNumeric,
    sqltypes.Float: PgjetFloat,
    sqltypes.LargeBinary: PgjetByteA,
    sqltypes.Enum: PgjetEnum,
    sqltypes.JSON.JSONPathType: PgjetJSONPathType,
    sqltypes.JSON.JSONIndexType: PgjetJSONIndexType,
    sqltypes.JSON.JSONIntIndexType: PgjetJSONIntIndexType,
    sqltypes.JSON.JSONStrIndexType: PgjetJSONStrIndexType,
    BIT: PgjetBit,
    HSTORE: PgjetHSTORE,
    OID: PgjetOID,
    REGCLASS: PgjetREGCLASS,
    REGCONFIG: PgjetREGCONFIG,
    ranges.AbstractSingleRange: PgjetRange,
    ranges.AbstractMultiRange: PgjetMultiRange,
}

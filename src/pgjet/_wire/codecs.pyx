# cython: language_level=3
"""Binary codecs for PostgreSQL's builtin types.

The protocol core asks ``codec_for(oid)`` once per statement column/parameter and
then calls ``Codec.decode``/``Codec.encode`` per value. Python values follow
asyncpg's default mappings, so a switch from asyncpg returns the same objects:

=====================================  ===========================================
PostgreSQL                             Python
=====================================  ===========================================
bool                                   bool (encode: only bool, like asyncpg)
int2, int4, int8                       int
oid, xid, cid, xid8                    int (unsigned)
float4, float8                         float (NaN, ±inf, -0.0 kept)
numeric                                decimal.Decimal (NaN, ±Infinity)
text, varchar, bpchar, name, unknown   str
json, jsonb                            str (the JSON text, unparsed, as asyncpg)
bytea                                  bytes (encode: bytes, bytearray, memoryview)
"char" (oid 18)                        bytes of length 1 (as asyncpg)
uuid                                   uuid.UUID (encode: UUID or its str form)
date                                   datetime.date
time                                   datetime.time (naive)
timetz                                 datetime.time with a fixed-offset tzinfo
timestamp                              naive datetime.datetime
timestamptz                            aware datetime.datetime in UTC
interval                               datetime.timedelta
inet                                   IPv4Address/IPv6Address (full prefix), else
                                       IPv4Interface/IPv6Interface
cidr                                   IPv4Network/IPv6Network
macaddr, macaddr8                      str, as the server prints it
bit, varbit                            pgjet.types.BitString
point, line, lseg, box                 pgjet.types Point, Line, LineSegment, Box
path, polygon, circle                  pgjet.types Path, Polygon, Circle
tid                                    (block, offset)
pg_lsn                                 int (unsigned; asyncpg: signed int8)
pg_snapshot, txid_snapshot             (xmin, xmax, (xip, ...))
int2vector, oidvector                  list of int
xml, cstring, refcursor, jsonpath      str
void                                   None
record (anonymous)                     tuple of decoded fields (no encoder)
int4range ... tstzrange                pgjet.types.Range
int4multirange ...                     list of Range
arrays of all of these                 nested lists (tuples are elements when the
                                       element type takes tuples, as asyncpg)
money, reg*, tsvector, tsquery, ...    text format, str (as asyncpg); their
                                       arrays: text format, nested lists of str
=====================================  ===========================================

Details where a choice was made (asyncpg's, unless said otherwise):

- Integers accept int (bool too), objects with ``__index__``, and floats or
  Decimals that are whole numbers. asyncpg silently truncates ``1.5`` to 1; pgjet
  raises ValueError instead. Out-of-range values raise OverflowError.
- float4/float8 accept anything ``float()`` takes except str/bytes; a finite value
  too large for float4 raises OverflowError.
- numeric accepts Decimal, int, float (converted exactly, as asyncpg) and str. The
  display scale is kept both ways (``Decimal('1.500')`` round-trips with its zeros);
  decoded values have exactly ``dscale`` fraction digits, so ``10000`` decodes as
  ``Decimal('10000')`` (asyncpg: ``Decimal('1E+4')``, an equal value). At most 16383
  fraction digits and 131072 integer digits (PostgreSQL's limits).
- Text types accept only str; a NUL character or a lone surrogate raises ValueError.
  Invalid UTF-8 from the server raises UnicodeDecodeError.
- Infinite dates decode to ``date.max``/``date.min``; infinite timestamp and
  timestamptz values to the *naive* ``datetime.max``/``datetime.min``. Encoding
  maps those same values (and, for timestamptz, any instant equal to them in UTC)
  back to ±infinity. Values outside Python's years 1..9999 raise ValueError.
- timestamp takes naive datetimes (an aware one raises TypeError) or a date
  (midnight). timestamptz takes aware datetimes; a naive datetime or a date is taken
  as the client's local time (``datetime.astimezone()``), as asyncpg does (asyncpg
  uses today's UTC offset for a date; pgjet the offset in force on that date).
- date takes a date, or a datetime whose time is dropped.
- time takes a time (its tzinfo is ignored, as PostgreSQL's own cast does) or a
  datetime's time of day; ``24:00:00`` cannot be a ``datetime.time`` and raises
  ValueError on decode. timetz needs an aware time or datetime; decoding keeps
  the offset to the second (asyncpg truncates it to whole minutes).
- interval decodes months as 30 days and years as 365 days (asyncpg's rule);
  encoding writes days and microseconds, never months. Infinite intervals
  (PostgreSQL 17+) raise ValueError.
- Arrays decode to nested lists (lower bounds are dropped, as asyncpg; an empty
  array is ``[]``). Encoding takes lists, tuples or other sized iterables (not str,
  bytes or mappings), nested for more dimensions (up to 6); a ragged shape raises
  ValueError naming the first offending position.
- Types without a binary codec here get a text-format fallback: values decode as
  str, and only str is accepted for encoding.
- Malformed bytes from the server (wrong lengths, truncated data) raise
  ``pgjet.errors.ProtocolError``; nothing is read outside the given length.
"""

cimport cython
import json as _json
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE, PyBytes_Check
from cpython.bytearray cimport PyByteArray_Check
from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_AsDouble, PyFloat_Check, PyFloat_FromDouble
from cpython.list cimport PyList_Check, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport (
    PyLong_AsLongLongAndOverflow, PyLong_AsUnsignedLongLong, PyLong_Check,
    PyLong_FromLong, PyLong_FromLongLong, PyLong_FromUnsignedLong, PyLong_FromUnsignedLongLong,
)
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.memoryview cimport PyMemoryView_Check
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_Check, PyUnicode_DecodeUTF8
from libc.math cimport isfinite, isinf
from libc.stdint cimport (
    INT16_MAX, INT16_MIN, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN,
    int16_t, int32_t, int64_t, uint16_t, uint32_t, uint64_t,
)
from libc.string cimport memchr, memcpy

from pgjet._wire.buffer cimport (
    WriteBuffer, pack_int16, pack_int32, pack_int64, unpack_int16, unpack_int32, unpack_int64,
)

import decimal
import operator
import types as _types
import uuid

from pgjet.errors import ProtocolError
from pgjet.oids import BUILTIN_TYPES, MULTIRANGE_RANGES, RANGE_SUBTYPES

include "oids.pxi"


cdef inline object _malformed(str typname, str detail):
    return ProtocolError(f"malformed {typname} value from the server: {detail}")


cdef inline int _expect_length(str typname, Py_ssize_t length, Py_ssize_t expected) except -1:
    if length != expected:
        raise _malformed(typname, f"expected {expected} bytes, got {length}")
    return 0


cdef inline str _type_name(object value):
    return type(value).__name__


cdef class Codec:
    """Converts one PostgreSQL type between its wire bytes and Python objects."""

    cdef object decode(self, const char* data, Py_ssize_t length):
        raise NotImplementedError(f"{type(self).__name__} cannot decode")

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        raise NotImplementedError(f"{type(self).__name__} cannot encode")

    def decode_bytes(self, data):
        """Decode one non-NULL value from ``data`` (bytes-like)."""
        cdef bytes raw = bytes(data)
        return self.decode(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))

    def encode_value(self, value):
        """Encode ``value`` (not None) and return its bytes, without a length prefix."""
        cdef WriteBuffer buf = WriteBuffer()
        self.encode(buf, value)
        return buf.take()

    def __repr__(self):
        kind = "binary" if self.format == 1 else "text"
        return f"<{type(self).__name__} {self.name or '?'} (oid {self.oid}, {kind})>"


# -- bool ---------------------------------------------------------------------------


@cython.final
cdef class BoolCodec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length("bool", length, 1)
        # PostgreSQL's boolrecv takes any non-zero byte as true.
        return data[0] != 0

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        if value is True:
            buf.write_byte(1)
        elif value is False:
            buf.write_byte(0)
        else:
            raise TypeError(f"expected bool for {self.name}, got {_type_name(value)}")
        return 0


# -- integers -----------------------------------------------------------------------

cdef object _Decimal = decimal.Decimal
cdef object _InvalidOperation = decimal.InvalidOperation
cdef object _index = operator.index


cdef object _as_pyint(object value, str typname):
    """``value`` as a Python int, refusing anything that is not a whole number."""
    cdef double f
    if PyLong_Check(value):
        return value
    if PyFloat_Check(value):
        f = PyFloat_AS_DOUBLE(value)
        if not isfinite(f) or not value.is_integer():
            raise ValueError(f"{typname} needs a whole number, got {value!r}")
        return int(value)
    if isinstance(value, _Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise ValueError(f"{typname} needs a whole number, got {value!r}")
        return int(value)
    if PyUnicode_Check(value) or PyBytes_Check(value):
        raise TypeError(f"expected int for {typname}, got {_type_name(value)}")
    try:
        return _index(value)
    except TypeError:
        raise TypeError(f"expected int for {typname}, got {_type_name(value)}") from None


cdef str _range_error(object value, str typname, str bounds):
    text = repr(value) if abs(value).bit_length() <= 256 else "the value"
    return f"{text} is out of range for {typname} ({bounds})"


cdef int64_t _as_int64(object value, int64_t lo, int64_t hi, str typname, str bounds) except? -1:
    cdef int overflow = 0
    cdef int64_t v
    value = _as_pyint(value, typname)
    v = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or v < lo or v > hi:
        raise OverflowError(_range_error(value, typname, bounds))
    return v


@cython.final
cdef class Int2Codec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length("int2", length, 2)
        return PyLong_FromLong(unpack_int16(data))

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef int64_t v = _as_int64(value, INT16_MIN, INT16_MAX, "int2", "-32768..32767")
        pack_int16(buf.extend(2), <int16_t>v)
        return 0


@cython.final
cdef class Int4Codec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length("int4", length, 4)
        return PyLong_FromLong(unpack_int32(data))

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef int64_t v = _as_int64(value, INT32_MIN, INT32_MAX, "int4",
                                   "-2147483648..2147483647")
        pack_int32(buf.extend(4), <int32_t>v)
        return 0


@cython.final
cdef class Int8Codec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length("int8", length, 8)
        return PyLong_FromLongLong(unpack_int64(data))

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef int64_t v = _as_int64(value, INT64_MIN, INT64_MAX, "int8", "-2**63..2**63-1")
        pack_int64(buf.extend(8), v)
        return 0


@cython.final
cdef class UInt4Codec(Codec):
    """oid, xid, cid: unsigned 32-bit."""

    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length(self.name, length, 4)
        return PyLong_FromUnsignedLong(<uint32_t>unpack_int32(data))

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef int64_t v = _as_int64(value, 0, 0xFFFFFFFF, self.name, "0..4294967295")
        pack_int32(buf.extend(4), <int32_t><uint32_t>v)
        return 0


@cython.final
cdef class UInt8Codec(Codec):
    """xid8: unsigned 64-bit."""

    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length(self.name, length, 8)
        return PyLong_FromUnsignedLongLong(<uint64_t>unpack_int64(data))

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        value = _as_pyint(value, self.name)
        if value < 0 or value > 0xFFFFFFFFFFFFFFFF:
            raise OverflowError(_range_error(value, self.name, "0..2**64-1"))
        pack_int64(buf.extend(8), <int64_t>PyLong_AsUnsignedLongLong(value))
        return 0


# -- floats -------------------------------------------------------------------------

cdef union _Bits32:
    float f
    int32_t i

cdef union _Bits64:
    double f
    int64_t i


cdef double _as_double(object value, str typname) except? -1.0:
    if PyFloat_Check(value):
        return PyFloat_AS_DOUBLE(value)
    if PyUnicode_Check(value) or PyBytes_Check(value):
        raise TypeError(f"expected float for {typname}, got {_type_name(value)}")
    try:
        return PyFloat_AsDouble(value)
    except TypeError:
        raise TypeError(f"expected float for {typname}, got {_type_name(value)}") from None


@cython.final
cdef class Float4Codec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        cdef _Bits32 bits
        _expect_length("float4", length, 4)
        bits.i = unpack_int32(data)
        return PyFloat_FromDouble(<double>bits.f)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef double d = _as_double(value, "float4")
        cdef _Bits32 bits
        bits.f = <float>d
        if isinf(bits.f) and not isinf(d):
            raise OverflowError(f"{value!r} is out of range for float4")
        pack_int32(buf.extend(4), bits.i)
        return 0


@cython.final
cdef class Float8Codec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        cdef _Bits64 bits
        _expect_length("float8", length, 8)
        bits.i = unpack_int64(data)
        return PyFloat_FromDouble(bits.f)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef _Bits64 bits
        bits.f = _as_double(value, "float8")
        pack_int64(buf.extend(8), bits.i)
        return 0


# -- text ---------------------------------------------------------------------------


cdef int _write_text(WriteBuffer buf, object value, str typname) except -1:
    cdef Py_ssize_t n
    cdef const char* p
    if not PyUnicode_Check(value):
        raise TypeError(f"expected str for {typname}, got {_type_name(value)}")
    try:
        p = PyUnicode_AsUTF8AndSize(value, &n)
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{typname} value contains a lone surrogate ({value[exc.start]!r} at index "
            f"{exc.start}), which UTF-8 cannot encode") from None
    if memchr(p, 0, <size_t>n) != NULL:
        raise ValueError(
            f"{typname} value contains a NUL character (\\x00) at index "
            f"{value.index(chr(0))}, which PostgreSQL cannot store")
    buf.write_raw(p, n)
    return 0


cdef extern from "Python.h":
    ctypedef unsigned char Py_UCS1
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    Py_UCS1* PyUnicode_1BYTE_DATA(object o)


cdef inline object _decode_utf8(const char* data, Py_ssize_t length):
    """str from UTF-8; short ASCII text (the usual case) copied straight into a new str."""
    cdef Py_ssize_t i
    if 1 < length <= 64:
        for i in range(length):
            if <unsigned char>data[i] >= 0x80:
                return PyUnicode_DecodeUTF8(data, length, NULL)
        text = PyUnicode_New(length, 127)
        memcpy(PyUnicode_1BYTE_DATA(text), data, <size_t>length)
        return text
    # Empty and one-character strings come from CPython's shared singletons.
    return PyUnicode_DecodeUTF8(data, length, NULL)


cdef class TextCodec(Codec):
    """text, varchar, bpchar, name, unknown, json: UTF-8 text."""

    cdef object decode(self, const char* data, Py_ssize_t length):
        return _decode_utf8(data, length)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        return _write_text(buf, value, self.name)


@cython.final
cdef class TextFallbackCodec(TextCodec):
    """A type without a binary codec: exchanged in text format, as str."""

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        if not PyUnicode_Check(value):
            what = f"type {self.name!r} (oid {self.oid})" if self.name else f"type oid {self.oid}"
            raise TypeError(
                f"{what} has no binary codec, so it is sent as text and needs a str; "
                f"got {_type_name(value)}")
        return _write_text(buf, value, self.name or f"type oid {self.oid}")


@cython.final
cdef class JsonbCodec(Codec):
    """jsonb: a version byte (1) then the JSON text."""

    cdef object decode(self, const char* data, Py_ssize_t length):
        if length < 1:
            raise _malformed("jsonb", "empty value (no version byte)")
        if data[0] != 1:
            raise _malformed("jsonb", f"unsupported jsonb format version {<int>data[0]}")
        return PyUnicode_DecodeUTF8(data + 1, length - 1, NULL)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        if not PyUnicode_Check(value):
            raise TypeError(f"expected str for jsonb, got {_type_name(value)}")
        buf.write_byte(1)
        return _write_text(buf, value, "jsonb")


# -- bytes --------------------------------------------------------------------------


cdef int _write_bytes_like(WriteBuffer buf, object value, str typname,
                           Py_ssize_t exact_length) except -1:
    cdef Py_buffer view
    if PyBytes_CheckExact(value):
        if exact_length >= 0 and PyBytes_GET_SIZE(value) != exact_length:
            raise ValueError(f"{typname} takes exactly {exact_length} byte, "
                             f"got {PyBytes_GET_SIZE(value)}")
        buf.write_raw(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
        return 0
    if PyUnicode_Check(value) or not (PyBytes_Check(value) or PyByteArray_Check(value)
                                      or PyMemoryView_Check(value)):
        raise TypeError(f"expected bytes, bytearray or memoryview for {typname}, "
                        f"got {_type_name(value)}")
    PyObject_GetBuffer(value, &view, PyBUF_SIMPLE)
    try:
        if exact_length >= 0 and view.len != exact_length:
            raise ValueError(f"{typname} takes exactly {exact_length} byte, got {view.len}")
        buf.write_raw(<const char*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    return 0


@cython.final
cdef class ByteaCodec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        return data[:length]

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        return _write_bytes_like(buf, value, "bytea", -1)


@cython.final
cdef class CharCodec(Codec):
    """The single-byte "char" type (oid 18): bytes, as asyncpg."""

    cdef object decode(self, const char* data, Py_ssize_t length):
        return data[:length]

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        return _write_bytes_like(buf, value, '"char"', 1)


# -- uuid ---------------------------------------------------------------------------

cdef object _UUID = uuid.UUID
cdef object _UUID_new = uuid.UUID.__new__
cdef object _set_attr = object.__setattr__
cdef object _SAFE_UNKNOWN = uuid.SafeUUID.unknown


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    # Big-endian unsigned bytes -> int in one step (CPython's, since 2.x).
    object _PyLong_FromByteArray(const unsigned char* data, size_t n, int little_endian,
                                 int is_signed)
    object PyType_GenericAlloc(PyTypeObject* tp, Py_ssize_t nitems)

cdef enum:
    _T_OBJECT_EX = 16   # structmember.h: a slot holding an object, AttributeError if unset


cdef Py_ssize_t _slot_offset(object cls, str name):
    """Where instances of `cls` keep their __slots__ member `name`; -1 if not such a slot."""
    descr = cls.__dict__.get(name)
    if type(descr) is not _types.MemberDescriptorType:
        return -1
    cdef PyMemberDef* member = (<PyMemberDescrObject*>descr).d_member
    if member.type != _T_OBJECT_EX or member.offset <= 0:
        return -1
    return member.offset


# uuid.UUID keeps `int` and `is_safe` in __slots__: a decoded UUID is built by
# filling them directly. Should a Python ever lay UUID out otherwise, the
# offsets are -1 and decode() takes the slower, public way.
cdef Py_ssize_t _UUID_INT = _slot_offset(uuid.UUID, "int")
cdef Py_ssize_t _UUID_SAFE = _slot_offset(uuid.UUID, "is_safe")


cdef inline void _fill_slot(object obj, Py_ssize_t offset, object value) noexcept:
    Py_INCREF(value)
    (<PyObject**>((<char*><PyObject*>obj) + offset))[0] = <PyObject*>value


@cython.final
cdef class UUIDCodec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length("uuid", length, 16)
        value = _PyLong_FromByteArray(<const unsigned char*>data, 16, 0, 0)
        # What UUID(int=...) does, without re-validating a value that cannot be wrong.
        if _UUID_INT > 0 and _UUID_SAFE > 0:
            u = PyType_GenericAlloc(<PyTypeObject*>_UUID, 0)   # zeroed: both slots unset
            _fill_slot(u, _UUID_INT, value)
            _fill_slot(u, _UUID_SAFE, _SAFE_UNKNOWN)
            return u
        u = _UUID_new(_UUID)
        _set_attr(u, "int", value)
        _set_attr(u, "is_safe", _SAFE_UNKNOWN)
        return u

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef char* p
        if not isinstance(value, _UUID):
            if not PyUnicode_Check(value):
                raise TypeError(f"expected uuid.UUID or str for uuid, got {_type_name(value)}")
            try:
                value = _UUID(value)
            except ValueError:
                raise ValueError(f"invalid UUID string: {value!r}") from None
        n = value.int
        p = buf.extend(16)
        pack_int64(p, <int64_t>PyLong_AsUnsignedLongLong(n >> 64))
        pack_int64(p + 8, <int64_t>PyLong_AsUnsignedLongLong(n & 0xFFFFFFFFFFFFFFFF))
        return 0


cdef object _with_context(BaseException exc, str message):
    """``exc``'s kind (TypeError, ValueError or OverflowError) carrying ``message``."""
    if type(exc) in (TypeError, ValueError, OverflowError):
        return type(exc)(message)
    if isinstance(exc, TypeError):
        return TypeError(message)
    return OverflowError(message) if isinstance(exc, OverflowError) else ValueError(message)


include "codecs_numeric.pxi"
include "codecs_datetime.pxi"
include "codecs_array.pxi"
include "codecs_network.pxi"
include "codecs_geometric.pxi"
include "codecs_bits.pxi"
include "codecs_range.pxi"
include "codecs_misc.pxi"
include "codecs_textarray.pxi"
include "codecs_custom.pxi"


# -- the registry ---------------------------------------------------------------------

# Element codecs whose Python values are sequences themselves (see ArrayCodec).
cdef tuple _SEQUENCE_VALUED = (
    PointCodec, LineCodec, TwoPointCodec, PathCodec, PolygonCodec, CircleCodec, TidCodec,
    SnapshotCodec, RangeCodec, MultirangeCodec, VectorCodec, RecordCodec, CompositeCodec,
)
cdef tuple _LIST_VALUED = (PathCodec, PolygonCodec, MultirangeCodec, VectorCodec)

cdef dict _CODECS = {}      # oid -> Codec, built once at import
cdef dict _NAMES = {}       # oid -> typname of every builtin type


cdef Codec _make(type cls, uint32_t oid, str name, int16_t fmt):
    cdef Codec codec = cls()
    codec.oid = oid
    codec.name = name
    codec.format = fmt
    return codec


cdef ArrayCodec _array_of(uint32_t oid, str name, Codec element):
    cdef ArrayCodec array = <ArrayCodec>_make(ArrayCodec, oid, name, 1)
    array.element = element
    array.tuple_elements = isinstance(element, _SEQUENCE_VALUED)
    array.list_elements = isinstance(element, _LIST_VALUED)
    return array


cdef void _register_builtins() except *:
    scalars = {
        BOOLOID: BoolCodec,
        INT2OID: Int2Codec,
        INT4OID: Int4Codec,
        INT8OID: Int8Codec,
        OIDOID: UInt4Codec,
        XIDOID: UInt4Codec,
        CIDOID: UInt4Codec,
        XID8OID: UInt8Codec,
        FLOAT4OID: Float4Codec,
        FLOAT8OID: Float8Codec,
        NUMERICOID: NumericCodec,
        TEXTOID: TextCodec,
        VARCHAROID: TextCodec,
        BPCHAROID: TextCodec,
        NAMEOID: TextCodec,
        UNKNOWNOID: TextCodec,
        JSONOID: TextCodec,
        JSONBOID: JsonbCodec,
        BYTEAOID: ByteaCodec,
        CHAROID: CharCodec,
        UUIDOID: UUIDCodec,
        DATEOID: DateCodec,
        TIMEOID: TimeCodec,
        TIMETZOID: TimetzCodec,
        TIMESTAMPOID: TimestampCodec,
        TIMESTAMPTZOID: TimestamptzCodec,
        INTERVALOID: IntervalCodec,
        INETOID: InetCodec,
        CIDROID: CidrCodec,
        MACADDROID: MacaddrCodec,
        MACADDR8OID: MacaddrCodec,
        BITOID: BitCodec,
        VARBITOID: BitCodec,
        POINTOID: PointCodec,
        LINEOID: LineCodec,
        LSEGOID: TwoPointCodec,
        BOXOID: TwoPointCodec,
        PATHOID: PathCodec,
        POLYGONOID: PolygonCodec,
        CIRCLEOID: CircleCodec,
        TIDOID: TidCodec,
        PG_LSNOID: UInt8Codec,
        PG_SNAPSHOTOID: SnapshotCodec,
        TXID_SNAPSHOTOID: SnapshotCodec,
        XMLOID: TextCodec,
        CSTRINGOID: TextCodec,
        REFCURSOROID: TextCodec,
        JSONPATHOID: JsonpathCodec,
        VOIDOID: VoidCodec,
        RECORDOID: RecordCodec,
    }
    cdef VectorCodec vector
    cdef RangeCodec rng
    cdef MultirangeCodec multi
    cdef TextArrayCodec text_array
    delimiters = {}
    for row in BUILTIN_TYPES:
        _NAMES[row[0]] = row[1]
        delimiters[row[0]] = row[7]
    for oid, cls in scalars.items():
        _CODECS[oid] = _make(cls, oid, _NAMES[oid], 1)
    (<MacaddrCodec>_CODECS[MACADDROID]).size = 6
    (<MacaddrCodec>_CODECS[MACADDR8OID]).size = 8
    (<TwoPointCodec>_CODECS[LSEGOID]).cls = _LineSegment
    (<TwoPointCodec>_CODECS[BOXOID]).cls = _Box
    for oid, elem in ((INT2VECTOROID, INT2OID), (OIDVECTOROID, OIDOID)):
        vector = <VectorCodec>_make(VectorCodec, oid, _NAMES[oid], 1)
        vector.element = _CODECS[elem]
        _CODECS[oid] = vector
    for oid, subtype in RANGE_SUBTYPES.items():
        rng = <RangeCodec>_make(RangeCodec, oid, _NAMES[oid], 1)
        rng.element = _CODECS[subtype]
        _CODECS[oid] = rng
    for oid, range_oid in MULTIRANGE_RANGES.items():
        multi = <MultirangeCodec>_make(MultirangeCodec, oid, _NAMES[oid], 1)
        multi.range = _CODECS[range_oid]
        _CODECS[oid] = multi
    kinds = {row[0]: row[2] for row in BUILTIN_TYPES}
    for oid, name, _typtype, category, _typlen, elem, _typarray, _delim in BUILTIN_TYPES:
        if name != "_" + _NAMES.get(elem, "") or (category != "A" and oid != _RECORDOID):
            continue
        if elem in _CODECS:
            _CODECS[oid] = _array_of(oid, name, _CODECS[elem])
        elif kinds[elem] == "b":
            # A base type exchanged as text: its arrays too, split into lists of str.
            text_array = <TextArrayCodec>_make(TextArrayCodec, oid, name, 0)
            text_array.delimiter = delimiters[elem]
            _CODECS[oid] = text_array


_register_builtins()


cdef Codec codec_for(uint32_t oid):
    codec = _CODECS.get(oid)
    if codec is not None:
        return <Codec>codec
    return _make(TextFallbackCodec, oid, _NAMES.get(oid, ""), 0)


# -- Python-level helpers (tests, non-hot paths) ----------------------------------------


def get_codec(uint32_t oid):
    """The codec pgjet uses for ``oid``: binary, or the text fallback."""
    return codec_for(oid)


def has_binary_codec(uint32_t oid):
    """True if values of type ``oid`` are exchanged in binary format."""
    codec = _CODECS.get(oid)
    return codec is not None and (<Codec>codec).format == 1


cdef Codec _binary_codec(uint32_t oid):
    codec = _CODECS.get(oid)
    if codec is None or (<Codec>codec).format != 1:
        raise LookupError(f"no binary codec for type oid {oid}")
    return <Codec>codec


def decode_binary(uint32_t oid, data):
    """Decode one non-NULL binary value of type ``oid``."""
    return _binary_codec(oid).decode_bytes(data)


def encode_binary(uint32_t oid, value):
    """Encode ``value`` (not None) in the binary format of type ``oid``."""
    return _binary_codec(oid).encode_value(value)

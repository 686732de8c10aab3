# Columnar results: fetch_columns() and fetch_numpy() decode each DataRow
# straight into one sink per column, with no row object at all.
#
# A sink either appends decoded Python values to a list (every type; the
# column's own codec decodes them) or, for fixed-width binary types whose
# builtin codec is in use, copies the value's bytes in native byte order into
# a growing bytearray that numpy later wraps without a copy. NULLs of such a
# column are kept in a byte mask created at the first NULL.

cimport cython
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_Resize
from libc.stdint cimport INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, int64_t
from libc.string cimport memset

from pgjet._wire.buffer cimport unpack_int64

from pgjet._wire.codecs import (
    BoolCodec, DateCodec, Float4Codec, Float8Codec, Int2Codec, Int4Codec, Int8Codec,
    TimestampCodec, TimestamptzCodec, UInt4Codec, UInt8Codec,
)

cdef enum:
    SINK_OBJECTS = 0     # a list of decoded values
    SINK_BOOL = 1        # one byte, 0 or 1
    SINK_SWAP2 = 2       # big-endian 2/4/8-byte integers and floats, stored native
    SINK_SWAP4 = 3
    SINK_SWAP8 = 4
    SINK_DATE = 5        # int32 days since 2000-01-01 -> int64 days since 1970-01-01
    SINK_TIMESTAMP = 6   # int64 µs since 2000-01-01 -> int64 µs since 1970-01-01

cdef int64_t _DAYS_2000_SINCE_1970 = 10957
cdef int64_t _USECS_2000_SINCE_1970 = 946684800000000

# Exact codec class -> (sink kind, wire width, numpy dtype). A subclass or a
# user's codec for the same type decodes to Python objects instead.
cdef dict _ARRAY_KINDS = {
    BoolCodec: (SINK_BOOL, 1, "bool"),
    Int2Codec: (SINK_SWAP2, 2, "int16"),
    Int4Codec: (SINK_SWAP4, 4, "int32"),
    Int8Codec: (SINK_SWAP8, 8, "int64"),
    UInt4Codec: (SINK_SWAP4, 4, "uint32"),
    UInt8Codec: (SINK_SWAP8, 8, "uint64"),
    Float4Codec: (SINK_SWAP4, 4, "float32"),
    Float8Codec: (SINK_SWAP8, 8, "float64"),
    DateCodec: (SINK_DATE, 4, "datetime64[D]"),
    TimestampCodec: (SINK_TIMESTAMP, 8, "datetime64[us]"),
    TimestamptzCodec: (SINK_TIMESTAMP, 8, "datetime64[us]"),
}


@cython.final
cdef class ColumnSink:
    """One result column being collected: a list of values or packed native values."""

    cdef readonly str name
    cdef readonly int kind
    cdef readonly str dtype          # numpy dtype of packed values; None for a list
    cdef readonly list items         # SINK_OBJECTS: the values
    cdef readonly Py_ssize_t count   # values collected
    cdef int wire_width
    cdef int width                   # bytes per packed value
    cdef Py_ssize_t capacity         # packed values the bytearrays hold
    cdef bytearray packed
    cdef bytearray null_mask         # None until the first NULL

    def __cinit__(self, str name, Codec codec, bint packed):
        self.name = name
        self.kind = SINK_OBJECTS
        self.dtype = None
        self.count = 0
        spec = _ARRAY_KINDS.get(type(codec)) if packed and codec.format == 1 else None
        if spec is None:
            self.items = []
            return
        self.kind, self.wire_width, self.dtype = spec
        self.width = 8 if self.kind == SINK_DATE else self.wire_width
        self.capacity = 1024
        self.packed = bytearray(self.capacity * self.width)

    cdef int _grow(self) except -1:
        self.capacity = self.capacity * 2 if self.capacity else 1024
        PyByteArray_Resize(self.packed, self.capacity * self.width)
        if self.null_mask is not None:
            PyByteArray_Resize(self.null_mask, self.capacity)
        return 0

    cdef int add(self, Codec codec, const char* data, int32_t size) except -1:
        cdef char* slot
        cdef int64_t wide
        if self.kind == SINK_OBJECTS:
            self.items.append(codec.decode(data, size))
            self.count += 1
            return 0
        if size != self.wire_width:
            codec.decode(data, size)   # raises the error fetch() would raise for it
            raise ValueError(
                f"column {self.name!r}: a {codec.name} value of {size} bytes, "
                f"expected {self.wire_width}")
        if self.count == self.capacity:
            self._grow()
        slot = PyByteArray_AS_STRING(self.packed) + self.count * self.width
        if self.kind == SINK_SWAP8:
            (<int64_t*>slot)[0] = unpack_int64(data)
        elif self.kind == SINK_SWAP4:
            (<int32_t*>slot)[0] = unpack_int32(data)
        elif self.kind == SINK_TIMESTAMP:
            wide = unpack_int64(data)
            if wide == INT64_MAX or wide == INT64_MIN:
                self._infinity(codec, wide > 0)
            if wide > INT64_MAX - _USECS_2000_SINCE_1970:
                # PostgreSQL reaches 294276 AD, datetime64[us] 294247 AD.
                raise ValueError(
                    f"column {self.name!r}: a {codec.name} after 294247-01-10 has no "
                    "numpy datetime64[us] value")
            (<int64_t*>slot)[0] = wide + _USECS_2000_SINCE_1970
        elif self.kind == SINK_SWAP2:
            (<int16_t*>slot)[0] = unpack_int16(data)
        elif self.kind == SINK_BOOL:
            slot[0] = data[0] != 0
        else:   # SINK_DATE
            wide = unpack_int32(data)
            if wide == INT32_MAX or wide == INT32_MIN:
                self._infinity(codec, wide > 0)
            (<int64_t*>slot)[0] = wide + _DAYS_2000_SINCE_1970
        if self.null_mask is not None:
            PyByteArray_AS_STRING(self.null_mask)[self.count] = 0
        self.count += 1
        return 0

    cdef int _infinity(self, Codec codec, bint positive) except -1:
        raise ValueError(
            f"column {self.name!r}: {codec.name} '{'' if positive else '-'}infinity' has no "
            "numpy datetime64 value; filter or cast it in the query, or use fetch_columns()")

    cdef int add_null(self) except -1:
        if self.kind == SINK_OBJECTS:
            self.items.append(None)
            self.count += 1
            return 0
        if self.count == self.capacity:
            self._grow()
        if self.null_mask is None:
            self.null_mask = bytearray(self.capacity)   # zeros: no NULL before this one
        memset(PyByteArray_AS_STRING(self.packed) + self.count * self.width, 0, self.width)
        PyByteArray_AS_STRING(self.null_mask)[self.count] = 1
        self.count += 1
        return 0

    cdef void truncate(self, Py_ssize_t count) noexcept:
        """Forget the values after the first `count` (a row that failed half-way)."""
        if count < self.count:
            if self.kind == SINK_OBJECTS:
                del self.items[count:]
            self.count = count

    def packed_values(self):
        """(values, null mask or None) as bytearrays trimmed to `count`; packed sinks only."""
        if self.kind == SINK_OBJECTS:
            raise TypeError(f"column {self.name!r} holds Python objects, not packed values")
        PyByteArray_Resize(self.packed, self.count * self.width)
        self.capacity = self.count
        if self.null_mask is not None:
            PyByteArray_Resize(self.null_mask, self.count)
        return self.packed, self.null_mask


def column_sinks(StatementState state, bint packed):
    """One ColumnSink per result column of `state` (packed: numpy-ready where possible)."""
    cdef list codecs = state.column_codecs
    return [ColumnSink(name, <Codec>codecs[i], packed)
            for i, (name, _) in enumerate(state.columns)]

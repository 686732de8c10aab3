# Binary codecs for PostgreSQL's builtin types, shared with the protocol core,
# which builds one table of them per statement and calls them per value.

from libc.stdint cimport int16_t, uint32_t

from pgjet._wire.buffer cimport WriteBuffer


cdef class Codec:
    cdef readonly uint32_t oid
    cdef readonly str name          # the type's name, e.g. 'int4', '_int4'; '' if unknown
    cdef readonly int16_t format    # 1 = binary, 0 = text (the fallback for unknown types)

    # One non-NULL value: exactly `length` bytes at `data` (never reads beyond).
    cdef object decode(self, const char* data, Py_ssize_t length)
    # Append the value's bytes only; the caller writes and patches the length prefix.
    cdef int encode(self, WriteBuffer buf, object value) except -1


# The builtin binary codec for `oid`, or a text-format fallback codec: never None.
cdef Codec codec_for(uint32_t oid)

# bit, varbit <-> pgjet.types.BitString (included by codecs.pyx).
#
# Binary form: int32 bit count, then the bits packed most significant first,
# the last byte padded with zero bits.

cdef object _BitString = _types.BitString
cdef object _bitstring_from = _types.BitString.frombytes


@cython.final
cdef class BitCodec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        if length < 4:
            raise _malformed(self.name, f"needs at least 4 bytes, got {length}")
        cdef int32_t nbits = unpack_int32(data)
        if nbits < 0 or (<Py_ssize_t>nbits + 7) // 8 != length - 4:
            raise _malformed(self.name, f"{nbits} bits in {length - 4} bytes")
        return _bitstring_from(data[4:length], nbits)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef Py_ssize_t start = buf.position()
        cdef Py_ssize_t nbits
        if isinstance(value, _BitString):
            raw = value.bytes
            nbits = len(value)
            if nbits > INT32_MAX:
                raise ValueError(f"{self.name} value is too long ({nbits} bits)")
            buf.write_int32(<int32_t>nbits)
            buf.write_raw(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
            return 0
        if PyUnicode_Check(value):
            raise TypeError(f"expected BitString or bytes for {self.name}, got str "
                            f"(use pgjet.types.BitString({value!r:.40}))")
        # Bytes-like values are whole bytes of bits, as in asyncpg.
        buf.write_int32(0)
        try:
            _write_bytes_like(buf, value, self.name, -1)
        except TypeError:
            buf.truncate(start)
            raise TypeError(f"expected BitString or bytes for {self.name}, "
                            f"got {_type_name(value)}") from None
        nbits = (buf.position() - start - 4) * 8
        if nbits > INT32_MAX:
            buf.truncate(start)
            raise ValueError(f"{self.name} value is too long ({nbits} bits)")
        buf.patch_int32(start, <int32_t>nbits)
        return 0

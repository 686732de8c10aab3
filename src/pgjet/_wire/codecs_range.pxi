# Ranges <-> pgjet.types.Range; multiranges <-> lists of Range, as asyncpg
# (included by codecs.pyx).
#
# Range binary form: a flags byte, then (unless empty or infinite) the lower and
# the upper bound, each as an int32 length and the subtype's bytes. A multirange
# is an int32 count, then each range as an int32 length and its bytes.

cdef enum:
    RANGE_EMPTY = 0x01
    RANGE_LB_INC = 0x02
    RANGE_UB_INC = 0x04
    RANGE_LB_INF = 0x08
    RANGE_UB_INF = 0x10
    RANGE_CONTAIN_EMPTY = 0x80   # internal to GiST, but harmless if sent

cdef object _Range = _types.Range


cdef object _range_bound(Codec codec, str typname, const char* data, Py_ssize_t length,
                         Py_ssize_t* pos, str which):
    if length - pos[0] < 4:
        raise _malformed(typname, f"truncated before the {which} bound")
    cdef int32_t size = unpack_int32(data + pos[0])
    pos[0] += 4
    if size < 0 or size > length - pos[0]:
        raise _malformed(typname, f"{which} bound length {size} with {length - pos[0]} "
                                  "bytes left")
    value = codec.decode(data + pos[0], size)
    pos[0] += size
    return value


cdef int _write_range_bound(WriteBuffer buf, Codec codec, object value, str typname,
                            str which) except -1:
    cdef Py_ssize_t pos = buf.position()
    buf.write_int32(0)
    try:
        codec.encode(buf, value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _with_context(exc, f"invalid {which} bound of {typname}: {exc}") from exc
    buf.patch_int32(pos, <int32_t>(buf.position() - pos - 4))
    return 0


@cython.final
cdef class RangeCodec(Codec):
    cdef Codec element

    cdef object decode(self, const char* data, Py_ssize_t length):
        if length < 1:
            raise _malformed(self.name, "empty value (no flags byte)")
        cdef int flags = <unsigned char>data[0]
        cdef Py_ssize_t pos = 1
        lower = upper = None
        if flags & ~(RANGE_EMPTY | RANGE_LB_INC | RANGE_UB_INC | RANGE_LB_INF | RANGE_UB_INF
                     | RANGE_CONTAIN_EMPTY):
            raise _malformed(self.name, f"unknown range flags 0x{flags:02x}")
        if flags & RANGE_EMPTY:
            if length != 1:
                raise _malformed(self.name, f"{length - 1} bytes after an empty range")
            return _Range(empty=True)
        if not flags & RANGE_LB_INF:
            lower = _range_bound(self.element, self.name, data, length, &pos, "lower")
        if not flags & RANGE_UB_INF:
            upper = _range_bound(self.element, self.name, data, length, &pos, "upper")
        if pos != length:
            raise _malformed(self.name, f"{length - pos} bytes after the upper bound")
        return _Range(lower, upper, lower_inc=(flags & RANGE_LB_INC) != 0,
                      upper_inc=(flags & RANGE_UB_INC) != 0)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef int flags = 0
        cdef Py_ssize_t start = buf.position()
        lower = upper = None
        if isinstance(value, _Range):
            if value.isempty:
                flags = RANGE_EMPTY
            else:
                lower = value.lower
                upper = value.upper
                if lower is None:
                    flags |= RANGE_LB_INF
                elif value.lower_inc:
                    flags |= RANGE_LB_INC
                if upper is None:
                    flags |= RANGE_UB_INF
                elif value.upper_inc:
                    flags |= RANGE_UB_INC
        elif PyTuple_Check(value) or PyList_Check(value):
            # asyncpg's shorthand: () empty, (lower,) from lower on, (lower, upper)
            # with both bounds inclusive; None is an infinite bound.
            if len(value) > 2:
                raise ValueError(f"{self.name} as a tuple needs 0, 1 or 2 items "
                                 f"(lower, upper), got {len(value)}")
            if len(value) == 0:
                flags = RANGE_EMPTY
            else:
                lower = value[0]
                upper = value[1] if len(value) == 2 else None
                flags = RANGE_LB_INF if lower is None else RANGE_LB_INC
                flags |= RANGE_UB_INF if upper is None else RANGE_UB_INC
        else:
            raise TypeError(f"expected pgjet.types.Range (or a tuple of bounds) for "
                            f"{self.name}, got {_type_name(value)}")
        buf.write_byte(<char>flags)
        try:
            if lower is not None:
                _write_range_bound(buf, self.element, lower, self.name, "lower")
            if upper is not None:
                _write_range_bound(buf, self.element, upper, self.name, "upper")
        except BaseException:
            buf.truncate(start)
            raise
        return 0


@cython.final
cdef class MultirangeCodec(Codec):
    cdef RangeCodec range

    cdef object decode(self, const char* data, Py_ssize_t length):
        if length < 4:
            raise _malformed(self.name, f"needs at least 4 bytes, got {length}")
        cdef int32_t n = unpack_int32(data)
        cdef int32_t i, size
        cdef Py_ssize_t pos = 4
        if n < 0 or n > (length - 4) // 5:   # every range takes at least 5 bytes
            raise _malformed(self.name, f"{n} ranges cannot fit in {length} bytes")
        cdef list ranges = [None] * n
        for i in range(n):
            if length - pos < 4:
                raise _malformed(self.name, f"truncated before range {i + 1}")
            size = unpack_int32(data + pos)
            pos += 4
            if size < 0 or size > length - pos:
                raise _malformed(self.name, f"range length {size} with {length - pos} "
                                            "bytes left")
            ranges[i] = self.range.decode(data + pos, size)
            pos += size
        if pos != length:
            raise _malformed(self.name, f"{length - pos} bytes after the last range")
        return ranges

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        if isinstance(value, _Range) or not _is_container(value):
            raise TypeError(f"expected a list of Range for {self.name}, "
                            f"got {_type_name(value)}")
        value = _as_sequence(value)
        cdef Py_ssize_t start = buf.position(), pos
        cdef Py_ssize_t i = 0
        if len(value) > INT32_MAX // 5:
            raise ValueError(f"{self.name} value has too many ranges")
        buf.write_int32(<int32_t>len(value))
        try:
            for item in value:
                if item is None:
                    raise ValueError(f"{self.name} cannot hold NULL (range [{i}])")
                pos = buf.position()
                buf.write_int32(0)
                try:
                    self.range.encode(buf, item)
                except (TypeError, ValueError, OverflowError) as exc:
                    raise _with_context(exc, f"invalid range [{i}] of {self.name}: {exc}") from exc
                buf.patch_int32(pos, <int32_t>(buf.position() - pos - 4))
                i += 1
        except BaseException:
            buf.truncate(start)
            raise
        return 0

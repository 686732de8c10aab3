# tid, int2vector/oidvector, pg_snapshot, jsonpath, void and anonymous records
# (included by codecs.pyx).


@cython.final
cdef class TidCodec(Codec):
    """tid: (block number, tuple index) as a tuple of two ints."""

    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length("tid", length, 6)
        return (PyLong_FromUnsignedLong(<uint32_t>unpack_int32(data)),
                PyLong_FromLong(<uint16_t>unpack_int16(data + 4)))

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        if not (PyTuple_Check(value) or PyList_Check(value)):
            raise TypeError(f"expected a (block, offset) tuple for tid, got {_type_name(value)}")
        if len(value) != 2:
            raise ValueError(f"tid needs 2 items (block, offset), got {len(value)}")
        cdef int64_t block = _as_int64(value[0], 0, 0xFFFFFFFF, "tid block", "0..4294967295")
        cdef int64_t offset = _as_int64(value[1], 0, 0xFFFF, "tid offset", "0..65535")
        cdef char* p = buf.extend(6)
        pack_int32(p, <int32_t><uint32_t>block)
        pack_int16(p + 4, <int16_t><uint16_t>offset)
        return 0


@cython.final
cdef class VectorCodec(Codec):
    """int2vector, oidvector: one-dimensional arrays without NULLs, lower bound 0."""
    cdef Codec element

    cdef object decode(self, const char* data, Py_ssize_t length):
        if length < 12:
            raise _malformed(self.name, f"header needs 12 bytes, got {length}")
        cdef int32_t ndims = unpack_int32(data)
        cdef int32_t flags = unpack_int32(data + 4)
        cdef uint32_t elem_oid = <uint32_t>unpack_int32(data + 8)
        cdef int32_t n = 0, size, i
        cdef Py_ssize_t pos = 12
        if ndims != 0 and ndims != 1:
            raise _malformed(self.name, f"{ndims} dimensions, expected 1")
        if flags != 0:
            raise _malformed(self.name, f"array flags {flags} (NULLs are not allowed)")
        if elem_oid != self.element.oid:
            raise _malformed(self.name, f"elements of type oid {elem_oid}, expected "
                                        f"{self.element.oid} ({self.element.name})")
        if ndims == 1:
            if length < 20:
                raise _malformed(self.name, f"dimension header needs 20 bytes, got {length}")
            n = unpack_int32(data + 12)
            pos = 20
            if n < 0 or n > (length - pos) // 4:
                raise _malformed(self.name, f"{n} elements cannot fit in {length} bytes")
        cdef list items = [None] * n
        for i in range(n):
            if length - pos < 4:
                raise _malformed(self.name, "truncated before an element's length")
            size = unpack_int32(data + pos)
            pos += 4
            if size < 0 or size > length - pos:
                raise _malformed(self.name, f"element length {size} with {length - pos} "
                                            "bytes left")
            items[i] = self.element.decode(data + pos, size)
            pos += size
        if pos != length:
            raise _malformed(self.name, f"{length - pos} bytes after the last element")
        return items

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        if not _is_container(value):
            raise TypeError(f"expected a list of int for {self.name}, got {_type_name(value)}")
        value = _as_sequence(value)
        cdef Py_ssize_t start = buf.position(), pos
        cdef Py_ssize_t i = 0
        if len(value) == 0:
            # int2vectorrecv/oidvectorrecv refuse it (the server's own output included).
            raise ValueError(f"PostgreSQL cannot receive an empty {self.name} in binary format")
        if len(value) > INT32_MAX // 8:
            raise ValueError(f"{self.name} value has too many elements")
        cdef char* p = buf.extend(20)
        pack_int32(p, 1)
        pack_int32(p + 4, 0)
        pack_int32(p + 8, <int32_t>self.element.oid)
        pack_int32(p + 12, <int32_t>len(value))
        pack_int32(p + 16, 0)
        try:
            for item in value:
                if item is None:
                    raise ValueError(f"{self.name} cannot hold NULL (element [{i}])")
                pos = buf.position()
                buf.write_int32(0)
                try:
                    self.element.encode(buf, item)
                except (TypeError, ValueError, OverflowError) as exc:
                    raise _with_context(exc, f"invalid {self.name} element [{i}]: {exc}") from exc
                buf.patch_int32(pos, <int32_t>(buf.position() - pos - 4))
                i += 1
        except BaseException:
            buf.truncate(start)
            raise
        return 0


@cython.final
cdef class SnapshotCodec(Codec):
    """pg_snapshot, txid_snapshot: (xmin, xmax, (xip, ...)), as asyncpg."""

    cdef object decode(self, const char* data, Py_ssize_t length):
        if length < 20:
            raise _malformed(self.name, f"needs at least 20 bytes, got {length}")
        cdef int32_t n = unpack_int32(data)
        if n < 0 or n > (length - 20) // 8 or length != 20 + 8 * <Py_ssize_t>n:
            raise _malformed(self.name, f"{n} transaction ids in {length - 20} bytes")
        xip = tuple([PyLong_FromUnsignedLongLong(<uint64_t>unpack_int64(data + 20 + 8 * i))
                     for i in range(n)])
        return (PyLong_FromUnsignedLongLong(<uint64_t>unpack_int64(data + 4)),
                PyLong_FromUnsignedLongLong(<uint64_t>unpack_int64(data + 12)), xip)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        if not (PyTuple_Check(value) or PyList_Check(value)):
            raise TypeError(f"expected a (xmin, xmax, xip) tuple for {self.name}, "
                            f"got {_type_name(value)}")
        if len(value) != 3:
            raise ValueError(f"{self.name} needs 3 items (xmin, xmax, xip), got {len(value)}")
        xip = value[2]
        if not _is_container(xip):
            raise TypeError(f"{self.name} xip must be a sequence of int, "
                            f"got {_type_name(xip)}")
        xip = _as_sequence(xip)
        if len(xip) > (INT32_MAX - 20) // 8:
            raise ValueError(f"{self.name} value has too many transaction ids")
        numbers = [value[0], value[1], *xip]
        cdef list checked = []
        for item in numbers:
            item = _as_pyint(item, self.name)
            if item < 0 or item > 0xFFFFFFFFFFFFFFFF:
                raise OverflowError(_range_error(item, self.name, "0..2**64-1"))
            checked.append(item)
        buf.write_int32(<int32_t>len(xip))
        for item in checked:
            buf.write_int64(<int64_t>PyLong_AsUnsignedLongLong(item))
        return 0


@cython.final
cdef class JsonpathCodec(Codec):
    """jsonpath: a version byte (1) then the path text, as str."""

    cdef object decode(self, const char* data, Py_ssize_t length):
        if length < 1:
            raise _malformed("jsonpath", "empty value (no version byte)")
        if data[0] != 1:
            raise _malformed("jsonpath", f"unsupported jsonpath format version {<int>data[0]}")
        return PyUnicode_DecodeUTF8(data + 1, length - 1, NULL)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        if not PyUnicode_Check(value):
            raise TypeError(f"expected str for jsonpath, got {_type_name(value)}")
        buf.write_byte(1)
        return _write_text(buf, value, "jsonpath")


@cython.final
cdef class VoidCodec(Codec):
    """void: no value; decodes to None and sends nothing, as asyncpg."""

    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length("void", length, 0)
        return None

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        return 0


@cython.final
cdef class RecordCodec(Codec):
    """Anonymous records (``SELECT row(1, 'a')``): a tuple of their decoded fields.

    Binary form: int32 field count, then per field its type oid, an int32 length
    (-1 for NULL) and its bytes. PostgreSQL cannot read anonymous records, so
    there is no encoder.
    """

    # A connection's record codec finds field codecs through its types (custom
    # types, overrides): ``lookup(oid)`` returns a binary Codec or raises. None:
    # builtin types only.
    cdef object lookup

    cdef object decode(self, const char* data, Py_ssize_t length):
        if self.lookup is None:
            return self._decode(data, length)
        try:
            return self._decode(data, length)
        except RecordFieldTypeUnknown:
            # Ask about every field type of this value (nested records and
            # arrays of them too), so that one catalog query reads them all.
            try:
                self._scan(data, length, 0)
            except Exception:
                pass   # the original error says what matters
            raise

    cdef int _scan(self, const char* data, Py_ssize_t length, int depth) except -1:
        cdef int32_t n, i, size, ndim, d, n_el
        cdef uint32_t oid
        cdef Py_ssize_t pos = 4, count, k
        if depth > 16 or length < 4:
            return 0
        n = unpack_int32(data)
        for i in range(n):
            if length - pos < 8:
                return 0
            oid = <uint32_t>unpack_int32(data + pos)
            size = unpack_int32(data + pos + 4)
            pos += 8
            try:
                self.lookup(oid)
            except Exception:
                pass    # recorded as missing by the lookup
            if size < 0 or size > length - pos:
                continue
            if oid == RECORDOID:
                self._scan(data + pos, size, depth + 1)
            elif oid == _RECORDOID and size >= 12:
                # An array of records: its header, then each element.
                ndim = unpack_int32(data + pos)
                if 0 < ndim <= 6 and size >= 12 + 8 * ndim:
                    count = 1
                    for d in range(ndim):
                        count *= unpack_int32(data + pos + 12 + 8 * d)
                    k = pos + 12 + 8 * ndim
                    while count > 0 and pos + size - k >= 4:
                        count -= 1
                        n_el = unpack_int32(data + k)
                        k += 4
                        if n_el >= 0 and n_el <= pos + size - k:
                            self._scan(data + k, n_el, depth + 1)
                            k += n_el
            pos += size
        return 0

    cdef object _decode(self, const char* data, Py_ssize_t length):
        if length < 4:
            raise _malformed("record", f"needs at least 4 bytes, got {length}")
        cdef int32_t n = unpack_int32(data)
        cdef int32_t i, size
        cdef uint32_t oid
        cdef Py_ssize_t pos = 4
        if n < 0 or n > (length - 4) // 8:
            raise _malformed("record", f"{n} fields cannot fit in {length} bytes")
        cdef list fields = [None] * n
        for i in range(n):
            if length - pos < 8:
                raise _malformed("record", f"truncated in field {i + 1}")
            oid = <uint32_t>unpack_int32(data + pos)
            size = unpack_int32(data + pos + 4)
            pos += 8
            if size == -1:
                continue
            if size < 0 or size > length - pos:
                raise _malformed("record", f"field {i + 1} length {size} with "
                                           f"{length - pos} bytes left")
            if self.lookup is not None:
                fields[i] = (<Codec>self.lookup(oid)).decode(data + pos, size)
                pos += size
                continue
            codec = _CODECS.get(oid)
            if codec is None or (<Codec>codec).format != 1:
                name = _NAMES.get(oid)
                what = f"type {name} (oid {oid})" if name else f"type oid {oid}"
                raise ValueError(f"field {i + 1} of a record has {what}, which pgjet cannot "
                                 "decode in binary; cast that field to text in the query")
            fields[i] = (<Codec>codec).decode(data + pos, size)
            pos += size
        if pos != length:
            raise _malformed("record", f"{length - pos} bytes after the last field")
        return tuple(fields)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        raise TypeError("PostgreSQL cannot read anonymous record values; "
                        "cast the parameter to a named composite type")

# Arrays of the builtin types <-> nested lists (included by codecs.pyx).
#
# Binary form: int32 ndims, int32 has-nulls flag, uint32 element type, then per
# dimension int32 length and int32 lower bound, then every element in row-major
# order as int32 length (-1 for NULL) and its bytes.

from collections.abc import Iterable as _Iterable, Mapping as _Mapping, Sized as _Sized

cdef enum:
    ARRAY_MAXDIM = 6    # PostgreSQL's MAXDIM


cdef bint _is_container(object value) except -1:
    """Whether ``value`` is a (sub-)array to encode: a sized iterable, but no string."""
    if PyList_Check(value) or PyTuple_Check(value):
        return True
    if (PyUnicode_Check(value) or PyBytes_Check(value) or PyByteArray_Check(value)
            or PyMemoryView_Check(value) or PyLong_Check(value) or PyFloat_Check(value)):
        return False
    return (isinstance(value, _Iterable) and isinstance(value, _Sized)
            and not isinstance(value, _Mapping))


cdef inline object _as_sequence(object value):
    if PyList_Check(value) or PyTuple_Check(value):
        return value
    return list(value)


cdef str _index_path(Py_ssize_t* index, int depth):
    return "".join([f"[{index[i]}]" for i in range(depth)])


@cython.final
cdef class ArrayCodec(Codec):
    cdef Codec element
    # Element types whose values are themselves sequences (point, tid, ranges,
    # records, ...): a tuple is always an element, never a sub-array (asyncpg's
    # rule); with list_elements (int2vector, path, multiranges, ...) a list is an
    # element unless it holds lists.
    cdef bint tuple_elements
    cdef bint list_elements

    cdef bint _is_subarray(self, object value) except -1:
        if value is None:
            return False
        if self.tuple_elements:   # only lists nest; Path, Range, tuples... are elements
            if not PyList_Check(value):
                return False
            if self.list_elements:
                return (PyList_GET_SIZE(value) > 0
                        and PyList_Check(<object>PyList_GET_ITEM(value, 0)))
            return True
        return _is_container(value)

    cdef bint _looks_nested(self, object value) except -1:
        if self.tuple_elements or self.list_elements:
            return self._is_subarray(value)
        return PyList_Check(value) or PyTuple_Check(value)

    cdef object decode(self, const char* data, Py_ssize_t length):
        cdef int32_t dims[ARRAY_MAXDIM]
        cdef int32_t ndims, flags, i
        cdef uint32_t elem_oid
        cdef Py_ssize_t pos, total = 1
        if length < 12:
            raise _malformed(self.name, f"array header needs 12 bytes, got {length}")
        ndims = unpack_int32(data)
        flags = unpack_int32(data + 4)
        elem_oid = <uint32_t>unpack_int32(data + 8)
        if ndims < 0 or ndims > ARRAY_MAXDIM:
            raise _malformed(self.name, f"{ndims} dimensions (PostgreSQL allows 0 to 6)")
        if flags != 0 and flags != 1:
            raise _malformed(self.name, f"unknown array flags {flags}")
        if elem_oid != self.element.oid:
            raise _malformed(self.name, f"elements of type oid {elem_oid}, expected "
                                        f"{self.element.oid} ({self.element.name})")
        pos = 12 + 8 * <Py_ssize_t>ndims
        if length < pos:
            raise _malformed(self.name, f"{ndims} dimensions need {pos} header bytes, "
                                        f"got {length}")
        for i in range(ndims):
            dims[i] = unpack_int32(data + 12 + 8 * i)   # the lower bound is dropped
            if dims[i] < 0:
                raise _malformed(self.name, f"negative dimension length {dims[i]}")
            total *= dims[i]
            # Every element takes at least 4 bytes: bounds the count before allocating.
            if total > (length - pos) // 4:
                raise _malformed(self.name, f"{total} elements cannot fit in {length} bytes")
        if ndims == 0 or total == 0:
            if length != pos:
                raise _malformed(self.name, f"{length - pos} bytes after an empty array")
            return []
        result = self._decode_level(data, length, &pos, dims, ndims, 0)
        if pos != length:
            raise _malformed(self.name, f"{length - pos} bytes after the last element")
        return result

    cdef list _decode_level(self, const char* data, Py_ssize_t length, Py_ssize_t* pos,
                            int32_t* dims, int32_t ndims, int32_t level):
        cdef int32_t n = dims[level]
        cdef int32_t i, size
        cdef list items = [None] * n
        if level < ndims - 1:
            for i in range(n):
                items[i] = self._decode_level(data, length, pos, dims, ndims, level + 1)
            return items
        cdef Codec element = self.element
        for i in range(n):
            if length - pos[0] < 4:
                raise _malformed(self.name, "truncated before an element's length")
            size = unpack_int32(data + pos[0])
            pos[0] += 4
            if size == -1:
                continue
            if size < 0 or size > length - pos[0]:
                raise _malformed(self.name, f"element length {size} with "
                                            f"{length - pos[0]} bytes left")
            items[i] = element.decode(data + pos[0], size)
            pos[0] += size
        return items

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef int32_t dims[ARRAY_MAXDIM]
        cdef Py_ssize_t index[ARRAY_MAXDIM]
        cdef int ndims = 0, i
        cdef bint has_null = False
        cdef Py_ssize_t start = buf.position()
        cdef char* p
        if not _is_container(value):
            raise TypeError(f"expected a list (or another sized iterable) for {self.name}, "
                            f"got {_type_name(value)}")
        # The shape comes from the first element at each depth; every other
        # sub-array is checked against it while writing.
        level = value
        while True:
            if ndims == ARRAY_MAXDIM:
                raise ValueError(f"{self.name} value has more than {ARRAY_MAXDIM} dimensions")
            level = _as_sequence(level)
            if len(level) > INT32_MAX:
                raise ValueError(f"{self.name} value has too many elements")
            dims[ndims] = <int32_t>len(level)
            index[ndims] = 0
            ndims += 1
            if dims[ndims - 1] == 0:
                break
            level = level[0]
            if not self._is_subarray(level):
                break
        p = buf.extend(12 + 8 * ndims)
        pack_int32(p, ndims)
        pack_int32(p + 4, 0)
        pack_int32(p + 8, <int32_t>self.element.oid)
        for i in range(ndims):
            pack_int32(p + 12 + 8 * i, dims[i])
            pack_int32(p + 16 + 8 * i, 1)
        try:
            try:
                self._encode_level(buf, value, dims, ndims, 0, index, &has_null)
            except BaseException:
                buf.truncate(start)   # leave no partial array behind
                raise
        except (TypeError, ValueError, OverflowError) as exc:
            message = f"invalid array element {_index_path(index, ndims)}: {exc}"
            if type(exc) in (TypeError, ValueError, OverflowError):
                raise type(exc)(message) from exc
            raise ValueError(message) from exc
        except _RaggedArray as exc:
            raise ValueError(f"{self.name} value is ragged: {exc}") from None
        if buf.position() == start + 12 + 8 * ndims and any_zero(dims, ndims):
            # No elements at all: the server's canonical empty array has no dimensions.
            buf.truncate(start)
            p = buf.extend(12)
            pack_int32(p, 0)
            pack_int32(p + 4, 0)
            pack_int32(p + 8, <int32_t>self.element.oid)
        elif has_null:
            buf.patch_int32(start + 4, 1)
        return 0

    cdef int _encode_level(self, WriteBuffer buf, object value, int32_t* dims, int ndims,
                           int level, Py_ssize_t* index, bint* has_null) except -1:
        cdef Py_ssize_t i = 0, pos
        cdef Codec element
        seq = _as_sequence(value)
        if len(seq) != dims[level]:
            raise _RaggedArray(f"the sub-array at {_index_path(index, level)} has {len(seq)} "
                               f"elements, the first one at its depth has {dims[level]}")
        if level < ndims - 1:
            for item in seq:
                index[level] = i
                if not self._is_subarray(item):
                    raise _RaggedArray(f"{_index_path(index, level + 1)} is {item!r}, "
                                       "where a sub-array was expected")
                self._encode_level(buf, item, dims, ndims, level + 1, index, has_null)
                i += 1
            return 0
        element = self.element
        for item in seq:
            index[level] = i
            if item is None:
                buf.write_int32(-1)
                has_null[0] = True
            elif self._looks_nested(item):
                raise _RaggedArray(f"{_index_path(index, level + 1)} is a sub-array, "
                                   "where a value was expected")
            else:
                pos = buf.position()
                buf.write_int32(0)
                element.encode(buf, item)
                buf.patch_int32(pos, <int32_t>(buf.position() - pos - 4))
            i += 1
        return 0


class _RaggedArray(Exception):
    pass


cdef inline bint any_zero(int32_t* dims, int ndims) noexcept:
    cdef int i
    for i in range(ndims):
        if dims[i] == 0:
            return True
    return False

# Geometric types <-> pgjet.types values (included by codecs.pyx).
#
# Every coordinate is a float8; point (x, y), line {A, B, C}, lseg and box two
# points (box: upper right first), path a closed flag byte, an int32 count and
# the points, polygon the count and the points, circle (x, y, radius).

from pgjet import types as _types

cdef object _Point = _types.Point
cdef object _Line = _types.Line
cdef object _LineSegment = _types.LineSegment
cdef object _Box = _types.Box
cdef object _Path = _types.Path
cdef object _Polygon = _types.Polygon
cdef object _Circle = _types.Circle
cdef object _tuple_new = tuple.__new__
cdef object _object_new = object.__new__

# The most points whose bytes still fit in an int32 length (the path header is 5).
cdef Py_ssize_t GEO_MAX_POINTS = (INT32_MAX - 5) // 16


cdef inline double _float8_at(const char* p) noexcept:
    cdef _Bits64 bits
    bits.i = unpack_int64(p)
    return bits.f


cdef inline void _put_float8(char* p, double value) noexcept:
    cdef _Bits64 bits
    bits.f = value
    pack_int64(p, bits.i)


cdef inline object _point_at(const char* p):
    return _tuple_new(_Point, (PyFloat_FromDouble(_float8_at(p)),
                               PyFloat_FromDouble(_float8_at(p + 8))))


cdef tuple _point_tuple(const char* data, Py_ssize_t n):
    return tuple([_point_at(data + 16 * i) for i in range(n)])


cdef int _write_point(WriteBuffer buf, object value, str typname) except -1:
    if PyUnicode_Check(value) or PyBytes_Check(value):
        raise TypeError(f"expected a point (x, y) for {typname}, got {_type_name(value)}")
    try:
        n = len(value)
    except TypeError:
        raise TypeError(f"expected a point (x, y) for {typname}, got {_type_name(value)}"
                        ) from None
    if n != 2:
        raise ValueError(f"a point of {typname} needs 2 coordinates, got {n}")
    cdef char* p = buf.extend(16)
    _put_float8(p, _as_double(value[0], typname))
    _put_float8(p + 8, _as_double(value[1], typname))
    return 0


cdef object _sequence_of(object value, Py_ssize_t n, str typname, str what):
    if PyUnicode_Check(value) or PyBytes_Check(value) or not _is_container(value):
        raise TypeError(f"expected {what} for {typname}, got {_type_name(value)}")
    value = _as_sequence(value)
    if n >= 0 and len(value) != n:
        raise ValueError(f"{typname} needs {what}, got {len(value)} items")
    return value


@cython.final
cdef class PointCodec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length("point", length, 16)
        return _point_at(data)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        return _write_point(buf, value, "point")


@cython.final
cdef class LineCodec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length("line", length, 24)
        return _tuple_new(_Line, (PyFloat_FromDouble(_float8_at(data)),
                                  PyFloat_FromDouble(_float8_at(data + 8)),
                                  PyFloat_FromDouble(_float8_at(data + 16))))

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        value = _sequence_of(value, 3, "line", "3 coefficients (A, B, C)")
        cdef double a = _as_double(value[0], "line")
        cdef double b = _as_double(value[1], "line")
        cdef double c = _as_double(value[2], "line")
        cdef char* p = buf.extend(24)
        _put_float8(p, a)
        _put_float8(p + 8, b)
        _put_float8(p + 16, c)
        return 0


@cython.final
cdef class TwoPointCodec(Codec):
    """lseg and box: two points."""
    cdef object cls

    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length(self.name, length, 32)
        return _tuple_new(self.cls, (_point_at(data), _point_at(data + 16)))

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        value = _sequence_of(value, 2, self.name, "2 points")
        cdef Py_ssize_t start = buf.position()
        try:
            _write_point(buf, value[0], self.name)
            _write_point(buf, value[1], self.name)
        except BaseException:
            buf.truncate(start)
            raise
        return 0


cdef int _write_points(WriteBuffer buf, object points, str typname) except -1:
    cdef Py_ssize_t start = buf.position()
    if len(points) > GEO_MAX_POINTS:
        raise ValueError(f"{typname} value has too many points ({len(points)})")
    if len(points) == 0:
        raise ValueError(f"{typname} needs at least one point")
    buf.write_int32(<int32_t>len(points))
    try:
        for point in points:
            _write_point(buf, point, typname)
    except BaseException:
        buf.truncate(start)
        raise
    return 0


cdef Py_ssize_t _point_count(str typname, const char* data, Py_ssize_t length) except -1:
    if length < 4:
        raise _malformed(typname, f"needs at least 4 bytes, got {length}")
    cdef int32_t n = unpack_int32(data)
    if n < 0 or n > (length - 4) // 16 or length != 4 + 16 * <Py_ssize_t>n:
        raise _malformed(typname, f"{n} points in {length - 4} bytes")
    return n


@cython.final
cdef class PathCodec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        if length < 1:
            raise _malformed("path", "empty value")
        cdef Py_ssize_t n = _point_count("path", data + 1, length - 1)
        path = _object_new(_Path)
        path.points = _point_tuple(data + 5, n)
        path._is_closed = data[0] != 0   # path_recv takes any non-zero byte as closed
        return path

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef bint closed
        if isinstance(value, _Path):
            closed = value.is_closed
            value = value.points
        elif PyTuple_Check(value):
            closed = True   # asyncpg's rule: a tuple of points is closed, a list open
        elif PyList_Check(value):
            closed = False
        else:
            raise TypeError(f"expected a Path, or a list (open) or tuple (closed) of points, "
                            f"for path, got {_type_name(value)}")
        buf.write_byte(1 if closed else 0)
        try:
            _write_points(buf, value, "path")
        except BaseException:
            buf.truncate(buf.position() - 1)
            raise
        return 0


@cython.final
cdef class PolygonCodec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        cdef Py_ssize_t n = _point_count("polygon", data, length)
        polygon = _object_new(_Polygon)
        polygon.points = _point_tuple(data + 4, n)
        polygon._is_closed = True
        return polygon

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        if isinstance(value, _Path):
            value = value.points
        value = _sequence_of(value, -1, "polygon", "a sequence of points")
        return _write_points(buf, value, "polygon")


@cython.final
cdef class CircleCodec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length("circle", length, 24)
        return _tuple_new(_Circle, (_point_at(data), PyFloat_FromDouble(_float8_at(data + 16))))

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        value = _sequence_of(value, 2, "circle", "(center, radius)")
        cdef double radius = _as_double(value[1], "circle")
        if radius < 0:
            raise ValueError(f"circle radius cannot be negative, got {radius!r}")
        cdef Py_ssize_t start = buf.position()
        _write_point(buf, value[0], "circle")
        _put_float8(buf.extend(8), radius)
        return 0

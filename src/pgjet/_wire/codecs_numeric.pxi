# numeric <-> decimal.Decimal (included by codecs.pyx).
#
# The binary form is a header of four int16 (ndigits, weight, sign, dscale) and
# ndigits base-10000 digits, most significant first. The value is
#   sum(digit[i] * 10000 ** (weight - i)),
# and dscale is the number of decimal digits shown after the point.

cdef enum:
    NUMERIC_POS = 0x0000
    NUMERIC_NEG = 0x4000
    NUMERIC_NAN = 0xC000
    NUMERIC_PINF = 0xD000
    NUMERIC_NINF = 0xF000
    NUMERIC_DSCALE_MAX = 0x3FFF
    NUMERIC_WEIGHT_MAX = 0x7FFF

cdef object _DEC_NAN = _Decimal("NaN")
cdef object _DEC_PINF = _Decimal("Infinity")
cdef object _DEC_NINF = _Decimal("-Infinity")
cdef int _POW10[4]
_POW10[:] = [1, 10, 100, 1000]


cdef inline int64_t _floor_div4(int64_t x) noexcept:
    # C division truncates towards zero; numeric's digit groups need floor.
    cdef int64_t q = x // 4
    if x < 0 and q * 4 != x:
        q -= 1
    return q


@cython.final
cdef class NumericCodec(Codec):
    cdef object decode(self, const char* data, Py_ssize_t length):
        if length < 8:
            raise _malformed("numeric", f"needs at least 8 bytes, got {length}")
        cdef int64_t ndigits = <uint16_t>unpack_int16(data)
        cdef int64_t weight = unpack_int16(data + 2)
        cdef uint16_t sign = <uint16_t>unpack_int16(data + 4)
        cdef int64_t dscale = <uint16_t>unpack_int16(data + 6)
        if length != 8 + 2 * ndigits:
            raise _malformed("numeric", f"{ndigits} digits need {8 + 2 * ndigits} bytes, "
                                        f"got {length}")
        if sign == NUMERIC_NAN:
            return _DEC_NAN
        if sign == NUMERIC_PINF:
            return _DEC_PINF
        if sign == NUMERIC_NINF:
            return _DEC_NINF
        if sign != NUMERIC_POS and sign != NUMERIC_NEG:
            raise _malformed("numeric", f"unknown sign 0x{sign:04X}")
        if dscale > NUMERIC_DSCALE_MAX:
            raise _malformed("numeric", f"display scale {dscale} exceeds {NUMERIC_DSCALE_MAX}")
        if ndigits == 0:
            return _Decimal(f"0E-{dscale}")

        # Render "[-]<coefficient>E-<dscale>": every group's 4 decimal digits, then
        # pad with zeros (or cut digits beyond dscale, as the server's own input
        # function does) so that exactly dscale digits follow the point.
        cdef int64_t frac_digits = 4 * (ndigits - 1 - weight)
        cdef int64_t pad = dscale - frac_digits if dscale > frac_digits else 0
        cdef int64_t cut = frac_digits - dscale if frac_digits > dscale else 0
        cdef int64_t ndec = 4 * ndigits + pad
        cdef Py_ssize_t size = 1 + ndec + 8
        cdef char small[160]
        cdef char* out = small
        cdef char* p
        cdef int64_t i, start, end
        cdef int group
        if size > <Py_ssize_t>sizeof(small):
            out = <char*>PyMem_Malloc(size)
            if out == NULL:
                raise MemoryError()
        try:
            p = out + 1
            for i in range(ndigits):
                group = <uint16_t>unpack_int16(data + 8 + 2 * i)
                if group > 9999:
                    raise _malformed("numeric", f"digit {group} is not below 10000")
                p[0] = <char>(48 + group // 1000)
                p[1] = <char>(48 + group // 100 % 10)
                p[2] = <char>(48 + group // 10 % 10)
                p[3] = <char>(48 + group % 10)
                p += 4
            for i in range(pad):
                p[i] = b'0'
            start = 1
            end = 1 + ndec - cut
            if end <= start:
                out[start] = b'0'
                end = start + 1
            while start < end - 1 and out[start] == b'0':
                start += 1
            if sign == NUMERIC_NEG:
                start -= 1
                out[start] = b'-'
            text = out[start:end].decode("ascii")
        finally:
            if out != small:
                PyMem_Free(out)
        if dscale:
            text = f"{text}E-{dscale}"
        return _Decimal(text)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef tuple digits
        cdef int64_t exponent, ndec, top, weight, low, ngroups, i, pos, dscale
        cdef int16_t* groups
        cdef char* p
        if not isinstance(value, _Decimal):
            if PyLong_Check(value) or PyFloat_Check(value):
                value = _Decimal(value)
            elif PyUnicode_Check(value):
                try:
                    value = _Decimal(value)
                except _InvalidOperation:
                    raise ValueError(f"invalid numeric string: {value!r}") from None
            else:
                raise TypeError(f"expected Decimal, int, float or str for numeric, "
                                f"got {_type_name(value)}")
        sign_bit, digits, exp = value.as_tuple()
        if not PyLong_Check(exp):
            p = buf.extend(8)
            pack_int16(p, 0)
            pack_int16(p + 2, 0)
            if exp == "F":
                pack_int16(p + 4, <int16_t>(NUMERIC_NINF if sign_bit else NUMERIC_PINF))
            else:  # "n" (NaN) or "N" (signalling NaN): PostgreSQL has one NaN
                pack_int16(p + 4, <int16_t>NUMERIC_NAN)
            pack_int16(p + 6, 0)
            return 0
        exponent = exp
        dscale = -exponent if exponent < 0 else 0
        if dscale > NUMERIC_DSCALE_MAX:
            raise ValueError(f"numeric value has {dscale} digits after the decimal point; "
                             f"PostgreSQL allows at most {NUMERIC_DSCALE_MAX}")
        ndec = PyTuple_GET_SIZE(digits)
        if ndec == 1 and digits[0] == 0:
            # Zero (of either sign: PostgreSQL has no negative zero) keeps its scale.
            p = buf.extend(8)
            pack_int16(p, 0)
            pack_int16(p + 2, 0)
            pack_int16(p + 4, NUMERIC_POS)
            pack_int16(p + 6, <int16_t>dscale)
            return 0
        top = exponent + ndec - 1          # power of ten of the leading digit
        weight = _floor_div4(top)
        if weight > NUMERIC_WEIGHT_MAX:
            raise ValueError(f"numeric value has {top + 1} digits before the decimal point; "
                             f"PostgreSQL allows at most {4 * (NUMERIC_WEIGHT_MAX + 1)}")
        low = _floor_div4(exponent)
        ngroups = weight - low + 1
        groups = <int16_t*>PyMem_Malloc(<size_t>ngroups * sizeof(int16_t))
        if groups == NULL:
            raise MemoryError()
        try:
            for i in range(ngroups):
                groups[i] = 0
            for i in range(ndec):
                pos = top - i
                groups[weight - _floor_div4(pos)] += <int16_t>(
                    <long>digits[i] * _POW10[pos - 4 * _floor_div4(pos)])
            # The server strips trailing zero groups; so do we, for identical bytes.
            while ngroups > 1 and groups[ngroups - 1] == 0:
                ngroups -= 1
            p = buf.extend(8 + 2 * ngroups)
            pack_int16(p, <int16_t>ngroups)
            pack_int16(p + 2, <int16_t>weight)
            pack_int16(p + 4, <int16_t>(NUMERIC_NEG if sign_bit else NUMERIC_POS))
            pack_int16(p + 6, <int16_t>dscale)
            for i in range(ngroups):
                pack_int16(p + 8 + 2 * i, groups[i])
        finally:
            PyMem_Free(groups)
        return 0

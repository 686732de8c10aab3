# inet, cidr <-> ipaddress objects; macaddr, macaddr8 <-> str (included by codecs.pyx).
#
# inet/cidr binary form: family (2 = IPv4, 3 = IPv6), prefix bits, is_cidr flag,
# address length (4 or 16), then the address bytes.

import ipaddress as _ipaddress

cdef enum:
    PGSQL_AF_INET = 2
    PGSQL_AF_INET6 = 3

cdef object _IPv4Address = _ipaddress.IPv4Address
cdef object _IPv6Address = _ipaddress.IPv6Address
cdef object _IPv4Interface = _ipaddress.IPv4Interface
cdef object _IPv6Interface = _ipaddress.IPv6Interface
cdef object _IPv4Network = _ipaddress.IPv4Network
cdef object _IPv6Network = _ipaddress.IPv6Network
cdef tuple _IP_ADDRESSES = (_IPv4Address, _IPv6Address)
cdef tuple _IP_INTERFACES = (_IPv4Interface, _IPv6Interface)
cdef tuple _IP_NETWORKS = (_IPv4Network, _IPv6Network)


cdef object _decode_net(str typname, const char* data, Py_ssize_t length, bint as_cidr):
    if length < 4:
        raise _malformed(typname, f"needs at least 4 bytes, got {length}")
    cdef int family = <unsigned char>data[0]
    cdef int bits = <unsigned char>data[1]
    cdef int is_cidr = <unsigned char>data[2]
    cdef int addrlen = <unsigned char>data[3]
    cdef int maxbits
    if family == PGSQL_AF_INET:
        maxbits = 32
    elif family == PGSQL_AF_INET6:
        maxbits = 128
    else:
        raise _malformed(typname, f"unknown address family {family}")
    if is_cidr > 1:
        raise _malformed(typname, f"is_cidr flag {is_cidr}")
    if addrlen != maxbits // 8 or length != 4 + addrlen:
        raise _malformed(typname, f"address of {addrlen} bytes in {length} bytes, "
                                  f"expected {maxbits // 8} in {4 + maxbits // 8}")
    if bits > maxbits:
        raise _malformed(typname, f"prefix length {bits} exceeds {maxbits}")
    address = int.from_bytes(data[4:length], "big")
    if as_cidr:
        try:
            if family == PGSQL_AF_INET:
                return _IPv4Network((address, bits))
            return _IPv6Network((address, bits))
        except ValueError:
            raise _malformed(typname, "host bits set in a network address") from None
    if bits == maxbits:
        return _IPv4Address(address) if family == PGSQL_AF_INET else _IPv6Address(address)
    return _IPv4Interface((address, bits)) if family == PGSQL_AF_INET else \
        _IPv6Interface((address, bits))


cdef int _encode_net(WriteBuffer buf, object address, int bits, bint is_cidr) except -1:
    if getattr(address, "scope_id", None):
        raise ValueError(f"PostgreSQL cannot store an IPv6 zone: {str(address)!r}")
    packed = address.packed
    cdef char* p = buf.extend(4 + len(packed))
    p[0] = PGSQL_AF_INET if address.version == 4 else PGSQL_AF_INET6
    p[1] = <char>bits
    p[2] = is_cidr
    p[3] = <char>len(packed)
    memcpy(p + 4, PyBytes_AS_STRING(packed), len(packed))
    return 0


@cython.final
cdef class InetCodec(Codec):
    """inet: an address (full prefix) or an interface (address with a shorter prefix)."""

    cdef object decode(self, const char* data, Py_ssize_t length):
        return _decode_net("inet", data, length, False)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        if isinstance(value, _IP_INTERFACES):   # before addresses: they subclass them
            return _encode_net(buf, value.ip, value.network.prefixlen, False)
        if isinstance(value, _IP_ADDRESSES):
            return _encode_net(buf, value, value.max_prefixlen, False)
        if isinstance(value, _IP_NETWORKS):
            return _encode_net(buf, value.network_address, value.prefixlen, False)
        if not PyUnicode_Check(value):
            raise TypeError(f"expected an ipaddress address, interface or network, or a str, "
                            f"for inet, got {_type_name(value)}")
        try:
            if "/" not in value:
                address = _ipaddress.ip_address(value)
            else:
                address = _ipaddress.ip_interface(value)
        except ValueError:
            raise ValueError(f"invalid inet value {value!r}") from None
        if "/" not in value:
            return _encode_net(buf, address, address.max_prefixlen, False)
        return _encode_net(buf, address.ip, address.network.prefixlen, False)


@cython.final
cdef class CidrCodec(Codec):
    """cidr: a network (no host bits set)."""

    cdef object decode(self, const char* data, Py_ssize_t length):
        return _decode_net("cidr", data, length, True)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        if isinstance(value, _IP_NETWORKS):
            network = value
        elif isinstance(value, _IP_INTERFACES):
            network = value.network
            if value.ip != network.network_address:
                raise ValueError(f"cidr value {str(value)!r} has bits set to the right of "
                                 f"its prefix")
        elif isinstance(value, _IP_ADDRESSES):
            if getattr(value, "scope_id", None):
                raise ValueError(f"PostgreSQL cannot store an IPv6 zone: {str(value)!r}")
            network = _ipaddress.ip_network(value)
        elif PyUnicode_Check(value):
            try:
                network = _ipaddress.ip_network(value)
            except ValueError as exc:
                raise ValueError(f"invalid cidr value {value!r}: {exc}") from None
        else:
            raise TypeError(f"expected an ipaddress network, interface or address, or a str, "
                            f"for cidr, got {_type_name(value)}")
        return _encode_net(buf, network.network_address, network.prefixlen, True)


cdef str _HEX_DIGITS = "0123456789abcdefABCDEF"


cdef bytes _parse_mac(str typname, object value, bint eight):
    """The bytes of a MAC address written in one of PostgreSQL's accepted layouts."""
    if not PyUnicode_Check(value):
        raise TypeError(f"expected str for {typname}, got {_type_name(value)}")
    text = value.strip()
    separators = {c for c in text if c in ":-."}
    if len(separators) > 1:
        raise ValueError(f"invalid {typname} value {value!r}: mixed separators")
    groups = text.split(separators.pop()) if separators else [text]
    digits = "".join(groups)
    lengths = [len(g) for g in groups]
    if not all(c in _HEX_DIGITS for c in digits) or any(n % 2 or n == 0 for n in lengths):
        raise ValueError(f"invalid {typname} value {value!r}")
    if not eight:
        # macaddr_in's layouts: 6x2 (':' or '-'), 2x6 (':' or '-'), 3x4 ('.' or '-'), 1x12.
        if lengths not in ([2] * 6, [6, 6], [4, 4, 4], [12]) or (
                lengths == [4, 4, 4] and ":" in text) or (
                lengths in ([2] * 6, [6, 6]) and "." in text):
            raise ValueError(f"invalid macaddr value {value!r}")
    elif len(digits) not in (12, 16):
        raise ValueError(f"invalid macaddr8 value {value!r}: needs 6 or 8 bytes")
    raw = bytes.fromhex(digits)
    if eight and len(raw) == 6:
        raw = raw[:3] + b"\xff\xfe" + raw[3:]   # EUI-48 to EUI-64, as PostgreSQL
    return raw


@cython.final
cdef class MacaddrCodec(Codec):
    """macaddr (6 bytes) and macaddr8 (8): str as PostgreSQL prints it, 08:00:2b:01:02:03."""
    cdef Py_ssize_t size

    cdef object decode(self, const char* data, Py_ssize_t length):
        _expect_length(self.name, length, self.size)
        return ":".join([f"{<unsigned char>data[i]:02x}" for i in range(length)])

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        raw = _parse_mac(self.name, value, self.size == 8)
        buf.write_raw(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
        return 0

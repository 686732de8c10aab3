# Codecs built at run time from the type catalog and from set_type_codec()
# (included by codecs.pyx): composites, domains, enums, extension types,
# user-supplied encoder/decoder pairs. pgjet.introspection assembles them
# through the builder functions at the end of this file.

from collections.abc import Mapping as _MappingABC

from pgjet._wire.record cimport import_record_api, new_record, record_finish, record_set_item

from pgjet._wire.record import RecordDescriptor as _RecordDescriptor

import_record_api()


class OutdatedTypeError(Exception):
    """A composite value does not have the layout its codec was built from.

    The type changed after it was read from the catalog (ALTER TYPE ... ADD
    ATTRIBUTE, ALTER ... TYPE): the engine drops the cached type information
    instead of decoding with a stale layout.
    """

    def __init__(self, message, type_oid, type_name):
        Exception.__init__(self, message)
        self.type_oid = type_oid
        self.type_name = type_name


class RecordFieldTypeUnknown(OutdatedTypeError):
    """An anonymous record holds a value of a type not read from the catalog yet.

    The binary value names the type only by oid, and only the data shows it:
    the engine's OutdatedTypeError handling reads it (with every other type the
    value holds) before the statement runs again.
    """


@cython.final
cdef class CompositeCodec(Codec):
    """A named composite type: pgjet.Record (or a tuple) <-> its binary form.

    Binary form (record_send): int32 field count, then per field its type oid,
    an int32 length (-1 for NULL) and the field's bytes. Dropped attributes are
    not sent.
    """

    cdef tuple field_oids
    cdef tuple field_names
    cdef list fields            # Codec per field
    cdef dict positions         # field name -> index
    cdef object descriptor
    cdef bint as_tuple          # tuple-format user codecs receive plain tuples

    cdef object _outdated(self, str detail):
        return OutdatedTypeError(
            f"the layout of composite type {self.name} changed since it was read from the "
            f"catalog: {detail}", self.oid, self.name)

    cdef object decode(self, const char* data, Py_ssize_t length):
        cdef Py_ssize_t nfields = len(self.fields)
        cdef int32_t n, i, size
        cdef uint32_t oid
        cdef Py_ssize_t pos = 4
        if length < 4:
            raise _malformed(self.name, f"needs at least 4 bytes, got {length}")
        n = unpack_int32(data)
        if n != nfields:
            raise self._outdated(f"{n} attributes received, {nfields} expected")
        cdef list values = [None] * nfields
        for i in range(n):
            if length - pos < 8:
                raise _malformed(self.name, f"truncated in attribute {i + 1}")
            oid = <uint32_t>unpack_int32(data + pos)
            if oid != <uint32_t>self.field_oids[i]:
                raise self._outdated(f"attribute {i + 1} has type oid {oid}, "
                                     f"{self.field_oids[i]} expected")
            size = unpack_int32(data + pos + 4)
            pos += 8
            if size == -1:
                continue
            if size < 0 or size > length - pos:
                raise _malformed(self.name, f"attribute {i + 1} length {size} with "
                                            f"{length - pos} bytes left")
            values[i] = (<Codec>self.fields[i]).decode(data + pos, size)
            pos += size
        if pos != length:
            raise _malformed(self.name, f"{length - pos} bytes after the last attribute")
        if self.as_tuple:
            return tuple(values)
        record = new_record(None, self.descriptor, nfields)
        for i in range(nfields):
            record_set_item(record, i, values[i])
        record_finish(record)
        return record

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef Py_ssize_t nfields = len(self.fields)
        cdef Py_ssize_t i, start = buf.position(), pos
        cdef list items
        if isinstance(value, _MappingABC):
            # By attribute name, as asyncpg: missing attributes are NULL.
            items = [None] * nfields
            for key in value:
                index = self.positions.get(key)
                if index is None:
                    raise ValueError(f"{key!r} is not an attribute of composite type "
                                     f"{self.name} (it has {', '.join(self.field_names)})")
                items[<Py_ssize_t>index] = value[key]
        elif not _is_container(value):
            raise TypeError(f"expected a tuple, a Record or a mapping for composite type "
                            f"{self.name}, got {_type_name(value)}")
        else:
            items = list(value)
            if len(items) != nfields:
                raise ValueError(f"composite type {self.name} has {nfields} attribute"
                                 f"{'s' * (nfields != 1)}, got {len(items)} value"
                                 f"{'s' * (len(items) != 1)}")
        buf.write_int32(<int32_t>nfields)
        try:
            for i in range(nfields):
                buf.write_int32(<int32_t><uint32_t>self.field_oids[i])
                item = items[i]
                if item is None:
                    buf.write_int32(-1)
                    continue
                pos = buf.position()
                buf.write_int32(0)
                try:
                    (<Codec>self.fields[i]).encode(buf, item)
                except (TypeError, ValueError, OverflowError) as exc:
                    raise _with_context(
                        exc, f"invalid attribute {self.field_names[i]!r} of {self.name}: "
                             f"{exc}") from exc
                buf.patch_int32(pos, <int32_t>(buf.position() - pos - 4))
        except BaseException:
            buf.truncate(start)
            raise
        return 0


@cython.final
cdef class AliasCodec(Codec):
    """Another type's codec under this type's oid: domains, set_builtin_type_codec().

    The oid matters: arrays of a domain name the domain as their element type.
    """

    cdef Codec base

    cdef object decode(self, const char* data, Py_ssize_t length):
        return self.base.decode(data, length)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        return self.base.encode(buf, value)


@cython.final
cdef class HstoreCodec(Codec):
    """hstore (the contrib extension): dict of str -> str or None, as asyncpg.

    Binary form: int32 pair count, then per pair the key (int32 length, bytes)
    and the value (int32 length or -1 for NULL, bytes).
    """

    cdef object decode(self, const char* data, Py_ssize_t length):
        cdef int32_t n, i, size
        cdef Py_ssize_t pos = 4
        if length < 4:
            raise _malformed(self.name, f"needs at least 4 bytes, got {length}")
        n = unpack_int32(data)
        if n < 0 or n > (length - 4) // 8:
            raise _malformed(self.name, f"{n} pairs cannot fit in {length} bytes")
        cdef dict result = {}
        for i in range(n):
            key = self._string(data, length, &pos, False)
            result[key] = self._string(data, length, &pos, True)
        if pos != length:
            raise _malformed(self.name, f"{length - pos} bytes after the last pair")
        return result

    cdef object _string(self, const char* data, Py_ssize_t length, Py_ssize_t* pos,
                        bint nullable):
        cdef int32_t size
        if length - pos[0] < 4:
            raise _malformed(self.name, "truncated before a length")
        size = unpack_int32(data + pos[0])
        pos[0] += 4
        if size == -1 and nullable:
            return None
        if size < 0 or size > length - pos[0]:
            raise _malformed(self.name, f"length {size} with {length - pos[0]} bytes left")
        text = PyUnicode_DecodeUTF8(data + pos[0], size, NULL)
        pos[0] += size
        return text

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef Py_ssize_t start = buf.position(), pos
        if isinstance(value, _MappingABC):
            pairs = list(value.items())
        elif _is_container(value):
            pairs = list(value)
        else:
            raise TypeError(f"expected a dict (str -> str or None) for {self.name}, "
                            f"got {_type_name(value)}")
        buf.write_int32(<int32_t>len(pairs))
        try:
            for pair in pairs:
                key, item = pair
                if key is None:
                    raise ValueError(f"{self.name} keys cannot be None")
                for text in (key, item):
                    if text is None:
                        buf.write_int32(-1)
                        continue
                    pos = buf.position()
                    buf.write_int32(0)
                    _write_text(buf, text, self.name)
                    buf.patch_int32(pos, <int32_t>(buf.position() - pos - 4))
        except BaseException:
            buf.truncate(start)
            raise
        return 0


# -- user codecs (set_type_codec) ---------------------------------------------------------


@cython.final
cdef class UserCodec(Codec):
    """A user's decoder/encoder around an exchange codec for the chosen format.

    ``inner`` turns wire bytes into the exchange datum (str for 'text', bytes
    for 'binary', a tuple for 'tuple') and back.
    """

    cdef Codec inner
    cdef object decoder
    cdef object encoder
    # The decoder is the standard library's json.loads: its compiled scanner,
    # called directly (json.loads itself goes through three Python frames).
    cdef object json_scan

    cdef object decode(self, const char* data, Py_ssize_t length):
        datum = self.inner.decode(data, length)
        if self.json_scan is not None and type(datum) is str:
            try:
                value, end = self.json_scan(datum, 0)
            except StopIteration:
                pass  # leading whitespace or not JSON: json.loads says which
            else:
                if end == len(<str>datum):
                    return value
        return self.decoder(datum)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        datum = self.encoder(value)
        if isinstance(self.inner, (TextCodec, JsonbCodec)) and PyBytes_Check(datum):
            # orjson.dumps returns UTF-8 bytes: take them as the text itself.
            if isinstance(self.inner, JsonbCodec):
                buf.write_byte(1)
            buf.write_raw(PyBytes_AS_STRING(datum), PyBytes_GET_SIZE(datum))
            return 0
        try:
            return self.inner.encode(buf, datum)
        except TypeError as exc:
            raise TypeError(f"the encoder set for {self.name} returned "
                            f"{_type_name(datum)}: {exc}") from exc


cdef enum TupleKind:
    TUPLE_DATE = 1
    TUPLE_TIMESTAMP = 2
    TUPLE_TIME = 3
    TUPLE_TIMETZ = 4
    TUPLE_INTERVAL = 5


@cython.final
cdef class RawTupleCodec(Codec):
    """The 'tuple' exchange format of date/time types: their raw binary fields."""

    cdef int kind

    cdef object decode(self, const char* data, Py_ssize_t length):
        if self.kind == TUPLE_DATE:
            _expect_length(self.name, length, 4)
            return (PyLong_FromLong(unpack_int32(data)),)
        if self.kind == TUPLE_TIMESTAMP or self.kind == TUPLE_TIME:
            _expect_length(self.name, length, 8)
            return (PyLong_FromLongLong(unpack_int64(data)),)
        if self.kind == TUPLE_TIMETZ:
            _expect_length(self.name, length, 12)
            return (PyLong_FromLongLong(unpack_int64(data)),
                    PyLong_FromLong(unpack_int32(data + 8)))
        _expect_length(self.name, length, 16)
        return (PyLong_FromLong(unpack_int32(data + 12)), PyLong_FromLong(unpack_int32(data + 8)),
                PyLong_FromLongLong(unpack_int64(data)))

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        cdef Py_ssize_t want = 3 if self.kind == TUPLE_INTERVAL else (
            2 if self.kind == TUPLE_TIMETZ else 1)
        if not (PyTuple_Check(value) or PyList_Check(value)) or len(value) != want:
            raise ValueError(f"the tuple format of {self.name} takes a tuple of {want} "
                             f"int{'s' * (want != 1)}, got {value!r}")
        if self.kind == TUPLE_DATE:
            buf.write_int32(<int32_t>_as_int64(value[0], INT32_MIN, INT32_MAX, self.name,
                                               "int32"))
        elif self.kind == TUPLE_TIMESTAMP or self.kind == TUPLE_TIME:
            buf.write_int64(_as_int64(value[0], INT64_MIN, INT64_MAX, self.name, "int64"))
        elif self.kind == TUPLE_TIMETZ:
            buf.write_int64(_as_int64(value[0], INT64_MIN, INT64_MAX, self.name, "int64"))
            buf.write_int32(<int32_t>_as_int64(value[1], INT32_MIN, INT32_MAX, self.name,
                                               "int32"))
        else:
            buf.write_int64(_as_int64(value[2], INT64_MIN, INT64_MAX, self.name, "int64"))
            buf.write_int32(<int32_t>_as_int64(value[1], INT32_MIN, INT32_MAX, self.name,
                                               "int32"))
            buf.write_int32(<int32_t>_as_int64(value[0], INT32_MIN, INT32_MAX, self.name,
                                               "int32"))
        return 0


cdef dict _TUPLE_KINDS = {
    DATEOID: TUPLE_DATE, TIMESTAMPOID: TUPLE_TIMESTAMP, TIMESTAMPTZOID: TUPLE_TIMESTAMP,
    TIMEOID: TUPLE_TIME, TIMETZOID: TUPLE_TIMETZ, INTERVALOID: TUPLE_INTERVAL,
}


@cython.final
cdef class UserTextArrayCodec(Codec):
    """An array of a text-format user codec: the text array, with the user's
    decoder/encoder applied to every element (NULLs stay None)."""

    cdef TextArrayCodec text
    cdef UserCodec element

    cdef object decode(self, const char* data, Py_ssize_t length):
        return _map_leaves(self.text.decode(data, length), self.element.decoder)

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        if not _is_container(value):
            raise TypeError(f"expected a list for {self.name}, got {_type_name(value)}")
        return self.text.encode(buf, _map_leaves(value, self.element.encoder))


cdef object _map_leaves(object value, object fn):
    if PyList_Check(value) or PyTuple_Check(value):
        return [_map_leaves(item, fn) for item in value]
    if value is None:
        return None
    return fn(value)


cdef Codec _unwrapped(Codec codec):
    while isinstance(codec, AliasCodec):
        codec = (<AliasCodec>codec).base
    return codec


# -- builders (called by pgjet.introspection) -----------------------------------------------


def builtin_codec(uint32_t oid):
    """The builtin codec for ``oid`` (binary, or text for some builtins), or None."""
    return _CODECS.get(oid)


def make_array_codec(uint32_t oid, str name, Codec element, str delimiter=","):
    """An array of ``element``: binary when the element is, else text split into str."""
    cdef TextArrayCodec text_array
    cdef UserTextArrayCodec mapped
    if element.format != 1:
        text_array = <TextArrayCodec>_make(TextArrayCodec, oid, name, 0)
        text_array.delimiter = delimiter
        if not isinstance(element, UserCodec):
            return text_array
        mapped = <UserTextArrayCodec>_make(UserTextArrayCodec, oid, name, 0)
        mapped.text = text_array
        mapped.element = <UserCodec>element
        return mapped
    cdef ArrayCodec array = <ArrayCodec>_make(ArrayCodec, oid, name, 1)
    cdef Codec base = _unwrapped(element)
    array.element = element
    array.tuple_elements = isinstance(base, _SEQUENCE_VALUED)
    array.list_elements = isinstance(base, _LIST_VALUED)
    return array


def make_range_codec(uint32_t oid, str name, Codec element):
    if element.format != 1:
        return _make(TextFallbackCodec, oid, name, 0)
    cdef RangeCodec rng = <RangeCodec>_make(RangeCodec, oid, name, 1)
    rng.element = element
    return rng


def make_multirange_codec(uint32_t oid, str name, Codec range_codec):
    if not isinstance(range_codec, RangeCodec):
        return _make(TextFallbackCodec, oid, name, 0)
    cdef MultirangeCodec multi = <MultirangeCodec>_make(MultirangeCodec, oid, name, 1)
    multi.range = <RangeCodec>range_codec
    return multi


def make_composite_codec(uint32_t oid, str name, tuple field_names, tuple field_oids,
                         list fields, bint as_tuple=False):
    """None when a field has no binary codec (the composite then travels as text)."""
    for field in fields:
        if (<Codec>field).format != 1:
            return None
    cdef CompositeCodec codec = <CompositeCodec>_make(CompositeCodec, oid, name, 1)
    codec.field_names = field_names
    codec.field_oids = field_oids
    codec.fields = fields
    codec.positions = {n: i for i, n in enumerate(field_names)}
    codec.descriptor = _RecordDescriptor(field_names)
    codec.as_tuple = as_tuple
    return codec


def make_alias_codec(uint32_t oid, str name, Codec base):
    cdef AliasCodec alias = <AliasCodec>_make(AliasCodec, oid, name, base.format)
    alias.base = base
    return alias


def make_text_codec(uint32_t oid, str name):
    """A type whose binary form is its UTF-8 text (enums, citext): str."""
    return _make(TextCodec, oid, name, 1)


def make_fallback_codec(uint32_t oid, str name):
    """A type exchanged in text format: str both ways."""
    return _make(TextFallbackCodec, oid, name, 0)


def make_hstore_codec(uint32_t oid, str name):
    return _make(HstoreCodec, oid, name, 1)


def make_bytes_codec(uint32_t oid, str name):
    """The 'binary' exchange format: the value's raw binary bytes."""
    return _make(ByteaCodec, oid, name, 1)


def make_jsonb_text_codec(uint32_t oid, str name):
    return _make(JsonbCodec, oid, name, 1)


def make_tuple_exchange_codec(uint32_t oid, str name, uint32_t kind_oid):
    """The 'tuple' exchange format of a date/time type (``kind_oid``), or None."""
    kind = _TUPLE_KINDS.get(kind_oid)
    if kind is None:
        return None
    cdef RawTupleCodec codec = <RawTupleCodec>_make(RawTupleCodec, oid, name, 1)
    codec.kind = kind
    return codec


def make_user_codec(uint32_t oid, str name, Codec inner, encoder, decoder):
    cdef UserCodec codec = <UserCodec>_make(UserCodec, oid, name, inner.format)
    codec.inner = inner
    codec.encoder = encoder
    codec.decoder = decoder
    codec.json_scan = _json_scanner() if decoder is _json.loads else None
    return codec


cdef object _json_scanner():
    """json.loads' own scanner when it is the compiled one (same results, no frames)."""
    scan = getattr(_json, "_default_decoder").scan_once
    return scan if type(scan).__module__ == "_json" else None


def make_record_codec(uint32_t oid, str name, lookup):
    """Anonymous records whose field codecs come from ``lookup(oid) -> Codec``."""
    cdef RecordCodec codec = <RecordCodec>_make(RecordCodec, oid, name, 1)
    codec.lookup = lookup
    return codec


def make_datetime_codec(uint32_t oid, str infinity, object neg_inf, object pos_inf,
                        bint clamp):
    """date/timestamp/timestamptz with another infinity mapping (see EdgeAwareCodec).

    ``infinity``: 'asyncpg', 'raise' or 'sentinels' (then ``neg_inf``/``pos_inf``).
    """
    cdef dict classes = {DATEOID: DateCodec, TIMESTAMPOID: TimestampCodec,
                         TIMESTAMPTZOID: TimestamptzCodec}
    cdef dict modes = {"asyncpg": INF_ASYNCPG, "raise": INF_RAISE, "sentinels": INF_SENTINELS}
    if oid not in classes:
        raise ValueError(f"type oid {oid} is not date, timestamp or timestamptz")
    if infinity not in modes:
        raise ValueError(f"infinity must be 'asyncpg', 'raise' or 'sentinels', got {infinity!r}")
    cdef EdgeAwareCodec codec = <EdgeAwareCodec>_make(classes[oid], oid, _NAMES[oid], 1)
    codec.inf_mode = modes[infinity]
    codec.neg_inf = neg_inf
    codec.pos_inf = pos_inf
    codec.clamp = clamp
    return codec

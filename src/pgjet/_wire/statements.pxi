# Prepared statements in the binary format: describe once, then bind and
# execute with a codec table built per statement (never per row).

from cpython.list cimport PyList_Append, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.object cimport Py_TYPE, PyTypeObject
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM
import uuid
from collections.abc import Sequence

# pgjet.Record itself, as a C global (a module-global lookup per row costs).
cdef object _PLAIN_RECORD = Record
# uuid.UUID is a GC type, but a decoded one holds an int and an enum member
# and is immutable: like a tuple of atomic values, it cannot lead back to the
# row, so rows holding one need no tracking either.
cdef PyTypeObject* _UUID_TYPE = <PyTypeObject*>uuid.UUID

cdef extern from "Python.h":
    # Whether the cyclic GC manages objects of this type (a flag test).
    bint _type_is_gc "PyType_IS_GC"(PyTypeObject* tp)


class ArgumentError(Exception):
    """A query argument could not be encoded; the connection layer names the position."""

    def __init__(self, position, error):
        Exception.__init__(self, position, error)
        self.position = position
        self.error = error


class BatchRowError(Exception):
    """Row `element` of an executemany() batch could not be bound (nothing of it was written).

    `position` is the 1-based argument that failed to encode, or None when
    the row itself is wrong (not a sequence, wrong length): then `error` is
    the message.
    """

    def __init__(self, element, position, error):
        Exception.__init__(self, element, position, error)
        self.element = element
        self.position = position
        self.error = error


# Bind + Execute of the unnamed portal, without a row limit.
cdef bytes _EXECUTE_UNNAMED_PORTAL = b"E\x00\x00\x00\x09\x00\x00\x00\x00\x00"


# How RowShape builds a row from a statement's decoded values.
cdef enum RowKind:
    ROW_DICT = 1          # {column name: value}
    ROW_TUPLE = 2         # a plain tuple
    ROW_NAMEDTUPLE = 3    # a namedtuple class made per statement
    ROW_KEYWORDS = 4      # target(**{column name: value})
    ROW_POSITIONAL = 5    # target(*values)


cdef object _tuple_new = tuple.__new__


cdef class RowShape:
    """A row factory other than a Record class (see pgjet.rows): built in C where it can be."""

    cdef readonly int kind
    cdef readonly object target
    cdef readonly str name

    def __init__(self, int kind, object target=None, str name=""):
        if not ROW_DICT <= kind <= ROW_POSITIONAL:
            raise ValueError(f"unknown row kind {kind}")
        self.kind = kind
        self.target = target
        self.name = name

    def __repr__(self):
        return f"<pgjet.rows.{self.name}>"


cdef class StatementState:
    """What the server told us about one statement, and the codecs it implies."""

    cdef public bytes name          # b"" for the unnamed statement
    cdef public str query
    cdef public tuple param_oids
    cdef public list param_codecs
    cdef public tuple columns       # ((name, type oid), ...) or () for no result
    cdef public list column_codecs
    cdef public object descriptor   # the shared Record name table
    cdef public object record_class
    cdef public RowShape row_shape      # None: rows are Records of record_class
    cdef public object row_type         # ROW_NAMEDTUPLE: the class, made on first use
    cdef public bint closed

    def __init__(self, bytes name, str query):
        self.name = name
        self.query = query
        self.param_oids = ()
        self.param_codecs = []
        self.columns = ()
        self.column_codecs = []
        self.descriptor = None
        self.record_class = None
        self.row_shape = None
        self.row_type = None
        self.closed = False

    def unnamed_copy(self):
        """The same description for the unnamed statement (parsed again with each Bind)."""
        cdef StatementState copy = StatementState(b"", self.query)
        copy.param_oids = self.param_oids
        copy.param_codecs = self.param_codecs
        copy.columns = self.columns
        copy.column_codecs = self.column_codecs
        copy.descriptor = self.descriptor
        copy.record_class = self.record_class
        copy.row_shape = self.row_shape
        copy.row_type = self.row_type
        return copy

    cdef int _set_parameters(self, MessageView msg) except -1:
        cdef int16_t n = msg.int16()
        cdef int16_t i
        if n < 0:
            raise ProtocolViolation("ParameterDescription with a negative count")
        oids = []
        for i in range(n):
            oids.append(<uint32_t>msg.int32())
        msg.expect_end()
        self.param_oids = tuple(oids)
        self.param_codecs = [codec_for(oid) for oid in oids]
        return 0

    cdef int _set_columns(self, MessageView msg) except -1:
        cdef int16_t n = msg.int16()
        cdef int16_t i
        cdef uint32_t typoid
        if n < 0:
            raise ProtocolViolation("RowDescription with a negative column count")
        cols = []
        for i in range(n):
            name = msg.cstr()
            msg.int32()      # table oid
            msg.int16()      # column number
            typoid = <uint32_t>msg.int32()
            msg.int16()      # type size
            msg.int32()      # type modifier
            msg.int16()      # format (always 0 when describing a statement)
            cols.append((name, typoid))
        msg.expect_end()
        self.columns = tuple(cols)
        self.column_codecs = [codec_for(oid) for _, oid in cols]
        self.descriptor = RecordDescriptor(tuple(name for name, _ in cols))
        return 0

    cpdef int write_bind(self, WriteBuffer out, bytes portal, object args) except -1:
        """Bind with every argument encoded by its parameter's codec.

        A failing argument leaves no partial message behind and raises
        ArgumentError carrying its 1-based position.
        """
        cdef Py_ssize_t n = len(args)
        cdef Py_ssize_t i, pos
        cdef Codec codec
        cdef list codecs = self.param_codecs
        if n != PyList_GET_SIZE(codecs):
            raise ValueError(f"{n} arguments for {PyList_GET_SIZE(codecs)} parameters")
        out.start_message(b'B')
        try:
            out.write_cstr(portal)
            out.write_cstr(self.name)
            out.write_int16(<int16_t>n)
            for i in range(n):
                out.write_int16((<Codec>PyList_GET_ITEM(codecs, i)).format)
            out.write_int16(<int16_t>n)
            for i in range(n):
                value = args[i]
                if value is None:
                    out.write_int32(-1)
                    continue
                codec = <Codec>PyList_GET_ITEM(codecs, i)
                pos = out.position()
                out.write_int32(0)
                try:
                    codec.encode(out, value)
                except Exception as exc:
                    raise ArgumentError(i + 1, exc) from exc
                out.patch_int32(pos, <int32_t>(out.position() - pos - 4))
            self._write_result_formats(out)
            out.end_message()
        except BaseException:
            out.abort_message()
            raise
        return 0

    def write_batch(self, WriteBuffer out, object rows, Py_ssize_t first_element,
                    Py_ssize_t max_bytes):
        """Bind + Execute for rows taken from the iterator `rows` until `out` holds `max_bytes`.

        Returns (rows written, whether `rows` is exhausted). A row that cannot
        be bound raises BatchRowError with its index (counted from
        `first_element`); the rows before it stay written.
        """
        cdef Py_ssize_t element = first_element
        cdef Py_ssize_t expected = PyList_GET_SIZE(self.param_codecs)
        cdef Py_ssize_t mark, written = 0
        for row in rows:
            # Tuples and lists first: isinstance() on an ABC runs Python code.
            if (type(row) is not tuple and type(row) is not list) and (
                    isinstance(row, (str, bytes)) or not isinstance(row, Sequence)):
                raise BatchRowError(
                    element, None,
                    f"invalid input in executemany() argument sequence element #{element}: "
                    f"expected a sequence, got {type(row).__name__}")
            if len(row) != expected:
                raise BatchRowError(
                    element, None,
                    f"the server expects {expected} argument{'s' * (expected != 1)} for this "
                    f"query, {len(row)} {'was' if len(row) == 1 else 'were'} passed in "
                    f"element #{element} of executemany() sequence")
            mark = out.position()
            try:
                self.write_bind(out, b"", row)
            except ArgumentError as exc:
                out.truncate(mark)
                raise BatchRowError(element, exc.position, exc.error) from exc.error
            out.write_bytes(_EXECUTE_UNNAMED_PORTAL)
            element += 1
            written += 1
            if out.position() >= max_bytes:
                return written, False
        return written, True

    cdef int _write_result_formats(self, WriteBuffer out) except -1:
        cdef list codecs = self.column_codecs
        cdef Py_ssize_t n = PyList_GET_SIZE(codecs)
        cdef Py_ssize_t i
        out.write_int16(<int16_t>n)
        for i in range(n):
            out.write_int16((<Codec>PyList_GET_ITEM(codecs, i)).format)
        return 0


cdef bytes _SYNC = b"S\x00\x00\x00\x04"


cdef tuple _decode_tuple(MessageView msg, list codecs, Py_ssize_t ncols):
    """A DataRow's values (after its column count) as a tuple; codec errors propagate."""
    cdef Py_ssize_t i
    cdef int32_t size
    cdef object value
    cdef tuple values = PyTuple_New(ncols)
    for i in range(ncols):
        size = msg.int32()
        if size == -1:
            value = None
        else:
            msg._need(size)
            value = (<Codec>PyList_GET_ITEM(codecs, i)).decode(msg.data + msg.pos, size)
            msg.pos += size
        Py_INCREF(value)
        PyTuple_SET_ITEM(values, i, value)
    msg.expect_end()
    return values


def queue_named_execute(WireProtocol proto, StatementState state, object args,
                        int32_t limit, bint discard_rows):
    """The hot path of a cached named statement: Bind, Execute, Sync and its ExecuteOp.

    Writes into proto.out and queues the operation; the caller sends the
    bytes. A bad argument raises (ArgumentError, ValueError) with nothing
    written and nothing queued.
    """
    cdef WriteBuffer out = proto.out
    state.write_bind(out, b"", args)
    if limit == 0:
        out.write_bytes(_EXECUTE_UNNAMED_PORTAL)
    else:
        out.start_message(b'E')
        out.write_byte(0)
        out.write_int32(limit)
        out.end_message()
    out.write_bytes(_SYNC)
    cdef ExecuteOp op = ExecuteOp(state, discard_rows)
    op.sent_name = state.name
    proto._pending.append(op)
    return op


cdef class SyncOp(Operation):
    """Answers to messages that need no result (Close …) up to their Sync."""

    cdef int on_message(self, WireProtocol proto, MessageView msg) except -1:
        cdef char t = msg.mtype
        if t == b'3' or t == b'1' or t == b'2':
            return 0
        if t == b'E':
            if self.error_fields is None:
                self.error_fields = msg.fields()
            return 0
        if t == b'Z':
            proto.transaction_status = chr(<unsigned char>msg.byte())
            return 1
        return self._unexpected(msg)


cdef class PrepareOp(Operation):
    """Parse + Describe(statement) + Sync: fills a StatementState."""

    cdef public StatementState state

    def __init__(self, StatementState state):
        Operation.__init__(self)
        self.state = state

    cdef int on_message(self, WireProtocol proto, MessageView msg) except -1:
        cdef char t = msg.mtype
        if t == b'1':
            return 0
        if t == b't':
            self.state._set_parameters(msg)
            return 0
        if t == b'T':
            self.state._set_columns(msg)
            return 0
        if t == b'n':
            return 0
        if t == b'E':
            if self.error_fields is None:
                self.error_fields = msg.fields()
            return 0
        if t == b'Z':
            proto.transaction_status = chr(<unsigned char>msg.byte())
            return 1
        return self._unexpected(msg)


cdef class ExecuteOp(Operation):
    """Bind + Execute (+ Sync), possibly many of them (executemany) under one Sync.

    Rows are decoded straight from the receive buffer with the statement's
    codec table into Records sharing one descriptor.
    """

    cdef public StatementState state
    cdef public list rows
    cdef public bint suspended      # PortalSuspended: a cursor has more rows
    cdef public bint discard_rows
    cdef public Py_ssize_t completed_commands
    # The first value that failed to decode. The stream stays in step (the
    # message was framed correctly), so the operation runs to its
    # ReadyForQuery keeping no rows, and the caller raises this instead.
    cdef public object decode_error
    # A portal's RowDescription (sent for statements parsed again in the same
    # write) did not match the statement's columns: the server's rows are not
    # in the shape our codecs expect, so none of them is decoded.
    cdef public bint schema_changed
    # No Sync of its own (a pipeline's statements share one): the operation
    # ends with its command's completion or error, and a ReadyForQuery
    # reaching it means an earlier statement's error made the server skip it.
    cdef public bint shares_sync
    cdef public bint aborted
    # After an OutdatedTypeError (a composite's layout changed, a record field
    # of a type not read yet): the undecoded DataRows from there on, kept so
    # the rows can be decoded again once the catalog was read afresh.
    cdef public list raw_rows
    # fetch_columns()/fetch_numpy(): one ColumnSink per column instead of
    # rows (None: rows), and the rows they hold in full.
    cdef public list column_sinks
    cdef Py_ssize_t sink_rows
    # The statement name its Bind used (queue_named_execute): the state may
    # be unnamed by the time the answer is looked at.
    cdef public bytes sent_name

    def __init__(self, StatementState state, bint discard_rows=False, bint shares_sync=False):
        Operation.__init__(self)
        self.state = state
        self.rows = []
        self.suspended = False
        self.discard_rows = discard_rows
        self.completed_commands = 0
        self.decode_error = None
        self.schema_changed = False
        self.shares_sync = shares_sync
        self.aborted = False
        self.raw_rows = None
        self.column_sinks = None
        self.sink_rows = 0

    @property
    def clean(self):
        """Answered without an error and with every row decoded: nothing left to handle."""
        return self.error_fields is None and not self.schema_changed and self.decode_error is None

    cdef int on_message(self, WireProtocol proto, MessageView msg) except -1:
        cdef char t = msg.mtype
        if t == b'D':
            if self.raw_rows is not None:
                self.raw_rows.append(PyBytes_FromStringAndSize(msg.data, msg.length))
            elif self.discard_rows:
                pass
            elif self.column_sinks is not None:
                self._decode_columns(msg, proto._reader)
            else:
                self._decode_rows(proto._reader, msg)
            return 0
        if t == b'C':
            self.status = msg.cstr()
            self.completed_commands += 1
            return self.shares_sync
        if t == b'T':
            self._check_description(msg)
            return 0
        if t == b'n':
            if self.state.columns:
                self._schema_changed()
            return 0
        if t == b'2' or t == b'1' or t == b'3' or t == b't':
            # ParseComplete appears when the statement is parsed in the same
            # exchange (unnamed statements).
            return 0
        if t == b'I':
            return self.shares_sync   # EmptyQueryResponse ends the command
        if t == b's':
            self.suspended = True
            return self.shares_sync
        if t == b'G':
            return refuse_copy_in(proto, self, True)
        if t == b'H' or t == b'd' or t == b'c':
            return 0   # COPY TO STDOUT through fetch(): no rows, the data is dropped
        if t == b'E':
            if self.error_fields is None:
                self.error_fields = msg.fields()
            return self.shares_sync
        if t == b'Z':
            if self.shares_sync:
                self.aborted = True
                return 2   # the Sync's answer: leave it to the operation that owns it
            proto.transaction_status = chr(<unsigned char>msg.byte())
            return 1
        return self._unexpected(msg)

    cdef int _check_description(self, MessageView msg) except -1:
        """Compare a portal's RowDescription with the statement's columns."""
        cdef int16_t n = msg.int16()
        cdef int16_t i
        cdef uint32_t typoid
        cdef tuple expected = self.state.columns
        cdef bint same
        if n < 0:
            raise ProtocolViolation("RowDescription with a negative column count")
        same = n == len(expected)
        for i in range(n):
            msg.cstr()       # name
            msg.int32()      # table oid
            msg.int16()      # column number
            typoid = <uint32_t>msg.int32()
            msg.int16()      # type size
            msg.int32()      # type modifier
            msg.int16()      # format
            if same and typoid != <uint32_t>(<tuple>expected[i])[1]:
                same = False
        msg.expect_end()
        if not same:
            self._schema_changed()
        return 0

    cdef void _schema_changed(self) noexcept:
        self.schema_changed = True
        self.discard_rows = True
        self.rows = []

    cdef int _decode_rows(self, ReadBuffer reader, MessageView msg) except -1:
        """This DataRow and the whole DataRows right behind it in the buffer, in one loop.

        A big result costs one dispatch and one try block per read instead
        of per row; a row that fails leaves the rest to the normal path.
        """
        cdef list rows = self.rows
        try:
            while True:
                row = self._decode_values(msg)
                if row is None:   # a row class refused it: the call fails, no rows kept
                    return 0
                PyList_Append(rows, row)
                if not reader.next_data_row(msg):
                    return 0
        except ProtocolViolation:
            raise
        except Exception as exc:
            self._row_failed(exc, msg)
        return 0

    cdef object _decode_row(self, MessageView msg):
        """A row from a DataRow, or None when a value cannot be decoded (see _row_failed)."""
        try:
            return self._decode_values(msg)
        except ProtocolViolation:
            raise
        except Exception as exc:
            # A value the codec refuses (malformed, or not representable in
            # Python) fails this query, not the connection. One try per row,
            # not per value: entering a try block has a cost.
            self._row_failed(exc, msg)
            return None

    cdef object _decode_values(self, MessageView msg):
        cdef StatementState st = self.state
        cdef list codecs = st.column_codecs
        cdef Py_ssize_t ncols = PyList_GET_SIZE(codecs)
        cdef int16_t n = msg.int16()
        cdef Py_ssize_t i
        cdef int32_t size
        cdef object value
        if n != ncols:
            raise ProtocolViolation(
                f"DataRow has {n} columns, the statement describes {ncols}")
        if st.row_shape is not None:
            return self._decode_shaped_row(msg, st, ncols)
        record = new_record(st.record_class, st.descriptor, ncols)
        # A plain Record is born untracked by the cyclic GC and must stay so
        # when no value is a GC object (ints, strs, floats, None...): then
        # record_finish, which checks every value again, is not needed.
        cdef bint untracked = st.record_class is None or st.record_class is _PLAIN_RECORD
        for i in range(ncols):
            size = msg.int32()
            if size == -1:
                value = None
            else:
                msg._need(size)
                value = (<Codec>PyList_GET_ITEM(codecs, i)).decode(msg.data + msg.pos, size)
                msg.pos += size
                if untracked and _type_is_gc(Py_TYPE(value)) and Py_TYPE(value) is not _UUID_TYPE:
                    untracked = False
            record_set_item(record, i, value)
        msg.expect_end()
        if not untracked:
            record_finish(record)
        return record

    cdef object _decode_shaped_row(self, MessageView msg, StatementState st, Py_ssize_t ncols):
        """A row built by the statement's RowShape from its decoded values."""
        cdef Py_ssize_t i
        cdef tuple values = _decode_tuple(msg, st.column_codecs, ncols)
        cdef RowShape shape = st.row_shape
        cdef int kind = shape.kind
        cdef dict row
        cdef tuple columns = st.columns
        if kind == ROW_TUPLE:
            return values
        if kind == ROW_DICT:
            row = {}
            for i in range(ncols):
                row[<object>PyTuple_GET_ITEM(<tuple>PyTuple_GET_ITEM(columns, i), 0)] = (
                    <object>PyTuple_GET_ITEM(values, i))
            return row
        try:
            if kind == ROW_POSITIONAL:
                return shape.target(*values)
            if kind == ROW_NAMEDTUPLE:
                if st.row_type is None:
                    st.row_type = shape.target(tuple(name for name, _ in columns))
                return _tuple_new(st.row_type, values)
            row = {}
            for i in range(ncols):
                row[<object>PyTuple_GET_ITEM(<tuple>PyTuple_GET_ITEM(columns, i), 0)] = (
                    <object>PyTuple_GET_ITEM(values, i))
            return shape.target(**row)
        except Exception as exc:
            # The user's class refused the row: this query fails, not the connection.
            self._fail_rows(exc)
            return None

    cdef int _decode_columns(self, MessageView msg, ReadBuffer reader=None) except -1:
        """Add a DataRow's values to the column sinks: no row object at all.

        With a reader, the whole DataRows right behind it in the buffer too,
        in the same loop (see _decode_rows).
        """
        cdef list codecs = self.state.column_codecs
        cdef list sinks = self.column_sinks
        cdef Py_ssize_t ncols = PyList_GET_SIZE(codecs)
        cdef int16_t n
        cdef Py_ssize_t i
        cdef Py_ssize_t rows = self.sink_rows
        cdef int32_t size
        cdef ColumnSink sink
        if PyList_GET_SIZE(sinks) != ncols:
            raise ProtocolViolation(f"{PyList_GET_SIZE(sinks)} column sinks for {ncols} columns")
        try:
            while True:
                n = msg.int16()
                if n != ncols:
                    raise ProtocolViolation(
                        f"DataRow has {n} columns, the statement describes {ncols}")
                if self.raw_rows is not None or self.decode_error is not None:
                    return 0
                for i in range(ncols):
                    size = msg.int32()
                    sink = <ColumnSink>PyList_GET_ITEM(sinks, i)
                    if size == -1:
                        sink.add_null()
                    else:
                        msg._need(size)
                        sink.add(<Codec>PyList_GET_ITEM(codecs, i), msg.data + msg.pos, size)
                        msg.pos += size
                msg.expect_end()
                rows += 1
                if reader is None or not reader.next_data_row(msg):
                    break
        except ProtocolViolation:
            raise
        except Exception as exc:
            # A row is kept whole or not at all.
            for sink in sinks:
                sink.truncate(rows)
            self.sink_rows = rows
            self._row_failed(exc, msg)
            if self.raw_rows is None:
                self.column_sinks = None
            return 0
        self.sink_rows = rows
        return 0

    cdef int _row_failed(self, object exc, MessageView msg) except -1:
        if isinstance(exc, OutdatedTypeError) and self.raw_rows is None:
            # Decodable once the types are read again: keep this row and the
            # next ones as they came (the ones before were decoded right).
            self.decode_error = exc
            self.raw_rows = [PyBytes_FromStringAndSize(msg.data, msg.length)]
        else:
            self._fail_rows(exc)
        return 0

    cdef int _fail_rows(self, object exc) except -1:
        self.decode_error = exc
        self.discard_rows = True
        self.rows = []
        self.raw_rows = None
        return 0

    def decode_again(self):
        """Decode the rows kept after an OutdatedTypeError with the statement's codecs now.

        Returns True when they all decoded; else the new error is `decode_error`.
        """
        cdef list raw = self.raw_rows
        cdef MessageView view = MessageView()
        cdef bytes payload
        if raw is None:
            return self.decode_error is None
        self.raw_rows = None
        self.decode_error = None
        for payload in raw:
            view.reset(b'D', payload, len(payload))
            if self.column_sinks is not None:
                self._decode_columns(view)
                if self.decode_error is None:
                    continue
            else:
                row = self._decode_row(view)
                if row is not None:
                    self.rows.append(row)
                    continue
            self._fail_rows(self.decode_error)   # no second chance
            self.column_sinks = None
            return False
        return True

# COPY, both ways: the operations that follow a COPY through the protocol,
# and the binary row encoder/decoder (per row, a few C calls per value).
#
# COPY runs through the simple Query protocol. For COPY FROM STDIN the caller
# holds the wire from the Query to its CopyDone/CopyFail (the server reads
# nothing but copy messages meanwhile); COPY TO STDOUT needs no hold: data is
# handed over in chunks and the I/O layer pauses reading when its consumer
# falls behind, so neither direction buffers a whole COPY.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.list cimport PyList_Check
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_Check

cdef extern from "Python.h":
    PyObject* PyIter_Next(object o) except? NULL
    void Py_DECREF_obj "Py_DECREF"(PyObject* o)
    tuple PyTuple_New_ "PyTuple_New"(Py_ssize_t n)
    void PyTuple_SET_ITEM_ "PyTuple_SET_ITEM"(object t, Py_ssize_t i, object v)

# PGCOPY\n\377\r\n\0: the binary COPY signature.
cdef bytes _COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


class CopyRowError(Exception):
    """A row could not be encoded; carries its 1-based row and column numbers.

    ``column`` is None when the row as a whole is wrong (its length, its type).
    The Python layer turns it into pgjet.copy.CopyRowError.
    """

    def __init__(self, row, column, error):
        Exception.__init__(self, row, column, error)
        self.row = row
        self.column = column
        self.error = error


cdef class CopyInOp(Operation):
    """COPY ... FROM STDIN: CopyInResponse, then (after our data) its result.

    `on_start` (a callable, opaque to the core) is called at CopyInResponse so
    the writer knows the server is ready and in which format.
    """

    cdef public object on_start
    cdef public int copy_format      # 0 text, 1 binary; -1 until CopyInResponse
    cdef public int column_count
    cdef public bint started

    def __init__(self, on_start=None):
        Operation.__init__(self)
        self.on_start = on_start
        self.copy_format = -1
        self.column_count = 0
        self.started = False

    cdef int on_message(self, WireProtocol proto, MessageView msg) except -1:
        cdef char t = msg.mtype
        cdef int16_t n, i
        if t == b'G':
            self.copy_format = msg.byte()
            n = msg.int16()
            if n < 0:
                raise ProtocolViolation("CopyInResponse with a negative column count")
            for i in range(n):
                msg.int16()
            msg.expect_end()
            self.column_count = n
            self.started = True
            if self.on_start is not None:
                self.on_start(self)
            return 0
        if t == b'C':
            self.status = msg.cstr()
            return 0
        if t == b'E':
            if self.error_fields is None:
                self.error_fields = msg.fields()
            return 0
        if t == b'Z':
            proto.transaction_status = chr(<unsigned char>msg.byte())
            return 1
        if t == b'I':
            return 0
        if t == b'H' or t == b'd' or t == b'c' or t == b'T' or t == b'D':
            # Not a COPY FROM STDIN: let it run out and report that.
            if self.error_fields is None:
                self.error_fields = {
                    "S": "ERROR", "C": "42601",
                    "M": "this statement is not a COPY ... FROM STDIN",
                }
            return 0
        return self._unexpected(msg)


cdef class CopyOutOp(Operation):
    """COPY ... TO STDOUT: its data arrives as chunks taken by a consumer.

    `on_data` is called when the first chunk lands in an empty list (wake
    the consumer), when the held bytes reach `high_water` (pause reading),
    and at CopyOutResponse. `discard` drops data once nobody consumes it.
    """

    cdef public object on_data
    cdef public list chunks
    cdef public Py_ssize_t buffered
    cdef public Py_ssize_t high_water
    cdef public bint discard
    cdef public int copy_format
    cdef public int column_count
    cdef public bint started

    def __init__(self, on_data=None, Py_ssize_t high_water=256 * 1024):
        Operation.__init__(self)
        self.on_data = on_data
        self.chunks = []
        self.buffered = 0
        self.high_water = high_water
        self.discard = False
        self.copy_format = -1
        self.column_count = 0
        self.started = False

    def take(self):
        """Everything received so far, as a list of bytes; empties the list."""
        cdef list out = self.chunks
        self.chunks = []
        self.buffered = 0
        return out

    cdef int on_message(self, WireProtocol proto, MessageView msg) except -1:
        cdef char t = msg.mtype
        cdef int16_t n, i
        cdef bint was_empty
        if t == b'd':
            if self.discard:
                return 0
            was_empty = not self.chunks
            self.chunks.append(msg.rest())
            self.buffered += msg.length
            if self.on_data is not None and (
                    was_empty or self.buffered >= self.high_water):
                self.on_data(self)
            return 0
        if t == b'H':
            self.copy_format = msg.byte()
            n = msg.int16()
            if n < 0:
                raise ProtocolViolation("CopyOutResponse with a negative column count")
            for i in range(n):
                msg.int16()
            msg.expect_end()
            self.column_count = n
            self.started = True
            if self.on_data is not None:
                self.on_data(self)
            return 0
        if t == b'c':
            return 0
        if t == b'C':
            self.status = msg.cstr()
            return 0
        if t == b'E':
            if self.error_fields is None:
                self.error_fields = msg.fields()
            return 0
        if t == b'Z':
            proto.transaction_status = chr(<unsigned char>msg.byte())
            return 1
        if t == b'I':
            return 0
        if t == b'G' or t == b'T' or t == b'D':
            if self.error_fields is None:
                self.error_fields = {
                    "S": "ERROR", "C": "42601",
                    "M": "this statement is not a COPY ... TO STDOUT",
                }
            if t == b'G':
                # A COPY FROM STDIN waits for data forever: end it. Nothing
                # completes here, so `on_data` is what gets the output flushed.
                proto.out.copy_fail("this call only runs COPY ... TO STDOUT")
                proto.wants_flush = True
                if self.on_data is not None:
                    self.on_data(self)
            return 0
        return self._unexpected(msg)


cdef class CopyEncoder:
    """Binary COPY rows, encoded with one codec per column into CopyData messages.

    Rows accumulate in one open CopyData message; `take()` closes it and
    returns the bytes to send. The caller sends when `add_row`/`add_rows`
    says the batch reached `batch_bytes`, so memory stays bounded.
    """

    cdef WriteBuffer _buf
    cdef list _codecs
    cdef Py_ssize_t _ncols
    cdef bint _open
    cdef public Py_ssize_t row_count
    cdef public Py_ssize_t batch_bytes

    def __init__(self, list codecs, Py_ssize_t batch_bytes=256 * 1024):
        for codec in codecs:
            if not isinstance(codec, Codec):
                raise TypeError("CopyEncoder needs Codec objects")
        self._buf = WriteBuffer()
        self._codecs = list(codecs)
        self._ncols = len(codecs)
        self._open = False
        self.row_count = 0
        self.batch_bytes = batch_bytes

    cdef inline int _begin(self) except -1:
        if not self._open:
            self._buf.start_message(b'd')
            self._open = True
        return 0

    def write_header(self):
        """The binary COPY header: signature, flags, no extension area."""
        self._begin()
        self._buf.write_bytes(_COPY_SIGNATURE)
        self._buf.write_int32(0)
        self._buf.write_int32(0)

    def write_trailer(self):
        self._begin()
        self._buf.write_int16(-1)

    def write_raw(self, data):
        """Raw COPY data (any format) as CopyData messages of at most 1 MiB each."""
        cdef const unsigned char[:] view = data
        cdef Py_ssize_t n = view.shape[0]
        cdef Py_ssize_t off = 0
        cdef Py_ssize_t chunk
        self._end()
        while off < n:
            chunk = n - off if n - off < (1 << 20) else (1 << 20)
            self._buf.start_message(b'd')
            self._buf.write_raw(<const char*>&view[off], chunk)
            self._buf.end_message()
            off += chunk

    cdef int _end(self) except -1:
        if self._open:
            self._buf.end_message()
            self._open = False
        return 0

    def __len__(self):
        return self._buf.position()

    def take(self):
        """Close the open CopyData message and return everything built."""
        self._end()
        return self._buf.take()

    cpdef bint add_row(self, object row) except -1:
        """Encode one row; True when the batch is full and should be sent."""
        cdef Py_ssize_t start, pos, i, n
        cdef object seq, value
        cdef Codec codec
        cdef WriteBuffer buf = self._buf
        self.row_count += 1
        if PyTuple_Check(row) or PyList_Check(row):
            seq = row
        elif isinstance(row, (str, bytes, bytearray)) or not hasattr(row, "__len__"):
            raise CopyRowError(self.row_count, None, TypeError(
                f"a row must be a sequence of values, not {type(row).__name__}"))
        else:
            seq = tuple(row)
        n = len(seq)
        if n != self._ncols:
            raise CopyRowError(self.row_count, None, ValueError(
                f"the row has {n} value{'s' * (n != 1)}, the COPY expects {self._ncols}"))
        self._begin()
        start = buf.position()
        buf.write_int16(<int16_t>n)
        for i in range(n):
            value = seq[i]
            if value is None:
                buf.write_int32(-1)
                continue
            codec = <Codec>PyList_GET_ITEM(self._codecs, i)
            pos = buf.position()
            buf.write_int32(0)
            try:
                codec.encode(buf, value)
            except Exception as exc:
                buf.truncate(start)
                raise CopyRowError(self.row_count, i + 1, exc) from exc
            buf.patch_int32(pos, <int32_t>(buf.position() - pos - 4))
        return buf.position() >= self.batch_bytes

    def add_rows(self, object iterator):
        """Encode rows from `iterator` until the batch is full; True when it is exhausted.

        Exceptions of the iterator itself propagate unchanged.
        """
        cdef PyObject* item
        cdef object row
        while True:
            item = PyIter_Next(iterator)
            if item == NULL:
                return True
            row = <object>item
            # PyIter_Next returned a new reference; <object> took another.
            Py_DECREF_obj(item)
            if self.add_row(row):
                return False


cdef class CopyDecoder:
    """Rows of a binary COPY stream, decoded with one codec per column.

    `feed` accepts the stream in chunks of any size (a tuple may span CopyData
    messages) and returns the complete rows it holds, as tuples.
    """

    cdef list _codecs
    cdef Py_ssize_t _ncols
    cdef bytes _pending
    cdef bint _header_seen
    cdef public bint finished

    def __init__(self, list codecs):
        self._codecs = list(codecs)
        self._ncols = len(codecs)
        self._pending = b""
        self._header_seen = False
        self.finished = False

    def feed(self, bytes chunk):
        cdef bytes data
        cdef const char* p
        cdef Py_ssize_t n, pos, start, i, ext
        cdef int16_t nfields
        cdef int32_t size
        cdef list rows = []
        cdef tuple row
        cdef object value
        if self._pending:
            data = self._pending + chunk
        else:
            data = chunk
        p = PyBytes_AS_STRING(data)
        n = PyBytes_GET_SIZE(data)
        pos = 0
        if not self._header_seen:
            if n < 19:
                self._pending = data
                return rows
            if data[:11] != _COPY_SIGNATURE:
                raise ProtocolViolation("binary COPY data without the PGCOPY signature")
            ext = unpack_int32(p + 15)
            if ext < 0:
                raise ProtocolViolation("binary COPY header with a negative extension length")
            if n < 19 + ext:
                self._pending = data
                return rows
            pos = 19 + ext
            self._header_seen = True
        while pos + 2 <= n and not self.finished:
            start = pos
            nfields = unpack_int16(p + pos)
            if nfields == -1:
                self.finished = True
                pos += 2
                break
            if nfields != self._ncols:
                raise ProtocolViolation(
                    f"binary COPY tuple has {nfields} fields, expected {self._ncols}")
            pos += 2
            row = PyTuple_New_(self._ncols)
            for i in range(self._ncols):
                if pos + 4 > n:
                    break
                size = unpack_int32(p + pos)
                pos += 4
                if size == -1:
                    value = None
                else:
                    if size < 0:
                        raise ProtocolViolation("binary COPY field with a negative length")
                    if pos + size > n:
                        break
                    value = (<Codec>PyList_GET_ITEM(self._codecs, i)).decode(p + pos, size)
                    pos += size
                Py_INCREF(value)
                PyTuple_SET_ITEM_(row, i, value)
            else:
                rows.append(row)
                continue
            pos = start   # the tuple continues in the next chunk
            break
        self._pending = data[pos:] if pos < n else b""
        return rows

    def pending_bytes(self):
        return len(self._pending)

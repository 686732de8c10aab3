# Backend (server → client) message framing.
#
# Bytes arrive into one bytearray (asyncio.BufferedProtocol writes straight
# into it: no intermediate bytes objects); complete messages are handed out as
# (type, pointer, length) views into that buffer, valid until the next read.

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from libc.string cimport memmove, memchr
from libc.stdint cimport int16_t, int32_t, uint16_t, uint32_t


class ProtocolViolation(Exception):
    """The byte stream from the server does not follow the protocol.

    Raised by the sans-I/O core; the connection layer turns it into
    pgjet.errors.ProtocolError and closes the connection.
    """


cdef class MessageView:
    """Cursor over one message's payload with bounds-checked reads."""

    cdef const char* data
    cdef Py_ssize_t length
    cdef Py_ssize_t pos
    cdef char mtype

    cdef inline void reset(self, char mtype, const char* data, Py_ssize_t length) noexcept:
        self.mtype = mtype
        self.data = data
        self.length = length
        self.pos = 0

    cdef inline int _need(self, Py_ssize_t n) except -1:
        if n < 0 or self.pos + n > self.length:
            raise ProtocolViolation(
                f"message {chr(self.mtype)!r} is truncated: needs {n} more bytes at offset "
                f"{self.pos} of {self.length}")
        return 0

    cdef inline int32_t int32(self) except? -1:
        self._need(4)
        cdef int32_t v = unpack_int32(self.data + self.pos)
        self.pos += 4
        return v

    cdef inline int16_t int16(self) except? -1:
        self._need(2)
        cdef int16_t v = unpack_int16(self.data + self.pos)
        self.pos += 2
        return v

    cdef inline char byte(self) except? -1:
        self._need(1)
        cdef char v = self.data[self.pos]
        self.pos += 1
        return v

    cdef bytes cstr_bytes(self):
        cdef const char* start = self.data + self.pos
        cdef const char* end = <const char*>memchr(start, 0, self.length - self.pos)
        if end == NULL:
            raise ProtocolViolation(f"message {chr(self.mtype)!r}: unterminated string")
        cdef bytes out = start[:end - start]
        self.pos += (end - start) + 1
        return out

    cdef str cstr(self):
        return self.cstr_bytes().decode("utf-8", "replace")

    cdef bytes rest(self):
        cdef bytes out = self.data[self.pos:self.length]
        self.pos = self.length
        return out

    cdef int expect_end(self) except -1:
        if self.pos != self.length:
            raise ProtocolViolation(
                f"message {chr(self.mtype)!r} has {self.length - self.pos} unexpected trailing bytes")
        return 0

    cdef dict fields(self):
        """ErrorResponse / NoticeResponse body: (code byte, string) pairs."""
        cdef dict out = {}
        cdef char code
        while True:
            code = self.byte()
            if code == 0:
                break
            out[chr(<unsigned char>code)] = self.cstr()
        return out


cdef enum:
    # Bounds of ReadBuffer's adaptive read size.
    _MIN_READ = 16384
    _MAX_READ = 262144


cdef class ReadBuffer:
    """Receives bytes and frames them into messages, with a size cap."""

    cdef bytearray _buf
    cdef Py_ssize_t _start   # first unread byte
    cdef Py_ssize_t _end     # one past the last received byte
    cdef Py_ssize_t _wanted  # total size of a partly received big message
    # How much room get_buffer() offers at least. It doubles while reads
    # fill all the room offered (a big result streaming in: fewer reads and
    # event-loop turns per megabyte) and halves again when they don't.
    cdef Py_ssize_t _read_size
    cdef Py_ssize_t _offered  # room handed out by the last get_buffer()
    cdef public Py_ssize_t max_message_size

    def __cinit__(self, Py_ssize_t max_message_size=1 << 30):
        self._buf = bytearray(_MIN_READ)
        self._start = 0
        self._end = 0
        self._wanted = 0
        self._read_size = _MIN_READ
        self._offered = 0
        self.max_message_size = max_message_size

    cdef inline Py_ssize_t buffered(self) noexcept:
        return self._end - self._start

    cdef object get_buffer(self, Py_ssize_t sizehint):
        """Free space to receive into (asyncio.BufferedProtocol.get_buffer).

        The only place the buffer moves or grows: asyncio may still hold the
        previous view while buffer_updated() runs, so nothing else resizes.
        """
        cdef Py_ssize_t cap = PyByteArray_GET_SIZE(self._buf)
        cdef Py_ssize_t pending = self._end - self._start
        cdef Py_ssize_t want = sizehint if sizehint > self._read_size else self._read_size
        if self._wanted > pending + want:
            want = self._wanted - pending   # the rest of a known big message
        if pending == 0:
            self._start = self._end = 0
            if cap >= 4 * want:
                # Give back the memory of a past big message or result.
                self._buf = bytearray(want)
                cap = want
        elif cap - self._end < want and self._start > 0:
            memmove(PyByteArray_AS_STRING(self._buf),
                    PyByteArray_AS_STRING(self._buf) + self._start, pending)
            self._start = 0
            self._end = pending
        if cap - self._end < want:
            while cap - self._end < want:
                cap *= 2
            PyByteArray_Resize(self._buf, cap)
        self._offered = cap - self._end
        return memoryview(self._buf)[self._end:]

    cdef int buffer_updated(self, Py_ssize_t nbytes) except -1:
        if nbytes < 0 or self._end + nbytes > PyByteArray_GET_SIZE(self._buf):
            raise ValueError("buffer_updated() beyond the buffer handed out")
        self._end += nbytes
        if nbytes >= self._offered:
            if self._read_size < _MAX_READ:
                self._read_size *= 2
        elif nbytes < self._offered // 4 and self._read_size > _MIN_READ:
            self._read_size //= 2
        return 0

    cdef int feed(self, const unsigned char[:] data) except -1:
        cdef Py_ssize_t n = data.shape[0]
        cdef Py_ssize_t off = 0
        cdef Py_ssize_t chunk
        cdef object view
        while off < n:
            view = self.get_buffer(n - off)
            chunk = min(n - off, len(view))
            view[:chunk] = data[off:off + chunk]
            view = None
            self.buffer_updated(chunk)
            off += chunk
        return 0

    cdef inline int next_data_row(self, MessageView msg) noexcept:
        """next_message() for a run of rows: 1 only if the next message is a whole DataRow.

        Anything else (another message, a partial or an invalid one) is left
        in place for next_message(), which frames and checks it.
        """
        cdef Py_ssize_t avail = self._end - self._start
        cdef const char* p
        cdef int32_t length
        if avail < 5:
            return 0
        p = PyByteArray_AS_STRING(self._buf) + self._start
        if p[0] != b'D':
            return 0
        length = unpack_int32(p + 1)
        if length < 4 or length - 4 > self.max_message_size or avail < length + 1:
            return 0
        msg.reset(b'D', p + 5, length - 4)
        self._start += length + 1
        return 1

    cdef int next_message(self, MessageView msg) except -1:
        """Fill `msg` with the next complete message: 1 if one is ready, 0 if not."""
        cdef Py_ssize_t avail = self._end - self._start
        cdef const char* p
        cdef int32_t length
        if avail < 5:
            return 0
        p = PyByteArray_AS_STRING(self._buf) + self._start
        length = unpack_int32(p + 1)
        if length < 4:
            raise ProtocolViolation(f"message {chr(<unsigned char>p[0])!r} has invalid length {length}")
        if length - 4 > self.max_message_size:
            raise ProtocolViolation(
                f"message {chr(<unsigned char>p[0])!r} of {length - 4} bytes exceeds the "
                f"configured max_message_size of {self.max_message_size} bytes")
        if avail < length + 1:
            # Let the next get_buffer() make room for the whole message; the
            # size was validated against the cap above, so it is bounded.
            self._wanted = length + 1
            return 0
        self._wanted = 0
        msg.reset(p[0], p + 5, length - 4)
        self._start += length + 1
        return 1

# cython: language_level=3
# Frontend (client → server) message builders.
#
# Every builder appends one complete message to a WriteBuffer, so a caller can
# queue several messages (Parse/Bind/Execute/Sync, or many pipelined queries)
# and hand the transport ONE write.

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from libc.string cimport memcpy
from libc.stdint cimport int16_t, int32_t, int64_t, uint32_t


cdef class WriteBuffer:
    """Growable output buffer holding whole frontend messages.

    `start_message` reserves the type byte and length; `end_message` patches
    the length in, so builders never compute lengths up front. A builder
    that fails half-way drops its partial message: the buffer only ever
    holds whole frames.
    """


    def __cinit__(self):
        self._buf = bytearray(256)
        self._len = 0
        self._msg_start = -1

    cdef int _reserve(self, Py_ssize_t extra) except -1:
        cdef Py_ssize_t need = self._len + extra
        cdef Py_ssize_t cap = PyByteArray_GET_SIZE(self._buf)
        if need > cap:
            while cap < need:
                cap *= 2
            PyByteArray_Resize(self._buf, cap)
        return 0

    cdef int start_message(self, char mtype) except -1:
        if self._msg_start != -1:
            raise AssertionError("message already started")
        self._reserve(5)
        cdef char* p = PyByteArray_AS_STRING(self._buf) + self._len
        p[0] = mtype
        self._msg_begin = self._len
        self._msg_start = self._len + 1
        self._len += 5
        return 0

    cdef int start_untyped(self) except -1:
        # Startup, SSLRequest and CancelRequest have no type byte.
        if self._msg_start != -1:
            raise AssertionError("message already started")
        self._reserve(4)
        self._msg_begin = self._len
        self._msg_start = self._len
        self._len += 4
        return 0

    cdef int end_message(self) except -1:
        cdef Py_ssize_t length = self._len - self._msg_start
        if length > 0x7FFFFFFF:
            self.abort_message()
            raise ValueError("message exceeds the protocol's 2 GiB limit")
        pack_int32(PyByteArray_AS_STRING(self._buf) + self._msg_start, <int32_t>length)
        self._msg_start = -1
        return 0

    cdef int abort_message(self) except -1:
        # Drop a half-built message (e.g. a parameter failed to encode), so
        # the buffer never holds a truncated frame.
        if self._msg_start != -1:
            self._len = self._msg_begin
            self._msg_start = -1
        return 0

    cdef int write_byte(self, char b) except -1:
        self._reserve(1)
        PyByteArray_AS_STRING(self._buf)[self._len] = b
        self._len += 1
        return 0

    cdef int write_int16(self, int16_t v) except -1:
        self._reserve(2)
        pack_int16(PyByteArray_AS_STRING(self._buf) + self._len, v)
        self._len += 2
        return 0

    cdef int write_int32(self, int32_t v) except -1:
        self._reserve(4)
        pack_int32(PyByteArray_AS_STRING(self._buf) + self._len, v)
        self._len += 4
        return 0

    cdef int write_raw(self, const char* data, Py_ssize_t n) except -1:
        self._reserve(n)
        memcpy(PyByteArray_AS_STRING(self._buf) + self._len, data, n)
        self._len += n
        return 0

    cdef int write_int64(self, int64_t v) except -1:
        self._reserve(8)
        pack_int64(PyByteArray_AS_STRING(self._buf) + self._len, v)
        self._len += 8
        return 0

    cdef char* extend(self, Py_ssize_t n) except NULL:
        """Room for `n` bytes written directly by a codec; returns where to write."""
        self._reserve(n)
        cdef char* p = PyByteArray_AS_STRING(self._buf) + self._len
        self._len += n
        return p

    cdef Py_ssize_t position(self) noexcept:
        return self._len

    cdef void patch_int32(self, Py_ssize_t pos, int32_t v) noexcept:
        pack_int32(PyByteArray_AS_STRING(self._buf) + pos, v)

    cdef int truncate(self, Py_ssize_t pos) except -1:
        if pos < 0 or pos > self._len:
            raise ValueError("truncate() beyond the written data")
        self._len = pos
        return 0

    cdef int write_bytes(self, bytes data) except -1:
        return self.write_raw(data, len(data))

    cdef int write_cstr(self, bytes data) except -1:
        # A NUL inside would silently truncate the string server-side.
        if b"\x00" in data:
            raise ValueError("string contains a NUL byte, which PostgreSQL cannot accept")
        self.write_raw(data, len(data))
        return self.write_byte(0)

    cdef int write_str(self, str s) except -1:
        return self.write_cstr(s.encode("utf-8"))

    def __len__(self):
        return self._len

    def rewind(self, Py_ssize_t length):
        """Drop everything written after the first `length` bytes."""
        if self._msg_start != -1:
            raise AssertionError("rewind() with a message still open")
        self.truncate(length)

    cpdef bytes take(self):
        """Return everything written so far and empty the buffer."""
        if self._msg_start != -1:
            raise AssertionError("take() with a message still open")
        cdef bytes out = PyByteArray_AS_STRING(self._buf)[:self._len]
        self._len = 0
        if PyByteArray_GET_SIZE(self._buf) > 1 << 20:
            # Don't keep a huge buffer around after one big message.
            self._buf = bytearray(256)
        return out

    # -- whole messages ---------------------------------------------------------

    def ssl_request(self):
        self.start_untyped()
        self.write_int32(80877103)
        self.end_message()

    def startup(self, dict params, int32_t version=196608):
        """StartupMessage: protocol version then name/value pairs."""
        self.start_untyped()
        try:
            self.write_int32(version)
            for k, v in params.items():
                self.write_str(k)
                self.write_str(v)
            self.write_byte(0)
        except BaseException:
            self.abort_message()
            raise
        self.end_message()

    def cancel_request(self, int32_t pid, bytes key):
        self.start_untyped()
        self.write_int32(80877102)
        self.write_int32(pid)
        self.write_bytes(key)
        self.end_message()

    def password(self, bytes payload):
        """PasswordMessage; `payload` is the complete body, NUL terminator included."""
        if payload.find(b"\x00") != len(payload) - 1:
            raise ValueError("a password message must be one NUL-terminated string")
        self.start_message(b'p')
        self.write_bytes(payload)
        self.end_message()

    def sasl_initial_response(self, str mechanism, bytes data):
        self.start_message(b'p')
        try:
            self.write_str(mechanism)
            self.write_int32(<int32_t>len(data))
            self.write_bytes(data)
            self.end_message()
        except BaseException:
            self.abort_message()
            raise

    def sasl_response(self, bytes data):
        self.start_message(b'p')
        self.write_bytes(data)
        self.end_message()

    def query(self, str sql):
        """Simple-protocol Query."""
        cdef bytes encoded = sql.encode("utf-8")
        if b"\x00" in encoded:
            raise ValueError("query text contains a NUL byte")
        self.start_message(b'Q')
        self.write_raw(encoded, len(encoded))
        self.write_byte(0)
        self.end_message()

    def parse(self, bytes name, bytes sql, param_oids=()):
        if b"\x00" in sql:
            raise ValueError("query text contains a NUL byte")
        if len(param_oids) > 65535:
            raise ValueError(f"too many parameters: {len(param_oids)} (PostgreSQL allows 65535)")
        self.start_message(b'P')
        try:
            self.write_cstr(name)
            self.write_raw(sql, len(sql))
            self.write_byte(0)
            self.write_int16(<int16_t>len(param_oids))
            for oid in param_oids:
                self.write_int32(<int32_t><uint32_t>oid)
            self.end_message()
        except BaseException:
            self.abort_message()
            raise

    def bind_text(self, bytes portal, bytes statement, list params, int16_t result_format=0):
        """Bind with every parameter in text format (None is NULL)."""
        cdef Py_ssize_t n = len(params)
        if n > 65535:
            raise ValueError(f"too many parameters: {n} (PostgreSQL allows 65535)")
        self.start_message(b'B')
        try:
            self.write_cstr(portal)
            self.write_cstr(statement)
            self.write_int16(0)  # all parameters in text format
            self.write_int16(<int16_t>n)
            for value in params:
                if value is None:
                    self.write_int32(-1)
                else:
                    self.write_int32(<int32_t>len(<bytes>value))
                    self.write_bytes(<bytes>value)
            self.write_int16(1)
            self.write_int16(result_format)
            self.end_message()
        except BaseException:
            self.abort_message()
            raise

    def describe(self, char kind, bytes name):
        self._kind_and_name(b'D', kind, name)

    def execute(self, bytes portal, int32_t max_rows=0):
        self.start_message(b'E')
        try:
            self.write_cstr(portal)
            self.write_int32(max_rows)
            self.end_message()
        except BaseException:
            self.abort_message()
            raise

    def close(self, char kind, bytes name):
        self._kind_and_name(b'C', kind, name)

    cdef int _kind_and_name(self, char mtype, char kind, bytes name) except -1:
        # Describe and Close: 'S'tatement or 'P'ortal, then its name.
        self.start_message(mtype)
        try:
            self.write_byte(kind)
            self.write_cstr(name)
            self.end_message()
        except BaseException:
            self.abort_message()
            raise
        return 0

    def sync(self):
        self.start_message(b'S')
        self.end_message()

    def flush(self):
        self.start_message(b'H')
        self.end_message()

    def terminate(self):
        self.start_message(b'X')
        self.end_message()

    def copy_fail(self, str message):
        self.start_message(b'f')
        try:
            self.write_str(message)
            self.end_message()
        except BaseException:
            self.abort_message()
            raise

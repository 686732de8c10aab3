# The output buffer and its big-endian packing helpers, shared by the
# protocol core and the codecs (they encode parameters straight into it).

from libc.stdint cimport int16_t, int32_t, int64_t, uint16_t, uint32_t, uint64_t


cdef inline void pack_int16(char* p, int16_t v) noexcept:
    cdef uint16_t u = <uint16_t>v
    p[0] = <char>((u >> 8) & 0xFF)
    p[1] = <char>(u & 0xFF)


cdef inline void pack_int32(char* p, int32_t v) noexcept:
    cdef uint32_t u = <uint32_t>v
    p[0] = <char>((u >> 24) & 0xFF)
    p[1] = <char>((u >> 16) & 0xFF)
    p[2] = <char>((u >> 8) & 0xFF)
    p[3] = <char>(u & 0xFF)


cdef inline void pack_int64(char* p, int64_t v) noexcept:
    # Unrolled: the C compiler turns it into one byte swap and one store.
    cdef uint64_t u = <uint64_t>v
    p[0] = <char>((u >> 56) & 0xFF)
    p[1] = <char>((u >> 48) & 0xFF)
    p[2] = <char>((u >> 40) & 0xFF)
    p[3] = <char>((u >> 32) & 0xFF)
    p[4] = <char>((u >> 24) & 0xFF)
    p[5] = <char>((u >> 16) & 0xFF)
    p[6] = <char>((u >> 8) & 0xFF)
    p[7] = <char>(u & 0xFF)


cdef inline int16_t unpack_int16(const char* p) noexcept:
    cdef const unsigned char* u = <const unsigned char*>p
    return <int16_t>((<uint16_t>u[0] << 8) | <uint16_t>u[1])


cdef inline int32_t unpack_int32(const char* p) noexcept:
    cdef const unsigned char* u = <const unsigned char*>p
    return <int32_t>((<uint32_t>u[0] << 24) | (<uint32_t>u[1] << 16) |
                     (<uint32_t>u[2] << 8) | <uint32_t>u[3])


cdef inline int64_t unpack_int64(const char* p) noexcept:
    # Unrolled: the C compiler turns it into one load and one byte swap.
    cdef const unsigned char* u = <const unsigned char*>p
    return <int64_t>((<uint64_t>u[0] << 56) | (<uint64_t>u[1] << 48) |
                     (<uint64_t>u[2] << 40) | (<uint64_t>u[3] << 32) |
                     (<uint64_t>u[4] << 24) | (<uint64_t>u[5] << 16) |
                     (<uint64_t>u[6] << 8) | <uint64_t>u[7])


cdef class WriteBuffer:
    cdef bytearray _buf
    cdef Py_ssize_t _len
    cdef Py_ssize_t _msg_begin   # first byte of the open message
    cdef Py_ssize_t _msg_start   # position of its length field; -1 when none is open

    cdef int _reserve(self, Py_ssize_t extra) except -1
    cdef int start_message(self, char mtype) except -1
    cdef int start_untyped(self) except -1
    cdef int end_message(self) except -1
    cdef int abort_message(self) except -1
    cdef int write_byte(self, char b) except -1
    cdef int write_int16(self, int16_t v) except -1
    cdef int write_int32(self, int32_t v) except -1
    cdef int write_int64(self, int64_t v) except -1
    cdef char* extend(self, Py_ssize_t n) except NULL
    cdef Py_ssize_t position(self) noexcept
    cdef void patch_int32(self, Py_ssize_t pos, int32_t v) noexcept
    cdef int truncate(self, Py_ssize_t pos) except -1
    cdef int write_raw(self, const char* data, Py_ssize_t n) except -1
    cdef int write_bytes(self, bytes data) except -1
    cdef int write_cstr(self, bytes data) except -1
    cdef int write_str(self, str s) except -1
    cdef int _kind_and_name(self, char mtype, char kind, bytes name) except -1
    cpdef bytes take(self)

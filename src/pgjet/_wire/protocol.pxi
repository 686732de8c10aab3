# The protocol state machine: a FIFO of pending operations.
#
# Every backend message belongs to the operation at the head of the queue,
# except the asynchronous ones (NoticeResponse, ParameterStatus,
# NotificationResponse), which may arrive at any time and become events.
# Because each operation ends at its own ReadyForQuery, many operations can be
# in flight at once: pipelining is the normal case, not a mode.
#
# The core never touches sockets, loops or futures. Finished operations are
# appended to `completed`; the I/O layer resolves whatever `waiter` it stored.

from collections import deque


cdef class Operation:
    """One request/response exchange, ended by ReadyForQuery (or an auth step)."""

    cdef public object waiter          # opaque to the core (a future, usually)
    cdef public object result
    cdef public dict error_fields      # first ErrorResponse's fields, if any
    cdef public str status             # last CommandComplete tag

    def __init__(self):
        self.waiter = None
        self.result = None
        self.error_fields = None
        self.status = None

    cdef int on_message(self, WireProtocol proto, MessageView msg) except -1:
        """Consume one message; return 1 when this operation is complete.

        Return 2 to complete without consuming the message (left unread):
        it is then handed to the next operation.
        """
        raise NotImplementedError

    cdef int _unexpected(self, MessageView msg) except -1:
        raise ProtocolViolation(
            f"unexpected message {chr(<unsigned char>msg.mtype)!r} during "
            f"{type(self).__name__}")


cdef int refuse_copy_in(WireProtocol proto, Operation op, bint extended) except -1:
    """COPY FROM STDIN reached through execute()/fetch(): abort it server-side.

    The server now waits for COPY data and takes anything else it reads as
    the end of the COPY. If other requests are pipelined behind this one,
    their messages are already on their way and would be swallowed that way:
    then the only safe answer is to close the connection. Alone, the COPY is
    failed with CopyFail (and a Sync after it in the extended protocol, whose
    earlier Sync the server ignored while copying).
    """
    if len(proto._pending) > 1:
        raise ProtocolViolation(
            "COPY FROM STDIN was run through execute()/fetch() while other queries were "
            "pipelined behind it; the connection was closed to keep their results correct "
            "(use copy_in() or copy_to_table())")
    proto.out.copy_fail("COPY FROM STDIN is not supported by this call; use the copy API")
    if extended:
        proto.out.sync()
    proto.wants_flush = True
    if op.error_fields is None:
        op.error_fields = {
            "S": "ERROR", "C": "0A000",
            "M": "COPY FROM STDIN is not supported by execute()/fetch(); "
                 "use copy_in() or copy_to_table()",
        }
    return 0


cdef class StartupOp(Operation):
    """Startup and authentication, one step at a time.

    Completes with ('auth', code, payload) for every authentication request
    that needs an answer, or ('ready', None, None) at ReadyForQuery. After an
    auth step the connect code writes its answer and pushes a new StartupOp.
    """

    cdef int on_message(self, WireProtocol proto, MessageView msg) except -1:
        cdef char t = msg.mtype
        cdef int32_t code
        if t == b'R':
            code = msg.int32()
            if code == 0:  # AuthenticationOk: the server goes on by itself
                msg.expect_end()
                proto.authenticated = True
                return 0
            self.result = ("auth", code, msg.rest())
            return 1
        if t == b'K':
            proto.backend_pid = msg.int32()
            # 4 bytes in protocol 3.0; up to 256 in 3.2 (PostgreSQL 18).
            proto.backend_key = msg.rest()
            if not 4 <= len(proto.backend_key) <= 256:
                raise ProtocolViolation("BackendKeyData with an invalid key length")
            return 0
        if t == b'v':
            # NegotiateProtocolVersion: the server speaks an older minor
            # version or ignores some _pq_ options; both are fine for 3.0.
            proto.negotiated_minor = msg.int32()
            return 0
        if t == b'E':
            self.error_fields = msg.fields()
            return 1   # FATAL during startup: the server closes next
        if t == b'Z':
            proto.transaction_status = chr(<unsigned char>msg.byte())
            self.result = ("ready", None, None)
            return 1
        return self._unexpected(msg)


cdef class QueryOp(Operation):
    """A query, simple or extended, with its rows decoded as text for now.

    Collects every result set of a multi-statement simple query; `result`
    holds the last one's rows, `columns` its column names.
    """

    cdef public list rows
    cdef public list columns      # [(name, type_oid), ...] of the last result
    cdef public object row_factory
    cdef list _decoders
    cdef dict _names
    cdef public object text_decoders   # {oid: callable(str)} from the Python layer

    def __init__(self, text_decoders=None, row_factory=None):
        Operation.__init__(self)
        self.rows = []
        self.columns = None
        self.text_decoders = text_decoders or {}
        self.row_factory = row_factory
        self._decoders = None

    cdef int on_message(self, WireProtocol proto, MessageView msg) except -1:
        cdef char t = msg.mtype
        if t == b'D':
            if self._decoders is None:
                raise ProtocolViolation("DataRow without a RowDescription")
            self.rows.append(self._decode_row(msg))
            return 0
        if t == b'T':
            self._describe(msg)
            self.rows = []
            return 0
        if t == b'C':
            self.status = msg.cstr()
            return 0
        if t == b'1' or t == b'2' or t == b'3' or t == b'n' or t == b'I' or t == b's':
            return 0
        if t == b't':
            return 0
        if t == b'E':
            if self.error_fields is None:
                self.error_fields = msg.fields()
            return 0
        if t == b'Z':
            proto.transaction_status = chr(<unsigned char>msg.byte())
            return 1
        if t == b'G':
            return refuse_copy_in(proto, self, False)
        if t == b'H' or t == b'd' or t == b'c':
            return 0   # COPY TO STDOUT through a plain query: the data is dropped
        return self._unexpected(msg)

    cdef int _describe(self, MessageView msg) except -1:
        cdef int16_t n = msg.int16()
        cdef int16_t i
        cdef list cols = []
        cdef list decs = []
        cdef dict names = {}
        cdef str name
        cdef uint32_t typoid
        if n < 0:
            raise ProtocolViolation("RowDescription with a negative column count")
        for i in range(n):
            name = msg.cstr()
            msg.int32()          # table oid
            msg.int16()          # column number
            typoid = <uint32_t>msg.int32()
            msg.int16()          # type size
            msg.int32()          # type modifier
            msg.int16()          # format code
            cols.append((name, typoid))
            names.setdefault(name, i)
            decs.append(self.text_decoders.get(typoid))
        msg.expect_end()
        self.columns = cols
        self._decoders = decs
        self._names = names
        return 0

    cdef object _decode_row(self, MessageView msg):
        cdef int16_t n = msg.int16()
        cdef int16_t i
        cdef int32_t size
        cdef object dec
        if n != len(self._decoders):
            raise ProtocolViolation(
                f"DataRow has {n} columns, RowDescription announced {len(self._decoders)}")
        cdef list values = []
        for i in range(n):
            size = msg.int32()
            if size == -1:
                values.append(None)
                continue
            msg._need(size)
            text = msg.data[msg.pos:msg.pos + size].decode("utf-8")
            msg.pos += size
            dec = self._decoders[i]
            values.append(text if dec is None else dec(text))
        msg.expect_end()
        if self.row_factory is not None:
            return self.row_factory(self._names, values)
        return tuple(values)


cdef class WireProtocol:
    """Sans-I/O PostgreSQL protocol engine: bytes in, operations completed."""

    cdef public WriteBuffer out
    cdef ReadBuffer _reader
    cdef MessageView _msg
    cdef object _pending
    cdef public list completed
    cdef public list events
    cdef public dict parameters
    cdef public int backend_pid
    cdef public bytes backend_key
    cdef public str transaction_status
    cdef public bint authenticated
    cdef public int negotiated_minor
    cdef public bint wants_flush     # the core queued output of its own

    def __init__(self, Py_ssize_t max_message_size=1 << 30):
        self.out = WriteBuffer()
        self._reader = ReadBuffer(max_message_size)
        self._msg = MessageView()
        self._pending = deque()
        self.completed = []
        self.events = []
        self.parameters = {}
        self.backend_pid = 0
        self.backend_key = None
        self.transaction_status = "I"
        self.authenticated = False
        self.negotiated_minor = 0
        self.wants_flush = False

    property max_message_size:
        def __get__(self):
            return self._reader.max_message_size
        def __set__(self, Py_ssize_t value):
            if value < 1024:
                raise ValueError("max_message_size must be at least 1024 bytes")
            self._reader.max_message_size = value

    def push(self, Operation op):
        """Queue an operation whose messages were written to `out`."""
        self._pending.append(op)

    def pending_count(self):
        return len(self._pending)

    def first_pending(self):
        """The operation the server is answering now, or None."""
        return self._pending[0] if self._pending else None

    def pending_operations(self):
        return list(self._pending)

    def abort_pending(self):
        """Forget every pending operation (the connection is gone)."""
        ops = list(self._pending)
        self._pending.clear()
        return ops

    def get_buffer(self, Py_ssize_t sizehint):
        return self._reader.get_buffer(sizehint)

    def buffer_updated(self, Py_ssize_t nbytes):
        """Process received bytes; True when something completed or happened."""
        self._reader.buffer_updated(nbytes)
        return self._process()

    def feed(self, data):
        """Convenience for tests and the TLS negotiation path."""
        self._reader.feed(data)
        return self._process()

    def buffered_bytes(self):
        return self._reader.buffered()

    cdef bint _process(self) except -1:
        cdef MessageView msg = self._msg
        cdef Operation op = None   # the head of _pending, kept while it lasts
        cdef char t
        cdef int done
        while self._reader.next_message(msg):
            t = msg.mtype
            if t == b'N':
                self.events.append(("notice", msg.fields()))
                continue
            if t == b'S':
                name = msg.cstr()
                value = msg.cstr()
                msg.expect_end()
                self.parameters[name] = value
                self.events.append(("parameter", name, value))
                continue
            if t == b'A':
                pid = msg.int32()
                channel = msg.cstr()
                payload = msg.cstr()
                self.events.append(("notification", pid, channel, payload))
                continue
            while True:
                if op is None:
                    if not self._pending:
                        if t == b'E':
                            # e.g. FATAL on administrator shutdown while idle.
                            self.events.append(("error", msg.fields()))
                            break
                        raise ProtocolViolation(
                            f"unexpected message {chr(<unsigned char>t)!r} "
                            "with no operation pending")
                    op = <Operation>self._pending[0]
                done = op.on_message(self, msg)
                if done == 0:
                    break
                self._pending.popleft()
                self.completed.append(op)
                op = None
                if done == 1:
                    break
                # 2: the operation ended without reading this message, which
                # belongs to the next one (a statement sharing a later Sync
                # that an earlier error skipped).
        # wants_flush: the core queued output of its own (e.g. a CopyFail).
        return bool(self.completed) or bool(self.events) or self.wants_flush


def complete_waiters(WireProtocol proto):
    """Resolve the waiters (futures) of the operations that completed.

    Not part of the sans-I/O core: a compiled helper for the I/O adapter's
    hottest loop (the waiters are whatever the adapter stored).
    """
    cdef list done = proto.completed
    cdef Operation op
    if not done:
        return
    proto.completed = []
    for op in done:
        fut = op.waiter
        if fut is not None and not fut.done():
            # Not the op itself: op.waiter -> future -> op would be a cycle,
            # keeping every result (rows included) until the cyclic GC runs.
            fut.set_result(None)


cdef class BufferedReceiver:
    """The per-read half of the I/O adapter's asyncio.BufferedProtocol, compiled.

    The event loop calls get_buffer() and buffer_updated() for every read;
    as methods of an extension type they run without a Python frame. The
    adapter (pgjet._transport.WireTransport) subclasses this together with
    asyncio.BufferedProtocol and provides the rare paths in Python:
    _negotiation_answer(nbytes), _dispatch() and _read_failed(exc).
    """

    cdef public WireProtocol core
    cdef public object loop
    cdef public object transport   # the asyncio transport, once connected
    # While TLS negotiation reads the server's one-byte answer: a future,
    # and the bytes are read into negotiation_buf instead of the core.
    cdef public object negotiation
    cdef public bytearray negotiation_buf
    # While the wire is held (an exclusive COPY/executemany stream, or
    # hold() calls), queued requests' bytes wait in core.out.
    cdef public bint _exclusive
    cdef public int _holds

    def send_queued(self, Operation op):
        """Write core.out and give `op` (queued in the core already) a future to wait on.

        While the wire is held the bytes stay in core.out: queue order and
        wire order must stay the same.
        """
        fut = self.loop.create_future()
        op.waiter = fut
        if not self._exclusive and not self._holds:
            self.transport.write(self.core.out.take())
        return fut

    def get_buffer(self, Py_ssize_t sizehint):
        if self.negotiation is not None:
            return memoryview(self.negotiation_buf)
        return self.core._reader.get_buffer(sizehint)

    def buffer_updated(self, Py_ssize_t nbytes):
        if self.negotiation is not None:
            self._negotiation_answer(nbytes)
            return
        cdef WireProtocol core = self.core
        try:
            core._reader.buffer_updated(nbytes)
            if core._process():
                if core.wants_flush or core.events:
                    self._dispatch()
                else:
                    complete_waiters(core)   # the common case
        except Exception as exc:
            self._read_failed(exc)


# cython: language_level=3
"""pgjet's compiled, sans-I/O wire core.

Bytes in, bytes out, operations completed: no sockets, no event loop, no
futures. The asyncio adapter (pgjet._transport) feeds it received bytes and
writes what it builds.
"""

from pgjet._wire.buffer cimport WriteBuffer, unpack_int16, unpack_int32

include "reader.pxi"
include "protocol.pxi"

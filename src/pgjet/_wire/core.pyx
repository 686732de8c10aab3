# cython: language_level=3
"""pgjet's compiled, sans-I/O wire core.

Bytes in, bytes out, operations completed: no sockets, no event loop, no
futures. The asyncio adapter (pgjet._transport) feeds it received bytes and
writes what it builds.
"""

from pgjet._wire.buffer cimport WriteBuffer, unpack_int16, unpack_int32
from pgjet._wire.codecs cimport Codec, codec_for
from pgjet._wire.record cimport import_record_api, new_record, record_finish, record_set_item

from pgjet._wire.codecs import OutdatedTypeError
from pgjet._wire.record import Record, RecordDescriptor

import_record_api()

include "reader.pxi"
include "protocol.pxi"
include "statements.pxi"
include "columns.pxi"
include "copy.pxi"

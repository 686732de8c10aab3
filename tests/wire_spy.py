"""WireSpy: which frontend messages a connection writes, and in which writes."""

from __future__ import annotations

import struct
from typing import Any


def message_types(data: bytes) -> list[bytes]:
    """Frame a chunk of frontend messages (every write holds whole messages)."""
    types = []
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack_from("!i", data, pos + 1)
        types.append(data[pos : pos + 1])
        pos += 1 + length
    assert pos == len(data), "a write ended inside a message"
    return types


class WireSpy:
    """Records the type of every frontend message the connection writes, per write."""

    def __init__(self, conn: Any) -> None:
        transport = conn._wire.transport
        self.sent: list[bytes] = []
        self.writes: list[list[bytes]] = []
        original = transport.write

        def write(data: bytes | bytearray | memoryview) -> None:
            types = message_types(bytes(data))
            self.sent.extend(types)
            self.writes.append(types)
            original(data)

        transport.write = write

    def count(self, mtype: bytes) -> int:
        return self.sent.count(mtype)

    def reset(self) -> None:
        self.sent.clear()
        self.writes.clear()

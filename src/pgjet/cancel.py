"""CancelRequest: asks the server to cancel what a backend is running.

It travels on a connection of its own (the protocol has no in-band cancel),
with its own short deadline; the server answers by closing that connection.
"""

from __future__ import annotations

import asyncio
import contextlib

from pgjet._wire.buffer import WriteBuffer


async def send_cancel_request(
    host: str, port: int, pid: int, key: bytes, *, timeout: float = 5.0
) -> None:
    """Deliver a CancelRequest for backend `pid`; errors are swallowed by callers."""
    buf = WriteBuffer()
    buf.cancel_request(pid, key)
    packet = buf.take()

    async def deliver() -> None:
        if host.startswith(("/", "@")):
            path = f"{host.rstrip('/')}/.s.PGSQL.{port}"
            if path.startswith("@"):
                path = "\0" + path[1:]
            reader, writer = await asyncio.open_unix_connection(path)
        else:
            reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(packet)
            await writer.drain()
            # The server closes the connection once it has read the request.
            await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    await asyncio.wait_for(deliver(), timeout)

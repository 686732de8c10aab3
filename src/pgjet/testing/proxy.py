"""A fault-injecting TCP proxy for tests: latency, black holes, resets, refusals.

Put it between a client and a server (``FaultProxy(server_host, server_port)``)
and point the client at ``proxy.host``/``proxy.port``. Then, at any moment:

* ``proxy.latency = 0.05``: every chunk is delivered 50 ms late, each way;
* ``proxy.stop_forwarding()``: a network cut — connections stay open but no
  byte moves either way (a half-open connection, as after a lost NAT entry
  or a pulled cable); ``resume_forwarding()`` delivers what was held;
* ``proxy.reset_all()``: every connection is reset (RST) on both sides;
  ``proxy.close_all()`` closes them politely (FIN);
* ``proxy.refuse_connections()``: stop listening, so new connections are
  refused (ECONNREFUSED), existing ones untouched; ``accept_connections()``
  listens again on the same port;
* counters: ``bytes_to_server``, ``bytes_to_client``, ``accepted``,
  ``active``.

It runs in the event loop of the test (``async with FaultProxy(...) as
proxy``); for synchronous code, ``FaultProxy.in_thread(...)`` runs it in a
thread of its own with the same methods. Nothing here depends on pgjet.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")

# Stop reading from one side when the other side's unsent bytes exceed this.
_HIGH_WATER = 256 * 1024


class FaultProxy:
    """A TCP proxy to ``target_host:target_port`` whose faults tests switch on and off."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        latency: float = 0.0,
    ) -> None:
        if latency < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {latency!r}")
        self.target_host = target_host
        self.target_port = target_port
        self.host = listen_host
        self.port = listen_port
        """The port clients connect to (chosen when started if 0)."""
        self._latency = latency
        self._forwarding = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._links: set[_Link] = set()
        self.accepted = 0
        """Client connections accepted since start."""
        self.bytes_to_server = 0
        self.bytes_to_client = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> FaultProxy:
        self._loop = asyncio.get_running_loop()
        sock = self._listening_socket()
        self.port = sock.getsockname()[1]
        self._server = await self._loop.create_server(self._new_client, sock=sock)
        return self

    async def close(self) -> None:
        """Stop listening and reset every connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self.reset_all()
        await asyncio.sleep(0)

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @classmethod
    def in_thread(cls, target_host: str, target_port: int, **kwargs: Any) -> ThreadedFaultProxy:
        """The proxy in a background thread with its own event loop (for sync tests)."""
        return ThreadedFaultProxy(cls(target_host, target_port, **kwargs))

    # -- faults ------------------------------------------------------------------------

    @property
    def latency(self) -> float:
        """One-way delay, in seconds, added to every chunk in both directions."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {seconds!r}")
        self._latency = seconds

    @property
    def forwarding(self) -> bool:
        return self._forwarding

    def stop_forwarding(self, *, new_connections: bool = True) -> None:
        """A network cut: connections stay open, but nothing moves either way.

        With ``new_connections=False`` only the connections open now are cut
        (as when a NAT or firewall forgets them); new ones work.
        """
        self._forwarding = not new_connections
        for link in list(self._links):
            link.hold()

    def resume_forwarding(self) -> None:
        """End the cut: bytes held are delivered, in order."""
        self._forwarding = True
        for link in list(self._links):
            link.release()

    def reset_all(self) -> int:
        """Reset (RST) every connection on both sides; return how many there were."""
        links = list(self._links)
        for link in links:
            link.abort()
        return len(links)

    def close_all(self) -> int:
        """Close every connection politely (FIN) on both sides; return how many."""
        links = list(self._links)
        for link in links:
            link.close()
        return len(links)

    def refuse_connections(self) -> None:
        """Stop listening: new connections are refused; established ones carry on."""
        if self._server is not None:
            self._server.close()
            self._server = None

    def accept_connections(self) -> None:
        """Listen again, on the same port."""
        if self._server is not None or self._loop is None:
            return
        # The socket listens from here on; connections queue in its backlog
        # until the server below starts accepting them.
        sock = self._listening_socket()
        task = self._loop.create_task(self._loop.create_server(self._new_client, sock=sock))
        task.add_done_callback(self._serving)

    @property
    def active(self) -> int:
        """Connections currently proxied."""
        return len(self._links)

    # -- internals ---------------------------------------------------------------------

    def _listening_socket(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        sock.setblocking(False)
        return sock

    def _serving(self, task: asyncio.Task[asyncio.base_events.Server]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._server = task.result()

    def _new_client(self) -> asyncio.Protocol:
        self.accepted += 1
        link = _Link(self)
        self._links.add(link)
        return link.client

    def _forget(self, link: _Link) -> None:
        self._links.discard(link)

    def __repr__(self) -> str:
        return (
            f"<FaultProxy {self.host}:{self.port} -> {self.target_host}:{self.target_port} "
            f"active={self.active} forwarding={self._forwarding} latency={self._latency}>"
        )


class _Link:
    """One proxied connection: a client side, a server side and what is in flight."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.client = _Side(self, to_server=True)
        self.server = _Side(self, to_server=False)
        self.held = not proxy.forwarding
        self.closed = False

    def other(self, side: _Side) -> _Side:
        return self.server if side is self.client else self.client

    async def connect_upstream(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(
                lambda: self.server, self.proxy.target_host, self.proxy.target_port
            )
        except OSError:
            self.abort()
            return
        if self.closed:
            self.abort()
            return
        # Some Python versions (3.11.2, Debian 12's) start reading a new
        # transport even when connection_made paused it: bytes that arrived
        # before the server side existed wait in the queue; send them now.
        self.client.flush()
        self.client.start_reading()

    def deliver(self, source: _Side, data: bytes) -> None:
        proxy = self.proxy
        if source.to_server:
            proxy.bytes_to_server += len(data)
        else:
            proxy.bytes_to_client += len(data)
        delay = proxy.latency
        due = asyncio.get_running_loop().time() + delay
        source.queue.append((due, data))
        source.flush()

    def hold(self) -> None:
        self.held = True
        for side in (self.client, self.server):
            side.pause()

    def release(self) -> None:
        self.held = False
        for side in (self.client, self.server):
            side.flush()
            side.resume()

    def abort(self) -> None:
        self.closed = True
        for side in (self.client, self.server):
            side.abort()
        self.proxy._forget(self)

    def close(self) -> None:
        self.closed = True
        for side in (self.client, self.server):
            if side.transport is not None:
                side.transport.close()
        self.proxy._forget(self)


class _Side(asyncio.Protocol):
    """One socket of a link; `queue` holds what it received, for the other side."""

    def __init__(self, link: _Link, *, to_server: bool) -> None:
        self.link = link
        self.to_server = to_server  # bytes received here go to the server
        self.transport: asyncio.Transport | None = None
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.timer: asyncio.TimerHandle | None = None
        self.reading = False
        self.eof = False
        self.eof_sent = False
        self.write_paused = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # asyncio disables Nagle only on sockets whose proto is IPPROTO_TCP, which
        # accepted sockets lack: without this, chunks written after the first wait
        # for the peer's delayed ACK (~40 ms) and every latency figure is skewed.
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.to_server:
            # The client side: hold its bytes until the server side is connected.
            transport.pause_reading()  # type: ignore[attr-defined]
            asyncio.get_running_loop().create_task(self.link.connect_upstream())
        else:
            self.start_reading()

    def data_received(self, data: bytes) -> None:
        self.link.deliver(self, data)

    def eof_received(self) -> bool:
        self.eof = True
        self.flush()
        return True  # keep the other direction open until it ends too

    def connection_lost(self, exc: Exception | None) -> None:
        # One side gone: the other follows once what is queued for it is written.
        link = self.link
        other = link.other(self)
        if not link.closed:
            link.closed = True
            link.proxy._forget(link)
            if exc is not None:
                other.abort()
            elif other.transport is not None:
                other.transport.close()
        if self.timer is not None:
            self.timer.cancel()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.link.other(self).pause()

    def resume_writing(self) -> None:
        self.write_paused = False
        if not self.link.held:
            self.link.other(self).resume()

    # forwarding

    def start_reading(self) -> None:
        self.reading = True
        if self.transport is None:
            return
        if self.link.held:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def pause(self) -> None:
        if self.transport is not None and self.reading and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume(self) -> None:
        if (
            self.transport is not None
            and self.reading
            and not self.transport.is_closing()
            and not self.link.other(self).write_paused
        ):
            self.transport.resume_reading()

    def flush(self) -> None:
        """Write what is due to the other side; come back when the next chunk is."""
        if self.link.held:
            return
        target = self.link.other(self).transport
        if target is None or target.is_closing():
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        queue = self.queue
        while queue and queue[0][0] <= now:
            target.write(queue.popleft()[1])
        if queue:
            if self.timer is None or self.timer.cancelled():
                self.timer = loop.call_at(queue[0][0], self._timer_fired)
        elif self.eof and not self.eof_sent:
            self.eof_sent = True
            if self.link.other(self).eof_sent or not target.can_write_eof():
                self.link.close()  # both directions ended
            else:
                target.write_eof()

    def _timer_fired(self) -> None:
        self.timer = None
        self.flush()

    def abort(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                # SO_LINGER 0: close() sends RST instead of FIN.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()


class ThreadedFaultProxy:
    """A :class:`FaultProxy` running in a thread with its own loop; a context manager.

    Its methods and attributes are the proxy's, callable from any thread.
    """

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> ThreadedFaultProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(10)

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.proxy.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, fn: Callable[[], T]) -> T:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the calling thread
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(10)

    @property
    def host(self) -> str:
        return self.proxy.host

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def latency(self) -> float:
        return self.proxy.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._call(lambda: setattr(self.proxy, "latency", seconds))

    @property
    def bytes_to_server(self) -> int:
        return self.proxy.bytes_to_server

    @property
    def bytes_to_client(self) -> int:
        return self.proxy.bytes_to_client

    @property
    def accepted(self) -> int:
        return self.proxy.accepted

    @property
    def active(self) -> int:
        return self._call(lambda: self.proxy.active)

    def stop_forwarding(self, *, new_connections: bool = True) -> None:
        self._call(lambda: self.proxy.stop_forwarding(new_connections=new_connections))

    def resume_forwarding(self) -> None:
        self._call(self.proxy.resume_forwarding)

    def reset_all(self) -> int:
        return self._call(self.proxy.reset_all)

    def close_all(self) -> int:
        return self._call(self.proxy.close_all)

    def refuse_connections(self) -> None:
        self._call(self.proxy.refuse_connections)

    def accept_connections(self) -> None:
        self._call(self.proxy.accept_connections)

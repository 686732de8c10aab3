"""connect() across several hosts, against a real primary and its streaming standby.

Proves libpq's multi-host semantics: ``target_session_attrs`` picks the right node,
``load_balance_hosts`` spreads or keeps order, dead hosts are skipped within their
timeouts, and a failed connect raises one error that lists every attempt. Hostile or
broken peers are local TCP listeners written here (a black hole, a server that closes,
one that sends garbage or a huge length): they show each failure is a specific,
password-free exception.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import traceback
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

import pgjet
from pgjet import errors
from pgjet.testing import Cluster

from .conftest import SERVER_KINDS, find_installation

# A password that would stand out in any message, repr or traceback that leaked it.
SECRET = "Zq9-leak-canary-7Hx"
SSL_REQUEST_CODE = 80877103


# -- servers ----------------------------------------------------------------------------


@dataclass
class Pair:
    primary: Cluster
    standby: Cluster


@pytest.fixture(scope="module", params=SERVER_KINDS)
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    """A trust-auth primary with a streaming standby, per server version."""
    with Cluster(find_installation(request.param)) as primary:
        standby = primary.create_standby()
        # A role whose sessions default to read-only: "read-only" on a primary.
        primary.sql(
            "CREATE ROLE reader LOGIN; ALTER ROLE reader SET default_transaction_read_only = on;"
        )
        _wait_until(
            lambda: standby.sql("SELECT count(*) FROM pg_roles WHERE rolname = 'reader'") == "1"
        )
        yield Pair(primary, standby)


def _wait_until(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("replication did not catch up in time")
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No PG* variable or ~/.pgpass of the machine may change what these tests see."""
    for name in list(os.environ):
        if name.startswith("PG"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-such-passfile"))


def _uri(hosts: list[tuple[str, int]], user: str = "postgres", **query: str) -> str:
    location = ",".join(f"{h}:{p}" for h, p in hosts)
    text = f"postgresql://{user}@{location}/postgres"
    if query:
        text += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return text


def _keyword_dsn(hosts: list[tuple[str, int]], user: str = "postgres", **extra: str) -> str:
    parts = [
        "host=" + ",".join(h for h, _ in hosts),
        "port=" + ",".join(str(p) for _, p in hosts),
        f"user={user}",
        "dbname=postgres",
    ]
    parts += [f"{k}={v}" for k, v in extra.items()]
    return " ".join(parts)


async def _node(conn: pgjet.Connection) -> tuple[int, bool]:
    """(server port, in recovery) as the server itself reports them."""
    port = await conn.fetchval("SELECT current_setting('port')")
    in_recovery = await conn.fetchval("SELECT pg_is_in_recovery()")
    return int(port), in_recovery


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port bound but never listening: connecting is refused, and nobody can take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


# -- fake peers -------------------------------------------------------------------------


class _FakePeer(asyncio.Protocol):
    """Answers SSLRequest with 'N', then reacts to the startup packet as told."""

    def __init__(self, behaviour: str, peers: list[asyncio.Transport]) -> None:
        self.behaviour = behaviour
        self.peers = peers
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peers.append(transport)
        if self.behaviour == "close-at-once":
            transport.close()

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.behaviour == "black-hole":
            return
        self.buffer += data
        while len(self.buffer) >= 8:
            length = int.from_bytes(self.buffer[:4], "big")
            if len(self.buffer) < length:
                return
            packet, self.buffer = self.buffer[:length], self.buffer[length:]
            if int.from_bytes(packet[4:8], "big") == SSL_REQUEST_CODE:
                self.transport.write(b"N")
                continue
            self._startup_received()

    def _startup_received(self) -> None:
        assert self.transport is not None
        if self.behaviour == "close-after-startup":
            self.transport.close()
        elif self.behaviour == "garbage":
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        elif self.behaviour == "unknown-message":
            # Well framed and small, but no message a server sends during startup.
            self.transport.write(b"X\x00\x00\x00\x08junk")
        elif self.behaviour == "huge-length":
            # An AuthenticationRequest header declaring ~2 GiB, then silence.
            self.transport.write(b"R" + (0x7FFFFFF0).to_bytes(4, "big"))
        elif self.behaviour == "ready-without-auth":
            self.transport.write(b"Z\x00\x00\x00\x05I")
        else:
            raise AssertionError(self.behaviour)


class FakeServer:
    def __init__(self) -> None:
        self.servers: list[asyncio.Server] = []
        self.peers: list[asyncio.Transport] = []

    async def start(self, behaviour: str) -> int:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _FakePeer(behaviour, self.peers), "127.0.0.1", 0)
        self.servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        for peer in self.peers:
            peer.abort()
        for server in self.servers:
            server.close()
            await server.wait_closed()


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    servers = FakeServer()
    try:
        yield servers
    finally:
        await servers.close()


def assert_no_secret(exc: BaseException) -> None:
    """The password appears nowhere: message, repr, traceback, chained causes, attempts."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for text in (str(current), repr(current)):
            assert SECRET not in text
        for cause in (current.__cause__, current.__context__):
            if cause is not None:
                todo.append(cause)
        for _host, _port, nested in getattr(current, "attempts", ()):
            todo.append(nested)
    assert SECRET not in "".join(traceback.format_exception(exc))


# -- target_session_attrs ---------------------------------------------------------------

# Which node each setting must pick from [primary, standby] and from [standby, primary].
EXPECTED = {
    "any": ("first", "first"),
    "read-write": ("primary", "primary"),
    "primary": ("primary", "primary"),
    "read-only": ("standby", "standby"),
    "standby": ("standby", "standby"),
    "prefer-standby": ("standby", "standby"),
}


@pytest.mark.parametrize("style", ["uri", "keyword"])
@pytest.mark.parametrize("standby_first", [False, True], ids=["primary-first", "standby-first"])
@pytest.mark.parametrize("attrs", list(EXPECTED))
async def test_target_session_attrs_picks_the_right_node(
    pair: Pair, attrs: str, standby_first: bool, style: str
) -> None:
    nodes = [pair.primary, pair.standby]
    if standby_first:
        nodes.reverse()
    hosts = [(n.host, n.port) for n in nodes]
    make = _uri if style == "uri" else _keyword_dsn
    conn = await pgjet.connect(make(hosts, target_session_attrs=attrs))
    try:
        port, in_recovery = await _node(conn)
    finally:
        await conn.close()
    want = EXPECTED[attrs][standby_first]
    expected = {"first": nodes[0], "primary": pair.primary, "standby": pair.standby}[want]
    assert port == expected.port
    assert in_recovery is (expected is pair.standby)


async def test_host_and_port_lists_from_environment_and_arguments(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = [pair.standby, pair.primary]
    # PGHOST/PGPORT lists with PGTARGETSESSIONATTRS, and no DSN at all.
    monkeypatch.setenv("PGHOST", ",".join(n.host for n in nodes))
    monkeypatch.setenv("PGPORT", ",".join(str(n.port) for n in nodes))
    monkeypatch.setenv("PGUSER", "postgres")
    monkeypatch.setenv("PGTARGETSESSIONATTRS", "primary")
    conn = await pgjet.connect()
    assert await _node(conn) == (pair.primary.port, False)
    await conn.close()
    # The DSN beats the environment, and the argument beats both.
    conn = await pgjet.connect("target_session_attrs=standby")
    assert await _node(conn) == (pair.standby.port, True)
    await conn.close()
    conn = await pgjet.connect("target_session_attrs=standby", target_session_attrs="read-write")
    assert await _node(conn) == (pair.primary.port, False)
    await conn.close()
    # asyncpg's list arguments; a Unix socket directory may stand in the same list.
    monkeypatch.delenv("PGTARGETSESSIONATTRS")
    for hosts in ([n.host for n in nodes], [str(pair.standby.socket_dir), pair.primary.host]):
        conn = await pgjet.connect(
            host=hosts, port=[n.port for n in nodes], target_session_attrs="read-write"
        )
        assert await _node(conn) == (pair.primary.port, False)
        await conn.close()
        conn = await pgjet.connect(host=hosts, port=[n.port for n in nodes])
        assert (await _node(conn))[1] is True
        await conn.close()


async def test_read_only_honours_default_transaction_read_only_on_a_primary(pair: Pair) -> None:
    hosts = [(pair.primary.host, pair.primary.port), (pair.standby.host, pair.standby.port)]
    # The role's default makes the primary a read-only session: it is taken first.
    conn = await pgjet.connect(_uri(hosts, user="reader", target_session_attrs="read-only"))
    assert await _node(conn) == (pair.primary.port, False)
    assert await conn.fetchval("SHOW default_transaction_read_only") == "on"
    await conn.close()
    # The same through a startup setting of an ordinary user.
    conn = await pgjet.connect(
        _uri(hosts, target_session_attrs="read-only"),
        server_settings={"default_transaction_read_only": "on"},
    )
    assert await _node(conn) == (pair.primary.port, False)
    await conn.close()
    # Without it the primary is read-write, so read-only goes on to the standby.
    conn = await pgjet.connect(_uri(hosts, target_session_attrs="read-only"))
    assert await _node(conn) == (pair.standby.port, True)
    await conn.close()


async def test_no_server_matches_target_session_attrs(pair: Pair) -> None:
    hosts = [(pair.primary.host, pair.primary.port), (pair.standby.host, pair.standby.port)]
    with pytest.raises(errors.ConnectionAttemptsFailedError) as info:
        await pgjet.connect(_uri(hosts, user="reader", target_session_attrs="read-write"))
    exc = info.value
    assert [(h, p) for h, p, _ in exc.attempts] == hosts
    assert all(isinstance(e, errors.TargetServerAttributeNotMatched) for _, _, e in exc.attempts)
    message = str(exc)
    assert "target_session_attrs='read-write'" in message
    for host, port in hosts:
        assert f"{host}:{port}" in message
    # A single host that does not match: that error itself, naming the setting.
    with pytest.raises(errors.TargetServerAttributeNotMatched, match="'standby'"):
        await pgjet.connect(_uri(hosts[:1], target_session_attrs="standby"))


async def test_prefer_standby_falls_back_to_the_primary_when_the_standby_is_down(
    pair: Pair,
) -> None:
    hosts = [(pair.standby.host, pair.standby.port), (pair.primary.host, pair.primary.port)]
    pair.standby.stop()
    try:
        started = time.monotonic()
        conn = await pgjet.connect(_uri(hosts, target_session_attrs="prefer-standby"))
        assert await _node(conn) == (pair.primary.port, False)
        await conn.close()
        assert time.monotonic() - started < 5
        # "standby" has no fallback: the error lists the refused standby and the
        # primary that did not match.
        with pytest.raises(errors.ConnectionAttemptsFailedError) as info:
            await pgjet.connect(_uri(hosts, target_session_attrs="standby"))
        kinds = [type(e) for _, _, e in info.value.attempts]
        assert issubclass(kinds[0], ConnectionRefusedError)
        assert issubclass(kinds[-1], errors.TargetServerAttributeNotMatched)
    finally:
        pair.standby.start()
    conn = await pgjet.connect(_uri(hosts, target_session_attrs="prefer-standby"))
    assert await _node(conn) == (pair.standby.port, True)
    await conn.close()


# -- load balancing -----------------------------------------------------------------------


async def test_load_balance_random_uses_every_host(pair: Pair) -> None:
    hosts = [(pair.primary.host, pair.primary.port), (pair.standby.host, pair.standby.port)]
    dsn = _keyword_dsn(hosts, load_balance_hosts="random")
    seen: dict[int, int] = {}
    # With a fair shuffle, missing one of two hosts 40 times has probability 2**-39.
    for _ in range(40):
        conn = await pgjet.connect(dsn)
        port = (await _node(conn))[0]
        await conn.close()
        seen[port] = seen.get(port, 0) + 1
        if len(seen) == 2 and min(seen.values()) >= 3:
            break
    assert set(seen) == {pair.primary.port, pair.standby.port}


async def test_load_balance_disable_keeps_order(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts = [(pair.standby.host, pair.standby.port), (pair.primary.host, pair.primary.port)]
    for dsn in (_keyword_dsn(hosts, load_balance_hosts="disable"), _keyword_dsn(hosts)):
        ports = set()
        for _ in range(8):
            conn = await pgjet.connect(dsn)
            ports.add((await _node(conn))[0])
            await conn.close()
        assert ports == {pair.standby.port}
    # The argument overrides PGLOADBALANCEHOSTS.
    monkeypatch.setenv("PGLOADBALANCEHOSTS", "random")
    for _ in range(8):
        conn = await pgjet.connect(_keyword_dsn(hosts), load_balance_hosts="disable")
        assert (await _node(conn))[0] == pair.standby.port
        await conn.close()


async def test_load_balance_random_with_target_session_attrs(pair: Pair) -> None:
    # Shuffling must not change which node fits: primary stays the only read-write one.
    hosts = [(pair.primary.host, pair.primary.port), (pair.standby.host, pair.standby.port)]
    dsn = _uri(hosts, load_balance_hosts="random", target_session_attrs="read-write")
    for _ in range(10):
        conn = await pgjet.connect(dsn)
        assert await _node(conn) == (pair.primary.port, False)
        await conn.close()


# -- dead hosts and timeouts --------------------------------------------------------------


async def test_refused_first_host_is_skipped_at_once(pair: Pair, refused_port: int) -> None:
    hosts = [("127.0.0.1", refused_port), (pair.primary.host, pair.primary.port)]
    for dsn in (_uri(hosts), _keyword_dsn(hosts)):
        started = time.monotonic()
        conn = await pgjet.connect(dsn)
        assert (await _node(conn))[0] == pair.primary.port
        await conn.close()
        assert time.monotonic() - started < 1


async def test_black_hole_first_host_is_skipped_after_connect_timeout(
    pair: Pair, fake: FakeServer
) -> None:
    hole = await fake.start("black-hole")
    hosts = [("127.0.0.1", hole), (pair.primary.host, pair.primary.port)]
    started = time.monotonic()
    conn = await pgjet.connect(_uri(hosts, connect_timeout="1"))
    elapsed = time.monotonic() - started
    assert (await _node(conn))[0] == pair.primary.port
    await conn.close()
    assert 0.9 < elapsed < 2


async def test_overall_timeout_bounds_every_attempt(fake: FakeServer) -> None:
    holes = [("127.0.0.1", await fake.start("black-hole")) for _ in range(2)]
    for dsn in (_uri(holes), _uri(holes, connect_timeout="30")):
        started = time.monotonic()
        with pytest.raises(errors.ConnectTimeoutError) as info:
            await pgjet.connect(dsn, timeout=1)
        assert 0.9 < time.monotonic() - started < 1.8
        message = str(info.value)
        assert "timed out after 1s (timeout= of the whole connect)" in message
        # The first hole used up the time; the second is named as never tried.
        assert f"127.0.0.1:{holes[0][1]}: ConnectTimeoutError" in message
        assert f"not tried: 127.0.0.1:{holes[1][1]}" in message


async def test_overall_timeout_after_a_failed_host_is_still_a_timeout(
    refused_port: int, fake: FakeServer
) -> None:
    hole = await fake.start("black-hole")
    dsn = f"postgresql://u:{SECRET}@127.0.0.1:{refused_port},127.0.0.1:{hole}/db"
    # asyncpg raises TimeoutError when `timeout` runs out, whatever failed before it.
    with pytest.raises(asyncio.TimeoutError):
        await asyncpg.connect(dsn, timeout=0.5)
    with pytest.raises(errors.ConnectTimeoutError) as info:
        await pgjet.connect(dsn, timeout=0.5)
    exc = info.value
    assert isinstance(exc, asyncio.TimeoutError)
    # Every attempt is still listed, in the message and on the chained cause.
    assert f"127.0.0.1:{refused_port}: ConnectionRefusedError" in str(exc)
    assert f"127.0.0.1:{hole}: ConnectTimeoutError" in str(exc)
    cause = exc.__cause__
    assert isinstance(cause, errors.ConnectionAttemptsFailedError)
    assert [p for _, p, _ in cause.attempts] == [refused_port, hole]
    assert_no_secret(exc)


async def test_all_hosts_down_lists_every_attempt(refused_port: int, fake: FakeServer) -> None:
    hole = await fake.start("black-hole")
    hosts = [("127.0.0.1", refused_port), ("127.0.0.1", hole)]
    dsn = (
        f"postgresql://u:{SECRET}@127.0.0.1:{refused_port},127.0.0.1:{hole}/db?connect_timeout=0.5"
    )
    with pytest.raises(errors.ConnectionAttemptsFailedError) as info:
        await pgjet.connect(dsn)
    exc = info.value
    assert isinstance(exc, OSError) and isinstance(exc, errors.InterfaceError)
    assert [(h, p) for h, p, _ in exc.attempts] == hosts
    refused, timed_out = (e for _, _, e in exc.attempts)
    assert isinstance(refused, ConnectionRefusedError)
    assert isinstance(timed_out, errors.ConnectTimeoutError)
    lines = str(exc).splitlines()
    assert lines[1].strip().startswith(f"127.0.0.1:{refused_port}: ConnectionRefusedError")
    assert lines[2].strip().startswith(f"127.0.0.1:{hole}: ConnectTimeoutError")
    assert exc.__cause__ is timed_out
    assert_no_secret(exc)


async def test_single_refused_host_raises_what_asyncpg_raises(refused_port: int) -> None:
    dsn = f"postgresql://u:{SECRET}@127.0.0.1:{refused_port}/db"
    with pytest.raises(OSError) as ours:
        await pgjet.connect(dsn)
    with pytest.raises(OSError) as theirs:
        await asyncpg.connect(dsn)
    assert type(ours.value) is type(theirs.value) is ConnectionRefusedError
    assert str(refused_port) in str(ours.value)
    assert_no_secret(ours.value)


# -- broken and hostile peers -----------------------------------------------------------


async def test_black_hole_single_host_times_out(fake: FakeServer) -> None:
    hole = await fake.start("black-hole")
    dsn = f"postgresql://u:{SECRET}@127.0.0.1:{hole}/db?connect_timeout=0.5"
    started = time.monotonic()
    with pytest.raises(errors.ConnectTimeoutError) as info:
        await pgjet.connect(dsn)
    assert time.monotonic() - started < 1.5
    exc = info.value
    assert isinstance(exc, asyncio.TimeoutError) and isinstance(exc, TimeoutError)
    assert str(exc) == f"connecting to 127.0.0.1:{hole} timed out (connect_timeout=0.5s)"
    assert_no_secret(exc)


@pytest.mark.parametrize("behaviour", ["close-after-startup", "close-at-once"])
async def test_server_closing_during_startup(fake: FakeServer, behaviour: str) -> None:
    port = await fake.start(behaviour)
    with pytest.raises(errors.ServerClosedDuringStartupError) as info:
        await pgjet.connect(f"postgresql://u:{SECRET}@127.0.0.1:{port}/db", timeout=5)
    exc = info.value
    # What asyncpg raises there, and a socket-level error too.
    assert isinstance(exc, errors.ConnectionDoesNotExistError)
    assert isinstance(exc, ConnectionResetError)
    assert "closed the connection" in str(exc)
    assert_no_secret(exc)


@pytest.mark.parametrize("behaviour", ["garbage", "unknown-message"])
async def test_garbage_from_the_server_is_a_protocol_error(
    fake: FakeServer, behaviour: str
) -> None:
    port = await fake.start(behaviour)
    started = time.monotonic()
    with pytest.raises(errors.ProtocolError) as info:
        await pgjet.connect(f"postgresql://u:{SECRET}@127.0.0.1:{port}/db", timeout=5)
    assert time.monotonic() - started < 1
    assert "protocol violation" in str(info.value)
    assert_no_secret(info.value)


async def test_huge_declared_length_is_refused_without_allocating(fake: FakeServer) -> None:
    port = await fake.start("huge-length")
    tracemalloc.start()
    try:
        started = time.monotonic()
        with pytest.raises(errors.ProtocolError) as info:
            await pgjet.connect(f"postgresql://u:{SECRET}@127.0.0.1:{port}/db", timeout=5)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Refused from the 5-byte header alone: no waiting for the body, no 2 GiB buffer.
    assert elapsed < 1
    assert peak < 16 * 1024 * 1024
    assert "max_message_size" in str(info.value)
    assert_no_secret(info.value)


async def test_ready_for_query_without_authentication_is_refused(fake: FakeServer) -> None:
    # libpq refuses a server that skips authentication; so must we.
    port = await fake.start("ready-without-auth")
    with pytest.raises(errors.ProtocolError) as info:
        conn = await pgjet.connect(f"postgresql://u:{SECRET}@127.0.0.1:{port}/db", timeout=5)
        await conn.close()
    assert_no_secret(info.value)

"""Byte-level tests of the sans-I/O wire core: no server, no event loop."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgjet._wire.core import ProtocolViolation, QueryOp, StartupOp, WireProtocol


def msg(mtype: bytes, body: bytes = b"") -> bytes:
    return mtype + struct.pack("!i", len(body) + 4) + body


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def ready(status: bytes = b"I") -> bytes:
    return msg(b"Z", status)


def row_description(*columns: tuple[str, int]) -> bytes:
    body = struct.pack("!h", len(columns))
    for name, oid in columns:
        body += cstr(name) + struct.pack("!ihihih", 0, 0, oid, -1, -1, 0)
    return msg(b"T", body)


def data_row(*values: bytes | None) -> bytes:
    body = struct.pack("!h", len(values))
    for v in values:
        body += struct.pack("!i", -1) if v is None else struct.pack("!i", len(v)) + v
    return msg(b"D", body)


# -- frontend messages -------------------------------------------------------------


def test_startup_message_bytes() -> None:
    p = WireProtocol()
    p.out.startup({"user": "u", "database": "d"})
    body = struct.pack("!i", 196608) + b"user\0u\0database\0d\0\0"
    assert p.out.take() == struct.pack("!i", len(body) + 4) + body


def test_extended_query_messages_are_one_buffer() -> None:
    p = WireProtocol()
    out = p.out
    out.parse(b"", b"select $1", [23])
    out.bind_text(b"", b"", [b"42", None], 0)
    out.describe(ord("P"), b"")
    out.execute(b"", 0)
    out.sync()
    data = out.take()
    assert data == (
        msg(b"P", b"\0select $1\0" + struct.pack("!hi", 1, 23))
        + msg(
            b"B",
            b"\0\0"
            + struct.pack("!hh", 0, 2)
            + struct.pack("!i", 2)
            + b"42"
            + struct.pack("!i", -1)
            + struct.pack("!hh", 1, 0),
        )
        + msg(b"D", b"P\0")
        + msg(b"E", b"\0" + struct.pack("!i", 0))
        + msg(b"S")
    )
    assert out.take() == b""


def test_ssl_and_cancel_requests() -> None:
    p = WireProtocol()
    p.out.ssl_request()
    assert p.out.take() == struct.pack("!ii", 8, 80877103)
    p.out.cancel_request(1234, b"\x00\x00\x00\x07")
    assert p.out.take() == struct.pack("!iiii", 16, 80877102, 1234, 7)


@pytest.mark.parametrize(
    "build",
    [
        lambda out: out.query("select '\0'"),
        lambda out: out.parse(b"", b"select \0", []),
        lambda out: out.startup({"user": "a\0b"}),
        lambda out: out.password(b"pw"),  # not NUL-terminated
        lambda out: out.execute(b"p\0", 0),
    ],
)
def test_nul_bytes_are_refused_and_leave_no_partial_message(build) -> None:  # type: ignore[no-untyped-def]
    p = WireProtocol()
    p.out.sync()
    with pytest.raises(ValueError):
        build(p.out)
    # Only the complete Sync remains: a failed builder never leaves half a frame.
    assert p.out.take() == msg(b"S")


def test_too_many_parameters() -> None:
    p = WireProtocol()
    with pytest.raises(ValueError, match="65535"):
        p.out.parse(b"", b"select 1", [0] * 65536)


# -- backend messages --------------------------------------------------------------


def startup_stream() -> bytes:
    return (
        msg(b"R", struct.pack("!i", 0))
        + msg(b"S", cstr("server_version") + cstr("18.1"))
        + msg(b"K", struct.pack("!i", 42) + b"\x01\x02\x03\x04")
        + ready()
    )


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1000])
def test_startup_in_any_chunking(chunk: int) -> None:
    p = WireProtocol()
    op = StartupOp()
    p.push(op)
    data = startup_stream()
    for i in range(0, len(data), chunk):
        p.feed(data[i : i + chunk])
    assert p.completed == [op]
    assert op.result == ("ready", None, None)
    assert p.backend_pid == 42
    assert p.backend_key == b"\x01\x02\x03\x04"
    assert p.parameters["server_version"] == "18.1"
    assert p.authenticated


def test_auth_request_completes_startup_step() -> None:
    p = WireProtocol()
    op = StartupOp()
    p.push(op)
    p.feed(msg(b"R", struct.pack("!i", 5) + b"salt"))
    assert op.result == ("auth", 5, b"salt")


def test_pipelined_queries_each_get_their_own_result() -> None:
    p = WireProtocol()
    a, b = QueryOp(), QueryOp()
    p.push(a)
    p.push(b)
    stream = (
        row_description(("x", 23))
        + data_row(b"1")
        + msg(b"C", cstr("SELECT 1"))
        + ready()
        + msg(b"E", b"SERROR\0C42601\0Msyntax error\0\0")
        + ready(b"I")
    )
    p.feed(stream)
    assert p.completed == [a, b]
    assert a.rows == [("1",)] and a.status == "SELECT 1" and a.error_fields is None
    assert b.error_fields == {"S": "ERROR", "C": "42601", "M": "syntax error"}


def test_text_decoders_and_nulls() -> None:
    p = WireProtocol()
    op = QueryOp({23: int})
    p.push(op)
    p.feed(
        row_description(("a", 23), ("b", 25))
        + data_row(b"7", None)
        + msg(b"C", cstr("SELECT 1"))
        + ready()
    )
    assert op.rows == [(7, None)]


def test_async_messages_become_events() -> None:
    p = WireProtocol()
    p.feed(
        msg(b"N", b"SNOTICE\0Mhello\0\0")
        + msg(b"A", struct.pack("!i", 9) + cstr("chan") + cstr("payload"))
        + msg(b"S", cstr("TimeZone") + cstr("UTC"))
    )
    assert p.events == [
        ("notice", {"S": "NOTICE", "M": "hello"}),
        ("notification", 9, "chan", "payload"),
        ("parameter", "TimeZone", "UTC"),
    ]


def test_message_cap() -> None:
    p = WireProtocol(max_message_size=2048)
    p.push(QueryOp())
    with pytest.raises(ProtocolViolation, match="max_message_size"):
        p.feed(b"D" + struct.pack("!i", 1 << 30))


@pytest.mark.parametrize(
    "stream",
    [
        b"D" + struct.pack("!i", 2),  # length below 4
        msg(b"Z", b"I"),  # ReadyForQuery with nothing pending
        data_row(b"1"),  # DataRow before RowDescription (with an op pending below)
    ],
)
def test_malformed_streams_raise_protocol_violation(stream: bytes) -> None:
    p = WireProtocol()
    if stream[:1] == b"D" and len(stream) > 5:
        p.push(QueryOp())
    with pytest.raises(ProtocolViolation):
        p.feed(stream)


def test_truncated_fields_are_detected() -> None:
    p = WireProtocol()
    p.push(QueryOp())
    with pytest.raises(ProtocolViolation, match=r"truncated|unterminated"):
        # RowDescription claiming 2 columns but holding one.
        p.feed(
            msg(b"T", struct.pack("!h", 2) + cstr("a") + struct.pack("!ihihih", 0, 0, 23, 4, -1, 0))
        )


def test_big_message_grows_buffer_then_shrinks() -> None:
    p = WireProtocol()
    op = QueryOp()
    p.push(op)
    big = b"x" * (3 << 20)
    stream = row_description(("t", 25)) + data_row(big) + msg(b"C", cstr("SELECT 1")) + ready()
    # Feed through get_buffer/buffer_updated as asyncio would.
    pos = 0
    while pos < len(stream):
        buf = p.get_buffer(65536)
        n = min(len(buf), len(stream) - pos)
        buf[:n] = stream[pos : pos + n]
        del buf
        p.buffer_updated(n)
        pos += n
    assert op.rows == [(big.decode(),)]
    assert len(p.get_buffer(-1)) < (1 << 20)


# -- fuzzing -----------------------------------------------------------------------

KNOWN = b"RSKZEN AtTDCI12n3sGHdcv"


@st.composite
def backend_streams(draw: st.DrawFn) -> bytes:
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        mtype = draw(st.sampled_from(list(KNOWN)) | st.integers(0, 255))
        body = draw(st.binary(max_size=64))
        length = len(body) + 4
        if draw(st.integers(0, 9)) == 0:
            length = draw(st.integers(-(2**31), 2**31 - 1))
        parts.append(bytes([mtype]) + struct.pack("!i", length) + body)
    return b"".join(parts)


@settings(max_examples=1500, deadline=None)
@given(backend_streams(), st.integers(1, 17), st.booleans())
def test_fuzz_random_streams_never_crash(stream: bytes, chunk: int, startup: bool) -> None:
    p = WireProtocol(max_message_size=4096)
    p.push(StartupOp() if startup else QueryOp({23: int}))
    p.push(QueryOp())
    # A clean refusal is fine; anything else (or a crash/hang) fails the test.
    with contextlib.suppress(ProtocolViolation, UnicodeDecodeError, ValueError):
        for i in range(0, len(stream), chunk):
            p.feed(stream[i : i + chunk])


@settings(max_examples=800, deadline=None)
@given(st.data())
def test_fuzz_mutated_valid_stream(data: st.DataObject) -> None:
    valid = bytearray(
        startup_stream()
        + row_description(("a", 23), ("b", 25))
        + data_row(b"1", b"x")
        + msg(b"C", cstr("SELECT 1"))
        + ready()
    )
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(valid) - 1))
        valid[pos] = data.draw(st.integers(0, 255))
    p = WireProtocol(max_message_size=4096)
    p.push(StartupOp())
    p.push(QueryOp({23: int}))
    with contextlib.suppress(ProtocolViolation, UnicodeDecodeError, ValueError):
        p.feed(bytes(valid))


def _read_messages(p: WireProtocol, sizes: list[int]) -> list[int]:
    """Receive one ParameterStatus message of each size (at most the room offered), as
    asyncio would; return the room each get_buffer() offered."""
    offered = []
    for size in sizes:
        buf = p.get_buffer(-1)
        offered.append(len(buf))
        n = min(size, len(buf))
        body = b"k\0" + b"v" * (n - 5 - 3) + b"\0"
        message = b"S" + struct.pack("!i", len(body) + 4) + body
        buf[: len(message)] = message
        del buf
        p.buffer_updated(len(message))
    return offered


def test_read_room_grows_while_reads_fill_it_then_goes_back() -> None:
    # A big result streaming in: every read that fills the room offered
    # doubles the next offer, up to 256 KiB (fewer reads and event-loop
    # turns per megabyte); small reads let it, and the memory, go back.
    p = WireProtocol()
    assert _read_messages(p, [1 << 30] * 7) == [16384, 32768, 65536, 131072, 262144, 262144, 262144]
    assert p.parameters["k"] == "v" * (262144 - 8)
    assert _read_messages(p, [100] * 6) == [262144, 262144, 65536, 65536, 16384, 16384]
    assert _read_messages(p, [100] * 3) == [16384, 16384, 16384]

"""Byte-level tests of the statement operations: PrepareOp, ExecuteOp, SyncOp, write_bind.

No server and no event loop: backend streams are built by hand (and by
hypothesis) and fed to the sans-I/O core. A hostile stream may only ever end
in ProtocolViolation; a value a codec refuses fails its own query and leaves
the stream in step.
"""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgjet import Record
from pgjet._wire.buffer import WriteBuffer
from pgjet._wire.core import (
    ArgumentError,
    ExecuteOp,
    PrepareOp,
    ProtocolViolation,
    StatementState,
    SyncOp,
    WireProtocol,
    column_sinks,
)

INT4, INT8, TEXT, BOOL, FLOAT8, NUMERIC, DATE, TIMESTAMP, UUID, INTERVAL, INT4_ARRAY = (
    23,
    20,
    25,
    16,
    701,
    1700,
    1082,
    1114,
    2950,
    1186,
    1007,
)


def msg(mtype: bytes, body: bytes = b"") -> bytes:
    return mtype + struct.pack("!i", len(body) + 4) + body


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def ready(status: bytes = b"I") -> bytes:
    return msg(b"Z", status)


def parameter_description(*oids: int) -> bytes:
    return msg(b"t", struct.pack("!h", len(oids)) + b"".join(struct.pack("!I", o) for o in oids))


def row_description(*columns: tuple[str, int], fmt: int = 0) -> bytes:
    body = struct.pack("!h", len(columns))
    for name, oid in columns:
        body += cstr(name) + struct.pack("!ihIhih", 0, 0, oid, -1, -1, fmt)
    return msg(b"T", body)


def data_row(*values: bytes | None) -> bytes:
    body = struct.pack("!h", len(values))
    for v in values:
        body += struct.pack("!i", -1) if v is None else struct.pack("!i", len(v)) + v
    return msg(b"D", body)


def error(code: str = "42601", text: str = "boom") -> bytes:
    return msg(b"E", b"SERROR\0C" + code.encode() + b"\0M" + text.encode() + b"\0\0")


def complete(tag: str) -> bytes:
    return msg(b"C", cstr(tag))


PARSE_OK, BIND_OK, CLOSE_OK, NO_DATA, SUSPENDED = (
    msg(b"1"),
    msg(b"2"),
    msg(b"3"),
    msg(b"n"),
    msg(b"s"),
)


def described(
    params: tuple[int, ...] = (INT4, TEXT),
    columns: tuple[tuple[str, int], ...] = (("a", INT4), ("b", TEXT)),
) -> StatementState:
    """A StatementState filled by a PrepareOp from a hand-built answer."""
    p = WireProtocol()
    state = StatementState(b"s1", "SELECT $1::int4 AS a, $2::text AS b")
    state.record_class = Record
    op = PrepareOp(state)
    p.push(op)
    answer = PARSE_OK + parameter_description(*params)
    answer += row_description(*columns) if columns else NO_DATA
    p.feed(answer + ready())
    assert p.completed == [op] and op.error_fields is None
    return state


def int4(v: int) -> bytes:
    return struct.pack("!i", v)


# -- PrepareOp ------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_prepare_fills_the_statement_in_any_chunking(chunk: int) -> None:
    p = WireProtocol()
    state = StatementState(b"s1", "q")
    op = PrepareOp(state)
    p.push(op)
    stream = (
        PARSE_OK
        + parameter_description(INT4, TEXT, INT8)
        + row_description(("x", INT8), ("y", TEXT))
        + ready(b"T")
    )
    for i in range(0, len(stream), chunk):
        p.feed(stream[i : i + chunk])
    assert p.completed == [op]
    assert state.param_oids == (INT4, TEXT, INT8)
    assert state.columns == (("x", INT8), ("y", TEXT))
    assert len(state.param_codecs) == 3 and len(state.column_codecs) == 2
    assert p.transaction_status == "T"


def test_prepare_of_a_statement_without_result() -> None:
    state = described(params=(), columns=())
    assert state.param_oids == () and state.columns == ()


def test_prepare_error_is_kept_and_the_next_operation_gets_its_answer() -> None:
    p = WireProtocol()
    failed, after = PrepareOp(StatementState(b"s1", "q")), SyncOp()
    p.push(failed)
    p.push(after)
    p.feed(error() + error("XX000", "second") + ready(b"I") + CLOSE_OK + ready(b"I"))
    assert p.completed == [failed, after]
    assert failed.error_fields == {"S": "ERROR", "C": "42601", "M": "boom"}
    assert after.error_fields is None


# -- write_bind -------------------------------------------------------------------------------


def test_write_bind_bytes() -> None:
    state = described()
    out = WriteBuffer()
    state.write_bind(out, b"p1", (7, "hé"))
    body = (
        b"p1\0s1\0"
        + struct.pack("!hhh", 2, 1, 1)  # two parameter formats: binary
        + struct.pack("!h", 2)
        + struct.pack("!i", 4)
        + int4(7)
        + struct.pack("!i", 3)
        + "hé".encode()
        + struct.pack("!hhh", 2, 1, 1)  # two result formats: binary
    )
    assert out.take() == msg(b"B", body)


def test_write_bind_null() -> None:
    state = described()
    out = WriteBuffer()
    state.write_bind(out, b"", (None, None))
    body = b"\0s1\0" + struct.pack("!hhhhiihhh", 2, 1, 1, 2, -1, -1, 2, 1, 1)
    assert out.take() == msg(b"B", body)


@pytest.mark.parametrize(
    ("args", "position"),
    [(("x", "ok"), 1), ((1, 2), 2), ((2**40, "ok"), 1), ((1, "nul\0"), 2)],
)
def test_write_bind_refuses_a_bad_argument_leaving_no_partial_message(
    args: tuple[object, object], position: int
) -> None:
    state = described()
    out = WriteBuffer()
    out.sync()
    with pytest.raises(ArgumentError) as info:
        state.write_bind(out, b"", args)
    assert info.value.position == position
    assert isinstance(info.value.error, (TypeError, ValueError, OverflowError))
    assert out.take() == msg(b"S")


@pytest.mark.parametrize("args", [(), (1,), (1, "a", 3)])
def test_write_bind_wrong_argument_count(args: tuple[object, ...]) -> None:
    state = described()
    out = WriteBuffer()
    with pytest.raises(ValueError, match="parameters"):
        state.write_bind(out, b"", args)
    assert out.take() == b""


# -- ExecuteOp --------------------------------------------------------------------------------


def test_execute_decodes_rows_into_records() -> None:
    state = described()
    p = WireProtocol()
    op = ExecuteOp(state)
    p.push(op)
    p.feed(
        BIND_OK + data_row(int4(1), b"one") + data_row(None, b"") + complete("SELECT 2") + ready()
    )
    assert p.completed == [op]
    assert [tuple(r) for r in op.rows] == [(1, "one"), (None, "")]
    assert all(type(r) is Record for r in op.rows)
    assert op.rows[0]["b"] == "one"
    assert op.status == "SELECT 2" and op.completed_commands == 1


def test_execute_many_under_one_sync() -> None:
    state = described(columns=())
    p = WireProtocol()
    op = ExecuteOp(state, True)
    p.push(op)
    p.feed((BIND_OK + complete("INSERT 0 1")) * 5 + ready())
    assert op.completed_commands == 5 and op.rows == []


def test_execute_portal_suspended() -> None:
    state = described()
    p = WireProtocol()
    op = ExecuteOp(state)
    p.push(op)
    p.feed(data_row(int4(1), b"x") + SUSPENDED + ready(b"T"))
    assert op.suspended and len(op.rows) == 1 and p.transaction_status == "T"


def test_execute_discard_rows() -> None:
    state = described()
    p = WireProtocol()
    op = ExecuteOp(state, True)
    p.push(op)
    p.feed(BIND_OK + data_row(int4(1), b"x") + complete("SELECT 1") + ready())
    assert op.rows == [] and op.status == "SELECT 1"


def test_execute_error_then_pipelined_neighbour() -> None:
    state = described()
    p = WireProtocol()
    failed, after = ExecuteOp(state), ExecuteOp(state)
    p.push(failed)
    p.push(after)
    p.feed(
        BIND_OK
        + data_row(int4(1), b"x")
        + error("57014", "canceling statement")
        + ready(b"I")
        + BIND_OK
        + data_row(int4(2), b"y")
        + complete("SELECT 1")
        + ready()
    )
    assert failed.error_fields is not None and failed.error_fields["C"] == "57014"
    assert [tuple(r) for r in after.rows] == [(2, "y")] and after.error_fields is None


@pytest.mark.parametrize(
    "bad_value",
    [int4(1)[:3], int4(1) + b"\0", b""],
    ids=["short", "long", "empty"],
)
def test_undecodable_value_fails_the_operation_not_the_stream(bad_value: bytes) -> None:
    state = described()
    p = WireProtocol()
    op, after = ExecuteOp(state), ExecuteOp(state)
    p.push(op)
    p.push(after)
    p.feed(
        data_row(int4(1), b"a")
        + data_row(bad_value, b"b")
        + data_row(int4(3), b"c")
        + complete("SELECT 3")
        + ready()
        + data_row(int4(4), b"d")
        + complete("SELECT 1")
        + ready()
    )
    assert p.completed == [op, after]
    assert op.decode_error is not None and "int4" in str(op.decode_error)
    assert op.rows == []  # never a partial result
    assert [tuple(r) for r in after.rows] == [(4, "d")] and after.decode_error is None


def test_invalid_utf8_text_fails_the_operation() -> None:
    state = described()
    p = WireProtocol()
    op = ExecuteOp(state)
    p.push(op)
    p.feed(data_row(int4(1), b"\xff\xfe") + complete("SELECT 1") + ready())
    assert isinstance(op.decode_error, UnicodeDecodeError) and op.rows == []


def test_portal_description_that_matches() -> None:
    state = described()
    p = WireProtocol()
    op = ExecuteOp(state)
    p.push(op)
    p.feed(
        PARSE_OK
        + BIND_OK
        + row_description(("a", INT4), ("b", TEXT), fmt=1)
        + data_row(int4(5), b"x")
        + complete("SELECT 1")
        + ready()
    )
    assert not op.schema_changed and [tuple(r) for r in op.rows] == [(5, "x")]


@pytest.mark.parametrize(
    "description",
    [
        row_description(("a", 700), ("b", TEXT)),  # int4 became float4: same width
        row_description(("a", INT4)),
        row_description(("a", INT4), ("b", TEXT), ("c", INT4)),
        NO_DATA,
    ],
    ids=["other-type", "fewer", "more", "no-data"],
)
def test_portal_description_that_differs_decodes_nothing(description: bytes) -> None:
    state = described()
    p = WireProtocol()
    op = ExecuteOp(state)
    p.push(op)
    p.feed(
        PARSE_OK
        + BIND_OK
        + description
        + data_row(b"\x40\xa0\x00\x00", b"x")
        + complete("SELECT 1")
        + ready()
    )
    assert p.completed == [op]
    assert op.schema_changed and op.rows == []


# -- SyncOp ------------------------------------------------------------------------------------


def test_sync_op_for_closes() -> None:
    p = WireProtocol()
    op = SyncOp()
    p.push(op)
    p.feed(CLOSE_OK + CLOSE_OK + ready(b"E"))
    assert p.completed == [op] and op.error_fields is None
    assert p.transaction_status == "E"


# -- hostile streams ----------------------------------------------------------------------------


def _truncated_data_row() -> bytes:
    return msg(b"D", struct.pack("!hi", 2, 4) + int4(1) + struct.pack("!i", 100) + b"abc")


MALFORMED = [
    ("execute", data_row(int4(1)), "columns"),
    ("execute", data_row(int4(1), b"x", b"y"), "columns"),
    ("execute", _truncated_data_row(), "truncated"),
    ("execute", msg(b"D", struct.pack("!hi", 2, -2)), "truncated"),
    ("execute", data_row(int4(1), b"x"), None),  # valid: the control case
    ("execute", msg(b"D", data_row(int4(1), b"x")[5:] + b"junk"), "trailing"),
    ("execute", msg(b"D", struct.pack("!h", -1)), "columns"),
    ("execute", msg(b"T", struct.pack("!h", -3)), "negative"),
    ("execute", msg(b"T", struct.pack("!h", 1) + cstr("a")), "truncated"),
    ("execute", msg(b"G", b"\0\0\0"), None),  # COPY FROM STDIN: refused with CopyFail
    ("execute", msg(b"R", int4(0)), "unexpected"),
    ("execute", msg(b"C", b"no terminator"), "unterminated"),
    ("execute", msg(b"E", b"Sno terminator"), "unterminated"),
    ("prepare", msg(b"T", struct.pack("!h", -1)), "negative"),
    ("prepare", msg(b"T", struct.pack("!h", 2) + cstr("a") + b"\0" * 18), "unterminated"),
    ("prepare", row_description(("a", INT4))[:-1], None),  # short: waits for more
    ("prepare", msg(b"T", row_description(("a", INT4))[5:] + b"x"), "trailing"),
    ("prepare", msg(b"t", struct.pack("!h", -1)), "negative"),
    ("prepare", msg(b"t", struct.pack("!hi", 2, INT4)), "truncated"),
    ("prepare", msg(b"t", struct.pack("!hii", 1, INT4, INT4)), "trailing"),
    ("prepare", msg(b"D", data_row(int4(1))[5:]), "unexpected"),
    ("prepare", msg(b"K", int4(1) + int4(2)), "unexpected"),
    ("sync", data_row(int4(1)), "unexpected"),
    ("sync", msg(b"T", struct.pack("!h", 0)), "unexpected"),
    ("sync", msg(b"s"), "unexpected"),
]


@pytest.mark.parametrize(
    ("kind", "stream", "words"),
    MALFORMED,
    ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(MALFORMED)],
)
def test_malformed_messages_raise_protocol_violation(
    kind: str, stream: bytes, words: str | None
) -> None:
    p = WireProtocol()
    state = described()
    op = {
        "execute": lambda: ExecuteOp(state),
        "prepare": lambda: PrepareOp(StatementState(b"x", "q")),
        "sync": SyncOp,
    }[kind]()
    p.push(op)
    if words is None:
        p.feed(stream)  # accepted (or incomplete): no exception
        return
    with pytest.raises(ProtocolViolation, match=words):
        p.feed(stream)


def test_copy_in_response_alone_is_refused_with_copy_fail_and_sync() -> None:
    p = WireProtocol()
    op = ExecuteOp(described())
    p.push(op)
    p.feed(msg(b"G", b"\0\0\0"))
    sent = p.out.take()
    assert sent.startswith(b"f") and sent.endswith(msg(b"S"))
    assert op.error_fields is not None and op.error_fields["C"] == "0A000"


def test_copy_in_response_with_requests_pipelined_behind_is_fatal() -> None:
    # The server would swallow the next request's messages as the end of the
    # COPY: the connection must be closed rather than mis-associate results.
    p = WireProtocol()
    p.push(ExecuteOp(described()))
    p.push(ExecuteOp(described()))
    with pytest.raises(ProtocolViolation, match="pipelined"):
        p.feed(msg(b"G", b"\0\0\0"))


# -- fuzzing ---------------------------------------------------------------------------------

OP_MESSAGES = b"12356nsDCTtEZINGRK"


@st.composite
def op_streams(draw: st.DrawFn) -> bytes:
    parts = []
    for _ in range(draw(st.integers(0, 10))):
        mtype = draw(st.sampled_from(list(OP_MESSAGES)))
        body = draw(st.binary(max_size=48))
        parts.append(msg(bytes([mtype]), body))
    return b"".join(parts)


def _pipeline() -> tuple[WireProtocol, list[object]]:
    p = WireProtocol(max_message_size=4096)
    state = described()
    ops: list[object] = [
        PrepareOp(StatementState(b"x", "q")),
        ExecuteOp(state),
        SyncOp(),
        ExecuteOp(state, True),
    ]
    for op in ops:
        p.push(op)
    return p, ops


@settings(max_examples=1500, deadline=None)
@given(op_streams(), st.integers(1, 13))
def test_fuzz_random_messages_only_ever_raise_protocol_violation(stream: bytes, chunk: int) -> None:
    p, _ = _pipeline()
    with contextlib.suppress(ProtocolViolation):
        for i in range(0, len(stream), chunk):
            p.feed(stream[i : i + chunk])


# One column of each of these types, with random bytes for its value.
FUZZ_COLUMNS = (
    ("i4", INT4),
    ("i8", INT8),
    ("t", TEXT),
    ("b", BOOL),
    ("f", FLOAT8),
    ("n", NUMERIC),
    ("d", DATE),
    ("ts", TIMESTAMP),
    ("u", UUID),
    ("iv", INTERVAL),
    ("a", INT4_ARRAY),
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.one_of(st.none(), st.binary(max_size=40)), min_size=11, max_size=11))
def test_fuzz_hostile_values_fail_the_query_never_the_stream(values: list[bytes | None]) -> None:
    state = described(params=(), columns=FUZZ_COLUMNS)
    p = WireProtocol()
    op, after = ExecuteOp(state), SyncOp()
    p.push(op)
    p.push(after)
    p.feed(data_row(*values) + complete("SELECT 1") + CLOSE_OK + ready() + ready())
    # Framing was intact, so the stream stays in step whatever the values were.
    assert p.completed == [op, after]
    if op.decode_error is None:
        assert len(op.rows) == 1 and len(op.rows[0]) == len(FUZZ_COLUMNS)
    else:
        assert op.rows == []


@settings(max_examples=800, deadline=None)
@given(st.data())
def test_fuzz_mutated_execute_stream(data: st.DataObject) -> None:
    valid = bytearray(
        PARSE_OK
        + BIND_OK
        + row_description(("a", INT4), ("b", TEXT), fmt=1)
        + data_row(int4(1), b"x")
        + data_row(None, b"y")
        + complete("SELECT 2")
        + ready()
        + CLOSE_OK
        + ready()
    )
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(valid) - 1))
        valid[pos] = data.draw(st.integers(0, 255))
    p = WireProtocol(max_message_size=4096)
    p.push(ExecuteOp(described()))
    p.push(SyncOp())
    with contextlib.suppress(ProtocolViolation):
        p.feed(bytes(valid))


@pytest.mark.parametrize("chunk", [1, 5, 13, 64, 100_000])
@pytest.mark.parametrize("columnar", ["", "lists", "packed"])
def test_runs_of_rows_decode_the_same_in_any_chunking(chunk: int, columnar: str) -> None:
    # Whole DataRows behind the first one are decoded in one loop: the
    # result must not depend on where reads happen to cut the stream, nor on
    # a bad row in the middle of a run (it fails the call, the next call is
    # decoded normally).
    state = described()
    good = [data_row(int4(i), f"r{i}".encode()) for i in range(40)]
    bad = data_row(int4(1)[:3], b"x")
    for rows, fails in ((good, False), ([*good[:20], bad, *good[20:]], True)):
        p = WireProtocol()
        op, after = ExecuteOp(state), ExecuteOp(state)
        if columnar:
            op.column_sinks = column_sinks(state, columnar == "packed")
        p.push(op)
        p.push(after)
        stream = b"".join(rows) + complete("SELECT") + ready()
        stream += data_row(int4(7), b"z") + complete("SELECT 1") + ready()
        for i in range(0, len(stream), chunk):
            p.feed(stream[i : i + chunk])
        assert p.completed == [op, after]
        assert [tuple(r) for r in after.rows] == [(7, "z")]
        if fails:
            assert op.decode_error is not None and op.rows == [] and op.column_sinks is None
            continue
        assert op.decode_error is None
        if columnar:
            a, b = op.column_sinks or []
            values = (
                a.items
                if columnar == "lists"
                else list(struct.unpack(f"={a.count}i", a.packed_values()[0]))
            )
            assert values == list(range(40)) and b.items == [f"r{i}" for i in range(40)]
        else:
            assert [tuple(r) for r in op.rows] == [(i, f"r{i}") for i in range(40)]

"""Byte-level tests of columnar results (ColumnSink): hand-built DataRows, no server."""

from __future__ import annotations

import struct

import pytest

from pgjet._wire.core import ExecuteOp, WireProtocol, column_sinks

from .test_wire_ops import BOOL, FLOAT8, INT4, TEXT, complete, data_row, described, int4, ready


def _run(packed: bool, *rows: bytes) -> tuple[ExecuteOp, ExecuteOp]:
    """Feed `rows` to a columnar operation, then one good row to the next one."""
    state = described(columns=(("a", INT4), ("b", TEXT), ("f", FLOAT8), ("t", BOOL)))
    p = WireProtocol()
    op, after = ExecuteOp(state), ExecuteOp(state)
    op.column_sinks = column_sinks(state, packed)
    after.column_sinks = column_sinks(state, packed)
    p.push(op)
    p.push(after)
    good = data_row(int4(9), b"z", struct.pack("!d", 0.5), b"\x01")
    p.feed(b"".join(rows) + complete("SELECT") + ready() + good + complete("SELECT 1") + ready())
    assert p.completed == [op, after]
    assert after.decode_error is None
    return op, after


@pytest.mark.parametrize("packed", [True, False])
def test_rows_land_in_their_columns(packed: bool) -> None:
    op, _ = _run(
        packed,
        data_row(int4(-1), b"x", struct.pack("!d", -2.5), b"\x00"),
        data_row(None, None, None, None),
        data_row(int4(2**31 - 1), "é".encode(), struct.pack("!d", 1e308), b"\x01"),
    )
    assert op.decode_error is None
    a, b, f, t = op.column_sinks or []
    assert [s.name for s in (a, b, f, t)] == ["a", "b", "f", "t"]
    assert b.items == ["x", None, "é"] and b.dtype is None
    if not packed:
        assert (a.items, f.items, t.items) == (
            [-1, None, 2**31 - 1],
            [-2.5, None, 1e308],
            [False, None, True],
        )
        return
    assert (a.dtype, f.dtype, t.dtype) == ("int32", "float64", "bool")
    values, nulls = a.packed_values()
    assert struct.unpack("=3i", values) == (-1, 0, 2**31 - 1) and nulls == b"\x00\x01\x00"
    values, nulls = f.packed_values()
    assert struct.unpack("=3d", values) == (-2.5, 0.0, 1e308) and nulls == b"\x00\x01\x00"
    assert t.packed_values() == (bytearray(b"\x00\x00\x01"), bytearray(b"\x00\x01\x00"))


@pytest.mark.parametrize("bad", [int4(1)[:3], int4(1) + b"\0", b""], ids=["short", "long", "empty"])
@pytest.mark.parametrize("packed", [True, False])
def test_a_value_of_the_wrong_width_fails_the_call_not_the_stream(bad: bytes, packed: bool) -> None:
    op, after = _run(
        packed,
        data_row(int4(1), b"a", struct.pack("!d", 1.0), b"\x01"),
        data_row(int4(2), b"b", bad, b"\x01"),  # a later column: the row's first values roll back
        data_row(int4(3), b"c", struct.pack("!d", 3.0), b"\x01"),
    )
    # The error fetch() raises for it, whichever way the column is collected.
    assert type(op.decode_error).__name__ == "ProtocolError"
    assert "malformed float8 value from the server" in str(op.decode_error)
    assert op.column_sinks is None  # never a partial result
    sinks = after.column_sinks or []
    assert [s.count for s in sinks] == [1, 1, 1, 1]
    if packed:
        assert struct.unpack("=i", sinks[0].packed_values()[0]) == (9,)


def test_a_hostile_bool_byte_is_normalised() -> None:
    op, _ = _run(True, data_row(int4(1), b"a", struct.pack("!d", 1.0), b"\x07"))
    assert (op.column_sinks or [])[3].packed_values()[0] == b"\x01"


def test_packed_values_of_an_object_column_is_refused() -> None:
    op, _ = _run(True, data_row(int4(1), b"a", struct.pack("!d", 1.0), b"\x01"))
    with pytest.raises(TypeError, match="column 'b' holds Python objects"):
        (op.column_sinks or [])[1].packed_values()

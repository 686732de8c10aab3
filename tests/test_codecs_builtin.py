"""Codecs for the remaining builtin types: network, geometric, bits, ranges,
multiranges, tid/snapshots/vectors, records, and text-format arrays.

Same method as test_codecs.py: the server's binary bytes (psycopg at the libpq
level) are decoded and compared with asyncpg's value for the same expression; our
re-encoding is compared byte for byte and sent back as a binary parameter.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import math
import struct
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgjet import oids
from pgjet._wire.codecs import decode_binary, encode_binary, get_codec, has_binary_codec
from pgjet.errors import ProtocolError
from pgjet.types import (
    BitString,
    Box,
    Circle,
    Line,
    LineSegment,
    Path,
    Point,
    Polygon,
    Range,
)

from .test_codecs import Server

UTC = dt.timezone.utc


class TextServer(Server):
    def text_param(self, oid: int, text: bytes) -> str:
        """Send ``text`` as a text-format parameter of type ``oid``; its ::text."""
        res = self._check(self.conn.pgconn.exec_params(b"SELECT $1::text", [text], [oid], [0]))
        return bytes(res.get_value(0, 0)).decode()


@pytest.fixture(scope="module")
def server(cluster: Any) -> Iterator[TextServer]:
    """The session's cluster of each server version (PostgreSQL 18 and 15)."""
    srv = TextServer(cluster.dsn())
    try:
        yield srv
    finally:
        srv.conn.close()


def plain(value: Any) -> Any:
    """asyncpg's and pgjet's values as comparable builtins, tagged with their kind."""
    kind = type(value).__name__
    if kind == "Range":
        if value.isempty:
            return ("Range", "empty")
        bounds = (plain(value.lower), plain(value.upper), value.lower_inc, value.upper_inc)
        return ("Range", *bounds)
    if kind == "BitString":
        return ("BitString", value.bytes, len(value))
    if kind in ("Path", "Polygon"):
        return (kind, value.is_closed, tuple(plain(p) for p in value.points))
    if kind == "Circle":  # asyncpg's center is a plain tuple, pgjet's a Point (equal to it)
        return (kind, plain(tuple(value[0])), plain(value[1]))
    if kind in ("Point", "Box", "Line", "LineSegment"):
        return (kind, *(plain(v) for v in value))
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return ("tuple", *(plain(v) for v in value))
    if isinstance(value, float):
        return ("float", struct.pack("!d", value) if not math.isnan(value) else "nan")
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    return (kind, value)


EXACT = "exact"  # our bytes are the server's, and the server reads them back as the same
LOSSY = "lossy"  # the Python value carries less (e.g. datetime.max for infinity)
DECODE = "decode"  # nothing to send back (anonymous records, void)

CASES: list[tuple[str, str]] = [
    ("'10.1.2.3'::inet", EXACT),
    ("'10.1.2.3/24'::inet", EXACT),
    ("'0.0.0.0/0'::inet", EXACT),
    ("'::1'::inet", EXACT),
    ("'2001:db8::1/64'::inet", EXACT),
    ("'::ffff:1.2.3.4'::inet", EXACT),
    ("'10.0.0.0/8'::cidr", EXACT),
    ("'10.1.2.3/32'::cidr", EXACT),
    ("'0.0.0.0/0'::cidr", EXACT),
    ("'2001:db8::/32'::cidr", EXACT),
    ("'10.0.0.0/8'::cidr::inet", EXACT),
    ("'08:00:2b:01:02:03'::macaddr", EXACT),
    ("'ff-ff-ff-ff-ff-ff'::macaddr", EXACT),
    ("'08:00:2b:01:02:03'::macaddr8", EXACT),
    ("'08:00:2b:01:02:03:04:05'::macaddr8", EXACT),
    ("B'101'::bit(3)", EXACT),
    ("B''::varbit", EXACT),
    ("B'10101010'::varbit", EXACT),
    ("B'101010101'::varbit", EXACT),
    ("repeat('10', 501)::varbit", EXACT),
    ("'(1,2)'::tid", EXACT),
    ("'(4294967295,65535)'::tid", EXACT),
    ("'0/16B3748'::pg_lsn", EXACT),
    ("'7FFFFFFF/FFFFFFFF'::pg_lsn", EXACT),
    ("'10:20:10,14,15'::pg_snapshot", EXACT),
    ("'10:10:'::txid_snapshot", EXACT),
    ("'$.a[*] ? (@ > 1)'::jsonpath", EXACT),
    ("'my cursor'::refcursor", EXACT),
    ("'abc'::cstring", LOSSY),  # no cast from cstring to text to check with
    ("pg_sleep(0)", DECODE),
    ("row(1, 'a', null, row(2))", DECODE),
    ("row(1.5::float8, '10.0.0.1'::inet, 'x'::text)", DECODE),
    ("row()", DECODE),
    ("'(1,2)'::point", EXACT),
    ("'(NaN,-Infinity)'::point", EXACT),
    ("'(-0,1e300)'::point", EXACT),
    ("'{1,2,3}'::line", EXACT),
    ("'[(1,2),(3,4)]'::lseg", EXACT),
    ("'((1,2),(3,4))'::box", EXACT),
    ("'[(1,2),(3,4)]'::path", EXACT),
    ("'((1,2),(3,4),(5,NaN))'::path", EXACT),
    ("'((1,2),(3,4),(5,0))'::polygon", EXACT),
    ("'<(1,2),3>'::circle", EXACT),
    ("'1 2 3'::int2vector", EXACT),
    ("''::int2vector", DECODE),  # int2vectorrecv refuses the server's own empty vector
    ("'1 4294967295'::oidvector", EXACT),
    ("'[1,2]'::int4range", EXACT),
    ("'empty'::int4range", EXACT),
    ("'(,5)'::int4range", EXACT),
    ("'[1,)'::int8range", EXACT),
    ("'(,)'::numrange", EXACT),
    ("'(1.5,2.50]'::numrange", EXACT),
    ("'[2020-01-01,2021-01-01)'::daterange", EXACT),
    ("'(,infinity)'::daterange", EXACT),
    ("'(2020-01-01 00:00,2020-01-02 00:00]'::tsrange", EXACT),
    ("'(2020-01-01 00:00,infinity]'::tsrange", EXACT),
    ("'[2020-01-01 00:00+00,2020-01-02 00:00+05)'::tstzrange", EXACT),
    ("'{}'::int4multirange", EXACT),
    ("'{[1,2],[5,7)}'::int4multirange", EXACT),
    ("'{(,0],[5,)}'::int8multirange", EXACT),
    ("'{[1.5,2)}'::nummultirange", EXACT),
    ("'{[2020-01-01,2020-02-01),[2020-03-01,)}'::datemultirange", EXACT),
    ("'{[2020-01-01 00:00,2020-01-02 00:00)}'::tsmultirange", EXACT),
    ("'{(,2020-01-01 00:00+00)}'::tstzmultirange", EXACT),
    ("array['10.0.0.1'::inet, null, '::1/64']", EXACT),
    ("array['10.0.0.0/8'::cidr]", EXACT),
    ("'{}'::inet[]", EXACT),
    ("array['08:00:2b:01:02:03'::macaddr]", EXACT),
    ("array['08:00:2b:01:02:03'::macaddr8]", EXACT),
    ("array[B'101'::varbit, B'']", EXACT),
    ("array[B'1'::bit]", EXACT),
    ("array['(1,2)'::point, null]", EXACT),
    ("array['((1,2),(3,4))'::box, '((0,0),(1,1))']", EXACT),
    ("array['{1,2,3}'::line]", EXACT),
    ("array['[(1,2),(3,4)]'::lseg]", EXACT),
    ("array['[(1,2)]'::path]", EXACT),
    ("array['((1,2))'::polygon]", EXACT),
    ("array['<(1,2),3>'::circle]", EXACT),
    ("array['[1,2]'::int4range, 'empty', null]", EXACT),
    ("'{}'::int4range[]", EXACT),
    ("array['[2020-01-01,)'::daterange]", EXACT),
    ("array['{[1,2]}'::int4multirange, '{}']", EXACT),
    ("array['(1,2)'::tid]", EXACT),
    ("array['0/1'::pg_lsn]", EXACT),
    ("array['1 2'::int2vector]", EXACT),
    ("'{1,2}'::oidvector[]", EXACT),
    ("array['1:2:'::pg_snapshot]", EXACT),
    ("array['$.a'::jsonpath]", EXACT),
    ("array[row(1, 'x'), null]", DECODE),
]


async def _asyncpg_values(dsn: str, exprs: list[str]) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return [await conn.fetchval(f"SELECT {expr}") for expr in exprs]
    finally:
        await conn.close()


# Arrays of types without a binary codec (and those types themselves): text format.
TEXT_CASES = [
    "array['pg_class'::regclass, 'pg_type']",
    "'{}'::regtype[]",
    "array[array['int4'::regtype], array['text'::regtype]]",
    "array['1000'::money, null, '-1.5']",
    "'[0:1]={1,2}'::money[]",
    "array['a b'::tsvector, 'c:1A']",
    "array['a & !b'::tsquery]",
    "array['pg_catalog'::regnamespace]",
    "array['pg_proc'::regclass]",
    "'1.5'::money",
    "'pg_class'::regclass",
    "'count(\"any\")'::regprocedure",
    "'+(int4,int4)'::regoperator",
    "'a:1 b'::tsvector",
    "'a & b'::tsquery",
]


@pytest.fixture(scope="module")
def asyncpg_values(server: TextServer) -> dict[str, Any]:
    exprs = [expr for expr, _ in CASES] + TEXT_CASES
    return dict(zip(exprs, asyncio.run(_asyncpg_values(server.dsn, exprs)), strict=True))


@pytest.mark.parametrize(("expr", "mode"), CASES, ids=[expr for expr, _ in CASES])
def test_against_server_and_asyncpg(
    server: TextServer, asyncpg_values: dict[str, Any], expr: str, mode: str
) -> None:
    oid, raw = server.binary(expr) if expr != "pg_sleep(0)" else (oids.VOIDOID, b"")
    assert has_binary_codec(oid), f"no binary codec for {expr} (oid {oid})"
    ours = decode_binary(oid, raw)
    theirs = asyncpg_values[expr]
    assert plain(ours) == plain(theirs), f"{expr}: pgjet {ours!r} != asyncpg {theirs!r}"
    if mode == DECODE:
        return
    encoded = encode_binary(oid, ours)
    assert plain(decode_binary(oid, encoded)) == plain(ours)
    if mode == EXACT:
        assert encoded == raw, f"{expr}: {encoded.hex()} != server's {raw.hex()}"
        assert server.send(oid, encoded).decode() == server.text(expr)


@pytest.mark.parametrize("expr", TEXT_CASES)
def test_text_format_types_against_asyncpg(
    server: TextServer, asyncpg_values: dict[str, Any], expr: str
) -> None:
    text = server.text(expr)
    oid, _ = server.binary(expr)
    codec = get_codec(oid)
    assert codec.format == 0 and not has_binary_codec(oid)
    ours = codec.decode_bytes(text.encode())
    assert ours == asyncpg_values[expr] and type(ours) is type(asyncpg_values[expr])
    # Our text form is accepted and read back as the same value (lower bounds are lost).
    without_bounds = text.split("=", 1)[1] if text.startswith("[") else text
    assert server.text_param(oid, codec.encode_value(ours)) == without_bounds


def test_text_array_quoting_and_nulls(server: TextServer) -> None:
    codec = get_codec(oids.TEXTOID + 0)  # a binary one, for contrast
    assert codec.format == 1
    arr = get_codec(oids.REGCLASSARRAYOID)
    assert arr.decode_bytes(b'{a,"b c","x\\"y\\\\z",NULL,"NULL"}') == [
        "a",
        "b c",
        'x"y\\z',
        None,
        "NULL",
    ]
    assert arr.encode_value(["a", None, 'q"\\']) == b'{"a",NULL,"q\\"\\\\"}'
    assert arr.encode_value([]) == b"{}"
    assert arr.encode_value([[], []]) == b"{}"
    money = get_codec(oids.MONEYARRAYOID)
    assert server.text_param(oids.MONEYARRAYOID, money.encode_value([["1", None], ["2", "3"]])) == (
        "{{$1.00,NULL},{$2.00,$3.00}}"
    )


def test_unsigned_pg_lsn(server: TextServer) -> None:
    # asyncpg reads pg_lsn as a signed int8 (-1 here); pgjet keeps it unsigned.
    oid, raw = server.binary("'FFFFFFFF/FFFFFFFF'::pg_lsn")
    assert decode_binary(oid, raw) == 2**64 - 1
    assert server.send(oid, encode_binary(oid, 2**63)).decode() == "80000000/0"


def test_xml(server: TextServer) -> None:
    # The embedded PostgreSQL 18 lacks libxml: check bytes only, and against PG 15 if present.
    assert encode_binary(oids.XMLOID, "<a>ü</a>") == "<a>ü</a>".encode()
    assert decode_binary(oids.XMLOID, "<a>ü</a>".encode()) == "<a>ü</a>"


def test_encodings_the_server_accepts(server: TextServer) -> None:
    v4 = ipaddress.ip_address("192.168.0.1")
    checks: list[tuple[int, Any, str]] = [
        (oids.INETOID, v4, "192.168.0.1/32"),  # text(inet) always shows the prefix
        (oids.INETOID, ipaddress.ip_interface("192.168.0.1/24"), "192.168.0.1/24"),
        (oids.INETOID, ipaddress.ip_network("10.0.0.0/8"), "10.0.0.0/8"),
        (oids.INETOID, "2001:db8::5/48", "2001:db8::5/48"),
        (oids.INETOID, "::", "::/128"),
        (oids.CIDROID, ipaddress.ip_interface("10.1.0.0/16"), "10.1.0.0/16"),
        (oids.CIDROID, v4, "192.168.0.1/32"),
        (oids.CIDROID, "2001:db8::/32", "2001:db8::/32"),
        (oids.MACADDROID, "08002b:010203", "08:00:2b:01:02:03"),
        (oids.MACADDROID, "0800.2b01.0203", "08:00:2b:01:02:03"),
        (oids.MACADDROID, "08002B010203", "08:00:2b:01:02:03"),
        (oids.MACADDR8OID, "08:00:2b:01:02:03", "08:00:2b:ff:fe:01:02:03"),
        (oids.MACADDR8OID, "0800.2b01.0203.0405", "08:00:2b:01:02:03:04:05"),
        (oids.VARBITOID, b"\xf0", "11110000"),
        (oids.VARBITOID, BitString("1 0 1"), "101"),
        (oids.VARBITOID, BitString.frombytes(b"\xff", 3), "111"),
        (oids.BITOID, BitString.from_int(-2, 4, signed=True), "1110"),
        (oids.TIDOID, [7, 8], "(7,8)"),
        (oids.POINTOID, [1, 2.5], "(1,2.5)"),
        (oids.BOXOID, ((0, 0), (2, 2)), "(2,2),(0,0)"),
        (oids.LSEGOID, [(0, 0), Point(1, 1)], "[(0,0),(1,1)]"),
        (oids.LINEOID, Line(1, -1, 0), "{1,-1,0}"),
        (oids.PATHOID, [(0, 0), (1, 1)], "[(0,0),(1,1)]"),
        (oids.PATHOID, ((0, 0), (1, 1)), "((0,0),(1,1))"),
        (oids.PATHOID, Path((0, 0), is_closed=True), "((0,0))"),
        (oids.POLYGONOID, [(0, 0), (1, 0), (0, 1)], "((0,0),(1,0),(0,1))"),
        (oids.POLYGONOID, Polygon((0, 0)), "((0,0))"),
        (oids.CIRCLEOID, Circle((0, 0), 2), "<(0,0),2>"),
        (oids.CIRCLEOID, ((1, 1), 0), "<(1,1),0>"),
        (oids.INT4RANGEOID, Range(1, 5), "[1,5)"),
        (oids.INT4RANGEOID, Range(1, 5, lower_inc=False, upper_inc=True), "[2,6)"),
        (oids.INT4RANGEOID, (1, 5), "[1,6)"),
        (oids.INT4RANGEOID, [None, 5], "(,6)"),
        (oids.INT4RANGEOID, (3,), "[3,)"),
        (oids.INT4RANGEOID, (), "empty"),
        (oids.INT4RANGEOID, Range(empty=True), "empty"),
        (oids.INT4RANGEOID, Range(5, 5), "empty"),
        (oids.NUMRANGEOID, Range(Decimal("1.5"), None), "[1.5,)"),
        (oids.DATERANGEOID, Range(dt.date(2020, 1, 1), dt.date.max), "[2020-01-01,infinity)"),
        (
            oids.TSTZRANGEOID,
            Range(dt.datetime(2020, 1, 1, tzinfo=UTC), None),
            '["2020-01-01 00:00:00+00",)',
        ),
        (oids.INT4MULTIRANGEOID, [Range(1, 3), (2, 7)], "{[1,8)}"),
        (oids.INT4MULTIRANGEOID, (), "{}"),
        (oids.INT8MULTIRANGEOID, [Range(None, 0)], "{(,0)}"),
        (oids.INT4RANGEARRAYOID, [Range(1, 2), None], '{"[1,2)",NULL}'),
        (oids.INT4RANGEARRAYOID, [[(1, 2)], [(3, None)]], '{{"[1,3)"},{"[3,)"}}'),
        (oids.POINTARRAYOID, [[(1, 2), Point(3, 4)]], '{{"(1,2)","(3,4)"}}'),
        (oids.PATHARRAYOID, [[(1, 2)], Path((3, 4))], '{"[(1,2)]","[(3,4)]"}'),
        (oids.INT2VECTORARRAYOID, [[[1, 2]], [[3]]], '{{"1 2"},{3}}'),
        (oids.INT4MULTIRANGEARRAYOID, [[Range(1, 2)], [(5, 6)]], '{"{[1,2)}","{[5,7)}"}'),
        (oids.INT2VECTOROID, (5, 6), "5 6"),
        (oids.OIDVECTOROID, [4294967295], "4294967295"),
        (oids.PG_SNAPSHOTOID, (5, 9, [6, 7]), "5:9:6,7"),
        (oids.PG_LSNOID, 0x16B3748, "0/16B3748"),
        (oids.JSONPATHOID, "$.a", '$."a"'),
        (oids.INETARRAYOID, ["10.0.0.1", None], "{10.0.0.1,NULL}"),
    ]
    for oid, value, text in checks:
        assert server.send(oid, encode_binary(oid, value)).decode() == text, (oid, value)


def test_large_path_and_polygon(server: TextServer) -> None:
    points = [(float(i), -float(i) / 3) for i in range(20000)]
    for oid, cast in ((oids.PATHOID, "path"), (oids.POLYGONOID, "polygon")):
        sent = encode_binary(oid, points)
        echoed = server.send(oid, sent, 1, cast)
        assert echoed == sent
        assert [tuple(p) for p in decode_binary(oid, echoed)] == points


# -- pgjet end to end --------------------------------------------------------------------------


async def test_end_to_end_through_a_connection(server: TextServer) -> None:
    import pgjet

    conn = await pgjet.connect(server.dsn)
    try:
        ip = ipaddress.ip_interface("10.1.2.3/24")
        assert await conn.fetchval("SELECT $1::inet", ip) == ip
        assert await conn.fetchval("SELECT $1::int4range", Range(1, 4)) == Range(1, 4)
        assert await conn.fetchval("SELECT $1::int4multirange", [(1, 2)]) == [Range(1, 3)]
        assert await conn.fetchval("SELECT $1::point[]", [(1, 2)]) == [Point(1, 2)]
        assert await conn.fetchval("SELECT row(1, 'a')") == (1, "a")
        assert await conn.fetchval("SELECT $1::regclass[]", ["pg_class"]) == ["pg_class"]
        assert await conn.fetchval("SELECT $1::varbit", BitString("101")) == BitString("101")
        assert await conn.fetchval("SELECT pg_sleep(0)") is None
    finally:
        await conn.close()


# -- value types -----------------------------------------------------------------------------


def test_value_types_behave_as_asyncpg() -> None:
    from asyncpg import types as apg

    for ours, theirs in [
        (BitString("1010 11"), apg.BitString("1010 11")),
        (BitString.from_int(-3, 5, signed=True), apg.BitString.from_int(-3, 5, signed=True)),
        (BitString.from_int(6, 4, "little"), apg.BitString.from_int(6, 4, "little")),
    ]:
        assert (ours.bytes, len(ours), str(ours)) == (theirs.bytes, len(theirs), str(theirs))
        assert ours.to_int() == theirs.to_int()
        assert ours.to_int("little", signed=True) == theirs.to_int("little", signed=True)
        assert [ours[i] for i in range(len(ours))] == [theirs[i] for i in range(len(theirs))]
    assert BitString("101")[-1] == 1
    with pytest.raises(ValueError, match="invalid bit value '2' at position 1"):
        BitString("12")
    with pytest.raises(ValueError, match="invalid bit length"):
        BitString.frombytes(b"\x00", 9)
    assert BitString.frombytes(b"\xff", 2) == BitString("11")  # padding bits dropped
    with pytest.raises(OverflowError):
        BitString.from_int(8, 3)

    ranges = [
        (Range(1, 5), apg.Range(1, 5)),
        (Range(None, 5, upper_inc=True), apg.Range(None, 5, upper_inc=True)),
        (Range(empty=True), apg.Range(empty=True)),
        (Range(1, None, lower_inc=False), apg.Range(1, None, lower_inc=False)),
    ]
    for ours_r, theirs_r in ranges:
        assert repr(ours_r) == repr(theirs_r)
        assert (ours_r.lower_inf, ours_r.upper_inf, ours_r.isempty, bool(ours_r)) == (
            theirs_r.lower_inf,
            theirs_r.upper_inf,
            theirs_r.isempty,
            bool(theirs_r),
        )
        for other_o, other_t in ranges:
            assert ours_r.issubset(other_o) == theirs_r.issubset(other_t)
            assert ours_r.issuperset(other_o) == theirs_r.issuperset(other_t)
            assert (ours_r == other_o) == (theirs_r == other_t)
    assert hash(Range(1, 2)) == hash(Range(1, 2)) and Range(1, 2) != Range(1, 2, upper_inc=True)

    assert repr(Point(1, 2)) == "pgjet.types.Point((1.0, 2.0))"
    assert Point("1.5", 2).x == 1.5 and Point(1, 2) == (1.0, 2.0)
    box = Box((2, 3), (0, 1))
    assert (box.high, box.low) == (Point(2, 3), Point(0, 1))
    assert LineSegment((0, 0), (1, 1)).p2.y == 1.0
    assert Line(1, 2, 3).C == 3.0
    assert Circle((1, 2), 3).center == Point(1, 2) and Circle((1, 2), 3).radius == 3.0
    path = Path((0, 0), (1, 1), is_closed=True)
    assert path.is_closed and len(path) == 2 and path[1] == Point(1, 1) and (1, 1) in path
    assert path == Path((0, 0), (1, 1), is_closed=True) != Path((0, 0), (1, 1))
    assert Polygon((0, 0)).is_closed and list(Polygon((0, 0))) == [Point(0, 0)]


# -- hypothesis: round trips --------------------------------------------------------------------

ipv4 = st.ip_addresses(v=4)
ipv6 = st.ip_addresses(v=6)


@given(st.one_of(ipv4, ipv6), st.integers(0, 128))
def test_inet_cidr_roundtrip(address: Any, prefix: int) -> None:
    assert decode_binary(oids.INETOID, encode_binary(oids.INETOID, address)) == address
    prefix = min(prefix, address.max_prefixlen)
    interface = ipaddress.ip_interface((int(address), prefix))
    back = decode_binary(oids.INETOID, encode_binary(oids.INETOID, interface))
    assert back == (interface if prefix != address.max_prefixlen else interface.ip)
    network = interface.network
    assert decode_binary(oids.CIDROID, encode_binary(oids.CIDROID, network)) == network
    assert decode_binary(oids.CIDROID, encode_binary(oids.CIDROID, str(network))) == network


@given(st.binary(min_size=6, max_size=6), st.binary(min_size=8, max_size=8))
def test_macaddr_roundtrip(mac6: bytes, mac8: bytes) -> None:
    for oid, raw in ((oids.MACADDROID, mac6), (oids.MACADDR8OID, mac8)):
        text = decode_binary(oid, raw)
        assert text == ":".join(f"{b:02x}" for b in raw)
        assert encode_binary(oid, text) == raw
        assert encode_binary(oid, text.upper().replace(":", "-")) == raw


@given(st.lists(st.booleans(), max_size=80))
def test_bits_roundtrip(bits: list[bool]) -> None:
    value = BitString("".join("1" if b else "0" for b in bits))
    back = decode_binary(oids.VARBITOID, encode_binary(oids.VARBITOID, value))
    assert back == value and len(back) == len(bits) and [back[i] for i in range(len(bits))] == bits


bounds = st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1))


@given(bounds, bounds, st.booleans(), st.booleans(), st.booleans())
def test_range_roundtrip(lo: int | None, hi: int | None, li: bool, ui: bool, empty: bool) -> None:
    value: Range[int] = Range(lo, hi, lower_inc=li, upper_inc=ui, empty=empty)
    assert decode_binary(oids.INT4RANGEOID, encode_binary(oids.INT4RANGEOID, value)) == value
    multi = [value, Range(lo, None)]
    assert decode_binary(oids.INT4MULTIRANGEOID, encode_binary(oids.INT4MULTIRANGEOID, multi)) == (
        multi
    )


coords = st.floats(allow_nan=False)


@given(st.lists(st.tuples(coords, coords), min_size=1, max_size=20), st.booleans())
def test_geometry_roundtrip(points: list[tuple[float, float]], closed: bool) -> None:
    path = Path(*points, is_closed=closed)
    assert decode_binary(oids.PATHOID, encode_binary(oids.PATHOID, path)) == path
    assert decode_binary(oids.POLYGONOID, encode_binary(oids.POLYGONOID, points)) == Polygon(
        *points
    )
    assert decode_binary(oids.POINTOID, encode_binary(oids.POINTOID, points[0])) == points[0]
    box = Box(points[0], points[-1])
    assert decode_binary(oids.BOXOID, encode_binary(oids.BOXOID, box)) == box


@given(st.lists(st.one_of(st.none(), st.text()), max_size=6))
def test_text_array_roundtrip(items: list[str | None]) -> None:
    codec = get_codec(oids.REGCLASSARRAYOID)
    if any("\x00" in s or any(0xD800 <= ord(c) <= 0xDFFF for c in s) for s in items if s):
        with pytest.raises(ValueError):
            codec.encode_value(items)
        return
    assert codec.decode_bytes(codec.encode_value(items)) == items


# -- encode errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("oid", "value", "error", "message"),
    [
        (oids.INETOID, 5, TypeError, "expected an ipaddress address.* got int"),
        (oids.INETOID, "10.0.0.300", ValueError, "invalid inet value '10.0.0.300'"),
        (oids.INETOID, "fe80::1%eth0", ValueError, "IPv6 zone"),
        (oids.CIDROID, "10.0.0.1/8", ValueError, "invalid cidr value .*host bits set"),
        (oids.CIDROID, ipaddress.ip_interface("10.0.0.1/8"), ValueError, "right of its prefix"),
        (oids.CIDROID, 5, TypeError, "expected an ipaddress network"),
        (oids.MACADDROID, "08:00:2b:01:02", ValueError, "invalid macaddr value"),
        (oids.MACADDROID, "08:00-2b:01:02:03", ValueError, "mixed separators"),
        (oids.MACADDROID, "0800.2b01.02zz", ValueError, "invalid macaddr value"),
        (oids.MACADDROID, b"\x00" * 6, TypeError, "expected str for macaddr"),
        (oids.MACADDR8OID, "08:00:2b:01:02:03:04", ValueError, "needs 6 or 8 bytes"),
        (oids.VARBITOID, "101", TypeError, "expected BitString or bytes .* got str"),
        (oids.VARBITOID, 5, TypeError, "expected BitString or bytes for varbit, got int"),
        (oids.TIDOID, (1,), ValueError, "tid needs 2 items"),
        (oids.TIDOID, (2**32, 1), OverflowError, "out of range for tid block"),
        (oids.TIDOID, (1, 65536), OverflowError, "out of range for tid offset"),
        (oids.TIDOID, "(1,2)", TypeError, "expected a \\(block, offset\\) tuple"),
        (oids.PG_LSNOID, -1, OverflowError, "out of range for pg_lsn"),
        (oids.POINTOID, (1, 2, 3), ValueError, "needs 2 coordinates, got 3"),
        (oids.POINTOID, "(1,2)", TypeError, "expected a point"),
        (oids.POINTOID, ("a", 2), TypeError, "expected float for point"),
        (oids.LINEOID, (1, 2), ValueError, "line needs 3 coefficients"),
        (oids.BOXOID, ((1, 2),), ValueError, "box needs 2 points"),
        (oids.PATHOID, [], ValueError, "path needs at least one point"),
        (oids.PATHOID, {(1, 2)}, TypeError, "expected a Path, or a list"),
        (oids.POLYGONOID, 5, TypeError, "expected a sequence of points"),
        (oids.POLYGONOID, [(1, 2), (3,)], ValueError, "needs 2 coordinates, got 1"),
        (oids.CIRCLEOID, ((0, 0), -1), ValueError, "radius cannot be negative"),
        (oids.INT4RANGEOID, 5, TypeError, "expected pgjet.types.Range"),
        (oids.INT4RANGEOID, (1, 2, 3), ValueError, "needs 0, 1 or 2 items"),
        (oids.INT4RANGEOID, Range(1, 2**40), OverflowError, "invalid upper bound of int4range"),
        (oids.INT4RANGEOID, Range("a", None), TypeError, "invalid lower bound of int4range"),
        (oids.DATERANGEOID, Range(1, 2), TypeError, "invalid lower bound of daterange"),
        (oids.INT4MULTIRANGEOID, Range(1, 2), TypeError, "expected a list of Range"),
        (oids.INT4MULTIRANGEOID, [None], ValueError, "cannot hold NULL"),
        (oids.INT4MULTIRANGEOID, [Range(1, 2), 7], TypeError, "invalid range \\[1\\]"),
        (oids.INT2VECTOROID, [1, None], ValueError, "int2vector cannot hold NULL"),
        (oids.INT2VECTOROID, [1, 2**20], OverflowError, "invalid int2vector element \\[1\\]"),
        (oids.INT2VECTOROID, "12", TypeError, "expected a list of int"),
        (oids.INT2VECTOROID, [], ValueError, "cannot receive an empty int2vector"),
        (oids.PG_SNAPSHOTOID, (1, 2), ValueError, "needs 3 items"),
        (oids.PG_SNAPSHOTOID, (1, 2, [-1]), OverflowError, "out of range for pg_snapshot"),
        (oids.RECORDOID, (1, 2), TypeError, "cannot read anonymous record"),
        (oids.JSONPATHOID, 5, TypeError, "expected str for jsonpath"),
        (oids.INETARRAYOID, ["10.0.0.1", 5], TypeError, "element \\[1\\]: expected an ipaddr"),
        (oids.REGCLASSARRAYOID, [1], TypeError, "element \\[0\\]: .*need a str; got int"),
        (oids.REGCLASSARRAYOID, "pg_class", TypeError, "expected a list"),
        (oids.REGCLASSARRAYOID, [["a"], "b"], ValueError, "ragged"),
        (oids.REGCLASSARRAYOID, ["a\x00"], ValueError, "NUL character"),
        (oids.MONEYOID, 5, TypeError, "type 'money' \\(oid 790\\) has no binary codec"),
    ],
)
def test_encode_errors(oid: int, value: Any, error: type[Exception], message: str) -> None:
    codec = get_codec(oid)
    with pytest.raises(error, match=message) as info:
        codec.encode_value(value)
    assert "$" not in str(info.value)


# -- decoding malformed bytes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("oid", "data", "message"),
    [
        (oids.INETOID, b"\x02\x20\x00", "at least 4 bytes"),
        (oids.INETOID, b"\x04\x20\x00\x04" + b"\x00" * 4, "unknown address family 4"),
        (oids.INETOID, b"\x02\x21\x00\x04" + b"\x00" * 4, "prefix length 33 exceeds 32"),
        (oids.INETOID, b"\x02\x20\x00\x10" + b"\x00" * 4, "address of 16 bytes"),
        (oids.INETOID, b"\x02\x20\x00\x04" + b"\x00" * 5, "address of 4 bytes in 9"),
        (oids.INETOID, b"\x02\x20\x05\x04" + b"\x00" * 4, "is_cidr flag 5"),
        (oids.CIDROID, b"\x02\x08\x01\x04\x0a\x00\x00\x01", "host bits set"),
        (oids.MACADDROID, b"\x00" * 7, "expected 6 bytes"),
        (oids.MACADDR8OID, b"\x00" * 6, "expected 8 bytes"),
        (oids.VARBITOID, b"\x00\x00", "at least 4 bytes"),
        (oids.VARBITOID, struct.pack("!i", 9) + b"\x00", "9 bits in 1 bytes"),
        (oids.VARBITOID, struct.pack("!i", -1), "-1 bits"),
        (oids.TIDOID, b"\x00" * 5, "expected 6 bytes"),
        (oids.POINTOID, b"\x00" * 15, "expected 16 bytes"),
        (oids.LINEOID, b"\x00" * 23, "expected 24 bytes"),
        (oids.BOXOID, b"\x00" * 31, "expected 32 bytes"),
        (oids.CIRCLEOID, b"", "expected 24 bytes"),
        (oids.PATHOID, b"", "empty value"),
        (oids.PATHOID, b"\x00" + struct.pack("!i", 2) + b"\x00" * 16, "2 points in 16 bytes"),
        (oids.PATHOID, b"\x00" + struct.pack("!i", -1), "-1 points"),
        (oids.POLYGONOID, struct.pack("!i", 2**30), "points in 0 bytes"),
        (oids.INT4RANGEOID, b"", "no flags byte"),
        (oids.INT4RANGEOID, b"\x20", "unknown range flags 0x20"),
        (oids.INT4RANGEOID, b"\x01\x00", "1 bytes after an empty range"),
        (oids.INT4RANGEOID, b"\x02\x00\x00", "truncated before the lower bound"),
        (oids.INT4RANGEOID, b"\x12" + struct.pack("!i", 5) + b"\x00" * 4, "lower bound length 5"),
        (oids.INT4RANGEOID, b"\x12" + struct.pack("!i", -1), "lower bound length -1"),
        (oids.INT4RANGEOID, b"\x12" + struct.pack("!i", 3) + b"\x00" * 3, "expected 4 bytes"),
        (oids.INT4RANGEOID, b"\x18\x00", "1 bytes after the upper bound"),
        (oids.INT4MULTIRANGEOID, b"\x00", "at least 4 bytes"),
        (oids.INT4MULTIRANGEOID, struct.pack("!i", 2**20), "cannot fit"),
        (oids.INT4MULTIRANGEOID, struct.pack("!ii", 1, 9) + b"\x01", "range length 9"),
        (oids.INT4MULTIRANGEOID, struct.pack("!ii", 1, 1) + b"\x01\x00", "after the last"),
        (oids.INT2VECTOROID, struct.pack("!iiI", 2, 0, 21), "2 dimensions"),
        (oids.INT2VECTOROID, struct.pack("!iiI", 1, 1, 21), "flags 1"),
        (oids.INT2VECTOROID, struct.pack("!iiI", 1, 0, 23), "type oid 23, expected 21"),
        (oids.INT2VECTOROID, struct.pack("!iiIii", 1, 0, 21, 9, 0), "9 elements cannot fit"),
        (oids.INT2VECTOROID, struct.pack("!iiIiii", 1, 0, 21, 1, 0, 4) + b"\x00" * 4, "int2"),
        (oids.PG_SNAPSHOTOID, b"\x00" * 19, "at least 20 bytes"),
        (oids.PG_SNAPSHOTOID, struct.pack("!iqq", 1, 1, 2), "1 transaction ids in 0 bytes"),
        (oids.JSONPATHOID, b"", "no version byte"),
        (oids.JSONPATHOID, b"\x02$", "format version 2"),
        (oids.VOIDOID, b"\x00", "expected 0 bytes"),
        (oids.RECORDOID, b"\x00", "at least 4 bytes"),
        (oids.RECORDOID, struct.pack("!i", 1), "1 fields cannot fit"),
        (oids.RECORDOID, struct.pack("!iIi", 1, 23, 5) + b"\x00" * 4, "field 1 length 5"),
        (oids.RECORDOID, struct.pack("!iIi", 1, 23, 4) + b"\x00" * 5, "1 bytes after"),
        (oids.RECORDOID, struct.pack("!iIi", 1, 23, 3) + b"\x00" * 3, "expected 4 bytes"),
    ],
)
def test_decode_malformed(oid: int, data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_binary(oid, data)


@pytest.mark.parametrize(
    "text",
    [b"", b"{", b"{a", b'{"a', b"{a,}", b"{a}x", b"[1:2]{a}", b"{a{b}}", b"{{{{{{{a}}}}}}}"],
)
def test_text_array_malformed(text: bytes) -> None:
    with pytest.raises(ProtocolError, match="malformed _regclass"):
        get_codec(oids.REGCLASSARRAYOID).decode_bytes(text)


def test_record_of_composite_types(server: TextServer) -> None:
    # asyncpg cannot decode these (no codec for arrays or ranges inside a record).
    oid, raw = server.binary("row(array[1, null], '[1,2]'::int4range, row(B'1', '(1,2)'::point))")
    assert decode_binary(oid, raw) == (
        [1, None],
        Range(1, 3),
        (BitString("1"), Point(1, 2)),
    )


def test_record_field_without_binary_codec(server: TextServer) -> None:
    oid, raw = server.binary("row(1, '1.5'::money)")
    with pytest.raises(ValueError, match=r"field 2 .* type money \(oid 790\).*cast"):
        decode_binary(oid, raw)


@given(st.binary(max_size=64))
def test_decoding_garbage_never_crashes(data: bytes) -> None:
    for oid in (
        oids.INETOID,
        oids.CIDROID,
        oids.VARBITOID,
        oids.PATHOID,
        oids.POLYGONOID,
        oids.INT4RANGEOID,
        oids.NUMRANGEOID,
        oids.INT4MULTIRANGEOID,
        oids.TSTZMULTIRANGEOID,
        oids.INT2VECTOROID,
        oids.PG_SNAPSHOTOID,
        oids.RECORDOID,
        oids.INT4RANGEARRAYOID,
    ):
        with contextlib.suppress(ProtocolError, ValueError):
            decode_binary(oid, data)
    with contextlib.suppress(ProtocolError, ValueError):
        get_codec(oids.REGCLASSARRAYOID).decode_bytes(data)


# -- registry ---------------------------------------------------------------------------------


def test_every_builtin_type_has_a_codec_or_a_reason() -> None:
    # Exchanged as text on purpose: asyncpg returns their text form (money in the
    # server's locale, reg* as names, text search types as their text).
    text_on_purpose = {
        "money",
        "regproc",
        "regprocedure",
        "regoper",
        "regoperator",
        "regclass",
        "regtype",
        "regconfig",
        "regdictionary",
        "regnamespace",
        "regrole",
        "regcollation",
        "tsvector",
        "tsquery",
        "gtsvector",
        "aclitem",
        "pg_node_tree",
        "pg_ndistinct",
        "pg_dependencies",
        "pg_mcv_list",
        "pg_brin_bloom_summary",
        "pg_brin_minmax_multi_summary",
    }
    missing = []
    for oid, name, typtype, category, *_ in oids.BUILTIN_TYPES:
        if typtype == "p" and name not in ("void", "record", "_record", "cstring", "unknown"):
            continue
        codec = get_codec(oid)
        if name in text_on_purpose or (category == "A" and name[1:] in text_on_purpose):
            assert codec.format == 0, name
            if category == "A":
                assert type(codec).__name__ == "TextArrayCodec", name
        elif name != "unknown" and not has_binary_codec(oid):
            missing.append(name)
    assert missing == []


@pytest.mark.parametrize(
    "value",
    [0, 1, 2**64, 2**128 - 1, 0x12345678123456781234567812345678],
    ids=["nil", "one", "2^64", "max", "mixed"],
)
def test_decoded_uuids_are_ordinary_uuids(value: int) -> None:
    # Built by filling uuid.UUID's slots directly: it must behave exactly
    # like UUID(int=...) in every way a program could look at it.
    import copy
    import pickle
    import uuid

    expected = uuid.UUID(int=value)
    got = decode_binary(oids.UUIDOID, value.to_bytes(16, "big"))
    assert type(got) is uuid.UUID
    assert got == expected and got.int == value and hash(got) == hash(expected)
    assert str(got) == str(expected) and repr(got) == repr(expected)
    assert got.bytes == expected.bytes and got.version == expected.version
    assert got.is_safe is uuid.SafeUUID.unknown
    assert pickle.loads(pickle.dumps(got)) == expected and copy.deepcopy(got) == expected
    with pytest.raises(TypeError, match="immutable"):
        got.int = 5  # type: ignore[misc]
    assert encode_binary(oids.UUIDOID, got) == value.to_bytes(16, "big")

"""fetch_numpy(): a result as {column: numpy array}, fixed-width types packed without objects."""

from __future__ import annotations

import asyncio
import math
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pgjet
from pgjet import errors

numpy = pytest.importorskip("numpy")

# Every packed type with its dtype, and a SQL expression of `g` (1..n) for it.
PACKED = {
    "b": ("bool", "g % 3 = 0"),
    "i2": ("int16", "(g * 7 - 32768)::int2"),
    "i4": ("int32", "(g * 104729 - 2147483647)::int4"),
    "i8": ("int64", "(g::int8 * 1844674407370955 - 9223372036854775807)"),
    "o": ("uint32", "(g::int8 * 858993)::oid"),  # up to 4,294,965,000: unsigned
    "f4": ("float32", "(g * 0.125)::float4"),
    "f8": ("float64", "g * 1e300::float8 / 7"),
    "d": ("datetime64[D]", "date '2000-01-01' + (g * 97 - 40000)"),
    "ts": ("datetime64[us]", "timestamp '2000-01-01' + g * interval '1234567.891 seconds'"),
    "tz": ("datetime64[us]", "timestamptz '1999-12-31 23:00-05' + g * interval '-3 days 1 us'"),
}


def packed_query(rows: int) -> str:
    exprs = ", ".join(f"{expr} AS {name}" for name, (_, expr) in PACKED.items())
    return f"SELECT {exprs} FROM generate_series(1, {rows}) g"


async def test_fixed_width_types_are_packed_and_equal_fetch(conn: Any) -> None:
    # 5,000 rows: the sinks grow past their first capacity several times.
    query = packed_query(5000)
    arrays = await conn.fetch_numpy(query)
    assert list(arrays) == list(PACKED)
    for name, (dtype, _) in PACKED.items():
        assert type(arrays[name]) is numpy.ndarray, name  # no NULL: not masked
        assert arrays[name].dtype == numpy.dtype(dtype), name
        assert arrays[name].shape == (5000,)
    rows = await conn.fetch(query)
    for name in ("b", "i2", "i4", "i8", "o"):
        assert arrays[name].tolist() == [r[name] for r in rows], name
    assert arrays["f4"].tolist() == [r["f4"] for r in rows]
    assert arrays["f8"].tolist() == [r["f8"] for r in rows]
    assert arrays["d"].tolist() == [r["d"] for r in rows]
    assert arrays["ts"].tolist() == [r["ts"] for r in rows]
    # timestamptz is UTC; datetime64 has no zone.
    assert arrays["tz"].tolist() == [r["tz"].replace(tzinfo=None) for r in rows]


async def test_datetimes_outside_pythons_range_still_fit(conn: Any) -> None:
    # Years Python's datetime cannot hold are plain datetime64 values; the
    # server's own epoch arithmetic is the reference.
    got = await conn.fetch_numpy(
        "SELECT d, (d - date '1970-01-01') AS days FROM unnest(ARRAY[date '4713-01-01 BC',"
        " date '0001-01-01', date '1970-01-01', date '9999-12-31', date '5874897-12-31']) d"
    )
    assert got["d"].astype("int64").tolist() == got["days"].tolist()
    got = await conn.fetch_numpy(
        "SELECT t, (extract(epoch FROM t) * 1000000)::int8 AS usecs FROM unnest(ARRAY["
        "timestamp '4713-01-01 00:00 BC', timestamp '1969-12-31 23:59:59.999999',"
        " timestamp '200000-06-30 12:00:00.000001', timestamp '294247-01-09 23:59:59.999999'"
        "]) t"
    )
    assert got["t"].astype("int64").tolist() == got["usecs"].tolist()


async def test_timestamps_past_datetime64s_range_are_refused(conn: Any) -> None:
    with pytest.raises(ValueError, match="column 't': a timestamp after 294247-01-10"):
        await conn.fetch_numpy("SELECT timestamp '294276-12-31 23:59:59' AS t")
    assert (await conn.fetch_numpy("SELECT 1 AS x"))["x"].tolist() == [1]


async def test_nulls_make_a_masked_array(conn: Any) -> None:
    # The first NULL comes after the sink grew (2,500 > 1,024 rows), the mask is late-born.
    got = await conn.fetch_numpy(
        "SELECT CASE WHEN g > 2500 AND g % 5 = 0 THEN NULL ELSE g END AS n,"
        " CASE WHEN g = 1 THEN NULL ELSE g * 0.5::float8 END AS f,"
        " CASE WHEN g % 2 = 0 THEN NULL ELSE 'x' || g END AS t"
        " FROM generate_series(1, 4000) g"
    )
    n = got["n"]
    assert isinstance(n, numpy.ma.MaskedArray) and n.dtype == numpy.int32
    expected_mask = [g > 2500 and g % 5 == 0 for g in range(1, 4001)]
    assert numpy.ma.getmaskarray(n).tolist() == expected_mask
    assert n.compressed().tolist() == [g for g in range(1, 4001) if not (g > 2500 and g % 5 == 0)]
    assert n.data[2504] == 0  # row 2505: masked, stored as 0
    f = got["f"]
    assert numpy.ma.getmaskarray(f).tolist() == [True] + [False] * 3999
    assert f[1] == 1.0
    t = got["t"]  # not packed: objects, None for NULL
    assert type(t) is numpy.ndarray and t.dtype == object
    assert t[:4].tolist() == ["x1", None, "x3", None]


async def test_other_types_are_object_arrays_of_fetch_values(conn: Any) -> None:
    got = await conn.fetch_numpy(
        "SELECT 'a' || g AS t, g::numeric / 3 AS n, ARRAY[g, g + 1] AS arr,"
        " jsonb_build_object('g', g) AS j, ROW(g, 'r') AS rec, interval '1 day' * g AS iv"
        " FROM generate_series(1, 3) g"
    )
    rows = await conn.fetch(
        "SELECT 'a' || g AS t, g::numeric / 3 AS n, ARRAY[g, g + 1] AS arr,"
        " jsonb_build_object('g', g) AS j, ROW(g, 'r') AS rec, interval '1 day' * g AS iv"
        " FROM generate_series(1, 3) g"
    )
    for name, array in got.items():
        assert array.dtype == object and array.shape == (3,), name  # arrays stay one object
        assert array.tolist() == [r[name] for r in rows], name
    assert got["arr"][0] == [1, 2]


async def test_a_replaced_codec_decides_the_column(conn: Any) -> None:
    await conn.set_type_codec(
        "int4", schema="pg_catalog", decoder=lambda s: f"<{s}>", encoder=str, format="text"
    )
    try:
        got = await conn.fetch_numpy(
            "SELECT g::int4 AS x, g::int8 AS y FROM generate_series(1, 2) g"
        )
        assert got["x"].dtype == object and got["x"].tolist() == ["<1>", "<2>"]
        assert got["y"].dtype == numpy.int64
    finally:
        await conn.reset_type_codec("int4", schema="pg_catalog")
    got = await conn.fetch_numpy("SELECT 5::int4 AS x")
    assert got["x"].dtype == numpy.int32 and got["x"].tolist() == [5]


async def test_empty_results_keep_their_dtype(conn: Any) -> None:
    got = await conn.fetch_numpy("SELECT 1::int8 AS a, 'x' AS b, now() AS c WHERE false")
    assert [(k, v.dtype, v.shape) for k, v in got.items()] == [
        ("a", numpy.dtype("int64"), (0,)),
        ("b", numpy.dtype(object), (0,)),
        ("c", numpy.dtype("datetime64[us]"), (0,)),
    ]
    await conn.execute("CREATE TEMP TABLE fn (x int)")
    assert await conn.fetch_numpy("INSERT INTO fn VALUES ($1)", 1) == {}
    assert await conn.fetchval("SELECT count(*) FROM fn") == 1


@pytest.mark.parametrize("value", ["infinity", "-infinity"])
@pytest.mark.parametrize("typ", ["date", "timestamp", "timestamptz"])
async def test_infinity_is_refused_by_name_and_the_connection_stays_usable(
    conn: Any, typ: str, value: str
) -> None:
    query = (
        f"SELECT g AS i, CASE WHEN g = 1500 THEN '{value}'::{typ} ELSE now()::{typ} END AS when_"
    )
    with pytest.raises(ValueError, match=rf"column 'when_': {typ} '{value}'"):
        await conn.fetch_numpy(query + " FROM generate_series(1, 2000) g")
    got = await conn.fetch_numpy("SELECT 1 AS i")
    assert got["i"].tolist() == [1]
    # fetch() and fetch_columns() map it as the connection says (asyncpg's default).
    cols = await conn.fetch_columns(query + " FROM generate_series(1500, 1500) g")
    assert cols["i"] == [1500]


async def test_a_value_failing_half_way_through_a_row_fails_the_call_only(conn: Any) -> None:
    # Packed columns before the failing one already took the row's values;
    # nothing of it may survive, and the next call starts clean.
    await conn.set_type_codec(
        "text", schema="pg_catalog", decoder=lambda s: 1 // (len(s) - 3), encoder=str, format="text"
    )
    query = "SELECT g AS a, repeat('x', g) AS b, g * 2.0::float8 AS c FROM generate_series(1, 5) g"
    try:
        with pytest.raises(ZeroDivisionError):
            await conn.fetch_numpy(query)
        with pytest.raises(ZeroDivisionError):
            await conn.fetch_columns(query)
    finally:
        await conn.reset_type_codec("text", schema="pg_catalog")
    got = await conn.fetch_numpy("SELECT g AS a, g * 2.0::float8 AS c FROM generate_series(1, 5) g")
    assert got["a"].tolist() == [1, 2, 3, 4, 5] and got["c"].tolist() == [2, 4, 6, 8, 10]


async def test_errors_and_bad_arguments(conn: Any) -> None:
    with pytest.raises(errors.UndefinedTableError):
        await conn.fetch_numpy("SELECT * FROM no_such_table")
    with pytest.raises(errors.InvalidQueryInputError, match=r"\$1"):
        await conn.fetch_numpy("SELECT $1::int AS x", "not an int")
    with pytest.raises(errors.DivisionByZeroError):
        await conn.fetch_numpy("SELECT 1 / (g - 500) AS x FROM generate_series(1, 1000) g")
    assert (await conn.fetch_numpy("SELECT $1::int AS x", 5))["x"].tolist() == [5]


async def test_concurrent_calls_on_one_connection_and_a_pool(conn: Any, dsn: str) -> None:
    async def one(c: Any, k: int) -> None:
        got = await c.fetch_numpy(
            "SELECT g + $1 AS a, (g + $1) * 0.5::float8 AS b, 'v' || g AS c"
            " FROM generate_series(1, $2::int) g",
            k,
            1000 + k,
        )
        assert got["a"].tolist() == list(range(1 + k, 1001 + 2 * k))
        assert got["b"].tolist() == [v * 0.5 for v in range(1 + k, 1001 + 2 * k)]
        assert got["c"][-1] == f"v{1000 + k}"

    await asyncio.gather(*(one(conn, k) for k in range(12)), conn.fetch("SELECT 1"))
    async with pgjet.create_pool(dsn, min_size=2, max_size=3) as pool:

        async def pooled(k: int) -> None:
            async with pool.acquire() as c:
                await one(c, k)

        await asyncio.gather(*(pooled(k) for k in range(9)))
        got = await pool.fetch_numpy("SELECT 1.5::float8 AS x")
        assert got["x"].dtype == numpy.float64 and got["x"].tolist() == [1.5]
        assert await pool.fetch_columns("SELECT 'a' AS y") == {"y": ["a"]}


async def test_in_a_transaction_and_unnamed_statements(dsn: str) -> None:
    conn = await pgjet.connect(dsn, prepared_statements="unnamed")
    try:
        async with conn.transaction():
            await conn.execute(
                "CREATE TEMP TABLE fnt AS SELECT g AS x FROM generate_series(1, 3) g"
            )
            got = await conn.fetch_numpy("SELECT x FROM fnt ORDER BY x")
            assert got["x"].tolist() == [1, 2, 3]
    finally:
        await conn.close()


async def test_without_numpy_nothing_is_sent(conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy -> ImportError
    with pytest.raises(errors.InterfaceError, match="fetch_numpy\\(\\) needs numpy"):
        await conn.fetch_numpy("INSERT INTO never_created VALUES (1)")
    monkeypatch.undo()
    assert (await conn.fetch_numpy("SELECT 2 AS x"))["x"].tolist() == [2]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ints=st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), max_size=300),
    floats=st.lists(st.one_of(st.none(), st.floats(allow_nan=True, width=64)), max_size=300),
)
async def test_round_trip_matches_fetch(
    conn: Any, ints: list[int | None], floats: list[float | None]
) -> None:
    got = await conn.fetch_numpy(
        "SELECT * FROM unnest($1::int8[], $2::float8[]) AS t(i, f)", ints, floats
    )
    n = max(len(ints), len(floats))
    padded_i = ints + [None] * (n - len(ints))
    padded_f = floats + [None] * (n - len(floats))
    assert numpy.ma.getmaskarray(got["i"]).tolist() == [v is None for v in padded_i]
    assert numpy.ma.getmaskarray(got["f"]).tolist() == [v is None for v in padded_f]
    assert [None if v is numpy.ma.masked else v for v in got["i"].tolist()] == padded_i
    for value, want in zip(numpy.ma.getdata(got["f"]).tolist(), padded_f, strict=True):
        if want is None:
            assert value == 0.0
        elif math.isnan(want):
            assert math.isnan(value)
        else:
            assert value == want and math.copysign(1, value) == math.copysign(1, want)

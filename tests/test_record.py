"""The compiled Record: behaviour against asyncpg.Record, pickling, GC tracking, memory.

asyncpg.Record instances come from two places: asyncpg's own ``_create_record``
(no server; names must be unique there) and real queries against a throwaway
PostgreSQL 18 (duplicate column names, record_class subclasses).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import decimal
import gc
import operator
import pickle
import subprocess
import sys
import textwrap
import tracemalloc
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from asyncpg.protocol.protocol import _create_record
from hypothesis import given, settings
from hypothesis import strategies as st

from pgjet._wire.record import Record, RecordDescriptor, record_class_error

from .conftest import find_installation

ROOT = Path(__file__).resolve().parent.parent


def make(names: Sequence[str], values: Sequence[Any], cls: type[Record] | None = None) -> Record:
    return RecordDescriptor(names).make(values, cls)


def asyncpg_make(names: Sequence[str], values: Sequence[Any]) -> Any:
    """An asyncpg.Record built the way asyncpg maps names (a repeated name: last column)."""
    return _create_record({name: i for i, name in enumerate(names)}, tuple(values))


# -- differential observation ---------------------------------------------------------


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """What an operation gives: its result, or the type of the exception it raises."""
    try:
        return ("ok", fn())
    except Exception as exc:
        return ("raises", type(exc))


MISSING_KEYS: list[Any] = ["no_such_column", "", 1.5, None, b"a", (1, 2), [], frozenset()]


def observe(r: Any) -> list[tuple[str, Any]]:
    """Everything a user can ask a record, as comparable outcomes."""
    names = list(r.keys())
    values = list(r.values())
    n = len(values)
    seen: list[tuple[str, Any]] = [
        ("ok", len(r)),
        ("ok", bool(r)),
        ("ok", repr(r)),
        ("ok", str(r)),
        ("ok", list(r)),
        ("ok", names),
        ("ok", values),
        ("ok", list(r.items())),
        outcome(lambda: dict(r)),
        outcome(lambda: list(reversed(r))),
        outcome(lambda: next(iter(r))),
        outcome(lambda: next(r.items())),
        outcome(lambda: r.values().__length_hint__()),
        outcome(lambda: r.items().__length_hint__()),
        outcome(lambda: r[True]),
        outcome(lambda: r[2**70]),
        outcome(lambda: r["a":]),
        outcome(lambda: r.get()),
        outcome(lambda: r.get("x", 1, 2)),
        outcome(lambda: r.get(0)),
        outcome(lambda: r == values),
        outcome(lambda: r != values),
        outcome(lambda: r < values),
        outcome(lambda: r < 5),
        outcome(lambda: r == 5),
        outcome(lambda: r == tuple(values)),
        outcome(lambda: tuple(values) == r),
        outcome(lambda: r == (*values, 0)),
        outcome(lambda: r < (*values, 0)),
        outcome(lambda: r > (*values, 0)),
        outcome(lambda: r <= tuple(values)),
        outcome(lambda: (*values, 0) > r),
        outcome(lambda: r >= ()),
        outcome(lambda: hash(r) == hash(tuple(values))),
        outcome(lambda: r.index),
        outcome(lambda: operator.add(r, ())),
    ]
    for i in range(-n - 2, n + 2):
        seen.append(outcome(lambda i=i: r[i]))
    for sl in (slice(None), slice(1, 3), slice(None, None, -1), slice(-2, None), slice(5, 1)):
        seen.append(outcome(lambda sl=sl: r[sl]))
    for key in [*names, *MISSING_KEYS]:
        seen.append(outcome(lambda key=key: r[key]))
        seen.append(outcome(lambda key=key: r.get(key)))
        seen.append(outcome(lambda key=key: r.get(key, "default")))
        seen.append(outcome(lambda key=key: key in r))
    for value in values[:3]:
        seen.append(outcome(lambda value=value: value in r))
    return seen


def test_observe_sees_differences() -> None:
    """The comparison below would catch a record that misbehaves."""
    good = observe(asyncpg_make(["a", "b"], [1, "x"]))
    assert observe(asyncpg_make(["a", "b"], [1, "y"])) != good
    assert observe(asyncpg_make(["a", "c"], [1, "x"])) != good


ATOMS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.decimals(allow_nan=False),
    st.datetimes(),
    st.dates(),
    st.uuids(),
)
VALUES = st.recursive(ATOMS, lambda inner: st.lists(inner, max_size=3), max_leaves=8)
NAMES = st.lists(st.text(max_size=8), max_size=6, unique=True)


@st.composite
def named_values(draw: st.DrawFn) -> tuple[list[str], list[Any]]:
    names = draw(NAMES)
    return names, [draw(VALUES) for _ in names]


@settings(max_examples=300, deadline=None)
@given(named_values())
def test_matches_asyncpg_record(columns: tuple[list[str], list[Any]]) -> None:
    names, values = columns
    assert observe(make(names, values)) == observe(asyncpg_make(names, values))


@pytest.mark.parametrize(
    ("names", "values"),
    [
        ([], []),
        (["a"], [None]),
        (["a", "b"], [1, "x"]),
        (["a", "b", "c"], [1, [2, 3], {"k": "v"}]),
        (["x y", "é", "0"], [1.5, b"\x00", decimal.Decimal("1.10")]),
    ],
)
def test_matches_asyncpg_record_examples(names: list[str], values: list[Any]) -> None:
    assert observe(make(names, values)) == observe(asyncpg_make(names, values))


# -- against records from real queries ------------------------------------------------

QUERIES = [
    "SELECT 1 AS a, 'x' AS b, NULL::int AS c, 2.5::float8 AS d",
    "SELECT 1 AS a, 2 AS a, 3 AS b",
    "SELECT",
    "SELECT ARRAY[1, 2] AS arr, '{\"k\": [1]}'::jsonb AS j, 'a'::bytea AS raw",
    'SELECT 1 AS "select", \'two words\' AS "two words", 3 AS "?column?"',
]


def row_class(base: type) -> Any:
    """The same record_class for either driver (one name, so that reprs agree)."""

    class Row(base):  # type: ignore[misc, valid-type]
        def first(self) -> Any:
            return self[0]

    return Row


Row = row_class(Record)
AsyncpgRow = row_class(asyncpg.Record)


@pytest.fixture(scope="module")
def asyncpg_rows() -> list[Any]:
    """Rows that asyncpg itself decoded from a real server, plus subclass rows."""
    from pgjet.testing import Cluster

    async def fetch(dsn: str) -> list[Any]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = [await conn.fetchrow(q) for q in QUERIES]
            rows.append(await conn.fetchrow(QUERIES[1], record_class=AsyncpgRow))
            return rows
        finally:
            await conn.close()

    with Cluster(find_installation("pg18")) as cluster:
        return asyncio.run(fetch(str(cluster.dsn())))


@pytest.mark.parametrize("index", range(len(QUERIES) + 1))
def test_matches_records_from_a_real_query(asyncpg_rows: list[Any], index: int) -> None:
    theirs = asyncpg_rows[index]
    cls = Row if isinstance(theirs, AsyncpgRow) else None
    ours = make(list(theirs.keys()), list(theirs.values()), cls)
    assert observe(ours) == observe(theirs)
    if cls is not None:
        assert ours.first() == theirs.first()
        assert repr(ours).startswith("<Row ")


def test_repeated_column_name_gives_the_last_column_like_asyncpg(
    asyncpg_rows: list[Any],
) -> None:
    theirs = asyncpg_rows[1]
    ours = make(["a", "a", "b"], [1, 2, 3])
    assert theirs["a"] == ours["a"] == ours.get("a") == 2
    assert list(ours.keys()) == ["a", "a", "b"]
    assert list(ours.items()) == [("a", 1), ("a", 2), ("b", 3)]
    assert repr(ours) == repr(theirs) == "<Record a=1 a=2 b=3>"


# -- direct behaviour -----------------------------------------------------------------


def test_indexing_by_position_name_and_slice() -> None:
    r = make(["id", "name", "score"], [7, "ann", 1.5])
    assert (r[0], r[1], r[2], r[-1], r[-3]) == (7, "ann", 1.5, 1.5, 7)
    assert (r["id"], r["name"], r["score"]) == (7, "ann", 1.5)
    assert r[1:3] == ("ann", 1.5)
    assert type(r[1:3]) is tuple
    assert r[::-2] == (1.5, 7)
    with pytest.raises(IndexError, match="record index out of range"):
        r[3]
    with pytest.raises(IndexError):
        r[-4]


def test_missing_name_raises_key_error_naming_the_key() -> None:
    r = make(["a"], [1])
    with pytest.raises(KeyError) as excinfo:
        r["missing"]
    assert excinfo.value.args == ("missing",)
    with pytest.raises(KeyError) as excinfo:
        r[(1, 2)]
    assert excinfo.value.args == ((1, 2),)


def test_get_membership_and_iterators() -> None:
    r = make(["a", "b"], [1, None])
    assert r.get("a") == 1
    assert r.get("b", "dflt") is None
    assert r.get("zz") is None
    assert r.get("zz", "dflt") == "dflt"
    assert "a" in r and "zz" not in r and 1 not in r
    values, items = r.values(), r.items()
    assert iter(values) is values and iter(items) is items
    assert next(values) == 1 and values.__length_hint__() == 1
    assert list(values) == [None] and values.__length_hint__() == 0
    assert list(values) == []
    assert list(items) == [("a", 1), ("b", None)]
    assert list(r.keys()) == ["a", "b"]
    assert list(r) == [1, None] and len(r) == 2


def test_comparisons_and_hash() -> None:
    r = make(["a", "b"], [1, "x"])
    same_values = make(["c", "d"], [1, "x"])
    assert r == same_values and r == (1, "x") and (1, "x") == r  # noqa: SIM300
    assert r < make(["a"], [2]) and r > (1,) and r <= (1, "x") and r >= (1, "w")
    assert r != [1, "x"] and r != (1, "y")
    assert hash(r) == hash((1, "x")) == hash(same_values)
    assert {r: 1}[(1, "x")] == 1
    assert sorted([make(["a"], [2]), make(["a"], [1])]) == [(1,), (2,)]
    with pytest.raises(TypeError):
        r < [1]  # noqa: B015
    with pytest.raises(TypeError, match="unhashable"):
        hash(make(["a"], [[1]]))
    nan = float("nan")
    assert make(["a"], [nan]) == make(["a"], [nan])  # identity, as in tuples


def test_repr() -> None:
    assert repr(make(["a", "b"], [1, "x"])) == "<Record a=1 b='x'>"
    assert repr(make([], [])) == "<Record>"
    assert repr(make(["a"], [1], Row)) == "<Row a=1>"
    holder: list[Any] = []
    r = make(["a"], [holder])
    holder.append(r)
    assert repr(r) == "<Record a=[<Record ...>]>"
    holder.clear()


class Point(Record):
    @property
    def norm2(self) -> Any:
        return self["x"] ** 2 + self["y"] ** 2


def test_subclass_with_methods_and_properties() -> None:
    p = make(["x", "y"], [3, 4], Point)
    assert isinstance(p, Point) and isinstance(p, Record)
    assert p.norm2 == 25
    assert p == (3, 4)
    assert make(["x"], [1]).__class__ is Record


def test_records_cannot_be_created_directly() -> None:
    with pytest.raises(TypeError, match="cannot create"):
        Record()
    with pytest.raises(TypeError, match="cannot create"):
        Point()


def test_descriptor() -> None:
    class Name(str):
        pass

    desc = RecordDescriptor(["a", Name("b")])
    assert desc.names == ("a", "b") and len(desc) == 2
    assert all(type(name) is str for name in desc.names)
    assert repr(desc) == "RecordDescriptor(('a', 'b'))"
    assert RecordDescriptor(names=iter(["z"])).names == ("z",)
    assert copy.copy(desc) is desc and copy.deepcopy(desc) is desc
    assert pickle.loads(pickle.dumps(desc)).names == ("a", "b")
    with pytest.raises(TypeError, match="position 1 must be str, not int"):
        RecordDescriptor(["a", 1])
    with pytest.raises(TypeError, match="sequence of str, not str"):
        RecordDescriptor("ab")
    with pytest.raises(TypeError):
        RecordDescriptor(5)
    with pytest.raises(ValueError, match="3 values given for the 2 columns"):
        desc.make([1, 2, 3])
    with pytest.raises(TypeError, match=r"subclass of pgjet\.Record"):
        desc.make([1, 2], int)
    with pytest.raises(TypeError, match=r"subclass of pgjet\.Record"):
        desc.make([1, 2], "Record")


# -- record_class rules, side by side with asyncpg's --------------------------------


def record_classes(base: type) -> list[Any]:
    class Plain(base):  # type: ignore[misc, valid-type]
        pass

    class WithInit(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            pass

    class WithNew(base):  # type: ignore[misc, valid-type]
        def __new__(cls) -> Any:
            return None

    class Deeper(Plain):
        def method(self) -> int:
            return 1

    class InitFurtherUp(WithInit):
        pass

    return [base, Plain, WithInit, WithNew, Deeper, InitFurtherUp, int, object, "Record", None]


def asyncpg_record_class_error(cls: Any) -> str | None:
    from asyncpg.connection import _check_record_class

    try:
        _check_record_class(cls)
    except asyncpg.InterfaceError as exc:
        return str(exc).replace("asyncpg.Record", "pgjet.Record")
    return None


def test_record_class_rules_match_asyncpg() -> None:
    ours = [record_class_error(cls) for cls in record_classes(Record)]
    theirs = [asyncpg_record_class_error(cls) for cls in record_classes(asyncpg.Record)]
    # Both name the offending class by repr(); only the qualified names differ.
    assert [m if m is None else m.split(", got")[0] for m in ours] == [
        m if m is None else m.split(", got")[0] for m in theirs
    ]
    assert ours[:2] == [None, None]
    assert (
        ours[-4] == "record_class is expected to be a subclass of pgjet.Record, got <class 'int'>"
    )


# -- pickling and copying -------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(named_values(), st.integers(min_value=0, max_value=pickle.HIGHEST_PROTOCOL))
def test_pickle_round_trip(columns: tuple[list[str], list[Any]], protocol: int) -> None:
    names, values = columns
    r = make(names, values)
    back = pickle.loads(pickle.dumps(r, protocol=protocol))
    assert type(back) is Record
    assert back == r
    assert list(back.keys()) == names
    assert list(back.items()) == list(r.items())
    assert gc.is_tracked(back) == gc.is_tracked(r)


def test_pickled_rows_share_one_descriptor() -> None:
    desc = RecordDescriptor(["a", "b"])
    rows = [desc.make([i, str(i)]) for i in range(3)]
    back = pickle.loads(pickle.dumps(rows))
    assert back == rows
    assert back[0].__reduce__()[1][0] is back[2].__reduce__()[1][0]


def test_pickle_subclass_keeps_class_and_attributes() -> None:
    p = make(["x", "y"], [3, 4], Point)
    back = pickle.loads(pickle.dumps(p))
    assert type(back) is Point and back.norm2 == 25
    p.label = "origin-ish"  # type: ignore[attr-defined]
    back = pickle.loads(pickle.dumps(p))
    assert back.label == "origin-ish"


def test_copy_and_deepcopy() -> None:
    inner = [1, 2]
    r = make(["a", "b"], [inner, "x"])
    shallow, deep = copy.copy(r), copy.deepcopy(r)
    assert shallow == r == deep
    assert shallow[0] is inner
    assert deep[0] == inner and deep[0] is not inner
    assert list(deep.keys()) == ["a", "b"]


def test_bad_pickle_data_is_rejected() -> None:
    from pgjet._wire.record import _reconstruct

    desc = RecordDescriptor(["a"])
    with pytest.raises(TypeError, match="must be a tuple"):
        _reconstruct(desc, [1])
    with pytest.raises(ValueError):
        _reconstruct(desc, (1, 2))
    with pytest.raises(TypeError, match="RecordDescriptor"):
        _reconstruct(("a",), (1,))
    with pytest.raises(TypeError, match=r"subclass of pgjet\.Record"):
        _reconstruct(desc, (1,), dict)


# -- cyclic GC ------------------------------------------------------------------------

ATOMIC_ROWS = [
    [1, "text", 2.5, None, True, b"raw"],
    [decimal.Decimal("1.5"), datetime.datetime(2024, 1, 2, 3, 4), datetime.date(2024, 1, 2)],
    [datetime.time(1, 2), datetime.timedelta(seconds=3), 10**40, -1],
    [(1, "nested tuple", (2.5, None))],
    [],
]
CONTAINER_ROWS = [
    [1, [1, 2]],
    [{"k": [1]}],
    [{}],  # an untracked empty dict may later hold a cycle
    [{"k": "v"}],
    [(1, [2])],
    [uuid.UUID(int=1)],  # instances of Python classes
    [{1, 2}],
]


@pytest.mark.parametrize("values", ATOMIC_ROWS, ids=repr)
def test_rows_of_atomic_values_are_not_tracked(values: list[Any]) -> None:
    r = make([f"c{i}" for i in range(len(values))], values)
    assert not gc.is_tracked(r)


@pytest.mark.parametrize("values", CONTAINER_ROWS, ids=repr)
def test_rows_that_may_hold_a_cycle_are_tracked(values: list[Any]) -> None:
    r = make([f"c{i}" for i in range(len(values))], values)
    assert gc.is_tracked(r)


def test_nested_atomic_records_and_tuples_are_untracked_too() -> None:
    inner = make(["x"], [1])
    t = (1, ("a", float(len(ATOMIC_ROWS))))  # built at run time: constants are untracked
    assert gc.is_tracked(t)
    outer = make(["inner", "t"], [inner, t])
    assert not gc.is_tracked(outer) and not gc.is_tracked(t)
    assert gc.is_tracked(make(["inner"], [make(["x"], [[]])]))


def test_subclass_rows_with_a_dict_are_always_tracked() -> None:
    class Slotless(Record):
        __slots__ = ()

    assert gc.is_tracked(make(["a"], [1], Point))
    assert not gc.is_tracked(make(["a"], [1], Slotless))


class Sentinel:
    pass


def collected(build: Callable[[Sentinel], None]) -> bool:
    """Whether a cycle that build() made around a sentinel is freed by gc.collect()."""
    gc.collect()
    sentinel = Sentinel()
    alive = weakref.ref(sentinel)
    build(sentinel)
    del sentinel
    found = gc.collect()
    return alive() is None and found > 0


def test_cycle_through_a_list_is_collected() -> None:
    def build(sentinel: Sentinel) -> None:
        holder: list[Any] = [sentinel]
        r = make(["a"], [holder])
        holder.append(r)

    assert collected(build)


def test_cycle_through_a_dict_that_was_empty_is_collected() -> None:
    def build(sentinel: Sentinel) -> None:
        r = make(["a"], [{}])
        r["a"]["self"] = r
        r["a"]["sentinel"] = sentinel

    assert collected(build)


def test_cycle_through_a_subclass_attribute_is_collected() -> None:
    def build(sentinel: Sentinel) -> None:
        p = make(["x"], [1], Point)
        p.me = p  # type: ignore[attr-defined]
        p.sentinel = sentinel  # type: ignore[attr-defined]

    assert collected(build)


def test_deeply_nested_records_are_freed_without_overflowing_the_stack() -> None:
    desc = RecordDescriptor(["child"])
    r = desc.make([None])
    for _ in range(200_000):
        r = desc.make([r])
    del r


# -- reference counts and memory ------------------------------------------------------


def test_reference_counts_return_to_where_they_were() -> None:
    value, name = object(), "refcount_probe_column"
    desc = RecordDescriptor([name, "other"])
    before = (sys.getrefcount(value), sys.getrefcount(desc), sys.getrefcount(name))

    rows = [desc.make([value, i]) for i in range(100)]
    assert sys.getrefcount(value) == before[0] + 100
    assert sys.getrefcount(desc) == before[1] + 100
    for r in rows:
        r[0], r[name], r.get(name), r[0:1], list(r.items()), list(r.values()), repr(r)
        name in r, r == (value, 0), hash((1,)), pickle.dumps(r[1:]), copy.copy(r)
        with pytest.raises(KeyError):
            r["nope"]
        with pytest.raises(IndexError):
            r[5]
    del rows, r
    with pytest.raises(ValueError):
        desc.make([value])
    with pytest.raises(TypeError):
        desc.make([value, 1], int)
    assert (sys.getrefcount(value), sys.getrefcount(desc), sys.getrefcount(name)) == before


def test_unpickling_does_not_leak() -> None:
    value = "a string that pickles by value"
    desc = RecordDescriptor(["a"])
    data = pickle.dumps(desc.make([value]))
    pickle.loads(data)
    gc.collect()
    desc_refs, blocks = sys.getrefcount(desc), sys.getallocatedblocks()
    for _ in range(5000):
        pickle.loads(data)
    gc.collect()
    assert sys.getrefcount(desc) == desc_refs
    # One leaked object per load would be 5000+; the rest of the process (caches,
    # other threads) may allocate a few hundred blocks meanwhile.
    assert sys.getallocatedblocks() - blocks < 500


def test_creating_many_records_does_not_grow_memory() -> None:
    desc = RecordDescriptor(["a", "b", "c"])

    def churn() -> None:
        for i in range(100_000):
            r = desc.make((i, "x", None))
            r["a"], list(r.items()), r[0:2]

    churn()  # warm up allocator pools
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        churn()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, f"memory grew by {grown} bytes over 100,000 records"


# -- the C API, as the Cython wire core uses it --------------------------------------

PROBE = """
from pgjet._wire.record cimport import_record_api, new_record, record_set_item, record_finish

import_record_api()


def build(record_class, desc, values, Py_ssize_t size=-1, bint leave_last_unset=False):
    cdef Py_ssize_t i, n = len(values)
    rec = new_record(record_class, desc, n if size < 0 else size)
    for i in range(n - 1 if leave_last_unset else n):
        record_set_item(rec, i, values[i])
    record_finish(rec)
    return rec
"""


@pytest.fixture(scope="module")
def c_api_probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Cython module compiled against record.pxd / record.h, as the wire core is."""
    where = tmp_path_factory.mktemp("record_capi")
    (where / "record_capi_probe.pyx").write_text(PROBE)
    (where / "setup.py").write_text(
        textwrap.dedent(f"""
        from Cython.Build import cythonize
        from setuptools import Extension, setup
        ext = Extension("record_capi_probe", [{str(where / "record_capi_probe.pyx")!r}],
                        extra_compile_args=["-O2", "-Wall", "-Werror"])
        setup(name="record_capi_probe", script_args=["build_ext", "--build-lib", {str(where)!r},
              "--build-temp", {str(where / "build")!r}],
              ext_modules=cythonize([ext], include_path=["src"], quiet=True,
                                    compiler_directives={{"language_level": "3"}}))
        """)
    )
    # Run from the repository root, as setup.py is: record.pxd names its include dir from there.
    build = subprocess.run(
        [sys.executable, str(where / "setup.py")], cwd=ROOT, capture_output=True, text=True
    )
    assert build.returncode == 0, build.stdout + build.stderr
    sys.path.insert(0, str(where))
    try:
        import record_capi_probe

        yield record_capi_probe
    finally:
        sys.path.remove(str(where))
        sys.modules.pop("record_capi_probe", None)


def test_c_api_builds_records(c_api_probe: Any) -> None:
    desc = RecordDescriptor(["a", "b"])
    value = "c-api-probe-value" * 3
    before = sys.getrefcount(value), sys.getrefcount(desc)
    r = c_api_probe.build(None, desc, [value, 2])
    assert type(r) is Record and r == (value, 2) and r["b"] == 2
    assert not gc.is_tracked(r)
    assert gc.is_tracked(c_api_probe.build(None, desc, [value, []]))
    assert type(c_api_probe.build(Point, desc, [3, 4])) is Point
    del r
    assert (sys.getrefcount(value), sys.getrefcount(desc)) == before


def test_c_api_rejects_misuse(c_api_probe: Any) -> None:
    desc = RecordDescriptor(["a", "b"])
    value = "c-api-misuse-value" * 3
    before = sys.getrefcount(value), sys.getrefcount(desc)
    with pytest.raises(SystemError, match="value 1 of 2 was never set"):
        c_api_probe.build(None, desc, [value, 2], leave_last_unset=True)
    with pytest.raises(ValueError, match="a record of 3 values cannot have the 2 columns"):
        c_api_probe.build(None, desc, [1, 2], size=3)
    with pytest.raises(TypeError, match=r"subclass of pgjet\.Record"):
        c_api_probe.build(tuple, desc, [1, 2])
    with pytest.raises(TypeError, match="needs a RecordDescriptor"):
        c_api_probe.build(None, ("a", "b"), [1, 2])
    assert (sys.getrefcount(value), sys.getrefcount(desc)) == before


async def test_fetched_rows_are_tracked_only_when_a_value_may_join_a_cycle(conn: Any) -> None:
    # The decoder skips the per-value check for rows of plain values: it must
    # still track rows holding containers, and rows of subclasses with a dict.
    plain = await conn.fetch("SELECT 1 AS a, 'x' AS b, 2.5::float8 AS c, NULL::int AS d")
    assert not gc.is_tracked(plain[0])
    for query in (
        "SELECT 1 AS a, ARRAY[1, 2] AS b",  # a list
        "SELECT '{\"k\": [1]}'::json::text AS a, '{1,2}'::int[] AS b",
        "SELECT 1 AS a, ROW(1, ARRAY[2]) AS b",  # a record holding a list
    ):
        rows = await conn.fetch(query)
        assert gc.is_tracked(rows[0]), query
    assert not gc.is_tracked((await conn.fetch("SELECT 1 AS a, ROW(1, 'x') AS b"))[0])
    # A decoded uuid.UUID is immutable and holds an int: like an atomic value.
    row = await conn.fetchrow("SELECT gen_random_uuid() AS u, 1 AS i")
    assert isinstance(row["u"], uuid.UUID) and not gc.is_tracked(row)
    assert gc.is_tracked(await conn.fetchrow("SELECT gen_random_uuid() AS u, ARRAY[1] AS a"))
    assert gc.is_tracked((await conn.fetch("SELECT 1 AS a", record_class=Point))[0])

    class Node:
        row: Any = None

    # A real cycle row -> list -> node -> row: only a tracked row lets the collector free it.
    node = Node()
    node.row = await conn.fetchrow("SELECT 1 AS a, ARRAY[3] AS b")
    node.row["b"].append(node)
    alive = weakref.ref(node)
    del node
    await asyncio.sleep(0)  # the call's wake-up handle still holds its future
    gc.collect()
    assert alive() is None

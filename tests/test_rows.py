"""Row factories (pgjet.rows): dicts, tuples, namedtuples, classes — and Records untouched."""

from __future__ import annotations

import dataclasses
from typing import Any

import pydantic
import pytest

import pgjet
from pgjet import errors
from pgjet.rows import args_row, class_row, dict_row, kwargs_row, namedtuple_row, tuple_row

QUERY = "SELECT g AS id, 'n' || g AS name, NULL::int AS missing FROM generate_series(1, $1) g"


@dataclasses.dataclass
class Item:
    id: int
    name: str
    missing: int | None


class ItemModel(pydantic.BaseModel):
    id: int
    name: str
    missing: int | None


async def test_dict_rows(conn: Any) -> None:
    rows = await conn.fetch(QUERY, 3, row_factory=dict_row)
    assert rows == [{"id": i, "name": f"n{i}", "missing": None} for i in (1, 2, 3)]
    assert await conn.fetchrow(QUERY, 1, row_factory=dict_row) == {
        "id": 1,
        "name": "n1",
        "missing": None,
    }
    # Repeated column names: the last one wins, as Record's r["a"] does.
    assert await conn.fetchrow("SELECT 1 AS a, 2 AS a", row_factory=dict_row) == {"a": 2}


async def test_tuple_and_namedtuple_rows(conn: Any) -> None:
    assert await conn.fetch(QUERY, 2, row_factory=tuple_row) == [(1, "n1", None), (2, "n2", None)]
    rows = await conn.fetch(QUERY, 2, row_factory=namedtuple_row)
    assert [(r.id, r.name, r.missing) for r in rows] == [(1, "n1", None), (2, "n2", None)]
    assert type(rows[0]) is type(rows[1])
    odd = await conn.fetchrow("SELECT 1, 2 AS class, 3 AS x", row_factory=namedtuple_row)
    assert tuple(odd) == (1, 2, 3)  # unusable names renamed, values kept
    assert odd._fields[2] == "x"


async def test_class_rows(conn: Any) -> None:
    assert await conn.fetch(QUERY, 2, row_factory=class_row(Item)) == [
        Item(1, "n1", None),
        Item(2, "n2", None),
    ]
    models = await conn.fetch(QUERY, 2, row_factory=class_row(ItemModel))
    assert models == [
        ItemModel(id=1, name="n1", missing=None),
        ItemModel(id=2, name="n2", missing=None),
    ]
    assert await conn.fetchrow(QUERY, 1, row_factory=args_row(lambda *v: list(v))) == [
        1,
        "n1",
        None,
    ]
    assert await conn.fetchrow(QUERY, 1, row_factory=kwargs_row(lambda **kw: sorted(kw))) == [
        "id",
        "missing",
        "name",
    ]
    assert class_row(Item) is class_row(Item)  # one statement per shape in the cache


async def test_a_class_that_refuses_the_row_fails_the_query_not_the_connection(
    conn: Any,
) -> None:
    @dataclasses.dataclass
    class Narrow:
        id: int

    with pytest.raises(TypeError):
        await conn.fetch(QUERY, 2, row_factory=class_row(Narrow))
    assert await conn.fetchval("SELECT 41 + 1") == 42


async def test_connection_default_and_what_it_does_not_touch(dsn: str) -> None:
    conn = await pgjet.connect(dsn, row_factory=dict_row)
    try:
        assert await conn.fetch(QUERY, 1) == [{"id": 1, "name": "n1", "missing": None}]
        assert await conn.fetchval(QUERY, 1) == 1  # a value, not a row
        assert await conn.fetchval(QUERY, 1, column="name") == "n1"
        records = await conn.fetch(QUERY, 1, record_class=pgjet.Record)
        assert isinstance(records[0], pgjet.Record)
        stmt = await conn.prepare(QUERY)
        assert await stmt.fetchrow(1) == {"id": 1, "name": "n1", "missing": None}
        async with conn.transaction():
            got = [row async for row in conn.cursor(QUERY, 3)]
        assert got[2] == {"id": 3, "name": "n3", "missing": None}
        await conn.execute("CREATE TEMP TABLE rf (x int)")
        rows = await conn.fetchmany("INSERT INTO rf VALUES ($1) RETURNING x", [(1,), (2,)])
        assert rows == [{"x": 1}, {"x": 2}]
        async with conn.pipeline() as p:
            one = p.fetchrow(QUERY, 1)
            value = p.fetchval(QUERY, 1, column="name")
        assert one.result() == {"id": 1, "name": "n1", "missing": None}
        assert value.result() == "n1"
    finally:
        await conn.close()


async def test_per_call_factory_on_a_prepared_statement(conn: Any) -> None:
    stmt = await conn.prepare(QUERY, row_factory=tuple_row)
    assert await stmt.fetch(2) == [(1, "n1", None), (2, "n2", None)]


@pytest.mark.parametrize("bad", [dict, "dict_row", lambda r: r, 42])
async def test_bad_row_factory_is_refused(conn: Any, dsn: str, bad: Any) -> None:
    with pytest.raises(errors.InterfaceError, match="row_factory"):
        await conn.fetch("SELECT 1", row_factory=bad)
    with pytest.raises(errors.InterfaceError, match="row_factory"):
        await pgjet.connect(dsn, row_factory=bad)
    with pytest.raises(errors.InterfaceError, match="not both"):
        await conn.fetch("SELECT 1", row_factory=dict_row, record_class=pgjet.Record)
    assert await conn.fetchval("SELECT 1") == 1

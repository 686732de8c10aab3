"""json.loads as the decoder: pgjet calls its compiled scanner directly; same results."""

from __future__ import annotations

import json
from typing import Any

import pytest

import pgjet

TEXTS = [
    '{"a": 1, "b": [true, false, null], "c": {"d": "e"}}',
    '  {"spaced": 1}  ',  # json keeps its input text, whitespace included
    '"just a string"',
    "12345678901234567890123",
    "1.5e300",
    '"\\u00e9\\ud83d\\ude00 tab\\t"',
    "[]",
    '{"dup": 1, "dup": 2}',
    "[1, [2, [3, [4]]]]",
]


@pytest.mark.parametrize("type_name", ["json", "jsonb"])
async def test_same_values_as_json_loads(conn: Any, type_name: str) -> None:
    await conn.set_type_codec(
        type_name, schema="pg_catalog", decoder=json.loads, encoder=json.dumps, format="text"
    )
    for text in TEXTS:
        server_text = await conn.fetchval(f"SELECT $1::text::{type_name}::text", text)
        got = await conn.fetchval(f"SELECT $1::text::{type_name}", text)
        assert got == json.loads(server_text), text
        assert type(got) is type(json.loads(server_text))


async def test_connect_json_loads_and_a_lookalike(dsn: str) -> None:
    conn = await pgjet.connect(dsn, json_loads=json.loads)
    try:
        rows = await conn.fetch(
            "SELECT jsonb_build_object('i', g) AS j FROM generate_series(1, 50) g"
        )
        assert [r["j"] for r in rows] == [{"i": i} for i in range(1, 51)]
    finally:
        await conn.close()
    seen: list[str] = []

    def loads(text: str) -> Any:  # not json.loads: must be called for every value
        seen.append(text)
        return json.loads(text)

    conn = await pgjet.connect(dsn, json_loads=loads)
    try:
        assert await conn.fetchval("SELECT '[1]'::jsonb") == [1]
        assert seen == ["[1]"]
    finally:
        await conn.close()

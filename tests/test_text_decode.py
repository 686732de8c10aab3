"""Text decoding: the ASCII fast path and the UTF-8 path give the same str as the server's text."""

from __future__ import annotations

from typing import Any

import pytest

SAMPLES = [
    "",
    "a",
    "é",
    "ab",
    "x" * 63,
    "x" * 64,
    "x" * 65,
    "x" * 63 + "é",
    "é" + "x" * 63,
    "tab\tnew\nline",
    "\x7f",
    "\U0001f600 emoji",
    "z" * 10_000,
]


@pytest.mark.parametrize("text", SAMPLES, ids=lambda t: f"{len(t)}:{t[:8]!r}")
async def test_text_round_trips(conn: Any, text: str) -> None:
    got = await conn.fetchval("SELECT $1::text", text)
    assert got == text
    assert type(got) is str
    # What the server holds, by its own length and octets.
    assert await conn.fetchval("SELECT length($1::text)", text) == len(got)
    assert await conn.fetchval("SELECT octet_length($1::text)", text) == len(got.encode())


async def test_varchar_name_and_arrays(conn: Any) -> None:
    row = await conn.fetchrow(
        "SELECT 'abc'::varchar AS v, 'pg_class'::name AS n, ARRAY['a', 'ü', '', NULL] AS arr"
    )
    assert (row["v"], row["n"], row["arr"]) == ("abc", "pg_class", ["a", "ü", "", None])

"""The binary codecs of the columns a COPY moves, read from the catalog.

Domains are followed down to their base type; an enum travels as its label.
A type with no binary codec is refused at once, pointing at the text formats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pgjet import errors
from pgjet._wire.codecs import Codec, get_codec

if TYPE_CHECKING:
    from pgjet.connection import Connection


def _through_domains(type_oid: str) -> str:
    """A lateral subquery ``b``: the (oid, typtype) under `type_oid`'s domains, if any."""
    return f"""CROSS JOIN LATERAL (
    WITH RECURSIVE d(oid, base, typtype, depth) AS (
        SELECT t.oid, t.typbasetype, t.typtype, 0
        FROM pg_catalog.pg_type t WHERE t.oid = {type_oid}
        UNION ALL
        SELECT t.oid, t.typbasetype, t.typtype, d.depth + 1
        FROM pg_catalog.pg_type t JOIN d ON t.oid = d.base WHERE d.typtype = 'd')
    SELECT oid, typtype FROM d ORDER BY depth DESC LIMIT 1) b"""


_COLUMNS_SQL = f"""
SELECT a.attname::text, b.oid, b.typtype::text, a.attgenerated <> ''
FROM pg_catalog.pg_attribute a
{_through_domains("a.atttypid")}
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_TYPES_SQL = f"""
SELECT b.oid, b.typtype::text
FROM unnest($1::text[]) WITH ORDINALITY AS u(name, i)
{_through_domains("u.name::regtype")}
ORDER BY u.i
"""


async def table_columns(
    conn: Connection, table: str, columns: Sequence[str] | None, timeout: float | None
) -> tuple[list[str], list[Codec]]:
    """Names and binary codecs of the columns a COPY of `table` moves, in order."""
    rows = await conn.fetch(_COLUMNS_SQL, table, timeout=timeout)
    found = {r[0]: (r[1], r[2]) for r in rows}
    if columns is None:
        names = [r[0] for r in rows if not r[3]]  # COPY skips generated columns
    else:
        names = list(columns)
        for name in names:
            if name not in found:
                raise errors.from_fields(
                    {
                        "S": "ERROR",
                        "C": "42703",
                        "M": f'column "{name}" of relation {table} does not exist',
                    },
                    None,
                )
    codecs = [_binary_codec(found[n][0], found[n][1], n) for n in names]
    return names, codecs


async def named_types(
    conn: Connection, types: Sequence[str | int], timeout: float | None
) -> list[Codec]:
    """Binary codecs for type names (``"int4"``, ``"public.mood"``) or OIDs."""
    names = [str(t) if isinstance(t, int) else t for t in types]
    for t in types:
        if not isinstance(t, (str, int)) or isinstance(t, bool):
            raise errors.InterfaceError(f"types must be type names or OIDs, not {t!r}")
    rows = await conn.fetch(_TYPES_SQL, names, timeout=timeout)
    return [_binary_codec(r[0], r[1], str(t)) for r, t in zip(rows, types, strict=True)]


def _binary_codec(oid: int, typtype: str, column: str) -> Codec:
    codec = get_codec(oid)
    # An enum's binary form is its label, which the text codec writes and reads.
    if codec.format != 1 and typtype != "e":
        raise errors.UnsupportedClientFeatureError(
            f"column {column!r} has type {codec.name or oid} (oid {oid}), which pgjet has "
            "no binary codec for, so it cannot take part in a binary COPY",
            hint="use COPY in text or CSV format (copy_in_raw / copy_out_raw / "
            "copy_to_table / copy_from_query) for this table",
        )
    return codec

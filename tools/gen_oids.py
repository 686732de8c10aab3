#!/usr/bin/env python3
"""Generate pgjet's builtin type OID constants from ``tools/pg_type.tsv``.

Usage::

    python tools/gen_oids.py            # rewrite the generated files
    python tools/gen_oids.py --check    # exit 1 if a generated file is stale
    python tools/gen_oids.py --refresh  # re-read pg_type from a real server first

``tools/pg_type.tsv`` is a committed snapshot of PostgreSQL's builtin ``pg_type``
rows (those with OIDs below 10000, which initdb assigns from the source tree and
which therefore never change between installations). Generation runs offline from
it; ``--refresh`` starts a throwaway cluster with :class:`pgjet.testing.Cluster`
(the newest installation found, or ``--bindir``) and rewrites the snapshot first.

Outputs:

- ``src/pgjet/oids.py``: Python constants (``INT4OID``, ``INT4ARRAYOID``, ...) and
  ``BUILTIN_TYPES``, the snapshot's rows, for the Python layer and the codecs.
- ``src/pgjet/_wire/oids.pxi``: the same constants as a Cython ``enum``.

Constant names: the type name upper-cased plus ``OID`` (``"char"`` is ``CHAROID``);
an array type is named after its element (``_int4`` → ``INT4ARRAYOID``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT_PATH = ROOT / "tools" / "pg_type.tsv"
PY_OUTPUT_PATH = ROOT / "src" / "pgjet" / "oids.py"
PXI_OUTPUT_PATH = ROOT / "src" / "pgjet" / "_wire" / "oids.pxi"

COLUMNS = (
    "oid",
    "typname",
    "typtype",
    "typcategory",
    "typlen",
    "typelem",
    "typarray",
    "typdelim",
    "rngsubtype",
)

# Builtin rows only; row types of system catalogs (typtype 'c') and their arrays are
# no use to a driver and would only bloat the tables.
SNAPSHOT_QUERY = """
SELECT t.oid, t.typname, t.typtype, t.typcategory, t.typlen, t.typelem, t.typarray, t.typdelim,
       COALESCE(r.rngsubtype, m.rngtypid, 0::oid)
FROM pg_catalog.pg_type t
LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem
LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid
LEFT JOIN pg_catalog.pg_range m ON m.rngmultitypid = t.oid
WHERE t.oid < 10000
  AND t.typtype <> 'c'
  AND NOT (t.typcategory = 'A' AND e.typtype = 'c')
ORDER BY t.oid
"""


@dataclass(frozen=True)
class TypeRow:
    oid: int
    typname: str
    typtype: str
    typcategory: str
    typlen: int
    typelem: int
    typarray: int
    typdelim: str
    # A range's subtype (pg_range.rngsubtype); a multirange's range type; else 0.
    rngsubtype: int


def parse_snapshot(text: str) -> list[TypeRow]:
    """The snapshot's rows; raise ValueError naming the first malformed line."""
    lines = text.splitlines()
    if not lines or tuple(lines[0].split("\t")) != COLUMNS:
        raise ValueError(f"pg_type.tsv must start with the header {chr(9).join(COLUMNS)!r}")
    rows: list[TypeRow] = []
    for lineno, line in enumerate(lines[1:], 2):
        fields = line.split("\t")
        if len(fields) != len(COLUMNS):
            raise ValueError(f"pg_type.tsv line {lineno}: expected {len(COLUMNS)} fields")
        oid, name, typtype, category, typlen, elem, array, delim, rngsub = fields
        try:
            row = TypeRow(
                int(oid),
                name,
                typtype,
                category,
                int(typlen),
                int(elem),
                int(array),
                delim,
                int(rngsub),
            )
        except ValueError:
            raise ValueError(
                f"pg_type.tsv line {lineno}: a numeric field is not a number"
            ) from None
        if not name.replace("_", "a").isalnum() or not name.isascii():
            raise ValueError(f"pg_type.tsv line {lineno}: unexpected type name {name!r}")
        if len(typtype) != 1 or len(category) != 1 or len(delim) != 1:
            raise ValueError(f"pg_type.tsv line {lineno}: typtype/category/delim must be 1 char")
        if (row.typtype in ("r", "m")) != (row.rngsubtype != 0):
            raise ValueError(
                f"pg_type.tsv line {lineno}: rngsubtype must be set for ranges and multiranges only"
            )
        rows.append(row)
    oids = [row.oid for row in rows]
    if len(set(oids)) != len(oids):
        raise ValueError("pg_type.tsv lists an OID twice")
    return rows


def constant_names(rows: Sequence[TypeRow]) -> dict[int, str]:
    """OID -> constant name; raise ValueError if two types would share a name."""
    by_oid = {row.oid: row for row in rows}
    names: dict[int, str] = {}
    for row in rows:
        element = by_oid.get(row.typelem) if row.typcategory == "A" else None
        if element is not None and row.typname == "_" + element.typname:
            names[row.oid] = element.typname.upper() + "ARRAYOID"
        else:
            names[row.oid] = row.typname.upper() + "OID"
    seen: dict[str, int] = {}
    for oid, name in names.items():
        if name in seen:
            raise ValueError(f"OIDs {seen[name]} and {oid} would both be named {name}")
        seen[name] = oid
    return names


HEADER = "Generated by tools/gen_oids.py from tools/pg_type.tsv; do not edit."


def render_python(rows: Sequence[TypeRow]) -> str:
    names = constant_names(rows)
    out = [
        '"""PostgreSQL\'s builtin type OIDs.',
        "",
        HEADER,
        "",
        "``BUILTIN_TYPES`` holds one row per builtin type:",
        "``(oid, typname, typtype, typcategory, typlen, typelem, typarray, typdelim)``.",
        "``RANGE_SUBTYPES`` maps each builtin range type to its subtype,",
        "``MULTIRANGE_RANGES`` each builtin multirange type to its range type.",
        '"""',
        "",
        "from typing import Final",
        "",
    ]
    out += [f"{names[row.oid]}: Final = {row.oid}" for row in rows]
    row_type = "tuple[int, str, str, str, int, int, int, str]"
    out += ["", f"BUILTIN_TYPES: Final[tuple[{row_type}, ...]] = ("]
    for row in rows:
        out.append(
            f'    ({row.oid}, "{row.typname}", "{row.typtype}", "{row.typcategory}", '
            f'{row.typlen}, {row.typelem}, {row.typarray}, "{row.typdelim}"),'
        )
    out += [")", ""]
    for title, kind in (("RANGE_SUBTYPES", "r"), ("MULTIRANGE_RANGES", "m")):
        out.append(f"{title}: Final[dict[int, int]] = {{")
        out += [f"    {row.oid}: {row.rngsubtype}," for row in rows if row.typtype == kind]
        out += ["}", ""]
    extra = ["BUILTIN_TYPES", "RANGE_SUBTYPES", "MULTIRANGE_RANGES"]
    out.append("__all__ = [")
    out += [f'    "{name}",' for name in sorted([*names.values(), *extra])]
    out += ["]", ""]
    return "\n".join(out)


def render_pxi(rows: Sequence[TypeRow]) -> str:
    names = constant_names(rows)
    out = [f"# PostgreSQL's builtin type OIDs. {HEADER}", "", "cdef enum:"]
    out += [f"    {names[row.oid]} = {row.oid}" for row in rows]
    return "\n".join(out) + "\n"


def outputs(snapshot: Path, py_path: Path, pxi_path: Path) -> dict[Path, str]:
    rows = parse_snapshot(snapshot.read_text(encoding="utf-8"))
    return {py_path: render_python(rows), pxi_path: render_pxi(rows)}


def refresh_snapshot(snapshot: Path, bindir: str | None) -> None:
    """Rewrite the snapshot from a throwaway cluster of ``bindir`` (default: newest found)."""
    sys.path.insert(0, str(ROOT / "src"))
    from pgjet.testing import Cluster, find_all_postgres

    installations = find_all_postgres()
    if bindir is None and not installations:
        raise SystemExit("no PostgreSQL installation found; pass --bindir")
    chosen: object = bindir or max(installations, key=lambda inst: inst.major)
    with Cluster(chosen) as cluster:  # type: ignore[arg-type]
        text = cluster.sql(SNAPSHOT_QUERY)
        version = cluster.version
    lines = ["\t".join(COLUMNS)] + [line.replace("|", "\t") for line in text.splitlines()]
    body = "\n".join(lines) + "\n"
    parse_snapshot(body)  # refuse to commit a snapshot we could not read back
    snapshot.write_text(body, encoding="utf-8")
    print(f"{snapshot}: {len(lines) - 1} types from PostgreSQL {version}")


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if an output is out of date")
    mode.add_argument("--refresh", action="store_true", help="re-read pg_type from a server")
    parser.add_argument("--bindir", help="PostgreSQL bin directory for --refresh")
    parser.add_argument("--snapshot", type=Path, default=SNAPSHOT_PATH, help=argparse.SUPPRESS)
    parser.add_argument("--py-output", type=Path, default=PY_OUTPUT_PATH, help=argparse.SUPPRESS)
    parser.add_argument("--pxi-output", type=Path, default=PXI_OUTPUT_PATH, help=argparse.SUPPRESS)
    args = parser.parse_args(None if argv is None else list(argv))
    if args.refresh:
        refresh_snapshot(args.snapshot, args.bindir)
    generated = outputs(args.snapshot, args.py_output, args.pxi_output)
    if args.check:
        stale = [
            path
            for path, text in generated.items()
            if not path.exists() or path.read_text(encoding="utf-8") != text
        ]
        for path in stale:
            print(f"{path} is stale: run python tools/gen_oids.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in generated.items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

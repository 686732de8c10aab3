"""Every Python sample of the docs pages that opt in is executed against a real server.

The convention, for whoever writes a page in docs/:

- A page opts in by containing the HTML comment ``<!-- samples: run -->``. Then EVERY
  ```` ```python ```` block on it is a complete program, run in a subprocess (60 s
  timeout, working directory a temporary one) that must exit with status 0.
- A block whose info string is ```` ```python continued ```` is appended to the previous
  program instead of running alone, so prose can sit between the steps of one program.
- Each program gets ``DATABASE_URL``: the DSN of a fresh, empty database of its own
  (PostgreSQL 18, superuser, trust auth). Samples read it with
  ``os.environ["DATABASE_URL"]``.
- A page containing ``<!-- samples: pgbouncer -->`` also gets ``PGBOUNCER_URL``: the
  same database through PgBouncer in transaction mode (pgjet.testing.PgBouncer).
- An opted-in page without any ``python`` block fails. Use ``text``, ``bash``,
  ``pycon`` ... for what must not run; ``assert`` in samples to show results.

Tests are named ``<page>:<n>:L<line>`` (the line of the program's first block).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import find_installation

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SRC = ROOT / "src"
RUN_MARKER = "<!-- samples: run -->"
PGBOUNCER_MARKER = "<!-- samples: pgbouncer -->"
TIMEOUT = 60
# Pages that must keep running their samples (the marker cannot be dropped silently).
REQUIRED_PAGES = {"migrating-from-asyncpg.md", "migrating-from-psycopg.md", "fastapi.md"}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass
class Program:
    page: str
    number: int
    line: int  # 1-based line of the first block's opening fence
    code: str
    pgbouncer: bool

    @property
    def id(self) -> str:
        return f"{self.page}:{self.number}:L{self.line}"


@dataclass
class Page:
    name: str
    programs: list[Program] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse_page(path: Path) -> Page:
    """Split an opted-in page into programs (fences of 3+ backticks or tildes)."""
    text = path.read_text(encoding="utf-8")
    page = Page(path.name)
    pgbouncer = PGBOUNCER_MARKER in text
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        words = opening["info"].strip().split()
        start = i + 1
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = lines[i].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        else:
            page.problems.append(f"line {start}: the code block is never closed")
        i += 1
        if not words or words[0] != "python":
            continue
        code = "\n".join(body) + "\n"
        if words[1:] == ["continued"]:
            if not page.programs:
                page.problems.append(
                    f"line {start}: 'python continued' but no earlier python block"
                )
                continue
            page.programs[-1].code += f"\n# --- continued from {path.name} line {start}\n"
            page.programs[-1].code += code
        elif words[1:]:
            page.problems.append(
                f"line {start}: unknown info string {opening['info'].strip()!r} "
                "(use 'python' or 'python continued')"
            )
        else:
            page.programs.append(Program(path.name, len(page.programs) + 1, start, code, pgbouncer))
    return page


def opted_in_pages() -> list[Page]:
    return [
        parse_page(p)
        for p in sorted(DOCS.glob("*.md"))
        if RUN_MARKER in p.read_text(encoding="utf-8")
    ]


PAGES = opted_in_pages()
PROGRAMS = [program for page in PAGES for program in page.programs]


# -- the pages themselves ------------------------------------------------------------


def test_required_pages_opt_in() -> None:
    missing = REQUIRED_PAGES - {page.name for page in PAGES}
    assert not missing, f"these pages no longer opt in ({RUN_MARKER}): {sorted(missing)}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_is_well_formed(page: Page) -> None:
    assert not page.problems, page.problems
    assert page.programs, f"{page.name} opts in ({RUN_MARKER}) but has no ```python block"


def test_the_parser(tmp_path: Path) -> None:
    page = tmp_path / "sample.md"
    page.write_text(
        "<!-- samples: run -->\n"
        "```python\nx = 1\n```\n"
        "prose\n"
        "```python continued\nassert x == 1\n```\n"
        "```bash\nexit 1\n```\n"
        "- in a list:\n\n"
        "  ```python\n  if True:\n      y = 2\n  ```\n"
        "```python continued\n````\n"
    )
    parsed = parse_page(page)
    assert [(p.number, p.line) for p in parsed.programs] == [(1, 2), (2, 14)]
    assert "x = 1\n" in parsed.programs[0].code and "assert x == 1\n" in parsed.programs[0].code
    assert "exit 1" not in parsed.programs[0].code
    assert parsed.programs[1].code.startswith("if True:\n    y = 2\n")
    assert parsed.problems == []
    page.write_text("```python continued\nx\n```\n```python run\n```\n```python\n")
    problems = parse_page(page).problems
    assert len(problems) == 3
    assert "no earlier python block" in problems[0]
    assert "unknown info string 'python run'" in problems[1]
    assert "never closed" in problems[2]


# -- running the samples -------------------------------------------------------------


@pytest.fixture(scope="session")
def docs_cluster() -> Iterator[Any]:
    from pgjet.testing import Cluster

    with Cluster(find_installation("pg18")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def docs_pgbouncer(docs_cluster: Any) -> Iterator[Any]:
    from pgjet.testing import PgBouncer, PostgresNotFoundError, find_pgbouncer

    try:
        find_pgbouncer()
    except PostgresNotFoundError as exc:
        pytest.skip(f"PgBouncer is not installed ({exc}); apt-get install pgbouncer")
    with PgBouncer(docs_cluster, pool_mode="transaction", default_pool_size=4) as bouncer:
        yield bouncer


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.id for p in PROGRAMS])
def test_sample(
    program: Program, docs_cluster: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    database = f"docs_{uuid.uuid4().hex[:12]}"
    docs_cluster.create_database(database)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["DATABASE_URL"] = docs_cluster.dsn(database=database)
    if program.pgbouncer:
        bouncer = request.getfixturevalue("docs_pgbouncer")
        env["PGBOUNCER_URL"] = bouncer.dsn(database=database)
    script = tmp_path / f"{Path(program.page).stem}_{program.number}.py"
    script.write_text(program.code, encoding="utf-8")
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{program.id} ran longer than {TIMEOUT}s\n{exc.stdout}\n{exc.stderr}")
    if done.returncode != 0:
        numbered = "\n".join(
            f"{n:4} | {line}" for n, line in enumerate(program.code.splitlines(), 1)
        )
        pytest.fail(
            f"{program.id} exited with {done.returncode}\n--- program\n{numbered}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}",
            pytrace=False,
        )

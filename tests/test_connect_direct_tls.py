"""TLS on PostgreSQL 18 (built with OpenSSL): sslnegotiation=direct and SCRAM-PLUS.

Debian's 15 has no direct TLS (a PostgreSQL 17 feature) and the embedded 18 has
no SSL at all, so these use tools/install-pg18-ssl.sh's build.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import pytest

import pgjet
from pgjet.testing import Cluster, HbaRule

from .conftest import find_installation

PASSWORD = "d1rect-tls-Secret!"


@pytest.fixture(scope="module")
def tls18() -> Iterator[Any]:
    rules = [HbaRule("scram-sha-256", user="scram", connection="hostssl"), HbaRule("trust")]
    with Cluster(find_installation("pg18-ssl"), tls=True, auth=rules) as cluster:
        cluster.create_role("scram", PASSWORD)
        yield cluster


def _dsn(cluster: Any, **params: Any) -> str:
    params.setdefault("sslrootcert", str(cluster.tls.ca_cert))
    return str(cluster.dsn(host="localhost", **params))


async def _ssl_state(conn: pgjet.Connection) -> Any:
    return await conn.fetchrow("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")


@pytest.mark.parametrize("negotiation", ["postgres", "direct"])
async def test_verify_full_with_either_negotiation(tls18: Any, negotiation: str) -> None:
    conn = await pgjet.connect(_dsn(tls18, sslmode="verify-full", sslnegotiation=negotiation))
    try:
        row = await _ssl_state(conn)
        assert row["ssl"] is True
        assert row["version"].startswith("TLSv1.")
    finally:
        await conn.close()


async def test_direct_tls_keyword_from_asyncpg(tls18: Any) -> None:
    # asyncpg spells it direct_tls=True.
    conn = await pgjet.connect(_dsn(tls18, sslmode="verify-full"), direct_tls=True)
    try:
        assert (await _ssl_state(conn))["ssl"] is True
    finally:
        await conn.close()


async def test_direct_tls_against_a_server_without_it_fails_fast() -> None:
    # PostgreSQL 15 does not understand a TLS ClientHello as its first packet.
    with (
        Cluster(find_installation("pg15"), tls=True) as cluster,
        pytest.raises((ssl.SSLError, OSError, pgjet.errors.InterfaceError)),
    ):
        await pgjet.connect(
            _dsn(cluster, sslmode="verify-full", sslnegotiation="direct"), timeout=10
        )


@pytest.mark.parametrize("negotiation", ["postgres", "direct"])
async def test_scram_plus_required_on_pg18(tls18: Any, negotiation: str) -> None:
    conn = await pgjet.connect(
        _dsn(
            tls18,
            user="scram",
            password=PASSWORD,
            sslmode="verify-full",
            sslnegotiation=negotiation,
            channel_binding="require",
        )
    )
    try:
        assert await conn.fetchval("SELECT current_user") == "scram"
    finally:
        await conn.close()

"""Throwaway PostgreSQL clusters, PgBouncer, TLS and standbys for tests.

See ``docs/testing.md``. Nothing here depends on the pgjet driver: setup SQL runs
through the cluster's own ``psql``.
"""

from __future__ import annotations

from .binaries import (
    PgBouncerInstallation,
    PostgresInstallation,
    find_all_postgres,
    find_pgbouncer,
    find_postgres,
)
from .certs import TlsFiles
from .cluster import AUTH_METHODS, Cluster, HbaRule
from .errors import ClusterError, PostgresNotFoundError, UnsupportedFeatureError
from .pgbouncer import PgBouncer
from .runas import ServerUser, server_user

__all__ = [
    "AUTH_METHODS",
    "Cluster",
    "ClusterError",
    "HbaRule",
    "PgBouncer",
    "PgBouncerInstallation",
    "PostgresInstallation",
    "PostgresNotFoundError",
    "ServerUser",
    "TlsFiles",
    "UnsupportedFeatureError",
    "find_all_postgres",
    "find_pgbouncer",
    "find_postgres",
    "server_user",
]

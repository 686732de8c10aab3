"""Throwaway PostgreSQL clusters, PgBouncer, TLS and standbys for tests.

See ``docs/testing.md``. Nothing here depends on the pgjet driver: setup SQL runs
through the cluster's own ``psql``. Names are imported on first use, so that the
pytest plugin (loaded in every project that installs pgjet) costs next to nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .binaries import (
        PgBouncerInstallation,
        PostgresInstallation,
        find_all_postgres,
        find_pgbouncer,
        find_postgres,
    )
    from .certs import TlsFiles
    from .cluster import AUTH_METHODS, Cluster, HbaRule, default_base_dir
    from .errors import ClusterError, PostgresNotFoundError, UnsupportedFeatureError
    from .pgbouncer import PgBouncer
    from .runas import ServerUser, server_user

_WHERE = {
    "PgBouncerInstallation": "binaries",
    "PostgresInstallation": "binaries",
    "find_all_postgres": "binaries",
    "find_pgbouncer": "binaries",
    "find_postgres": "binaries",
    "TlsFiles": "certs",
    "AUTH_METHODS": "cluster",
    "Cluster": "cluster",
    "HbaRule": "cluster",
    "default_base_dir": "cluster",
    "ClusterError": "errors",
    "PostgresNotFoundError": "errors",
    "UnsupportedFeatureError": "errors",
    "PgBouncer": "pgbouncer",
    "ServerUser": "runas",
    "server_user": "runas",
}

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
    "default_base_dir",
    "find_all_postgres",
    "find_pgbouncer",
    "find_postgres",
    "server_user",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

"""pytest fixtures of pgjet.testing (registered as the ``pgjet`` pytest11 entry point).

This module is loaded by pytest in every project where pgjet is installed, so it
only defines fixtures and imports nothing heavy until a test asks for one.

Fixtures:

* ``pgjet_cluster_factory`` (session): ``factory(**Cluster kwargs) -> started Cluster``;
  every cluster made is closed at the end of the session.
* ``pgjet_cluster`` (session): one started cluster of the default installation, trust auth.
* ``pgjet_dsn`` (session): ``pgjet_cluster.dsn()``.
* ``pgjet_pgbouncer_factory`` (session): ``factory(cluster, **PgBouncer kwargs)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pgjet.testing import Cluster, PgBouncer


@pytest.fixture(scope="session")
def pgjet_cluster_factory() -> Iterator[Callable[..., Cluster]]:
    """Start clusters with any :class:`pgjet.testing.Cluster` options; closed at session end."""
    from pgjet.testing import Cluster

    made: list[Cluster] = []

    def factory(*args: Any, **kwargs: Any) -> Cluster:
        cluster = Cluster(*args, **kwargs)
        made.append(cluster)
        return cluster.start()

    yield factory
    for cluster in reversed(made):
        cluster.close()


@pytest.fixture(scope="session")
def pgjet_cluster(pgjet_cluster_factory: Callable[..., Cluster]) -> Cluster:
    """A running cluster (default installation, trust auth) shared by the session."""
    return pgjet_cluster_factory()


@pytest.fixture(scope="session")
def pgjet_dsn(pgjet_cluster: Cluster) -> str:
    """``postgresql://`` URI of :func:`pgjet_cluster` (superuser, TCP, database postgres)."""
    return pgjet_cluster.dsn()


@pytest.fixture(scope="session")
def pgjet_pgbouncer_factory() -> Iterator[Callable[..., PgBouncer]]:
    """Start PgBouncers with :class:`pgjet.testing.PgBouncer` options; closed at session end."""
    from pgjet.testing import PgBouncer

    made: list[PgBouncer] = []

    def factory(cluster: Cluster, **kwargs: Any) -> PgBouncer:
        bouncer = PgBouncer(cluster, **kwargs)
        made.append(bouncer)
        return bouncer.start()

    yield factory
    for bouncer in reversed(made):
        bouncer.close()

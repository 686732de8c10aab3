"""Exceptions raised by :mod:`pgjet.testing`."""

from __future__ import annotations

__all__ = ["ClusterError", "PostgresNotFoundError", "UnsupportedFeatureError"]


class ClusterError(RuntimeError):
    """A server could not be set up, started or stopped.

    The message ends with the tail of the server's log when one exists.
    """


class PostgresNotFoundError(ClusterError, LookupError):
    """No usable PostgreSQL (or PgBouncer) installation was found."""


class UnsupportedFeatureError(ClusterError):
    """The installation lacks something asked for, e.g. ``tls=True`` on a build without SSL."""

"""The pool's counters (psycopg_pool's names, plus a few of pgjet's own)."""

from __future__ import annotations


class Stats:
    """Counters that grow until ``pop_stats()`` takes them (times in seconds here)."""

    __slots__ = (
        "connections_errors",
        "connections_lost",
        "connections_num",
        "connections_time",
        "health_checks",
        "releases_replaced",
        "releases_reset",
        "requests_errors",
        "requests_num",
        "requests_queued",
        "requests_wait_time",
        "returns_bad",
        "usage_time",
    )

    def __init__(self) -> None:
        self.requests_num = 0  # acquire() calls
        self.requests_queued = 0  # ... that had to wait
        self.requests_wait_time = 0.0  # total time spent waiting
        self.requests_errors = 0  # ... that failed (timeout, too many waiters, closed)
        self.usage_time = 0.0  # total time connections were leased
        self.returns_bad = 0  # came back broken: closed, stuck mid-query, reset failed
        self.connections_num = 0  # connections opened
        self.connections_time = 0.0  # total time spent opening them
        self.connections_errors = 0  # failed attempts to open one
        self.connections_lost = 0  # found closed, or failed a health check
        self.releases_reset = 0  # releases that needed a round trip (rollback/reset)
        self.releases_replaced = 0  # releases that closed the connection (lifetime, ...)
        self.health_checks = 0  # health checks run on acquire

    def as_dict(self) -> dict[str, int]:
        return {
            "requests_num": self.requests_num,
            "requests_queued": self.requests_queued,
            "requests_wait_ms": round(self.requests_wait_time * 1000),
            "requests_errors": self.requests_errors,
            "usage_ms": round(self.usage_time * 1000),
            "returns_bad": self.returns_bad,
            "connections_num": self.connections_num,
            "connections_ms": round(self.connections_time * 1000),
            "connections_errors": self.connections_errors,
            "connections_lost": self.connections_lost,
            "releases_reset": self.releases_reset,
            "releases_replaced": self.releases_replaced,
            "health_checks": self.health_checks,
        }

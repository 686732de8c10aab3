"""Reconnection back-off: how long to wait before the next attempt, and why."""

from __future__ import annotations

import random
import time


class Backoff:
    """Exponential back-off with jitter over a streak of failed connection attempts.

    The first failure waits `initial` seconds, each further one twice as long,
    up to `maximum`, each ±10% so that clients restarted together spread out.
    A success ends the streak.
    """

    __slots__ = ("_delay", "failures", "initial", "last_error", "maximum", "retry_at", "since")

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self._delay = 0.0
        self.failures = 0
        self.since: float | None = None
        """When the current streak of failures began (None: not failing)."""
        self.retry_at = 0.0
        self.last_error: BaseException | None = None

    @property
    def failing(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> float:
        """Record a failure; return the delay before the next attempt."""
        now = time.monotonic()
        self.last_error = exc
        self.failures += 1
        if self.since is None:
            self.since = now
            self._delay = self.initial
        else:
            self._delay = min(self._delay * 2, self.maximum)
        delay = self._delay * random.uniform(0.9, 1.1)
        self.retry_at = now + delay
        return delay

    def succeeded(self) -> None:
        self.since = None
        self.failures = 0
        self.last_error = None

    def wait_left(self) -> float:
        """Seconds until the next attempt is allowed (0 when it is)."""
        return max(self.retry_at - time.monotonic(), 0.0) if self.failing else 0.0

    def failing_for(self) -> float:
        return time.monotonic() - self.since if self.since is not None else 0.0

    def describe(self) -> str:
        """For error messages: the streak and its last error."""
        error = self.last_error
        return (
            f"opening a connection failed {self.failures} time(s) in a row, last with "
            f"{type(error).__name__}: {error} (next attempt in {self.wait_left():.2f}s)"
        )

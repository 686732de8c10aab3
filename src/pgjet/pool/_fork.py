"""Noticing fork(): a pool made in a parent process must refuse to work in a child."""

from __future__ import annotations

import os

from pgjet.pool._errors import PoolForkedError

# Bumped in a child process after fork(): a pool remembers the value it was made
# under. A one-item list rather than a function, as the acquire path reads it.
fork_generation = [0]


def _after_fork_in_child() -> None:
    fork_generation[0] += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def forked_error() -> PoolForkedError:
    return PoolForkedError(
        f"this pool was created in a parent process; a child process (pid "
        f"{os.getpid()}) must create its own pool after fork(): sharing the "
        "parent's connections would mix the two processes' queries"
    )

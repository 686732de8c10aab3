"""Checking the pool's arguments: a bad one fails at once, naming itself."""

from __future__ import annotations

from typing import Any

from pgjet import errors
from pgjet.connection import Connection

SESSION_RESETS = ("tracked", "always")


def check_config(**values: Any) -> None:
    def bad(name: str, rule: str) -> errors.ClientConfigurationError:
        return errors.ClientConfigurationError(f"{name} {rule}, got {values[name]!r}")

    for name in ("min_size", "init_size", "max_waiting"):
        if not isinstance(values[name], int) or values[name] < 0:
            raise bad(name, "must be an integer >= 0")
    for name in ("max_size", "max_queries"):
        if not isinstance(values[name], int) or values[name] <= 0:
            raise bad(name, "must be an integer > 0")
    if values["min_size"] > values["max_size"]:
        raise bad("min_size", f"must not exceed max_size={values['max_size']}")
    if not values["min_size"] <= values["init_size"] <= values["max_size"]:
        raise bad("init_size", "must be between min_size and max_size")
    if values["max_inactive_connection_lifetime"] < 0:
        raise bad("max_inactive_connection_lifetime", "must be >= 0 (0 disables it)")
    for name in ("max_lifetime", "acquire_timeout", "health_check_after"):
        if values[name] is not None and values[name] <= 0:
            raise bad(name, "must be positive or None")
    for name in (
        "health_check_timeout",
        "reset_timeout",
        "reconnect_initial_delay",
        "reconnect_max_delay",
        "reconnect_timeout",
    ):
        if values[name] <= 0:
            raise bad(name, "must be positive")
    if values["session_reset"] not in SESSION_RESETS:
        raise bad("session_reset", f"must be one of {SESSION_RESETS}")
    if values["null_pool"] and values["min_size"]:
        raise bad("min_size", "must be 0 for a null pool (it keeps no connections)")
    connection_class = values["connection_class"]
    if not (isinstance(connection_class, type) and issubclass(connection_class, Connection)):
        raise errors.ClientConfigurationError(
            f"connection_class must be a subclass of pgjet.Connection, got {connection_class!r}"
        )

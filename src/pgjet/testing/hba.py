"""TCP rules of ``pg_hba.conf`` for test clusters."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

__all__ = ["AUTH_METHODS", "Auth", "HbaRule", "rules_of"]

AUTH_METHODS = frozenset({"trust", "reject", "password", "md5", "scram-sha-256", "cert"})
_CONNECTION_TYPES = frozenset({"host", "hostssl", "hostnossl"})


@dataclasses.dataclass(frozen=True)
class HbaRule:
    """One TCP rule of ``pg_hba.conf``, written for both 127.0.0.1/32 and ::1/128.

    ``HbaRule("scram-sha-256", user="alice")`` asks alice for a SCRAM password.
    ``method="cert"`` implies ``connection="hostssl"``. Rules apply in order, first match wins.
    """

    method: str
    user: str = "all"
    database: str = "all"
    connection: str = "host"
    """``host`` (TLS or not), ``hostssl`` (TLS only) or ``hostnossl``."""
    options: str = ""
    """Appended to the line, e.g. ``"clientcert=verify-full"``."""

    def __post_init__(self) -> None:
        if self.method not in AUTH_METHODS:
            raise ValueError(
                f"unknown auth method {self.method!r}; expected one of {sorted(AUTH_METHODS)}"
            )
        if self.connection not in _CONNECTION_TYPES:
            raise ValueError(
                f"unknown connection type {self.connection!r}; "
                f"expected one of {sorted(_CONNECTION_TYPES)}"
            )
        if self.method == "cert" and self.connection == "host":
            object.__setattr__(self, "connection", "hostssl")
        if self.method == "cert" and self.connection == "hostnossl":
            raise ValueError("auth method 'cert' needs TLS; it cannot be used with hostnossl")

    @property
    def needs_tls(self) -> bool:
        return self.connection == "hostssl"

    def lines(self) -> list[str]:
        out = []
        for address in ("127.0.0.1/32", "::1/128"):
            fields = [self.connection, self.database, self.user, address, self.method]
            out.append(" ".join([*fields, self.options]).rstrip())
        return out


Auth = str | HbaRule | Sequence[HbaRule]


def rules_of(auth: Auth) -> tuple[HbaRule, ...]:
    if isinstance(auth, str):
        return (HbaRule(auth),)
    if isinstance(auth, HbaRule):
        return (auth,)
    rules = tuple(auth)
    for rule in rules:
        if not isinstance(rule, HbaRule):
            raise TypeError(f"auth rules must be HbaRule instances, got {rule!r}")
    if not rules:
        raise ValueError("auth: at least one rule is needed")
    return rules

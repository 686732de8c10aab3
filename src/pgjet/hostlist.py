"""Host and port lists: which addresses to try, from arguments, options or defaults.

Host lists are libpq's: comma-separated; an entry starting with '/' is a Unix socket
directory and '@' an abstract socket. Without any host: the default socket directories
that exist (asyncpg's list, duplicates through symlinks removed), then ``localhost``.
One port applies to every host; otherwise there must be one port per host.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence

from pgjet.conninfo import Merged, check_nul
from pgjet.errors import ClientConfigurationError

DEFAULT_SOCKET_DIRS = ("/run/postgresql", "/var/run/postgresql", "/tmp", "/private/tmp")
DEFAULT_PORT = 5432
_PORT_RE = re.compile(r"[0-9]{1,5}")


def resolve_hosts(host: str | Sequence[str] | None, merged: Merged) -> list[str]:
    """The host list: the ``host`` argument, else the options (DSN, service, PGHOST),
    else the defaults."""
    if host is not None and host != "" and host != []:
        if isinstance(host, str):
            items, where = host.split(","), "argument host"
        elif isinstance(host, Sequence) and all(isinstance(h, str) for h in host):
            items, where = list(host), "argument host"
        else:
            raise ClientConfigurationError(
                f"argument host must be a str or a sequence of str, not {type(host).__name__}"
            )
        hosts = _clean_hosts(items, where)
        if hosts:
            return hosts
    text, found = merged.get("host")
    if text is not None and found is not None:
        hosts = _clean_hosts(text.split(","), found)
        if hosts:
            return hosts
    return _default_hosts()


def _clean_hosts(items: list[str], where: str) -> list[str]:
    stripped = [item.strip() for item in items]
    if not any(stripped):
        return []  # "" or "," alone: not set
    hosts = []
    for item in stripped:
        check_nul(item, where)
        if not item:
            raise ClientConfigurationError(f"empty host name in the host list ({where})")
        if item.startswith("[") and item.endswith("]"):
            item = item[1:-1]  # tolerate a bracketed IPv6 address outside a URI
        elif not item.startswith(("/", "@")) and item.count(":") == 1:
            raise ClientConfigurationError(
                f"host {item[:80]!r} ({where}) looks like host:port; "
                "give the port separately (port=, PGPORT) or use a postgresql:// URI"
            )
        hosts.append(item)
    return hosts


def _default_hosts() -> list[str]:
    if sys.platform == "win32":
        return ["localhost"]
    hosts: list[str] = []
    seen: set[str] = set()
    for directory in DEFAULT_SOCKET_DIRS:
        if os.path.isdir(directory):
            real = os.path.realpath(directory)  # /var/run is often a link to /run
            if real not in seen:
                seen.add(real)
                hosts.append(directory)
    hosts.append("localhost")
    return hosts


def resolve_ports(
    port: int | str | Sequence[int | str] | None,
    merged: Merged,
    env: Mapping[str, str],
    host_count: int,
) -> list[int]:
    """One port per host: the ``port`` argument, else the options, else the default."""
    default = DEFAULT_PORT
    env_port = env.get("PGPORT", "")
    if env_port and "," not in env_port:
        default = _parse_port(env_port, "environment variable PGPORT")

    items: list[int | str]
    if port is not None and port != "" and port != []:
        where = "argument port"
        if isinstance(port, bool):
            raise ClientConfigurationError("argument port must be an int, not bool")
        if isinstance(port, (int, str)):
            items = list(port.split(",")) if isinstance(port, str) else [port]
        elif isinstance(port, Sequence):
            items = list(port)
        else:
            raise ClientConfigurationError(
                f"argument port must be an int, a str or a sequence, not {type(port).__name__}"
            )
    else:
        text, found = merged.get("port")
        if text is None or found is None:
            return [default] * host_count
        items, where = list(text.split(",")), found

    ports = [
        default if isinstance(item, str) and not item.strip() else _parse_port(item, where)
        for item in items
    ]
    if len(ports) == 1:
        return ports * host_count
    if len(ports) != host_count:
        raise ClientConfigurationError(
            f"could not match {len(ports)} port numbers ({where}) to {host_count} hosts"
        )
    return ports


def _parse_port(value: object, where: str) -> int:
    if isinstance(value, bool):
        raise ClientConfigurationError(f"invalid port {value!r} ({where})")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _PORT_RE.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        shown = repr(value)[:40] if isinstance(value, str) else type(value).__name__
        raise ClientConfigurationError(
            f"invalid port {shown} ({where}): expected an integer from 1 to 65535"
        )
    if not 1 <= number <= 65535:
        raise ClientConfigurationError(
            f"invalid port {number if abs(number) < 10**12 else 'number'} ({where}): "
            "expected an integer from 1 to 65535"
        )
    return number

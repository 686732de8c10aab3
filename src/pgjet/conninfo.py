"""Connection-string syntax: libpq URIs and key=value strings, read into option pairs.

Only syntax lives here. Option names are not checked and values are not interpreted
(:mod:`pgjet.dsn` does that), so both notations feed one validation path.

Error messages never repeat a value: a connection string may hold a password.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pgjet.errors import ClientConfigurationError

URI_SCHEMES = ("postgresql://", "postgres://")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def parse_dsn(dsn: str) -> list[tuple[str, str]]:
    """Split a DSN into ``(name, value)`` pairs, in the order they appear.

    A URI (``postgresql://`` or ``postgres://``) has its host list turned into libpq's
    ``host=h1,h2`` / ``port=p1,p2`` form, with an empty port where a host named none.
    A later pair for the same name overrides an earlier one, as in libpq.
    """
    if not isinstance(dsn, str):
        raise ClientConfigurationError(f"dsn must be a str, not {type(dsn).__name__}")
    text = dsn.strip()
    if not text:
        return []
    lowered = text[:16].lower()
    for scheme in URI_SCHEMES:
        if lowered.startswith(scheme):
            return _parse_uri(text[len(scheme) :])
    head = text.split("=", 1)[0]
    if "://" in head:
        scheme = head.split("://", 1)[0]
        raise ClientConfigurationError(
            f'invalid DSN: the scheme must be "postgresql" or "postgres", not {scheme[:40]!r}'
        )
    if "=" in text:
        return _parse_keyword_value(text)
    raise ClientConfigurationError(
        "invalid DSN: expected a postgresql:// URI or libpq key=value pairs"
    )


# --- URIs ----------------------------------------------------------------------------


def _parse_uri(rest: str) -> list[tuple[str, str]]:
    # libpq's shape: [userinfo@][hostlist][/dbname][?query]; '#' has no special meaning.
    rest, _, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    pairs: list[tuple[str, str]] = []
    if "@" in authority:
        # The last '@' ends the user info, so an unencoded '@' in a password still works.
        userinfo, _, hostpart = authority.rpartition("@")
        user, colon, password = userinfo.partition(":")
        if user:
            pairs.append(("user", percent_decode(user, "user name")))
        if colon and password:
            pairs.append(("password", percent_decode(password, "password")))
    else:
        hostpart = authority
    if hostpart:
        pairs.extend(_parse_uri_hosts(hostpart))
    if slash and path:
        pairs.append(("dbname", percent_decode(path, "database name")))
    if query:
        pairs.extend(_parse_uri_query(query))
    return pairs


def _parse_uri_hosts(hostpart: str) -> list[tuple[str, str]]:
    hosts: list[str] = []
    ports: list[str] = []
    for spec in hostpart.split(","):
        if spec.startswith("["):
            end = spec.find("]")
            if end < 0:
                raise ClientConfigurationError(
                    'invalid DSN: missing "]" after an IPv6 host address in the URI'
                )
            host, tail = spec[1:end], spec[end + 1 :]
            if tail and not tail.startswith(":"):
                raise ClientConfigurationError(
                    'invalid DSN: unexpected characters after "]" of an IPv6 host address'
                )
            port = tail[1:]
        else:
            host, _, port = spec.partition(":")
        host = percent_decode(host, "host")
        if "," in host:
            raise ClientConfigurationError("invalid DSN: a host in the URI contains ','")
        hosts.append(host)
        ports.append(percent_decode(port, "port"))
    pairs: list[tuple[str, str]] = []
    if any(hosts):
        if not all(hosts):
            raise ClientConfigurationError("invalid DSN: empty host name in the URI's host list")
        pairs.append(("host", ",".join(hosts)))
    if any(ports):
        pairs.append(("port", ",".join(ports)))
    return pairs


def _parse_uri_query(query: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for item in query.split("&"):
        if not item:
            continue  # tolerate "?a=1&&b=2" and a trailing "&"
        raw_key, eq, raw_value = item.partition("=")
        key = percent_decode(raw_key, "query parameter name")
        if not eq:
            raise ClientConfigurationError(
                f'invalid DSN: URI query parameter {key[:60]!r} has no "="'
            )
        if not key:
            raise ClientConfigurationError("invalid DSN: URI query parameter with an empty name")
        pairs.append((key, percent_decode(raw_value, f"query parameter {key[:60]!r}")))
    return pairs


def percent_decode(text: str, what: str) -> str:
    """Decode %XX escapes strictly (libpq's rules): bad escapes and %00 are errors.

    '+' stays '+' (libpq does not treat it as a space). ``what`` names the part of the
    URI for the error message; the value itself is never included.
    """
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            pair = text[i + 1 : i + 3]
            if len(pair) != 2 or not (pair[0] in _HEX_DIGITS and pair[1] in _HEX_DIGITS):
                raise ClientConfigurationError(
                    f"invalid DSN: invalid percent-encoding in the URI's {what}"
                )
            byte = int(pair, 16)
            if byte == 0:
                raise ClientConfigurationError(
                    f"invalid DSN: the URI's {what} contains a percent-encoded NUL byte (%00)"
                )
            out.append(byte)
            i += 3
        else:
            out += ch.encode("utf-8", "surrogatepass")
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise ClientConfigurationError(
            f"invalid DSN: the URI's {what} is not valid UTF-8 after percent-decoding"
        ) from None


# --- key=value strings -----------------------------------------------------------------


def _parse_keyword_value(text: str) -> list[tuple[str, str]]:
    # libpq's rules: spaces around '=' are allowed; a value is either single-quoted
    # (backslash escapes the next character, typically \' and \\) or runs to the next
    # whitespace (where a backslash also escapes the next character).
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return pairs
        start = i
        while i < n and text[i] != "=" and not text[i].isspace():
            i += 1
        key = text[start:i]
        while i < n and text[i].isspace():
            i += 1
        if i >= n or text[i] != "=":
            raise ClientConfigurationError(
                f'invalid DSN: missing "=" after {key[:60]!r} in the connection string'
            )
        if not key:
            raise ClientConfigurationError(
                'invalid DSN: "=" without a parameter name in the connection string'
            )
        i += 1
        while i < n and text[i].isspace():
            i += 1
        chars: list[str] = []
        if i < n and text[i] == "'":
            i += 1
            while True:
                if i >= n:
                    raise ClientConfigurationError(
                        f"invalid DSN: unterminated quoted value for {key[:60]!r}"
                    )
                ch = text[i]
                if ch == "\\":
                    i += 1
                    if i >= n:
                        raise ClientConfigurationError(
                            f"invalid DSN: unterminated quoted value for {key[:60]!r}"
                        )
                    chars.append(text[i])
                elif ch == "'":
                    i += 1
                    break
                else:
                    chars.append(ch)
                i += 1
        else:
            while i < n and not text[i].isspace():
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
        pairs.append((key, "".join(chars)))


# --- option names and where they came from --------------------------------------------

_ALIASES = {"database": "dbname"}
_OPTIONS = frozenset(
    {
        "host", "port", "user", "password", "passfile", "dbname", "service", "servicefile",
        "sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "sslcrl",
        "ssl_min_protocol_version", "ssl_max_protocol_version", "sslnegotiation",
        "channel_binding", "target_session_attrs", "load_balance_hosts", "connect_timeout",
        "krbsrvname", "gsslib", "application_name", "fallback_application_name", "options",
    }
)  # fmt: skip
# Transport tuning hints of libpq: accepted, without effect.
_IGNORED = frozenset(
    {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
     "tcp_user_timeout", "sslsni", "sslcompression"}
)  # fmt: skip
# libpq options accepted only with the value(s) that match what pgjet does anyway.
_ONLY_VALUES = {"gssencmode": ("disable", "prefer"), "sslcertmode": ("allow",)}
# libpq options whose meaning pgjet cannot honour: silently ignoring them would be wrong.
_UNSUPPORTED = frozenset(
    {"hostaddr", "requirepeer", "require_auth", "sslcrldir", "sslkeylogfile",
     "gssdelegation", "min_protocol_version", "max_protocol_version", "oauth_issuer",
     "oauth_client_id", "oauth_client_secret", "oauth_scope", "scram_client_key",
     "scram_server_key", "requiressl"}
)  # fmt: skip
_ENV_VARS = {
    "PGHOST": "host", "PGPORT": "port", "PGUSER": "user", "PGPASSWORD": "password",
    "PGPASSFILE": "passfile", "PGDATABASE": "dbname", "PGSSLMODE": "sslmode",
    "PGSSLROOTCERT": "sslrootcert", "PGSSLCERT": "sslcert", "PGSSLKEY": "sslkey",
    "PGSSLCRL": "sslcrl", "PGSSLMINPROTOCOLVERSION": "ssl_min_protocol_version",
    "PGSSLMAXPROTOCOLVERSION": "ssl_max_protocol_version",
    "PGSSLNEGOTIATION": "sslnegotiation", "PGCHANNELBINDING": "channel_binding",
    "PGTARGETSESSIONATTRS": "target_session_attrs",
    "PGLOADBALANCEHOSTS": "load_balance_hosts", "PGCONNECT_TIMEOUT": "connect_timeout",
    "PGAPPNAME": "application_name", "PGOPTIONS": "options", "PGKRBSRVNAME": "krbsrvname",
    "PGGSSLIB": "gsslib",
}  # fmt: skip


@dataclass
class Layer:
    """Options from one source; ``origin`` names it in error messages."""

    origin: str
    options: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    env_names: dict[str, str] = field(default_factory=dict)

    def where(self, key: str) -> str:
        env = self.env_names.get(key)
        return f"environment variable {env}" if env else f"{key} in the {self.origin}"


def layer_from_pairs(origin: str, pairs: list[tuple[str, str]]) -> Layer:
    layer = Layer(origin)
    for raw_key, value in pairs:
        key = _ALIASES.get(raw_key, raw_key)
        check_nul(value, f"{key[:60]} in the {origin}")
        check_nul(key, f"an option name in the {origin}")
        if key == "ssl":  # libpq's JDBC compatibility: ssl=true means sslmode=require
            if value != "true":
                raise invalid_choice(f"ssl in the {origin}", value, ["true"])
            layer.options["sslmode"] = "require"
        elif key in _OPTIONS:
            layer.options[key] = value
        elif key in _IGNORED:
            continue
        elif key in _ONLY_VALUES:
            if value not in _ONLY_VALUES[key]:
                raise ClientConfigurationError(
                    f"{key}={value[:40]!r} ({origin}) is not supported by pgjet; "
                    f"supported: {', '.join(_ONLY_VALUES[key])}"
                )
        elif key in _UNSUPPORTED:
            raise ClientConfigurationError(
                f"connection option {key!r} ({origin}) is not supported by pgjet"
            )
        else:
            layer.settings[key] = value
    return layer


def env_layer(environ: Mapping[str, str]) -> Layer:
    layer = Layer("environment")
    for env, key in _ENV_VARS.items():
        value = environ.get(env)
        if value:
            check_nul(value, f"environment variable {env}")
            layer.options[key] = value
            layer.env_names[key] = env
    return layer


class Merged:
    """Looks options up through the layers, highest precedence first."""

    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers

    def get(self, key: str) -> tuple[str, str] | tuple[None, None]:
        for layer in self.layers:
            value = layer.options.get(key)
            if value:
                return value, layer.where(key)
        return None, None


def check_nul(value: str, where: str) -> None:
    if "\0" in value:
        raise ClientConfigurationError(f"{where} contains a NUL byte")


def invalid_choice(where: str, value: object, choices: list[str]) -> ClientConfigurationError:
    shown = repr(value)[:40] if isinstance(value, str) else type(value).__name__
    return ClientConfigurationError(
        f"invalid value {shown} ({where}): expected one of {', '.join(choices)}"
    )

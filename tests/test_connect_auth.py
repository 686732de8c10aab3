"""connect() authentication against real servers: every password method, on PG18 and PG15.

One cluster per server version holds one pg_hba.conf rule per method, selected by
user name, so a single server answers every method. Passwords are distinctive, so
the secrecy tests can look for them in every message, repr and traceback.
"""

from __future__ import annotations

import asyncio
import os
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pgjet
from pgjet import errors
from pgjet.testing import Cluster, HbaRule

from .conftest import SERVER_KINDS, find_installation

# Each password is unique, so a leak can be traced to the test that caused it.
PASSWORDS = {
    "clear_user": "Cl3ar-Txt-pw-7f1e",
    "md5_user": "Md5-Stored-pw-2c9a",
    "md5_rule_scram_user": "Md5Rule-Scram-pw-b44d",
    "scram_user": "Scram-Only-pw-91d0",
    # SASLprep maps U+FB01 (the "fi" ligature) and U+2168 (Roman numeral nine) to
    # ASCII; client and server must both normalize, or the SCRAM proofs differ.
    "unicode_scram_user": "Ünïcödé-\ufb01-\u2168-pw-d3c1",
    "unicode_md5_user": "Ünïcödé-md5-pw-58e0",
}
# Which pg_hba.conf method each user meets, and how its password is stored.
METHODS = {
    "trust_user": ("trust", None),
    "clear_user": ("password", "scram-sha-256"),
    "md5_user": ("md5", "md5"),
    "md5_rule_scram_user": ("md5", "scram-sha-256"),
    "scram_user": ("scram-sha-256", "scram-sha-256"),
    "unicode_scram_user": ("scram-sha-256", "scram-sha-256"),
    "unicode_md5_user": ("md5", "md5"),
}
PASSWORD_USERS = [user for user, (method, _) in METHODS.items() if method != "trust"]
WRONG = "Wr0ng-Guess-never-valid-5e7b"


@pytest.fixture(scope="module", params=SERVER_KINDS)
def auth_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    rules = [HbaRule(method, user=user) for user, (method, _) in METHODS.items()]
    # A rule for a role that does not exist, and SCRAM for every other name.
    rules += [HbaRule("trust", user="ghost_user"), HbaRule("scram-sha-256")]
    with Cluster(find_installation(request.param), auth=rules) as cluster:
        for user, (_, stored) in METHODS.items():
            if stored is None:
                cluster.create_role(user)
            else:
                cluster.create_role(user, PASSWORDS[user], password_encryption=stored)
        yield cluster


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PG* variable or ~/.pgpass of the machine may supply a password or option."""
    for name in list(os.environ):
        if name.startswith("PG"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def _kwargs(cluster: Cluster, user: str, **extra: Any) -> dict[str, Any]:
    # sslmode=disable: the PG15 server here has no TLS, and the PG18 one no SSL at all.
    kwargs = {"host": cluster.host, "port": cluster.port, "user": user, "database": "postgres"}
    return {**kwargs, "ssl": "disable", "timeout": 10, **extra}


async def _whoami(conn: pgjet.Connection) -> str:
    try:
        return str(await conn.fetchval("SELECT current_user"))
    finally:
        await conn.close()


def _assert_secret_absent(exc: BaseException, *secrets: str) -> None:
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    cause: BaseException | None = exc
    while cause is not None:  # format_exception shows causes; check their reprs too
        texts.append(repr(cause))
        texts.append(repr(getattr(cause, "attempts", "")))
        cause = cause.__cause__ or cause.__context__
    for secret in secrets:
        for text in texts:
            assert secret not in text


# -- each method with the right password ----------------------------------------------------


@pytest.mark.parametrize("user", list(METHODS))
async def test_right_password_connects(auth_cluster: Cluster, user: str) -> None:
    password = PASSWORDS.get(user)
    conn = await pgjet.connect(**_kwargs(auth_cluster, user, password=password))
    assert await _whoami(conn) == user


async def test_md5_rule_with_scram_stored_password_uses_scram(auth_cluster: Cluster) -> None:
    # The server cannot check an md5 answer against a SCRAM verifier, so it switches
    # to SCRAM: the stored verifier proves which exchange must have succeeded.
    user = "md5_rule_scram_user"
    stored = auth_cluster.sql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{user}'")
    assert stored.startswith("SCRAM-SHA-256$")
    conn = await pgjet.connect(**_kwargs(auth_cluster, user, password=PASSWORDS[user]))
    assert await _whoami(conn) == user


async def test_md5_user_really_has_an_md5_verifier(auth_cluster: Cluster) -> None:
    stored = auth_cluster.sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'md5_user'")
    assert stored.startswith("md5") and len(stored) == 35


async def test_password_in_a_dsn(auth_cluster: Cluster) -> None:
    user = "scram_user"
    dsn = auth_cluster.dsn(user, PASSWORDS[user], sslmode="disable")
    assert await _whoami(await pgjet.connect(dsn)) == user


# -- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("user", PASSWORD_USERS)
async def test_wrong_password_is_invalid_password_error(auth_cluster: Cluster, user: str) -> None:
    with pytest.raises(errors.InvalidPasswordError) as info:
        await pgjet.connect(**_kwargs(auth_cluster, user, password=WRONG))
    assert info.value.sqlstate == "28P01"
    assert user in str(info.value)
    _assert_secret_absent(info.value, WRONG, PASSWORDS[user])


async def test_unknown_user_under_scram_looks_like_a_wrong_password(
    auth_cluster: Cluster,
) -> None:
    # The server hides whether the role exists: a mock SCRAM exchange, then 28P01.
    with pytest.raises(errors.InvalidPasswordError) as info:
        await pgjet.connect(**_kwargs(auth_cluster, "nobody_here", password=WRONG))
    _assert_secret_absent(info.value, WRONG)


async def test_unknown_user_under_trust(auth_cluster: Cluster) -> None:
    with pytest.raises(errors.InvalidAuthorizationSpecificationError) as info:
        await pgjet.connect(**_kwargs(auth_cluster, "ghost_user"))
    assert info.value.sqlstate == "28000"
    assert 'role "ghost_user" does not exist' in str(info.value)


async def test_unknown_database(auth_cluster: Cluster) -> None:
    with pytest.raises(errors.InvalidCatalogNameError) as info:
        await pgjet.connect(**_kwargs(auth_cluster, "trust_user", database="no_such_db"))
    assert info.value.sqlstate == "3D000"
    assert "no_such_db" in str(info.value)


async def test_unknown_database_after_scram(auth_cluster: Cluster) -> None:
    user = "scram_user"
    with pytest.raises(errors.InvalidCatalogNameError):
        await pgjet.connect(
            **_kwargs(auth_cluster, user, password=PASSWORDS[user], database="no_such_db")
        )


@pytest.mark.parametrize("user", PASSWORD_USERS)
async def test_missing_password_is_a_clear_client_error(auth_cluster: Cluster, user: str) -> None:
    with pytest.raises(errors.AuthenticationMethodError) as info:
        await pgjet.connect(**_kwargs(auth_cluster, user))
    message = str(info.value)
    assert "no password was supplied" in message
    assert user in message
    assert f"{auth_cluster.host}:{auth_cluster.port}" in message


async def test_trust_never_asks_for_the_password(auth_cluster: Cluster) -> None:
    calls = 0

    def password() -> str:
        nonlocal calls
        calls += 1
        return "unused"

    conn = await pgjet.connect(**_kwargs(auth_cluster, "trust_user", password=password))
    assert await _whoami(conn) == "trust_user"
    assert calls == 0


# -- where the password comes from -----------------------------------------------------------


@pytest.mark.parametrize("user", PASSWORD_USERS)
async def test_password_from_a_sync_callable(auth_cluster: Cluster, user: str) -> None:
    calls: list[str] = []

    def password() -> str:
        calls.append(user)
        return PASSWORDS[user]

    conn = await pgjet.connect(**_kwargs(auth_cluster, user, password=password))
    assert await _whoami(conn) == user
    assert calls == [user]  # asked once, even across the several SCRAM messages


@pytest.mark.parametrize("user", PASSWORD_USERS)
async def test_password_from_an_async_callable(auth_cluster: Cluster, user: str) -> None:
    async def password() -> str:
        await asyncio.sleep(0)
        return PASSWORDS[user]

    conn = await pgjet.connect(**_kwargs(auth_cluster, user, password=password))
    assert await _whoami(conn) == user


async def test_callable_returning_the_wrong_password(auth_cluster: Cluster) -> None:
    async def password() -> str:
        return WRONG

    with pytest.raises(errors.InvalidPasswordError) as info:
        await pgjet.connect(**_kwargs(auth_cluster, "scram_user", password=password))
    _assert_secret_absent(info.value, WRONG)


async def test_callable_returning_a_non_string(auth_cluster: Cluster) -> None:
    with pytest.raises(errors.ClientConfigurationError, match="returned int, expected str"):
        await pgjet.connect(**_kwargs(auth_cluster, "scram_user", password=lambda: 1234))


@pytest.mark.parametrize("user", ["md5_user", "scram_user"])
async def test_password_from_pgpassfile(
    auth_cluster: Cluster, user: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passfile = tmp_path / "pgpass"
    # The first line matches another port, so the lookup must really compare fields.
    passfile.write_text(
        f"*:{auth_cluster.port + 1}:*:{user}:{WRONG}\n"
        f"{auth_cluster.host}:{auth_cluster.port}:postgres:{user}:{PASSWORDS[user]}\n"
    )
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    conn = await pgjet.connect(**_kwargs(auth_cluster, user, database="postgres"))
    assert await _whoami(conn) == user


async def test_passfile_argument_with_wildcards(auth_cluster: Cluster, tmp_path: Path) -> None:
    user = "clear_user"
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:{user}:{PASSWORDS[user]}\n")
    passfile.chmod(0o600)
    conn = await pgjet.connect(**_kwargs(auth_cluster, user, passfile=str(passfile)))
    assert await _whoami(conn) == user


async def test_passfile_without_a_matching_line(
    auth_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:someone_else:{PASSWORDS['scram_user']}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    with pytest.raises(errors.AuthenticationMethodError):
        await pgjet.connect(**_kwargs(auth_cluster, "scram_user"))


@pytest.mark.parametrize("user", ["clear_user", "md5_rule_scram_user"])
async def test_password_from_pgpassword(
    auth_cluster: Cluster, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", PASSWORDS[user])
    conn = await pgjet.connect(**_kwargs(auth_cluster, user))
    assert await _whoami(conn) == user


async def test_argument_password_beats_pgpassword(
    auth_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = "scram_user"
    monkeypatch.setenv("PGPASSWORD", WRONG)
    conn = await pgjet.connect(**_kwargs(auth_cluster, user, password=PASSWORDS[user]))
    assert await _whoami(conn) == user


# -- secrecy of failed attempts -----------------------------------------------------------------


async def test_wrong_password_in_dsn_is_not_in_the_error(auth_cluster: Cluster) -> None:
    dsn = auth_cluster.dsn("scram_user", WRONG, sslmode="disable")
    with pytest.raises(errors.InvalidPasswordError) as info:
        await pgjet.connect(dsn)
    _assert_secret_absent(info.value, WRONG)


async def test_several_failed_hosts_do_not_reveal_the_password(auth_cluster: Cluster) -> None:
    # Two addresses (the same server twice): one error listing both attempts.
    port = auth_cluster.port
    dsn = (
        f"postgresql://md5_user:{WRONG}@{auth_cluster.host}:{port},localhost:{port}"
        "/postgres?sslmode=disable"
    )
    with pytest.raises(errors.ConnectionAttemptsFailedError) as info:
        await pgjet.connect(dsn)
    exc = info.value
    assert len(exc.attempts) == 2
    assert all(isinstance(err, errors.InvalidPasswordError) for _, _, err in exc.attempts)
    assert isinstance(exc.__cause__, errors.InvalidPasswordError)
    _assert_secret_absent(exc, WRONG)


async def test_missing_password_error_with_a_passfile_reveals_nothing(
    auth_cluster: Cluster, tmp_path: Path
) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:other_user:{PASSWORDS['md5_user']}\n")
    passfile.chmod(0o600)
    with pytest.raises(errors.AuthenticationMethodError) as info:
        await pgjet.connect(**_kwargs(auth_cluster, "md5_user", passfile=str(passfile)))
    _assert_secret_absent(info.value, PASSWORDS["md5_user"])


# -- a broken server must not make connect() hang ------------------------------------------------


async def test_unsolicited_message_after_a_password_request_fails_at_once() -> None:
    # The second AuthenticationCleartextPassword arrives in the same packet as the
    # first, with no operation waiting for it: a protocol violation. It used to leave
    # the first request undelivered, so connect() waited for its whole timeout.
    request = b"R" + (8).to_bytes(4, "big") + (3).to_bytes(4, "big")

    async def broken_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        length = int.from_bytes(await reader.readexactly(4), "big")
        await reader.readexactly(length - 4)  # the StartupMessage
        writer.write(request + request)
        await writer.drain()
        await reader.read()  # until the client hangs up
        writer.close()

    server = await asyncio.start_server(broken_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(errors.ProtocolError, match="no operation pending"):
            await pgjet.connect(
                host="127.0.0.1", port=port, user="u", password=WRONG, ssl="disable", timeout=10
            )
        assert loop.time() - started < 5
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("code", [3, 5])  # AuthenticationCleartextPassword, ...MD5Password
async def test_channel_binding_require_sends_no_password_to_a_server_asking_for_one(
    code: int,
) -> None:
    # The server is whoever answers: with channel_binding=require, nothing it can
    # learn the password from (cleartext or md5 hash) may be sent to it.
    received: list[bytes] = []
    body = code.to_bytes(4, "big") + (b"salt" if code == 5 else b"")
    request = b"R" + (4 + len(body)).to_bytes(4, "big") + body

    async def greedy_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        length = int.from_bytes(await reader.readexactly(4), "big")
        await reader.readexactly(length - 4)  # the StartupMessage
        writer.write(request)
        await writer.drain()
        received.append(await reader.read())  # everything until the client hangs up
        writer.close()

    server = await asyncio.start_server(greedy_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(errors.ChannelBindingError, match="the password was not sent"):
            await pgjet.connect(
                host="127.0.0.1",
                port=port,
                user="u",
                password=WRONG,
                ssl="disable",
                channel_binding="require",
                timeout=10,
            )
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.01)
    finally:
        server.close()
        await server.wait_closed()
    assert received == [b""]  # not a single byte after the StartupMessage

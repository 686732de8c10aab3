"""connect() over TLS against real PostgreSQL 15 servers (Debian's build has OpenSSL).

The sslmode matrix against a TLS server and a server with ``ssl = off``, hostssl and
hostnossl rules, certificate verification (CA, host name, CRL), client certificates,
protocol versions, a caller's ``SSLContext``, SCRAM-SHA-256-PLUS channel binding and
``sslnegotiation=direct`` against a server too old for it. Whether a connection is
encrypted is always read from the server's own ``pg_stat_ssl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import ssl
import sys
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import pgjet
from pgjet import errors
from pgjet.dsn import parse_connect_args
from pgjet.testing import Cluster, HbaRule

from .conftest import find_installation

PASSWORD = "Tls-Scram-pw-3a8c"  # distinctive: the secrecy checks search for it
OTHER_PASSWORD = "SslOnly-pw-6e02"
SSL_STATE = "SELECT ssl, version, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
ALL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


@pytest.fixture(scope="module")
def tls_server() -> Iterator[Cluster]:
    """PG15 with TLS; the hba rule each test meets is chosen by the user name."""
    rules = [
        HbaRule("cert", user="cert_user"),
        HbaRule("scram-sha-256", user="ssl_only", connection="hostssl"),
        HbaRule("trust", user="no_ssl", connection="hostnossl"),
        HbaRule("scram-sha-256", user="scram_user"),
        HbaRule("password", user="clear_user"),
        HbaRule("md5", user="md5_user"),
        HbaRule("trust", user="postgres"),
    ]
    installation = find_installation("pg15")
    with Cluster(installation, auth=rules, tls=True, tls_users=["cert_user", "other"]) as c:
        c.create_role("cert_user")
        c.create_role("other")
        c.create_role("no_ssl")
        c.create_role("ssl_only", OTHER_PASSWORD)
        c.create_role("scram_user", PASSWORD)
        c.create_role("clear_user", PASSWORD)
        c.create_role("md5_user", PASSWORD, password_encryption="md5")
        yield c


@pytest.fixture(scope="module")
def plain_server() -> Iterator[Cluster]:
    """PG15 with ``ssl = off``: every SSLRequest is answered 'N'."""
    rules = [
        HbaRule("scram-sha-256", user="scram_user"),
        HbaRule("md5", user="once_user"),
        HbaRule("reject", user="rejected_user"),
        HbaRule("trust"),
    ]
    with Cluster(find_installation("pg15"), auth=rules) as c:
        c.create_role("scram_user", PASSWORD)
        c.create_role("once_user", PASSWORD, password_encryption="md5")
        yield c


@pytest.fixture(scope="module")
def wrong_host_server() -> Iterator[Cluster]:
    """PG15 presenting a certificate from the right CA, but only for ``wrong.invalid``."""
    with Cluster(find_installation("pg15"), tls=True) as c:
        assert c.tls is not None
        # A restart rather than a reload: pg_ctl reload returns before the new
        # certificate is in use, and the first test could still meet the old one.
        files = {"ssl_cert_file": c.tls.wrong_host_cert, "ssl_key_file": c.tls.wrong_host_key}
        c.configure({name: str(path) for name, path in files.items()}, restart=True)
        yield c


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PG* variable and no ~/.postgresql/ file of the machine may change the outcome."""
    for name in list(os.environ):
        if name.startswith("PG"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def _tls(cluster: Cluster) -> Any:
    assert cluster.tls is not None
    return cluster.tls


def _dsn(cluster: Cluster, user: str = "postgres", **params: Any) -> str:
    if cluster.tls is not None and params.get("sslmode") in ("verify-ca", "verify-full"):
        params.setdefault("sslrootcert", str(cluster.tls.ca_cert))
    params.setdefault("connect_timeout", 10)
    return cluster.dsn(user, **params)


async def _ssl_state(dsn: str, **kwargs: Any) -> tuple[Any, ...]:
    """(ssl, version, client_dn) of the connection, as the server sees it."""
    conn = await pgjet.connect(dsn, timeout=10, **kwargs)
    try:
        row = await conn.fetchrow(SSL_STATE)
        assert row is not None
        return tuple(row)
    finally:
        await conn.close()


def _assert_secret_absent(exc: BaseException, secret: str) -> None:
    seen: BaseException | None = exc
    texts = ["".join(traceback.format_exception(exc))]
    while seen is not None:
        texts += [str(seen), repr(seen), repr(getattr(seen, "attempts", ""))]
        seen = seen.__cause__ or seen.__context__
    assert all(secret not in text for text in texts)


# -- the sslmode matrix ---------------------------------------------------------------------

# What the server's pg_stat_ssl shows for each sslmode against a server with TLS:
# allow tries plaintext first and keeps it when the server accepts it (libpq).
ENCRYPTED_WITH_TLS_SERVER = {
    "disable": False,
    "allow": False,
    "prefer": True,
    "require": True,
    "verify-ca": True,
    "verify-full": True,
}


@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_sslmode_against_a_tls_server(tls_server: Cluster, mode: str, host: str) -> None:
    # The server certificate names localhost, 127.0.0.1 and ::1: verify-full passes both.
    encrypted, version, _ = await _ssl_state(_dsn(tls_server, sslmode=mode, host=host))
    assert encrypted is ENCRYPTED_WITH_TLS_SERVER[mode]
    if encrypted:
        assert version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer"])
async def test_plaintext_modes_against_a_server_without_tls(
    plain_server: Cluster, mode: str
) -> None:
    encrypted, _, _ = await _ssl_state(_dsn(plain_server, sslmode=mode))
    assert encrypted is False


@pytest.mark.parametrize("mode", ["require", "verify-ca", "verify-full"])
async def test_tls_modes_against_a_server_without_tls(
    plain_server: Cluster, tls_server: Cluster, mode: str
) -> None:
    # Any CA will do for the client configuration: the server never gets that far.
    dsn = _dsn(plain_server, sslmode=mode, sslrootcert=str(_tls(tls_server).ca_cert))
    with pytest.raises(errors.TLSUnavailableError, match="refused TLS"):
        await pgjet.connect(dsn, timeout=10)


async def test_prefer_with_scram_against_a_server_without_tls(plain_server: Cluster) -> None:
    conn = await pgjet.connect(
        _dsn(plain_server, "scram_user", password=PASSWORD, sslmode="prefer"), timeout=10
    )
    try:
        assert await conn.fetchval(SSL_STATE) is False
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("user", "error", "logged"),
    [
        ("once_user", errors.InvalidPasswordError, "password authentication failed"),
        ("rejected_user", errors.InvalidAuthorizationSpecificationError, "rejects connection"),
    ],
)
async def test_prefer_against_a_server_without_tls_is_not_repeated(
    plain_server: Cluster, user: str, error: type[Exception], logged: str
) -> None:
    # The server said 'N' and the attempt went on in plaintext: repeating it in
    # plaintext could not change the answer (and would send a password again).
    def attempts() -> int:
        lines = plain_server.log_path.read_text().splitlines()
        return sum(1 for line in lines if logged in line and f'"{user}"' in line)

    before = attempts()
    dsn = _dsn(plain_server, user, password=OTHER_PASSWORD, sslmode="prefer")
    with pytest.raises(error):
        await pgjet.connect(dsn, timeout=10)
    deadline = time.monotonic() + 5
    while attempts() == before:  # the server writes its log a little later
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # a second attempt would be logged by now
    assert attempts() - before == 1


async def test_ssl_argument_modes(tls_server: Cluster) -> None:
    # asyncpg's spelling: ssl= takes an sslmode string too.
    assert (await _ssl_state(_dsn(tls_server), ssl="require"))[0] is True
    assert (await _ssl_state(_dsn(tls_server), ssl="disable"))[0] is False


# -- hostssl / hostnossl ---------------------------------------------------------------------


async def test_hostssl_rule_with_sslmode_disable(tls_server: Cluster) -> None:
    dsn = _dsn(tls_server, "ssl_only", password=OTHER_PASSWORD, sslmode="disable")
    with pytest.raises(errors.InvalidAuthorizationSpecificationError) as info:
        await pgjet.connect(dsn, timeout=10)
    assert "no pg_hba.conf entry" in str(info.value)
    assert "no encryption" in str(info.value)
    _assert_secret_absent(info.value, OTHER_PASSWORD)


async def test_hostssl_rule_with_sslmode_allow_retries_with_tls(tls_server: Cluster) -> None:
    # allow: plaintext first; the server rejects it, so the same address is tried with TLS.
    dsn = _dsn(tls_server, "ssl_only", password=OTHER_PASSWORD, sslmode="allow")
    assert (await _ssl_state(dsn))[0] is True


async def test_hostnossl_rule_with_sslmode_allow(tls_server: Cluster) -> None:
    assert (await _ssl_state(_dsn(tls_server, "no_ssl", sslmode="allow")))[0] is False


async def test_hostnossl_rule_with_sslmode_require(tls_server: Cluster) -> None:
    with pytest.raises(errors.InvalidAuthorizationSpecificationError, match="SSL encryption"):
        await pgjet.connect(_dsn(tls_server, "no_ssl", sslmode="require"), timeout=10)


async def test_hostnossl_rule_with_sslmode_prefer_falls_back_to_plaintext(
    tls_server: Cluster,
) -> None:
    # The server rejects the TLS session (no hostssl rule): libpq retries in plaintext.
    assert (await _ssl_state(_dsn(tls_server, "no_ssl", sslmode="prefer")))[0] is False


# -- server certificate verification ----------------------------------------------------------


async def test_verify_full_with_a_certificate_for_another_host(wrong_host_server: Cluster) -> None:
    dsn = _dsn(wrong_host_server, sslmode="verify-full", host="localhost", password=PASSWORD)
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        await pgjet.connect(dsn, timeout=10)
    assert info.value.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH
    assert "localhost" in str(info.value)
    _assert_secret_absent(info.value, PASSWORD)


async def test_verify_ca_accepts_a_certificate_for_another_host(
    wrong_host_server: Cluster,
) -> None:
    # verify-ca checks the chain only: the same certificate is fine here.
    assert (await _ssl_state(_dsn(wrong_host_server, sslmode="verify-ca")))[0] is True


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
async def test_verification_against_the_wrong_ca(tls_server: Cluster, mode: str) -> None:
    dsn = _dsn(
        tls_server,
        sslmode=mode,
        host="localhost",
        sslrootcert=str(_tls(tls_server).other_ca_cert),
        password=PASSWORD,
    )
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        await pgjet.connect(dsn, timeout=10)
    assert "certificate verify failed" in str(info.value)
    _assert_secret_absent(info.value, PASSWORD)


async def test_require_with_a_root_certificate_verifies_like_verify_ca(
    tls_server: Cluster,
) -> None:
    # libpq: sslmode=require with an sslrootcert behaves as verify-ca.
    dsn = _dsn(tls_server, sslmode="require", sslrootcert=str(_tls(tls_server).other_ca_cert))
    with pytest.raises(ssl.SSLCertVerificationError):
        await pgjet.connect(dsn, timeout=10)


async def test_prefer_does_not_verify(tls_server: Cluster) -> None:
    # A certificate chain the client cannot verify is accepted, encrypted, under prefer.
    dsn = _dsn(tls_server, sslmode="prefer", sslrootcert=str(_tls(tls_server).other_ca_cert))
    assert (await _ssl_state(dsn))[0] is True


async def test_ssl_context_argument(tls_server: Cluster) -> None:
    context = ssl.create_default_context(cafile=str(_tls(tls_server).ca_cert))
    dsn = tls_server.dsn(host="localhost")
    encrypted, _, _ = await _ssl_state(dsn, ssl=context)
    assert encrypted is True


async def test_ssl_context_argument_is_used_as_is(tls_server: Cluster) -> None:
    # A context trusting another CA: pgjet must not replace or relax it.
    context = ssl.create_default_context(cafile=str(_tls(tls_server).other_ca_cert))
    with pytest.raises(ssl.SSLCertVerificationError):
        await pgjet.connect(tls_server.dsn(host="localhost"), ssl=context, timeout=10)


async def test_ssl_context_argument_against_a_server_without_tls(plain_server: Cluster) -> None:
    context = ssl.create_default_context()
    with pytest.raises(errors.TLSUnavailableError):
        await pgjet.connect(plain_server.dsn(), ssl=context, timeout=10)


# -- certificate revocation lists ---------------------------------------------------------


def _write_crl(cluster: Cluster, path: Path, revoke: list[Path]) -> Path:
    """A CRL signed by the cluster's CA revoking the certificates in ``revoke``.

    pgjet.testing makes no CRLs, so the test signs one with the CA key it generated.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    tls = _tls(cluster)
    ca = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(tls.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(now - datetime.timedelta(minutes=5))
        .next_update(now + datetime.timedelta(days=1))
    )
    for cert_path in revoke:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(now - datetime.timedelta(minutes=1))
            .build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return path


async def test_sslcrl_revoking_the_server_certificate(tls_server: Cluster, tmp_path: Path) -> None:
    crl = _write_crl(tls_server, tmp_path / "revoked.crl", [_tls(tls_server).server_cert])
    dsn = _dsn(tls_server, sslmode="verify-full", host="localhost", sslcrl=str(crl))
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        await pgjet.connect(dsn, timeout=10)
    assert info.value.verify_code == 23  # X509_V_ERR_CERT_REVOKED


async def test_sslcrl_revoking_another_certificate(tls_server: Cluster, tmp_path: Path) -> None:
    # A valid CRL from the same CA that lists only a client certificate.
    tls = _tls(tls_server)
    crl = _write_crl(tls_server, tmp_path / "other.crl", [tls.client_cert("other")])
    dsn = _dsn(tls_server, sslmode="verify-full", host="localhost", sslcrl=str(crl))
    assert (await _ssl_state(dsn))[0] is True


# -- client certificates ------------------------------------------------------------------


def _cert_dsn(cluster: Cluster, user: str = "cert_user", **params: Any) -> str:
    params.setdefault("sslmode", "verify-full")
    return _dsn(cluster, user, host="localhost", **params)


async def test_cert_auth_with_a_client_certificate(tls_server: Cluster) -> None:
    tls = _tls(tls_server)
    dsn = _cert_dsn(
        tls_server,
        sslcert=str(tls.client_cert("cert_user")),
        sslkey=str(tls.client_key("cert_user")),
    )
    encrypted, _, client_dn = await _ssl_state(dsn)
    assert encrypted is True
    assert "CN=cert_user" in client_dn


async def test_cert_auth_with_an_encrypted_key(tls_server: Cluster) -> None:
    tls = _tls(tls_server)
    dsn = _cert_dsn(
        tls_server,
        sslcert=str(tls.client_cert("cert_user")),
        sslkey=str(tls.encrypted_client_key("cert_user")),
        sslpassword=tls.passphrase,
    )
    assert "CN=cert_user" in (await _ssl_state(dsn))[2]


async def test_encrypted_key_with_the_wrong_sslpassword(tls_server: Cluster) -> None:
    tls = _tls(tls_server)
    secret = "Wrong-Key-Passphrase-0b7f"
    dsn = _cert_dsn(
        tls_server,
        sslcert=str(tls.client_cert("cert_user")),
        sslkey=str(tls.encrypted_client_key("cert_user")),
        sslpassword=secret,
    )
    with pytest.raises(errors.ClientConfigurationError, match="check sslpassword") as info:
        await pgjet.connect(dsn, timeout=10)
    _assert_secret_absent(info.value, secret)


async def test_cert_auth_without_a_client_certificate(tls_server: Cluster) -> None:
    with pytest.raises(errors.InvalidAuthorizationSpecificationError, match="certificate"):
        await pgjet.connect(_cert_dsn(tls_server), timeout=10)


async def test_cert_auth_with_another_users_certificate(tls_server: Cluster) -> None:
    tls = _tls(tls_server)
    dsn = _cert_dsn(
        tls_server, sslcert=str(tls.client_cert("other")), sslkey=str(tls.client_key("other"))
    )
    with pytest.raises(errors.InvalidAuthorizationSpecificationError) as info:
        await pgjet.connect(dsn, timeout=10)
    assert 'certificate authentication failed for user "cert_user"' in str(info.value)


async def test_untrusted_client_certificate_is_rejected_by_the_server(
    tls_server: Cluster,
) -> None:
    # Signed by a CA the server does not trust: the server aborts the TLS session.
    tls = _tls(tls_server)
    dsn = _cert_dsn(
        tls_server,
        sslcert=str(tls.untrusted_client_cert("cert_user")),
        sslkey=str(tls.untrusted_client_key("cert_user")),
    )
    started = time.monotonic()
    # With TLS 1.3 the client finishes its handshake before the server judges the
    # certificate, so the server's alert arrives during startup; if the client's
    # StartupMessage reached the closed socket first, a reset can overtake the alert.
    with pytest.raises((ssl.SSLError, errors.ServerClosedDuringStartupError)) as info:
        await pgjet.connect(dsn, timeout=10)
    assert time.monotonic() - started < 5
    reason = info.value.__cause__
    if isinstance(reason, ssl.SSLError) or isinstance(info.value, ssl.SSLError):
        assert "unknown ca" in str(info.value).lower()
    else:
        assert isinstance(reason, ConnectionResetError)


async def test_client_certificate_over_prefer(tls_server: Cluster) -> None:
    # The certificate is sent in every TLS mode, not only the verifying ones.
    tls = _tls(tls_server)
    dsn = _dsn(
        tls_server,
        "cert_user",
        sslmode="prefer",
        sslcert=str(tls.client_cert("cert_user")),
        sslkey=str(tls.client_key("cert_user")),
    )
    assert "CN=cert_user" in (await _ssl_state(dsn))[2]


# -- protocol versions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"ssl_max_protocol_version": "TLSv1.2"}, "TLSv1.2"),
        ({"ssl_min_protocol_version": "TLSv1.3"}, "TLSv1.3"),
        ({"ssl_min_protocol_version": "TLSv1.2", "ssl_max_protocol_version": "TLSv1.2"}, "TLSv1.2"),
    ],
)
async def test_protocol_version_bounds(
    tls_server: Cluster, options: dict[str, str], expected: str
) -> None:
    encrypted, version, _ = await _ssl_state(_dsn(tls_server, sslmode="require", **options))
    assert (encrypted, version) == (True, expected)


async def test_protocol_version_range_below_the_default_minimum(tls_server: Cluster) -> None:
    # The default minimum is TLSv1.2 (libpq's), so a TLSv1.1 maximum is an empty range.
    dsn = _dsn(tls_server, sslmode="require", ssl_max_protocol_version="TLSv1.1")
    with pytest.raises(errors.ClientConfigurationError, match=r"ssl_max_protocol_version=TLSv1\.1"):
        await pgjet.connect(dsn, timeout=10)


# -- channel binding (SCRAM-SHA-256-PLUS) -----------------------------------------------------


async def test_channel_binding_require_succeeds_over_tls(tls_server: Cluster) -> None:
    dsn = _dsn(tls_server, "scram_user", password=PASSWORD, sslmode="require")
    conn = await pgjet.connect(dsn, channel_binding="require", timeout=10)
    try:
        assert await conn.fetchval(SSL_STATE) is True
    finally:
        await conn.close()


async def test_channel_binding_require_without_tls(plain_server: Cluster) -> None:
    dsn = _dsn(plain_server, "scram_user", password=PASSWORD, sslmode="prefer")
    with pytest.raises(errors.ChannelBindingError, match="does not use TLS") as info:
        await pgjet.connect(dsn, channel_binding="require", timeout=10)
    _assert_secret_absent(info.value, PASSWORD)


async def test_channel_binding_require_with_trust(tls_server: Cluster) -> None:
    # Trust never runs SCRAM: nothing binds the session to the channel.
    with pytest.raises(errors.ChannelBindingError, match="without channel binding"):
        await pgjet.connect(
            _dsn(tls_server, sslmode="require", channel_binding="require"), timeout=10
        )


@pytest.mark.parametrize("user", ["clear_user", "md5_user"])
async def test_channel_binding_require_with_password_methods(
    tls_server: Cluster, user: str
) -> None:
    # Cleartext and md5 cannot bind to the channel: refused before the password is sent.
    dsn = _dsn(tls_server, user, password=PASSWORD, sslmode="verify-full", host="localhost")
    with pytest.raises(errors.ChannelBindingError, match="the password was not sent") as info:
        await pgjet.connect(dsn, channel_binding="require", timeout=10)
    _assert_secret_absent(info.value, PASSWORD)
    for mode in ("prefer", "disable"):  # the same users connect without the requirement
        assert (await _ssl_state(dsn, channel_binding=mode))[0] is True


@pytest.mark.parametrize("mode", ["disable", "prefer"])
async def test_channel_binding_modes_over_tls(tls_server: Cluster, mode: str) -> None:
    dsn = _dsn(tls_server, "scram_user", password=PASSWORD, sslmode="verify-full")
    assert (await _ssl_state(dsn, channel_binding=mode))[0] is True


class _TlsInterceptor:
    """A man in the middle: terminates the client's TLS with its own certificate and
    opens a second TLS session to the server, relaying the bytes in between.

    Only channel binding lets the server notice: the client binds to the proxy's
    certificate, the server to its own.
    """

    def __init__(self, cluster: Cluster) -> None:
        tls = _tls(cluster)
        self.cluster = cluster
        self.front = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.front.load_cert_chain(str(tls.wrong_host_cert), str(tls.wrong_host_key))
        self.back = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.back.check_hostname = False
        self.back.verify_mode = ssl.CERT_NONE
        self.port = 0
        self.sessions = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._running: set[asyncio.Future[Any]] = set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[_TlsInterceptor]:
        server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            # Closing the sockets ends the sessions on their own (no cancellation,
            # which asyncio's stream server would log as an error).
            for writer in self._writers:
                writer.transport.abort()
            if self._running:
                await asyncio.wait(self._running, timeout=5)
            await server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        mine = [writer]
        self._writers.append(writer)
        try:
            request = await reader.readexactly(8)  # SSLRequest
            writer.write(b"S")
            await writer.drain()
            await writer.start_tls(self.front)
            up_reader, up_writer = await asyncio.open_connection(
                self.cluster.host, self.cluster.port
            )
            mine.append(up_writer)
            self._writers.append(up_writer)
            up_writer.write(request)
            assert await up_reader.readexactly(1) == b"S"
            await up_writer.start_tls(self.back)
            await asyncio.gather(self._relay(reader, up_writer), self._relay(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            for each in mine:
                each.transport.abort()

    @staticmethod
    async def _relay(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.transport.abort()  # one side ended: end the other too


needs_start_tls = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="the interceptor uses StreamWriter.start_tls (3.11+)"
)


@needs_start_tls
async def test_channel_binding_disabled_lets_a_man_in_the_middle_through(
    tls_server: Cluster,
) -> None:
    # The baseline: the interceptor works, and without binding nobody notices it.
    async with _TlsInterceptor(tls_server).running() as mitm:
        dsn = tls_server.dsn("scram_user", PASSWORD, port=mitm.port, sslmode="require")
        conn = await pgjet.connect(dsn, channel_binding="disable", timeout=10)
        try:
            assert await conn.fetchval("SELECT current_user") == "scram_user"
        finally:
            await conn.close()
        assert mitm.sessions == 1


@needs_start_tls
@pytest.mark.parametrize("mode", ["prefer", "require"])
async def test_channel_binding_defeats_a_man_in_the_middle(tls_server: Cluster, mode: str) -> None:
    # The server itself checks the binding: proof that the default (prefer) really
    # used SCRAM-SHA-256-PLUS with the certificate the client saw.
    async with _TlsInterceptor(tls_server).running() as mitm:
        dsn = tls_server.dsn("scram_user", PASSWORD, port=mitm.port, sslmode="require")
        with pytest.raises(errors.InvalidAuthorizationSpecificationError) as info:
            await pgjet.connect(dsn, channel_binding=mode, timeout=10)
        assert mitm.sessions == 1
    assert "SCRAM channel binding check failed" in str(info.value)
    _assert_secret_absent(info.value, PASSWORD)


async def test_default_channel_binding_is_prefer(tls_server: Cluster) -> None:
    params = parse_connect_args(_dsn(tls_server, "scram_user", sslmode="require"))
    assert params.channel_binding.value == "prefer"


# -- direct TLS (sslnegotiation=direct) -----------------------------------------------------


async def test_direct_tls_against_postgresql_15_fails_fast_and_clearly(
    tls_server: Cluster,
) -> None:
    # PostgreSQL 17+ is needed for direct TLS; 15 reads the ClientHello as a startup
    # packet of absurd length and hangs up. The error must come at once, not at timeout.
    dsn = _dsn(
        tls_server,
        "scram_user",
        password=PASSWORD,
        sslmode="verify-full",
        host="localhost",
        sslnegotiation="direct",
    )
    started = time.monotonic()
    with pytest.raises(errors.ServerClosedDuringStartupError) as info:
        await pgjet.connect(dsn, timeout=10)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "TLS handshake" in message
    assert "sslnegotiation=direct" in message
    assert isinstance(info.value, ConnectionResetError)  # what asyncio itself raises here
    _assert_secret_absent(info.value, PASSWORD)


@pytest.fixture(scope="module")
def tls18_server() -> Iterator[Cluster]:
    """PostgreSQL 18 built with OpenSSL (tools/install-pg18-ssl.sh): direct TLS works."""
    with Cluster(find_installation("pg18-ssl"), tls=True) as c:
        yield c


@pytest.mark.parametrize("direct", [False, True])
async def test_ssl_context_argument_with_direct_tls(tls18_server: Cluster, direct: bool) -> None:
    # PostgreSQL 17+ hangs up on direct TLS without the "postgresql" ALPN protocol,
    # which a context from ssl.create_default_context() does not offer by itself.
    context = ssl.create_default_context(cafile=str(_tls(tls18_server).ca_cert))
    dsn = tls18_server.dsn(host="localhost")
    encrypted, _, _ = await _ssl_state(dsn, ssl=context, direct_tls=direct)
    assert encrypted is True


# -- secrecy across attempts ----------------------------------------------------------------


async def test_failed_tls_attempts_on_several_hosts_reveal_no_password(
    tls_server: Cluster,
) -> None:
    secret = "Multi-Host-Secret-pw-44c1"
    port = tls_server.port
    dsn = (
        f"postgresql://scram_user:{secret}@localhost:{port},127.0.0.1:{port}/postgres"
        f"?sslmode=verify-full&sslrootcert={_tls(tls_server).other_ca_cert}"
    )
    with pytest.raises(errors.ConnectionAttemptsFailedError) as info:
        await pgjet.connect(dsn, timeout=10)
    assert all(isinstance(e, ssl.SSLCertVerificationError) for _, _, e in info.value.attempts)
    _assert_secret_absent(info.value, secret)


async def test_wrong_password_over_tls_with_fallback_reveals_nothing(tls_server: Cluster) -> None:
    # allow: a plaintext attempt, then a TLS one, both refused; only the last is raised.
    secret = "Allow-Fallback-pw-19aa"
    dsn = _dsn(tls_server, "ssl_only", password=secret, sslmode="allow")
    with pytest.raises(errors.InvalidPasswordError) as info:
        await pgjet.connect(dsn, timeout=10)
    _assert_secret_absent(info.value, secret)

"""TLS contexts per sslmode, checked by real in-memory TLS handshakes.

Certificates are generated here with ``cryptography``; the handshakes run between
the context pgjet builds and a server context over ``ssl.MemoryBIO`` (no sockets).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pgjet import tls
from pgjet.dsn import Address, ConnectParams, SSLMode, parse_connect_args
from pgjet.errors import ClientConfigurationError

SERVER_NAME = "db.example"
_NOW = datetime.datetime.now(datetime.timezone.utc)


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _issue(
    subject: str,
    issuer: Issued | None,
    *,
    ca: bool = False,
    names: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - datetime.timedelta(days=1))
        .not_valid_after(_NOW + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    else:
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


@dataclass
class Pki:
    ca_file: Path
    other_ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    ca: Issued
    server: Issued
    directory: Path

    def write_crl(self, revoked: x509.Certificate | None) -> Path:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca.cert.subject)
            .last_update(_NOW - datetime.timedelta(hours=1))
            .next_update(_NOW + datetime.timedelta(days=1))
        )
        if revoked is not None:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(revoked.serial_number)
                .revocation_date(_NOW - datetime.timedelta(minutes=5))
                .build()
            )
        crl = builder.sign(self.ca.key, hashes.SHA256())
        path = self.directory / ("crl-revoked.pem" if revoked else "crl-empty.pem")
        path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = _issue("pgjet test CA", None, ca=True)
    other_ca = _issue("some other CA", None, ca=True)
    server = _issue(SERVER_NAME, ca, names=(SERVER_NAME,), ips=("127.0.0.1",))
    client = _issue("alice", ca)
    files = {
        "ca.pem": _pem(ca.cert),
        "other-ca.pem": _pem(other_ca.cert),
        "server.crt": _pem(server.cert),
        "server.key": _key_pem(server.key),
        "client.crt": _pem(client.cert),
        "client.key": _key_pem(client.key),
        "client-encrypted.key": _key_pem(client.key, b"k3y-pass"),
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
        (directory / name).chmod(0o600)
    return Pki(
        ca_file=directory / "ca.pem",
        other_ca_file=directory / "other-ca.pem",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
        ca=ca,
        server=server,
        directory=directory,
    )


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty HOME, so ~/.postgresql of the machine never takes part."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    return path


def params(dsn: str = "", **kwargs: object) -> ConnectParams:
    return parse_connect_args(f"host={SERVER_NAME} {dsn}", environ={}, **kwargs)  # type: ignore[arg-type]


def context_for(dsn: str = "", **kwargs: object) -> ssl.SSLContext:
    context = tls.make_ssl_context(params(dsn, **kwargs), SERVER_NAME)
    assert context is not None
    return context


def server_context(pki: Pki, *, require_client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.set_alpn_protocols(["postgresql"])
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=pki.ca_file)
    return context


def handshake(
    client_context: ssl.SSLContext, server: ssl.SSLContext, server_hostname: str = SERVER_NAME
) -> ssl.SSLObject:
    """A complete TLS handshake over memory buffers; raises what either side raises."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_out, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(to_client, client_out, server_hostname=server_hostname)
    server_side = server.wrap_bio(to_server, server_out, server_side=True)
    finished = {"client": False, "server": False}
    for _ in range(20):
        for side, obj in (("client", client), ("server", server_side)):
            if finished[side]:
                continue
            try:
                obj.do_handshake()
                finished[side] = True
            except ssl.SSLWantReadError:
                pass
        to_server.write(client_out.read())
        to_client.write(server_out.read())
        if all(finished.values()):
            # TLS 1.3 reports a rejected client certificate after the client finished.
            client.write(b"ping")
            to_server.write(client_out.read())
            assert server_side.read(4) == b"ping"
            return client
    raise AssertionError("handshake did not finish")


# --- which attempts, which modes ----------------------------------------------------


def test_tls_attempts_follow_sslmode() -> None:
    tcp, unix = Address("db", 5432), Address("/tmp", 5432)
    expected = {
        "disable": (False,),
        "allow": (False, True),
        "prefer": (True, False),
        "require": (True,),
        "verify-ca": (True,),
        "verify-full": (True,),
    }
    for mode, attempts in expected.items():
        p = parse_connect_args(host="db", ssl=mode, environ={"PGSSLROOTCERT": "/x"})
        assert tls.tls_attempts(p, tcp) == attempts
        assert tls.tls_attempts(p, unix) == (False,)
        assert tls.tls_required(SSLMode(mode)) == (attempts == (True,))
        assert tls.plaintext_allowed(SSLMode(mode)) == (False in attempts)


def test_disable_gives_no_context_and_given_context_is_used_as_is() -> None:
    assert tls.make_ssl_context(params("sslmode=disable")) is None
    mine = ssl.create_default_context()
    assert tls.make_ssl_context(params(ssl=mine)) is mine


@pytest.mark.parametrize("mode", ["allow", "prefer", "require"])
def test_unverified_modes_encrypt_without_checking(pki: Pki, mode: str) -> None:
    context = context_for(f"sslmode={mode}")
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    conn = handshake(context, server_context(pki), server_hostname="wrong.name")
    assert conn.selected_alpn_protocol() == "postgresql"


def test_prefer_ignores_a_present_root_certificate(pki: Pki, home: Path) -> None:
    (home / ".postgresql").mkdir()
    (home / ".postgresql" / "root.crt").write_bytes(pki.other_ca_file.read_bytes())
    context = context_for("sslmode=prefer")
    assert context.verify_mode == ssl.CERT_NONE
    handshake(context, server_context(pki))


def test_require_with_default_root_cert_behaves_as_verify_ca(pki: Pki, home: Path) -> None:
    (home / ".postgresql").mkdir()
    root = home / ".postgresql" / "root.crt"
    root.write_bytes(pki.other_ca_file.read_bytes())
    context = context_for("sslmode=require")
    assert context.verify_mode == ssl.CERT_REQUIRED and not context.check_hostname
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(context, server_context(pki))
    root.write_bytes(pki.ca_file.read_bytes())
    handshake(context_for("sslmode=require"), server_context(pki), server_hostname="wrong")


def test_require_with_explicit_root_cert_verifies_the_chain(pki: Pki) -> None:
    context = context_for(f"sslmode=require sslrootcert={pki.other_ca_file}")
    assert context.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(context, server_context(pki))


def test_verify_ca_checks_chain_not_name(pki: Pki) -> None:
    context = context_for(f"sslmode=verify-ca sslrootcert={pki.ca_file}")
    assert context.verify_mode == ssl.CERT_REQUIRED and not context.check_hostname
    handshake(context, server_context(pki), server_hostname="not.the.name")
    untrusted = context_for(f"sslmode=verify-ca sslrootcert={pki.other_ca_file}")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(untrusted, server_context(pki))


def test_verify_full_checks_chain_and_name(pki: Pki) -> None:
    context = context_for(f"sslmode=verify-full sslrootcert={pki.ca_file}")
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    handshake(context, server_context(pki), server_hostname=SERVER_NAME)
    handshake(context, server_context(pki), server_hostname="127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(context, server_context(pki), server_hostname="other.example")


def test_verify_full_uses_home_root_cert(pki: Pki, home: Path) -> None:
    (home / ".postgresql").mkdir()
    (home / ".postgresql" / "root.crt").write_bytes(pki.ca_file.read_bytes())
    handshake(context_for("sslmode=verify-full"), server_context(pki))


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
def test_verifying_modes_without_root_cert_fail_clearly(mode: str) -> None:
    with pytest.raises(ClientConfigurationError) as info:
        context_for(f"sslmode={mode}")
    message = str(info.value)
    assert "root.crt" in message and "sslrootcert" in message and mode in message


def test_sslrootcert_system_and_ssl_true_use_the_default_store(pki: Pki) -> None:
    for context in (context_for("sslrootcert=system"), context_for(ssl=True)):
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(context, server_context(pki))  # our test CA is not a system CA


def test_protocol_versions() -> None:
    context = context_for("ssl_min_protocol_version=TLSv1.3 sslmode=require")
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    context = context_for("ssl_max_protocol_version=TLSv1.2 sslmode=require")
    assert context.maximum_version == ssl.TLSVersion.TLSv1_2


def test_max_protocol_version_is_enforced(pki: Pki) -> None:
    conn = handshake(context_for("ssl_max_protocol_version=TLSv1.2"), server_context(pki))
    assert conn.version() == "TLSv1.2"


def test_crl_revokes_the_server_certificate(pki: Pki) -> None:
    base = f"sslmode=verify-full sslrootcert={pki.ca_file}"
    empty = context_for(f"{base} sslcrl={pki.write_crl(None)}")
    assert empty.verify_flags & ssl.VERIFY_CRL_CHECK_CHAIN
    handshake(empty, server_context(pki))
    revoked = context_for(f"{base} sslcrl={pki.write_crl(pki.server.cert)}")
    with pytest.raises(ssl.SSLCertVerificationError, match="revoked"):
        handshake(revoked, server_context(pki))


# --- client certificates ------------------------------------------------------------


def test_client_certificate_explicit_files(pki: Pki) -> None:
    server = server_context(pki, require_client_cert=True)
    with pytest.raises(ssl.SSLError):
        handshake(context_for("sslmode=require"), server)
    context = context_for(f"sslmode=require sslcert={pki.client_cert} sslkey={pki.client_key}")
    handshake(context, server)


def test_client_certificate_default_files(pki: Pki, home: Path) -> None:
    pgdir = home / ".postgresql"
    pgdir.mkdir()
    (pgdir / "postgresql.crt").write_bytes(pki.client_cert.read_bytes())
    with pytest.raises(ClientConfigurationError, match="not private key file"):
        context_for("sslmode=require")
    key = pgdir / "postgresql.key"
    key.write_bytes(pki.client_key.read_bytes())
    key.chmod(0o600)
    handshake(context_for("sslmode=prefer"), server_context(pki, require_client_cert=True))


def test_encrypted_client_key_needs_sslpassword(pki: Pki) -> None:
    encrypted = pki.directory / "client-encrypted.key"
    base = f"sslmode=require sslcert={pki.client_cert} sslkey={encrypted}"
    handshake(
        context_for(f"{base} sslpassword=k3y-pass"),
        server_context(pki, require_client_cert=True),
    )
    for wrong in ("", " sslpassword=wrong-guess"):
        with pytest.raises(ClientConfigurationError, match="sslpassword") as info:
            context_for(base + wrong)
        assert "wrong-guess" not in str(info.value)


def test_private_key_with_group_access_is_refused(pki: Pki, tmp_path: Path) -> None:
    key = tmp_path / "open.key"
    key.write_bytes(pki.client_key.read_bytes())
    key.chmod(0o644)
    with pytest.raises(ClientConfigurationError, match="group or world access"):
        context_for(f"sslmode=require sslcert={pki.client_cert} sslkey={key}")


@pytest.mark.parametrize("option", ["sslrootcert", "sslcert", "sslkey", "sslcrl"])
def test_missing_named_files_are_errors(pki: Pki, tmp_path: Path, option: str) -> None:
    missing = tmp_path / "missing.pem"
    settings = {
        "sslrootcert": str(pki.ca_file),
        "sslcert": str(pki.client_cert),
        "sslkey": str(pki.client_key),
    }
    settings[option] = str(missing)
    dsn = "sslmode=verify-full " + " ".join(f"{k}={v}" for k, v in settings.items())
    with pytest.raises(ClientConfigurationError) as info:
        context_for(dsn)
    assert option in str(info.value) and str(missing) in str(info.value)


def test_garbage_root_certificate_is_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ClientConfigurationError, match="could not read root certificate"):
        context_for(f"sslmode=verify-ca sslrootcert={garbage}")


def test_keylog_file_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    keylog = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(keylog))
    assert context_for("sslmode=require").keylog_filename == str(keylog)
    assert os.path.exists(keylog)

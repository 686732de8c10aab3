"""Test certificates: a CA, a server certificate and client certificates.

Generated with the ``cryptography`` package (pgjet's ``test`` extra), imported only
when certificates are actually made. Keys are ECDSA P-256: quick to generate and
accepted by OpenSSL-based PostgreSQL, PgBouncer, libpq and Python's ``ssl``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UnsupportedFeatureError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["TlsFiles", "generate_tls_files"]

CLIENT_KEY_PASSPHRASE = "pgjet-test-passphrase"


@dataclass
class TlsFiles:
    """Paths of the generated certificates and keys (all PEM).

    * ``ca_cert``: the CA that signed the server and client certificates; the server
      trusts it for client certificates (``ssl_ca_file``) and clients use it as
      ``sslrootcert``.
    * ``server_cert``/``server_key``: for ``localhost``, ``127.0.0.1`` and ``::1``.
    * ``other_ca_cert``: an unrelated CA; verifying the server against it must fail.
    * ``wrong_host_cert``/``wrong_host_key``: signed by ``ca_cert`` but only for
      ``wrong.invalid``; a server presenting it fails ``verify-full``.
    * per user: :meth:`client_cert`, :meth:`client_key`, :meth:`encrypted_client_key`
      (PKCS#8 encrypted with :attr:`passphrase`) and :meth:`untrusted_client_cert`/
      :meth:`untrusted_client_key` (signed by ``other_ca_cert``, so rejected).
    """

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    other_ca_cert: Path
    other_ca_key: Path
    wrong_host_cert: Path
    wrong_host_key: Path
    users: tuple[str, ...] = ()
    passphrase: str = CLIENT_KEY_PASSPHRASE

    def client_cert(self, user: str) -> Path:
        """Client certificate with ``CN=user``, signed by :attr:`ca_cert`."""
        return self._user_file(user, "crt")

    def client_key(self, user: str) -> Path:
        """Unencrypted private key of :meth:`client_cert` (mode 0600)."""
        return self._user_file(user, "key")

    def encrypted_client_key(self, user: str) -> Path:
        """The same key encrypted with :attr:`passphrase` (libpq: ``sslpassword``)."""
        return self._user_file(user, "encrypted.key")

    def untrusted_client_cert(self, user: str) -> Path:
        """Client certificate with ``CN=user`` signed by :attr:`other_ca_cert`."""
        return self._user_file(user, "untrusted.crt")

    def untrusted_client_key(self, user: str) -> Path:
        """Private key of :meth:`untrusted_client_cert`."""
        return self._user_file(user, "untrusted.key")

    def add_client(self, user: str) -> None:
        """Generate the client files of one more user (needs the CA keys of this directory)."""
        _write_client(self, user)
        if user not in self.users:
            self.users = (*self.users, user)

    def _user_file(self, user: str, suffix: str) -> Path:
        if user not in self.users:
            raise KeyError(
                f"no client certificate for user {user!r}: pass it in tls_users= "
                f"(known: {', '.join(self.users) or 'none'}) or call add_client()"
            )
        return self.directory / f"client-{_safe(user)}.{suffix}"


def generate_tls_files(directory: Path, users: Iterable[str] = ()) -> TlsFiles:
    """Write a fresh CA, server, wrong-host and client certificates into ``directory``."""
    _require_cryptography()
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    ca_key = _new_key()
    ca = _ca_certificate("pgjet test CA", ca_key)
    other_key = _new_key()
    other = _ca_certificate("pgjet unrelated CA", other_key)
    files = TlsFiles(
        directory=directory,
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        other_ca_cert=directory / "other-ca.crt",
        other_ca_key=directory / "other-ca.key",
        wrong_host_cert=directory / "wrong-host.crt",
        wrong_host_key=directory / "wrong-host.key",
    )
    _write_pair(files.ca_cert, files.ca_key, ca, ca_key)
    _write_pair(files.other_ca_cert, files.other_ca_key, other, other_key)
    server_key = _new_key()
    server = _leaf(ca, ca_key, "localhost", server_key, server=True, names=_server_names())
    _write_pair(files.server_cert, files.server_key, server, server_key)
    wrong_key = _new_key()
    wrong = _leaf(ca, ca_key, "wrong.invalid", wrong_key, server=True, names=_wrong_names())
    _write_pair(files.wrong_host_cert, files.wrong_host_key, wrong, wrong_key)
    for user in users:
        files.add_client(user)
    return files


def _require_cryptography() -> None:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise UnsupportedFeatureError(
            "tls=True needs the `cryptography` package to generate certificates: "
            "pip install cryptography (it is in pgjet's `test` extra)"
        ) from None


def _safe(user: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else f"%{ord(c):02x}" for c in user)


def _new_key() -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pgjet tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _validity() -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now - datetime.timedelta(days=1), now + datetime.timedelta(days=365)


def _ca_certificate(common_name: str, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    not_before, not_after = _validity()
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_names() -> list[x509.GeneralName]:
    from cryptography import x509

    return [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]


def _wrong_names() -> list[x509.GeneralName]:
    from cryptography import x509

    return [x509.DNSName("wrong.invalid")]


def _leaf(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    server: bool,
    names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    not_before, not_after = _validity()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _write_pair(
    cert_path: Path,
    key_path: Path,
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
) -> None:
    from cryptography.hazmat.primitives import serialization

    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(cert_path, 0o644)
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # libpq and the server refuse private keys readable by group or others.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(key_path, 0o600)


def _write_client(files: TlsFiles, user: str) -> None:
    from cryptography.hazmat.primitives import serialization

    ca = _load_pair(files.ca_cert, files.ca_key)
    other = _load_pair(files.other_ca_cert, files.other_ca_key)
    base = files.directory / f"client-{_safe(user)}"
    key = _new_key()
    cert = _leaf(ca[0], ca[1], user, key, server=False)
    _write_pair(Path(f"{base}.crt"), Path(f"{base}.key"), cert, key)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(files.passphrase.encode()),
    )
    fd = os.open(f"{base}.encrypted.key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(encrypted)
    untrusted_key = _new_key()
    untrusted = _leaf(other[0], other[1], user, untrusted_key, server=False)
    _write_pair(
        Path(f"{base}.untrusted.crt"), Path(f"{base}.untrusted.key"), untrusted, untrusted_key
    )


def _load_pair(
    cert_path: Path, key_path: Path
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{key_path} is not an EC private key")
    return cert, key

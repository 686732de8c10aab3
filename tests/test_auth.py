"""Unit tests of pgjet.auth: SCRAM, md5, SASLprep and tls-server-end-point, without a server.

Expected values come from published test vectors (RFC 7677), from the definitions
computed by hand with hashlib/hmac in this file, or from `cryptography`'s own parsing of
the certificates generated here.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import hmac
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from pgjet import auth
from pgjet.auth import (
    SCRAM_SHA_256,
    SCRAM_SHA_256_PLUS,
    ScramClient,
    certificate_signature_hash,
    cleartext_password,
    md5_password,
    saslprep,
    scram_password,
    tls_server_end_point,
)
from pgjet.errors import AuthenticationMethodError, ChannelBindingError, ProtocolError

PLAIN = SCRAM_SHA_256
PLUS = SCRAM_SHA_256_PLUS

# ----------------------------------------------------------------------------------------
# Helpers: certificates, a DER encoder for hand-made certificates, a SCRAM server model
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _make_cert(key: Any, algorithm: hashes.HashAlgorithm | None, **sign_kwargs: Any) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pgjet-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, algorithm, **sign_kwargs)
    )
    return cert.public_bytes(Encoding.DER)


def _der(tag: int, content: bytes) -> bytes:
    """Encode one DER TLV (definite, minimal length)."""
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    values = [arcs[0] * 40 + arcs[1], *arcs[2:]]
    body = b""
    for value in values:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        body += bytes(reversed(chunk))
    return _der(0x06, body)


def _synthetic_cert(algorithm_identifier: bytes, tbs: bytes | None = None) -> bytes:
    """A structurally valid Certificate with the given AlgorithmIdentifier (unsigned)."""
    tbs = tbs if tbs is not None else _der(0x30, _der(0x02, b"\x01") + b"\x05\x00" * 40)
    return _der(0x30, tbs + algorithm_identifier + _der(0x03, b"\x00" + b"\xaa" * 64))


def _alg(oid: str, params: bytes = b"") -> bytes:
    return _der(0x30, _oid(oid) + params)


SHA1_OID = "1.3.14.3.2.26"
SHA384_OID = "2.16.840.1.101.3.4.2.2"
RSASSA_PSS_OID = "1.2.840.113549.1.1.10"


def _hmac256(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


class ScramServerModel:
    """The server side of SCRAM-SHA-256 written from RFC 5802, to check client messages."""

    def __init__(
        self,
        password: bytes,
        *,
        salt: bytes = b"pgjet-salt-16byt",
        iterations: int = 4096,
        server_nonce: str = "SERVERnonce+/xyz",
        cbind_data: bytes = b"",
    ) -> None:
        salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
        self.stored_key = hashlib.sha256(_hmac256(salted, b"Client Key")).digest()
        self.server_key = _hmac256(salted, b"Server Key")
        self.salt = salt
        self.iterations = iterations
        self.server_nonce = server_nonce
        self.cbind_data = cbind_data
        self.gs2_header = b""
        self.client_first_bare = b""
        self.server_first = b""

    def first(self, client_first: bytes) -> bytes:
        flag, authzid, bare = client_first.split(b",", 2)
        self.gs2_header = flag + b"," + authzid + b","
        self.client_first_bare = bare
        client_nonce = bare.split(b",r=", 1)[1]
        self.server_first = b"r=%s%s,s=%s,i=%d" % (
            client_nonce,
            self.server_nonce.encode(),
            base64.b64encode(self.salt),
            self.iterations,
        )
        return self.server_first

    def final(self, client_final: bytes) -> bytes:
        without_proof, proof_b64 = client_final.rsplit(b",p=", 1)
        binding = without_proof.split(b",", 1)[0]
        assert binding == b"c=" + base64.b64encode(self.gs2_header + self.cbind_data)
        auth_message = b",".join((self.client_first_bare, self.server_first, without_proof))
        signature = _hmac256(self.stored_key, auth_message)
        client_key = bytes(
            a ^ b for a, b in zip(base64.b64decode(proof_b64), signature, strict=True)
        )
        assert hashlib.sha256(client_key).digest() == self.stored_key, "wrong client proof"
        return b"v=" + base64.b64encode(_hmac256(self.server_key, auth_message))


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    auth.clear_salted_password_cache()
    size = auth._SALTED_PASSWORD_CACHE.max_size
    yield
    auth.set_salted_password_cache_size(size)
    auth.clear_salted_password_cache()


# ----------------------------------------------------------------------------------------
# RFC 7677 test vector
# ----------------------------------------------------------------------------------------

RFC_CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
RFC_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def _rfc_client(**kwargs: Any) -> ScramClient:
    options: dict[str, Any] = {"user": "user", "nonce": RFC_CLIENT_NONCE}
    options.update(kwargs)
    return ScramClient([PLAIN], "pencil", **options)


@pytest.mark.parametrize("use_cache", [True, False])
def test_rfc7677_vector(use_cache: bool) -> None:
    for _ in range(2):  # the second round is served from the cache when it is on
        client = _rfc_client(use_cache=use_cache)
        assert client.mechanism == PLAIN
        assert client.client_first() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
        assert client.client_final(RFC_SERVER_FIRST) == RFC_CLIENT_FINAL
        assert not client.finished
        client.verify_server_final(RFC_SERVER_FINAL)
        assert client.finished
        client.check_complete()
    assert len(auth._SALTED_PASSWORD_CACHE) == (1 if use_cache else 0)


def test_rfc7677_vector_rejects_altered_server_signature() -> None:
    client = _rfc_client()
    client.client_first()
    client.client_final(RFC_SERVER_FIRST)
    signature = bytearray(base64.b64decode(RFC_SERVER_FINAL[2:]))
    signature[-1] ^= 1
    with pytest.raises(ProtocolError, match="signature is wrong"):
        client.verify_server_final(b"v=" + base64.b64encode(bytes(signature)))
    with pytest.raises(ProtocolError, match="without completing"):
        client.check_complete()


def test_default_user_is_empty_and_nonce_random() -> None:
    first_a = ScramClient([PLAIN], "pw").client_first()
    first_b = ScramClient([PLAIN], "pw").client_first()
    assert first_a.startswith(b"n,,n=,r=")
    nonce = first_a[len(b"n,,n=,r=") :]
    assert len(nonce) == 24
    assert base64.b64decode(nonce, validate=True)
    assert first_a != first_b


def test_user_name_is_escaped() -> None:
    client = ScramClient([PLAIN], "pw", user="a=b,c", nonce="abc")
    assert client.client_first() == b"n,,n=a=3Db=2Cc,r=abc"


@pytest.mark.parametrize("nonce", ["", "has,comma", "has space", "caf\u00e9", "tab\t"])
def test_invalid_injected_nonce(nonce: str) -> None:
    with pytest.raises(ValueError, match="nonce"):
        ScramClient([PLAIN], "pw", nonce=nonce)


@pytest.mark.parametrize(
    "password", ["pencil", "p\u00e4ssw\u00f6rd", "I\u00adX", "\u2168", "a\ue000b", "\x07bell"]
)
def test_full_exchange_against_server_model(password: str) -> None:
    server = ScramServerModel(scram_password(password))
    client = ScramClient([PLAIN], password, nonce="clientNONCE")
    server_first = server.first(client.client_first())
    client.verify_server_final(server.final(client.client_final(server_first)))
    client.check_complete()


# ----------------------------------------------------------------------------------------
# Cleartext and md5
# ----------------------------------------------------------------------------------------


def test_md5_password_matches_definition() -> None:
    salt = b"\x01\x02\xfe\xff"
    inner = hashlib.md5(b"secret" + b"alice").hexdigest().encode()
    expected = b"md5" + hashlib.md5(inner + salt).hexdigest().encode() + b"\x00"
    assert md5_password("secret", "alice", salt) == expected
    assert len(expected) == 3 + 32 + 1


def test_md5_password_encodes_utf8() -> None:
    salt = b"abcd"
    inner = hashlib.md5("m\u00f6t\u00f6rhead".encode() + "\u00e9mile".encode()).hexdigest()
    expected = b"md5" + hashlib.md5(inner.encode() + salt).hexdigest().encode() + b"\x00"
    assert md5_password("m\u00f6t\u00f6rhead", "\u00e9mile", salt) == expected


@pytest.mark.parametrize("salt", [b"", b"abc", b"abcde"])
def test_md5_password_rejects_bad_salt(salt: bytes) -> None:
    with pytest.raises(ProtocolError, match="4 bytes"):
        md5_password("secret", "alice", salt)


def test_cleartext_password() -> None:
    assert cleartext_password("s\u00e9cret") == "s\u00e9cret".encode() + b"\x00"


@pytest.mark.parametrize(
    "call",
    [
        lambda: cleartext_password("top\x00secret"),
        lambda: md5_password("top\x00secret", "alice", b"abcd"),
        lambda: ScramClient([PLAIN], "top\x00secret"),
    ],
)
def test_nul_in_password_is_rejected_without_showing_it(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="NUL") as info:
        call()
    assert "secret" not in str(info.value)


# ----------------------------------------------------------------------------------------
# SASLprep
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "prepared"),
    [
        ("I\u00adX", "IX"),  # RFC 4013 examples: soft hyphen mapped to nothing
        ("user", "user"),
        ("USER", "USER"),
        ("\u00aa", "a"),  # NFKC
        ("\u2168", "IX"),  # NFKC
        ("a\u00a0b", "a b"),  # non-ASCII spaces mapped to SPACE
        ("a\u2003b\u3000c", "a b c"),
        ("x\u200by\ufeffz", "xyz"),  # zero-width characters mapped to nothing
        ("\u0627\u0628", "\u0627\u0628"),  # all right-to-left is fine
        ("", ""),
    ],
)
def test_saslprep(raw: str, prepared: str) -> None:
    assert saslprep(raw) == prepared


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("\u0007", "U\\+0007"),  # RFC 4013 example: ASCII control
        ("a\ue000", "U\\+E000"),  # private use
        ("a\u0221", "U\\+0221"),  # unassigned in Unicode 3.2
        # Unassigned in Unicode 3.2, so NFKC (of 3.2) must leave it and reject it, even
        # though today's Unicode decomposes it to "1/7".
        ("\u2150", "U\\+2150"),
        ("a\ufffe", "U\\+FFFE"),  # non-character
        ("\u0627\u0031", "right-to-left"),  # RFC 4013 example: bidi rule 3
        ("\u0627a\u0628", "mixes"),  # bidi rule 2
    ],
)
def test_saslprep_prohibited(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        saslprep(raw)


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("pencil", b"pencil"),
        ("I\u00adX", b"IX"),
        ("a\u00a0b", b"a b"),
        ("\x07bell", b"\x07bell"),  # ASCII is used as is, like PostgreSQL
        ("a\ue000", "a\ue000".encode()),  # prohibited: fall back to the raw password
        ("\u0627\u0031", "\u0627\u0031".encode()),
    ],
)
def test_scram_password_prep_and_fallback(password: str, expected: bytes) -> None:
    assert scram_password(password) == expected


def test_scram_uses_prepared_password() -> None:
    def final_for(password: str) -> bytes:
        client = ScramClient([PLAIN], password, nonce=RFC_CLIENT_NONCE, use_cache=False)
        client.client_first()
        return client.client_final(RFC_SERVER_FIRST)

    assert final_for("I\u00adX") == final_for("IX")
    assert final_for("a\u00a0b") == final_for("a b")
    assert final_for("a\u00a0b") != final_for("ab")


# ----------------------------------------------------------------------------------------
# Mechanism choice and channel binding flags
# ----------------------------------------------------------------------------------------

CB = ChannelBindingError
AM = AuthenticationMethodError

# (mode, tls, offered) -> (mechanism, gs2 header) or the exception raised.
NEGOTIATION_TABLE: dict[tuple[str, bool, tuple[str, ...]], tuple[str, bytes] | type[Exception]] = {
    ("disable", False, (PLAIN,)): (PLAIN, b"n,,"),
    ("disable", True, (PLAIN,)): (PLAIN, b"n,,"),
    ("disable", False, (PLUS, PLAIN)): (PLAIN, b"n,,"),
    ("disable", True, (PLUS, PLAIN)): (PLAIN, b"n,,"),
    ("disable", False, (PLUS,)): AM,
    ("disable", True, (PLUS,)): AM,
    ("prefer", False, (PLAIN,)): (PLAIN, b"n,,"),
    ("prefer", True, (PLAIN,)): (PLAIN, b"y,,"),
    ("prefer", False, (PLUS, PLAIN)): (PLAIN, b"n,,"),
    ("prefer", True, (PLUS, PLAIN)): (PLUS, b"p=tls-server-end-point,,"),
    ("prefer", False, (PLUS,)): AM,
    ("prefer", True, (PLUS,)): (PLUS, b"p=tls-server-end-point,,"),
    ("require", False, (PLAIN,)): CB,
    ("require", True, (PLAIN,)): CB,
    ("require", False, (PLUS, PLAIN)): CB,
    ("require", True, (PLUS, PLAIN)): (PLUS, b"p=tls-server-end-point,,"),
    ("require", False, (PLUS,)): CB,
    ("require", True, (PLUS,)): (PLUS, b"p=tls-server-end-point,,"),
}


@pytest.fixture(scope="module")
def rsa_cert(rsa_key: rsa.RSAPrivateKey) -> bytes:
    return _make_cert(rsa_key, hashes.SHA384())


@pytest.mark.parametrize(("mode", "tls", "offered"), list(NEGOTIATION_TABLE))
def test_negotiation(rsa_cert: bytes, mode: Any, tls: bool, offered: tuple[str, ...]) -> None:
    expected = NEGOTIATION_TABLE[(mode, tls, offered)]
    cert = rsa_cert if tls else None
    if isinstance(expected, type):
        with pytest.raises(expected):
            ScramClient(list(offered), "pw", channel_binding=mode, tls_server_cert_der=cert)
        return
    mechanism, header = expected
    client = ScramClient(
        list(offered), "pencil", channel_binding=mode, tls_server_cert_der=cert, nonce="cn"
    )
    assert client.mechanism == mechanism
    assert client.channel_binding_used == (mechanism == PLUS)
    assert client.client_first() == header + b"n=,r=cn"
    # The binding sent in the client-final-message: header, plus the certificate hash
    # (SHA-384 here, the certificate's own signature hash) for PLUS.
    cbind = hashlib.sha384(rsa_cert).digest() if mechanism == PLUS else b""
    server = ScramServerModel(b"pencil", cbind_data=cbind)
    server.first(client.client_first())
    final = client.client_final(server.server_first)
    assert final.startswith(b"c=" + base64.b64encode(header + cbind) + b",")
    client.verify_server_final(server.final(final))


def test_negotiation_table_is_complete() -> None:
    combos = {
        (mode, tls, offered)
        for mode in ("disable", "prefer", "require")
        for tls in (False, True)
        for offered in ((PLAIN,), (PLUS, PLAIN), (PLUS,))
    }
    assert combos == set(NEGOTIATION_TABLE)


@pytest.mark.parametrize("mode", ["disable", "prefer", "require"])
@pytest.mark.parametrize("tls", [False, True])
def test_unknown_mechanisms_only(rsa_cert: bytes, mode: Any, tls: bool) -> None:
    with pytest.raises(AuthenticationMethodError, match="OAUTHBEARER") as info:
        ScramClient(
            ["OAUTHBEARER", "SCRAM-SHA-1"],
            "pw",
            channel_binding=mode,
            tls_server_cert_der=rsa_cert if tls else None,
        )
    assert "SCRAM-SHA-1" in str(info.value)


def test_unknown_mechanisms_are_ignored_next_to_scram() -> None:
    assert ScramClient(["OAUTHBEARER", PLAIN], "pw").mechanism == PLAIN


def test_invalid_channel_binding_mode() -> None:
    with pytest.raises(ValueError, match="channel_binding"):
        ScramClient([PLAIN], "pw", channel_binding="always")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ed25519_cert() -> bytes:
    return _make_cert(ed25519.Ed25519PrivateKey.generate(), None)


@pytest.mark.parametrize(
    ("offered", "expected"),
    [((PLUS, PLAIN), (PLAIN, b"n,,")), ((PLAIN,), (PLAIN, b"n,,")), ((PLUS,), AM)],
)
def test_prefer_with_unbindable_certificate(
    ed25519_cert: bytes, offered: tuple[str, ...], expected: Any
) -> None:
    if isinstance(expected, type):
        with pytest.raises(expected):
            ScramClient(list(offered), "pw", tls_server_cert_der=ed25519_cert)
        return
    client = ScramClient(list(offered), "pw", tls_server_cert_der=ed25519_cert)
    assert (client.mechanism, client.gs2_header) == expected


@pytest.mark.parametrize("cert", [b"\x30\x03\x02\x01", b"garbage"])
def test_require_with_unbindable_certificate(ed25519_cert: bytes, cert: bytes) -> None:
    for der in (ed25519_cert, cert):
        with pytest.raises(ChannelBindingError, match="channel_binding=require"):
            ScramClient([PLUS, PLAIN], "pw", channel_binding="require", tls_server_cert_der=der)


# ----------------------------------------------------------------------------------------
# tls-server-end-point
# ----------------------------------------------------------------------------------------


def _hashlib_name(algorithm: hashes.HashAlgorithm) -> str:
    return algorithm.name.replace("-", "_")


def _check_against_cryptography(der: bytes) -> str:
    cert = x509.load_der_x509_certificate(der)
    algorithm = cert.signature_hash_algorithm
    assert algorithm is not None
    expected = _hashlib_name(algorithm)
    assert certificate_signature_hash(der) == expected
    upgraded = "sha256" if expected in ("md5", "sha1") else expected
    assert tls_server_end_point(der) == hashlib.new(upgraded, der).digest()
    return expected


SIGNATURE_HASHES = [hashes.SHA224(), hashes.SHA256(), hashes.SHA384(), hashes.SHA512()]


@pytest.mark.parametrize("algorithm", SIGNATURE_HASHES, ids=lambda a: a.name)
def test_end_point_rsa(rsa_key: rsa.RSAPrivateKey, algorithm: hashes.HashAlgorithm) -> None:
    assert _check_against_cryptography(_make_cert(rsa_key, algorithm)) == algorithm.name


@pytest.mark.parametrize("algorithm", SIGNATURE_HASHES, ids=lambda a: a.name)
@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()], ids=lambda c: c.name)
def test_end_point_ecdsa(curve: ec.EllipticCurve, algorithm: hashes.HashAlgorithm) -> None:
    key = ec.generate_private_key(curve)
    assert _check_against_cryptography(_make_cert(key, algorithm)) == algorithm.name


@pytest.mark.parametrize("algorithm", SIGNATURE_HASHES, ids=lambda a: a.name)
def test_end_point_rsa_pss(rsa_key: rsa.RSAPrivateKey, algorithm: hashes.HashAlgorithm) -> None:
    pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)
    der = _make_cert(rsa_key, algorithm, rsa_padding=pss)
    assert x509.load_der_x509_certificate(der).signature_algorithm_oid.dotted_string == (
        RSASSA_PSS_OID
    )
    assert _check_against_cryptography(der) == algorithm.name


@pytest.mark.parametrize("algorithm", [hashes.SHA3_256(), hashes.SHA3_512()], ids=lambda a: a.name)
def test_end_point_other_hashes(
    rsa_key: rsa.RSAPrivateKey, algorithm: hashes.HashAlgorithm
) -> None:
    try:
        der = _make_cert(rsa_key, algorithm)
    except Exception as exc:  # the local OpenSSL may refuse to sign with them
        pytest.skip(f"cannot sign a certificate with {algorithm.name}: {exc}")
    _check_against_cryptography(der)


def test_end_point_sha1_upgraded_to_sha256() -> None:
    der = _synthetic_cert(_alg("1.2.840.113549.1.1.5", b"\x05\x00"))
    assert certificate_signature_hash(der) == "sha1"
    assert tls_server_end_point(der) == hashlib.sha256(der).digest()


def test_end_point_md5_upgraded_to_sha256() -> None:
    der = _synthetic_cert(_alg("1.2.840.113549.1.1.4", b"\x05\x00"))
    assert certificate_signature_hash(der) == "md5"
    assert tls_server_end_point(der) == hashlib.sha256(der).digest()


def test_end_point_md5_patched_real_certificate(rsa_key: rsa.RSAPrivateKey) -> None:
    # sha256WithRSAEncryption (...1.1.11) -> md5WithRSAEncryption (...1.1.4): same length.
    der = _make_cert(rsa_key, hashes.SHA256())
    sha256_oid = _oid("1.2.840.113549.1.1.11")
    position = der.rindex(sha256_oid)  # the outer signatureAlgorithm comes last
    patched = der[:position] + _oid("1.2.840.113549.1.1.4") + der[position + len(sha256_oid) :]
    assert x509.load_der_x509_certificate(patched).signature_hash_algorithm.name == "md5"
    assert _check_against_cryptography(patched) == "md5"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (_der(0x30, b""), "sha1"),  # every field defaulted: SHA-1
        (_der(0x30, _der(0xA0, _alg(SHA1_OID, b"\x05\x00"))), "sha1"),
        (_der(0x30, _der(0xA0, _alg(SHA384_OID))), "sha384"),
        # maskGen and saltLength before nothing else; hash absent -> default
        (_der(0x30, _der(0xA2, _der(0x02, b"\x14"))), "sha1"),
    ],
)
def test_end_point_pss_parameters(params: bytes, expected: str) -> None:
    der = _synthetic_cert(_alg(RSASSA_PSS_OID, params))
    assert certificate_signature_hash(der) == expected
    upgraded = "sha256" if expected == "sha1" else expected
    assert tls_server_end_point(der) == hashlib.new(upgraded, der).digest()


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        (b"", ValueError, "without parameters"),
        (b"\x05\x00", ValueError, "RSASSA-PSS parameters"),
        (_der(0x30, _der(0xA0, _alg("1.2.3.4"))), ChannelBindingError, "1.2.3.4"),
        (_der(0x30, _der(0xA0, _der(0x02, b"\x01"))), ValueError, "hashAlgorithm"),
        (_der(0x30, b"") + b"\x05\x00", ValueError, "trailing"),
    ],
)
def test_end_point_bad_pss_parameters(params: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        tls_server_end_point(_synthetic_cert(_alg(RSASSA_PSS_OID, params)))


def test_end_point_ed25519(ed25519_cert: bytes) -> None:
    with pytest.raises(ChannelBindingError, match="Ed25519"):
        tls_server_end_point(ed25519_cert)


def test_end_point_ed448() -> None:
    with pytest.raises(ChannelBindingError, match="Ed448"):
        tls_server_end_point(_make_cert(ed448.Ed448PrivateKey.generate(), None))


def test_end_point_unknown_algorithm() -> None:
    with pytest.raises(ChannelBindingError, match=r"1\.2\.643\.7\.1\.1\.3\.2"):
        tls_server_end_point(_synthetic_cert(_alg("1.2.643.7.1.1.3.2")))


def test_oid_table_agrees_with_cryptography() -> None:
    oid_module = pytest.importorskip("cryptography.hazmat._oid")
    table = getattr(oid_module, "_SIG_OIDS_TO_HASH", None)
    if table is None:
        pytest.skip("cryptography no longer exposes _SIG_OIDS_TO_HASH")
    checked = 0
    for oid, algorithm in table.items():
        der = _synthetic_cert(_alg(oid.dotted_string))
        if algorithm is None:
            with pytest.raises(ChannelBindingError):
                certificate_signature_hash(der)
        else:
            assert certificate_signature_hash(der) == _hashlib_name(algorithm), oid
            checked += 1
    assert checked >= 20


def test_high_tag_and_long_form_lengths_are_read() -> None:
    # tbsCertificate with a high-tag-number field inside and a 2-byte length.
    tbs = _der(0x30, b"\x9f\x81\x00\x01\x00" + _der(0x04, b"z" * 300))
    der = _synthetic_cert(_alg("1.2.840.10045.4.3.3"), tbs=tbs)
    assert certificate_signature_hash(der) == "sha384"


MALFORMED = [
    (b"", "Certificate is missing"),
    (b"\x31\x00", "tag 0x31"),
    (b"\x30", "no length"),
    (b"\x30\x80\x00\x00", "indefinite"),
    (b"\x30\x85\x01\x00\x00\x00\x00", "too large"),
    (b"\x30\x82\x01", "truncated length"),
    (b"\x30\x05\x30\x00", "declares 5 bytes"),
    (b"\x30\x00", "tbsCertificate is missing"),
    (_der(0x30, _der(0x30, b"")), "signatureAlgorithm is missing"),
    (_der(0x30, _der(0x30, b"") + _der(0x30, _oid("1.2.840.10045.4.3.2"))), "signatureValue"),
    (_synthetic_cert(_alg("1.2.840.10045.4.3.2")) + b"\x00", "trailing bytes"),
    (_synthetic_cert(_der(0x30, _der(0x06, b""))), "empty OBJECT IDENTIFIER"),
    (_synthetic_cert(_der(0x30, _der(0x06, b"\x2a\x86"))), "truncated OBJECT IDENTIFIER"),
    (_synthetic_cert(_der(0x30, _der(0x05, b""))), "tag 0x05"),
    (_der(0x30, _der(0x30, b"") + _alg("1.2.840.10045.4.3.2") + _der(0x03, b"")), "empty"),
    (
        _der(0x30, _der(0x30, b"") + _alg("1.2.840.10045.4.3.2") + _der(0x03, b"\0") + b"\5\0"),
        "trailing fields",
    ),
    (b"\x30\x02\x1f\x81", "truncated tag"),
]


@pytest.mark.parametrize(("der", "match"), MALFORMED)
def test_malformed_der(der: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tls_server_end_point(der)


def test_every_truncation_of_a_real_certificate_is_a_clear_error(rsa_cert: bytes) -> None:
    for length in range(len(rsa_cert)):
        with pytest.raises(ValueError, match="malformed certificate"):
            certificate_signature_hash(rsa_cert[:length])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_der_reader(data: bytes) -> None:
    with contextlib.suppress(ValueError, ChannelBindingError):
        certificate_signature_hash(data)


_FUZZ_CERT = _synthetic_cert(
    _alg(RSASSA_PSS_OID, _der(0x30, _der(0xA0, _alg(SHA384_OID)) + _der(0xA2, b"\x02\x01\x30")))
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_FUZZ_CERT) - 1), st.integers(0, 255)), max_size=4))
def test_mutated_certificates_never_crash_the_der_reader(edits: list[tuple[int, int]]) -> None:
    data = bytearray(_FUZZ_CERT)
    for position, value in edits:
        data[position] = value
    try:
        name = certificate_signature_hash(bytes(data))
    except (ValueError, ChannelBindingError):
        return
    assert name in hashlib.algorithms_available


# ----------------------------------------------------------------------------------------
# Hostile or broken servers
# ----------------------------------------------------------------------------------------

CLIENT_NONCE = "fyko+d2lbbFgONRv9qkxdawL"
GOOD_SALT = base64.b64encode(b"0123456789abcdef").decode()


def _started_client(**kwargs: Any) -> ScramClient:
    client = ScramClient([PLAIN], "hunter2-pass", nonce=CLIENT_NONCE, **kwargs)
    client.client_first()
    return client


@pytest.fixture
def no_pbkdf2(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fail the test if PBKDF2 runs; record the iteration counts it was asked for."""
    calls: list[int] = []

    def fake(password: bytes, salt: bytes, iterations: int) -> bytes:
        calls.append(iterations)
        raise AssertionError("PBKDF2 must not run for an invalid server-first-message")

    monkeypatch.setattr(auth, "_pbkdf2", fake)
    return calls


N = CLIENT_NONCE
HOSTILE_SERVER_FIRST = [
    (b"", "malformed attribute"),
    (f"s={GOOD_SALT},i=4096".encode(), "lacks attribute 'r'"),
    (f"r={N}srv,i=4096".encode(), "lacks attribute 's'"),
    (f"r={N}srv,s={GOOD_SALT}".encode(), "lacks attribute 'i'"),
    (f"r={N}srv,i=4096,s={GOOD_SALT}".encode(), "lacks attribute 's'"),
    (f"r={N}srv,s={GOOD_SALT},i=4096,".encode(), "malformed attribute"),
    (f"r={N}srv,s={GOOD_SALT},i".encode(), "malformed attribute"),
    (f"r=other{N},s={GOOD_SALT},i=4096".encode(), "does not extend the client nonce"),
    (f"r={N[:-1]},s={GOOD_SALT},i=4096".encode(), "does not extend the client nonce"),
    (f"r={N},s={GOOD_SALT},i=4096".encode(), "does not extend the client nonce"),
    (f"r={N}s\x7frv,s={GOOD_SALT},i=4096".encode(), "not printable"),
    (f"r={N}srv,s=,i=4096".encode(), "empty salt"),
    (f"r={N}srv,s=not*base64,i=4096".encode(), "not valid base64"),
    (f"r={N}srv,s=QUJD,i=4096".encode()[:-8] + b"QUJ,i=4096", "not valid base64"),
    (f"r={N}srv,s=\u00e9\u00e9\u00e9\u00e9,i=4096".encode(), "not valid base64"),
    (f"r={N}srv,s={GOOD_SALT},i=0".encode(), "between 1 and"),
    (f"r={N}srv,s={GOOD_SALT},i=-1".encode(), "between 1 and"),
    (f"r={N}srv,s={GOOD_SALT},i=+5".encode(), "between 1 and"),
    (f"r={N}srv,s={GOOD_SALT},i=4k".encode(), "between 1 and"),
    (f"r={N}srv,s={GOOD_SALT},i=".encode(), "between 1 and"),
    (f"r={N}srv,s={GOOD_SALT},i=10000001".encode(), "between 1 and 10000000"),
    (f"r={N}srv,s={GOOD_SALT},i=99999999999999999999".encode(), "between 1 and"),
    (f"r={N}srv,s={GOOD_SALT},i={'9' * 5000}".encode(), "between 1 and"),
    (f"r={N}srv,s={GOOD_SALT},i=\u0664\u0660\u0669\u0666".encode(), "between 1 and"),
    (f"m=ext,r={N}srv,s={GOOD_SALT},i=4096".encode(), "mandatory extension"),
    (b"\xff\xfe", "not valid UTF-8"),
]


@pytest.mark.parametrize(("message", "match"), HOSTILE_SERVER_FIRST)
def test_hostile_server_first(message: bytes, match: str, no_pbkdf2: list[int]) -> None:
    client = _started_client()
    with pytest.raises(ProtocolError, match=match):
        client.client_final(message)
    assert no_pbkdf2 == []
    # The exchange cannot be continued after a bad message.
    with pytest.raises(ProtocolError, match="unexpected"):
        client.client_final(f"r={N}srv,s={GOOD_SALT},i=4096".encode())


def test_iteration_cap_is_inclusive_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake(password: bytes, salt: bytes, iterations: int) -> bytes:
        calls.append(iterations)
        return b"\x00" * 32

    monkeypatch.setattr(auth, "_pbkdf2", fake)
    _started_client().client_final(f"r={N}srv,s={GOOD_SALT},i=10000000".encode())
    _started_client(max_iterations=50).client_final(f"r={N}srv,s={GOOD_SALT},i=50".encode())
    with pytest.raises(ProtocolError, match="between 1 and 50"):
        _started_client(max_iterations=50).client_final(f"r={N}srv,s={GOOD_SALT},i=51".encode())
    assert calls == [10_000_000, 50]


def test_server_first_extensions_are_ignored() -> None:
    server = ScramServerModel(b"hunter2-pass")
    client = _started_client()
    server.first(b"n,,n=,r=" + CLIENT_NONCE.encode())
    server.server_first += b",x=some-extension"
    final = client.client_final(server.server_first)
    client.verify_server_final(server.final(final) + b",z=ext")
    client.check_complete()


def _client_after_final() -> tuple[ScramClient, ScramServerModel, bytes]:
    server = ScramServerModel(b"hunter2-pass")
    client = _started_client()
    server.first(b"n,,n=,r=" + CLIENT_NONCE.encode())
    final = client.client_final(server.server_first)
    return client, server, server.final(final)


HOSTILE_SERVER_FINAL = [
    (b"e=invalid-proof", "server says: 'invalid-proof'"),
    (b"e=channel-bindings-dont-match,x=1", "channel-bindings-dont-match"),
    (b"v=" + base64.b64encode(b"\x00" * 32), "signature is wrong"),
    (b"v=" + base64.b64encode(b"short"), "signature is wrong"),
    (b"v=", "signature is wrong"),
    (b"v=%%%%", "not valid base64"),
    (b"r=abc", "lacks attribute 'v'"),
    (b"", "malformed attribute"),
    (b"garbage", "malformed attribute"),
    (b"\x80", "not valid UTF-8"),
]


@pytest.mark.parametrize(("message", "match"), HOSTILE_SERVER_FINAL)
def test_hostile_server_final(message: bytes, match: str) -> None:
    client, _, good_final = _client_after_final()
    with pytest.raises(ProtocolError, match=match):
        client.verify_server_final(message)
    assert not client.finished
    # A failed verification cannot be rescued by a second, correct message.
    with pytest.raises(ProtocolError, match="unexpected"):
        client.verify_server_final(good_final)
    with pytest.raises(ProtocolError, match="without completing"):
        client.check_complete()


def test_out_of_order_messages() -> None:
    client = ScramClient([PLAIN], "pw", nonce=CLIENT_NONCE)
    with pytest.raises(ProtocolError, match="unexpected AuthenticationSASLContinue"):
        client.client_final(f"r={N}srv,s={GOOD_SALT},i=4096".encode())
    with pytest.raises(ProtocolError, match="unexpected AuthenticationSASLFinal"):
        client.verify_server_final(b"v=abcd")
    with pytest.raises(ProtocolError, match="without completing"):
        client.check_complete()

    client, _, _ = _client_after_final()
    with pytest.raises(ProtocolError, match="without completing"):
        client.check_complete()  # AuthenticationOk straight after SASLContinue
    with pytest.raises(ProtocolError, match="unexpected AuthenticationSASLContinue"):
        client.client_final(f"r={N}srv,s={GOOD_SALT},i=4096".encode())
    with pytest.raises(ProtocolError, match="after the exchange began"):
        client.client_first()


# ----------------------------------------------------------------------------------------
# Secrets stay secret; the cache stays bounded
# ----------------------------------------------------------------------------------------

SECRET = "Sup3r-Secret-\u00e9-Passw0rd"


def test_password_not_in_repr_or_errors(no_pbkdf2: list[int]) -> None:
    client = ScramClient([PLAIN], SECRET, nonce=CLIENT_NONCE)
    texts = [repr(client), str(client)]
    client.client_first()
    texts += [repr(client), repr(auth._SALTED_PASSWORD_CACHE)]
    for message, _ in HOSTILE_SERVER_FIRST:
        fresh = _started_client()
        with pytest.raises(ProtocolError) as info:
            fresh.client_final(message)
        texts.append(str(info.value))
    with pytest.raises(AuthenticationMethodError) as method_error:
        ScramClient(["OTHER"], SECRET)
    texts.append(str(method_error.value))
    for text in texts:
        assert "Secret" not in text
        assert "hunter2" not in text


def test_password_dropped_after_use_and_cache_has_no_plaintext() -> None:
    client, _, good_final = _client_after_final()
    client.verify_server_final(good_final)
    assert all(b"hunter2" not in value for value in _attribute_bytes(client))
    cache = auth._SALTED_PASSWORD_CACHE
    assert len(cache) == 1
    for key, value in cache._entries.items():
        assert b"hunter2" not in key and b"hunter2" not in value
    assert "hunter2" not in repr(cache)
    assert repr(cache) == "<SaltedPasswordCache 1/16 entries>"


def _attribute_bytes(obj: object) -> list[bytes]:
    values = []
    for value in vars(obj).values():
        if isinstance(value, bytes):
            values.append(value)
        elif isinstance(value, str):
            values.append(value.encode())
    return values


def test_cache_avoids_repeated_pbkdf2(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, int]] = []
    real = auth._pbkdf2

    def counting(password: bytes, salt: bytes, iterations: int) -> bytes:
        calls.append((salt, iterations))
        return real(password, salt, iterations)

    monkeypatch.setattr(auth, "_pbkdf2", counting)

    def connect(password: str, salt: bytes, iterations: int = 4096) -> None:
        server = ScramServerModel(scram_password(password), salt=salt, iterations=iterations)
        client = ScramClient([PLAIN], password, nonce="cn")
        server.first(client.client_first())
        client.verify_server_final(server.final(client.client_final(server.server_first)))

    connect("pw", b"salt-1")
    connect("pw", b"salt-1")
    assert len(calls) == 1
    connect("pw", b"salt-1", iterations=4097)  # any differing input is a new entry
    connect("other", b"salt-1")
    connect("pw", b"salt-2")
    assert len(calls) == 4

    auth.set_salted_password_cache_size(2)
    assert len(auth._SALTED_PASSWORD_CACHE) == 2
    connect("pw", b"salt-2")  # most recently used: still cached
    assert len(calls) == 4
    connect("pw", b"salt-1")  # evicted by the resize
    assert len(calls) == 5
    for salt in (b"a", b"b", b"c"):
        connect("pw", salt)
    assert len(auth._SALTED_PASSWORD_CACHE) == 2

    auth.set_salted_password_cache_size(0)
    before = len(calls)
    connect("pw", b"c")
    connect("pw", b"c")
    assert len(calls) == before + 2
    assert len(auth._SALTED_PASSWORD_CACHE) == 0
    with pytest.raises(ValueError, match=">= 0"):
        auth.set_salted_password_cache_size(-1)

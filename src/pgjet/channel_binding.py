"""tls-server-end-point channel binding data (RFC 5929, section 4.1).

SCRAM-SHA-256-PLUS binds the authentication to the TLS connection with a hash
of the server's certificate, made with the hash algorithm of the certificate's
own signature. Finding that algorithm needs a few DER reads; the runtime has
no dependencies, so this module walks the certificate itself, carefully: a
malformed certificate raises a clear error, never an IndexError.
"""

from __future__ import annotations

import hashlib

from pgjet.errors import ChannelBindingError

__all__ = ["certificate_signature_hash", "tls_server_end_point"]

_HASH_OIDS = {
    "1.2.840.113549.2.5": "md5",
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    "2.16.840.1.101.3.4.2.7": "sha3_224",
    "2.16.840.1.101.3.4.2.8": "sha3_256",
    "2.16.840.1.101.3.4.2.9": "sha3_384",
    "2.16.840.1.101.3.4.2.10": "sha3_512",
}

_SIGNATURE_OIDS = {
    # PKCS #1 v1.5 RSA
    "1.2.840.113549.1.1.4": "md5",
    "1.2.840.113549.1.1.5": "sha1",
    "1.3.14.3.2.29": "sha1",  # OIW sha1WithRSASignature, still seen in old certificates
    "1.2.840.113549.1.1.14": "sha224",
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
    "2.16.840.1.101.3.4.3.13": "sha3_224",
    "2.16.840.1.101.3.4.3.14": "sha3_256",
    "2.16.840.1.101.3.4.3.15": "sha3_384",
    "2.16.840.1.101.3.4.3.16": "sha3_512",
    # ECDSA
    "1.2.840.10045.4.1": "sha1",
    "1.2.840.10045.4.3.1": "sha224",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
    "2.16.840.1.101.3.4.3.9": "sha3_224",
    "2.16.840.1.101.3.4.3.10": "sha3_256",
    "2.16.840.1.101.3.4.3.11": "sha3_384",
    "2.16.840.1.101.3.4.3.12": "sha3_512",
    # DSA
    "1.2.840.10040.4.3": "sha1",
    "2.16.840.1.101.3.4.3.1": "sha224",
    "2.16.840.1.101.3.4.3.2": "sha256",
}

_RSASSA_PSS_OID = "1.2.840.113549.1.1.10"

# Signature algorithms that hash nothing separately: RFC 5929 defines no binding for them.
_NO_HASH_SIGNATURES = {
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
}

_TAG_BIT_STRING = 0x03
_TAG_OID = 0x06
_TAG_SEQUENCE = 0x30
_TAG_PSS_HASH = 0xA0  # [0] EXPLICIT HashAlgorithm inside RSASSA-PSS-params


class _Der:
    """A bounds-checked reader of DER type-length-value triples over one buffer."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, pos: int, end: int, what: str) -> tuple[int, int, int]:
        """Read the TLV at ``pos`` (which must end by ``end``).

        Return (first tag byte, content start, content end).
        """
        data = self._data
        if pos >= end:
            raise ValueError(f"malformed certificate: {what} is missing (data ends early)")
        tag = data[pos]
        pos += 1
        if tag & 0x1F == 0x1F:  # high tag number form: base-128 continuation bytes
            while True:
                if pos >= end:
                    raise ValueError(f"malformed certificate: truncated tag of {what}")
                more = data[pos] & 0x80
                pos += 1
                if not more:
                    break
        if pos >= end:
            raise ValueError(f"malformed certificate: {what} has no length")
        first = data[pos]
        pos += 1
        if first < 0x80:
            length = first
        elif first == 0x80:
            raise ValueError(f"malformed certificate: {what} uses an indefinite length (not DER)")
        else:
            count = first & 0x7F
            if count > 4:
                raise ValueError(f"malformed certificate: length of {what} is too large")
            if pos + count > end:
                raise ValueError(f"malformed certificate: truncated length of {what}")
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        if pos + length > end:
            raise ValueError(
                f"malformed certificate: {what} declares {length} bytes but only {end - pos} remain"
            )
        return tag, pos, pos + length

    def expect(self, tag: int, pos: int, end: int, what: str) -> tuple[int, int]:
        found, start, stop = self.read(pos, end, what)
        if found != tag:
            raise ValueError(
                f"malformed certificate: {what} has tag 0x{found:02x}, expected 0x{tag:02x}"
            )
        return start, stop

    def oid(self, start: int, stop: int, what: str) -> str:
        body = self._data[start:stop]
        if not body:
            raise ValueError(f"malformed certificate: {what} is an empty OBJECT IDENTIFIER")
        if body[-1] & 0x80:
            raise ValueError(f"malformed certificate: {what} is a truncated OBJECT IDENTIFIER")
        arcs: list[int] = []
        value = 0
        for byte in body:
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                arcs.append(value)
                value = 0
        first = arcs[0]
        head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
        return ".".join(str(arc) for arc in head + arcs[1:])


def _pss_hash_oid(der: _Der, start: int, stop: int) -> str | None:
    """The hashAlgorithm OID inside RSASSA-PSS-params, or None when it is the default."""
    params_start, params_stop = der.expect(_TAG_SEQUENCE, start, stop, "RSASSA-PSS parameters")
    if params_stop != stop:
        raise ValueError("malformed certificate: trailing bytes after RSASSA-PSS parameters")
    pos = params_start
    while pos < params_stop:
        tag, field_start, field_stop = der.read(pos, params_stop, "RSASSA-PSS parameter")
        if tag == _TAG_PSS_HASH:
            alg_start, alg_stop = der.expect(
                _TAG_SEQUENCE, field_start, field_stop, "PSS hashAlgorithm"
            )
            oid_start, oid_stop = der.expect(_TAG_OID, alg_start, alg_stop, "PSS hash OID")
            return der.oid(oid_start, oid_stop, "PSS hash OID")
        pos = field_stop
    return None  # RFC 4055: hashAlgorithm DEFAULT sha1


def certificate_signature_hash(cert_der: bytes) -> str:
    """The hashlib name of the hash in the certificate's signature algorithm.

    Raise ValueError for malformed DER and ChannelBindingError for signature algorithms
    without a usable hash (Ed25519, Ed448, unknown OIDs).
    """
    der = _Der(bytes(cert_der))
    total = len(cert_der)
    # Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    cert_start, cert_stop = der.expect(_TAG_SEQUENCE, 0, total, "Certificate")
    if cert_stop != total:
        raise ValueError(
            f"malformed certificate: {total - cert_stop} trailing bytes after the Certificate"
        )
    _, tbs_stop = der.expect(_TAG_SEQUENCE, cert_start, cert_stop, "tbsCertificate")
    alg_start, alg_stop = der.expect(_TAG_SEQUENCE, tbs_stop, cert_stop, "signatureAlgorithm")
    sig_start, sig_stop = der.expect(_TAG_BIT_STRING, alg_stop, cert_stop, "signatureValue")
    if sig_stop != cert_stop:
        raise ValueError("malformed certificate: trailing fields after signatureValue")
    if sig_start == sig_stop:
        raise ValueError("malformed certificate: empty signatureValue")
    oid_start, oid_stop = der.expect(_TAG_OID, alg_start, alg_stop, "signature algorithm OID")
    oid = der.oid(oid_start, oid_stop, "signature algorithm OID")

    if oid in _NO_HASH_SIGNATURES:
        raise ChannelBindingError(
            f"the server certificate is signed with {_NO_HASH_SIGNATURES[oid]}, for which "
            "tls-server-end-point defines no hash: channel binding is impossible"
        )
    if oid == _RSASSA_PSS_OID:
        if oid_stop == alg_stop:
            raise ValueError("malformed certificate: RSASSA-PSS signature without parameters")
        hash_oid = _pss_hash_oid(der, oid_stop, alg_stop)
        if hash_oid is None:
            return "sha1"
        name = _HASH_OIDS.get(hash_oid)
        if name is None:
            raise ChannelBindingError(
                f"the server certificate's RSASSA-PSS signature uses hash OID {hash_oid}, "
                "which pgjet does not know: channel binding is impossible"
            )
        return name
    name = _SIGNATURE_OIDS.get(oid)
    if name is None:
        raise ChannelBindingError(
            f"the server certificate's signature algorithm OID {oid} is not supported for "
            "tls-server-end-point channel binding"
        )
    return name


def tls_server_end_point(cert_der: bytes) -> bytes:
    """Channel binding data of type tls-server-end-point for a DER server certificate.

    The hash of the certificate's signature algorithm, MD5 and SHA-1 upgraded to SHA-256.
    """
    name = certificate_signature_hash(cert_der)
    if name in ("md5", "sha1"):
        name = "sha256"
    return hashlib.new(name, cert_der).digest()

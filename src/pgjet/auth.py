"""What to send for each PostgreSQL authentication request, computed without any I/O.

The connection layer reads an Authentication* message, calls into this module and
writes the returned bytes in the matching frontend message:

* AuthenticationCleartextPassword -> PasswordMessage body = ``cleartext_password(pw)``
* AuthenticationMD5Password(salt)  -> PasswordMessage body = ``md5_password(pw, user, salt)``
* AuthenticationSASL(mechanisms)   -> ``ScramClient(mechanisms, pw, ...)``; SASLInitialResponse
  with ``client.mechanism`` and data ``client.client_first()``
* AuthenticationSASLContinue(data) -> SASLResponse body = ``client.client_final(data)``
* AuthenticationSASLFinal(data)    -> ``client.verify_server_final(data)``
* AuthenticationOk                 -> ``client.check_complete()`` when SCRAM was started, so
  that a server cannot skip proving that it knows the password.

The PasswordMessage helpers return the complete message body *including* the NUL
terminator of its String field; the SCRAM methods return the raw SASL data (no NUL, the
caller adds SASLInitialResponse's mechanism name and length prefix).

Sources of the rules: RFC 5802 (SCRAM), RFC 7677 (SCRAM-SHA-256), RFC 5929
(tls-server-end-point), RFC 4013/3454 (SASLprep), PostgreSQL's protocol documentation.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import secrets
import stringprep
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from typing import Literal

from pgjet.channel_binding import certificate_signature_hash, tls_server_end_point
from pgjet.errors import AuthenticationMethodError, ChannelBindingError, ProtocolError

__all__ = [
    "MAX_SCRAM_ITERATIONS",
    "SCRAM_SHA_256",
    "SCRAM_SHA_256_PLUS",
    "ChannelBindingMode",
    "ScramClient",
    "certificate_signature_hash",
    "clear_salted_password_cache",
    "cleartext_password",
    "md5_password",
    "saslprep",
    "scram_password",
    "set_salted_password_cache_size",
    "tls_server_end_point",
]

SCRAM_SHA_256 = "SCRAM-SHA-256"
SCRAM_SHA_256_PLUS = "SCRAM-SHA-256-PLUS"

ChannelBindingMode = Literal["disable", "prefer", "require"]
_CHANNEL_BINDING_MODES = ("disable", "prefer", "require")

# PostgreSQL's default is 4096. A hostile server must not be able to make the client
# spend minutes in PBKDF2; 10 million iterations already cost seconds.
MAX_SCRAM_ITERATIONS = 10_000_000

# libpq uses 18 random bytes too; base64 turns them into 24 printable characters.
_CLIENT_NONCE_BYTES = 18

# Server-provided text quoted in error messages is cut to this many characters.
_QUOTE_LIMIT = 80


def _quote(value: str | bytes) -> str:
    """Render a server-supplied value for an error message, bounded in size."""
    text = repr(value)
    if len(text) > _QUOTE_LIMIT:
        text = text[: _QUOTE_LIMIT - 3] + "..."
    return text


# --------------------------------------------------------------------------------------
# Cleartext and MD5 passwords
# --------------------------------------------------------------------------------------


def _password_bytes(password: str) -> bytes:
    # PostgreSQL reads the password as a C string: a NUL would silently truncate it.
    if "\x00" in password:
        raise ValueError("the password contains a NUL character, which PostgreSQL cannot accept")
    return password.encode("utf-8")


def cleartext_password(password: str) -> bytes:
    """Body of the PasswordMessage answering AuthenticationCleartextPassword (NUL included)."""
    return _password_bytes(password) + b"\x00"


def md5_password(password: str, user: str, salt: bytes) -> bytes:
    """Body of the PasswordMessage answering AuthenticationMD5Password (NUL included).

    The value is ``"md5" + hex(md5(hex(md5(password + user)) + salt))``.
    """
    if len(salt) != 4:
        raise ProtocolError(
            f"AuthenticationMD5Password carries a {len(salt)}-byte salt; it must be 4 bytes"
        )
    if "\x00" in user:
        raise ValueError("the user name contains a NUL character")
    inner = hashlib.md5(
        _password_bytes(password) + user.encode("utf-8"), usedforsecurity=False
    ).hexdigest()
    outer = hashlib.md5(inner.encode("ascii") + salt, usedforsecurity=False).hexdigest()
    return b"md5" + outer.encode("ascii") + b"\x00"


# --------------------------------------------------------------------------------------
# SASLprep (RFC 4013, a profile of stringprep, RFC 3454)
# --------------------------------------------------------------------------------------

_PROHIBITED_TABLES = (
    stringprep.in_table_c12,  # non-ASCII spaces (already mapped, kept for completeness)
    stringprep.in_table_c21,  # ASCII control characters
    stringprep.in_table_c22,  # non-ASCII control characters
    stringprep.in_table_c3,  # private use
    stringprep.in_table_c4,  # non-character code points
    stringprep.in_table_c5,  # surrogates
    stringprep.in_table_c6,  # inappropriate for plain text
    stringprep.in_table_c7,  # inappropriate for canonical representation
    stringprep.in_table_c8,  # change display properties or deprecated
    stringprep.in_table_c9,  # tagging characters
    stringprep.in_table_a1,  # unassigned in Unicode 3.2 (stored-string rules, as PostgreSQL)
)


def saslprep(text: str) -> str:
    """Prepare ``text`` with the SASLprep profile; raise ValueError when it is not allowed.

    Unassigned code points are rejected (the "stored strings" rules), as PostgreSQL does.
    The error message names the offending code point, never the text itself.
    """
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch for ch in text if not stringprep.in_table_b1(ch)
    )
    # Stringprep is defined on Unicode 3.2, not on the interpreter's current version.
    normalized = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    for position, ch in enumerate(normalized):
        if any(in_table(ch) for in_table in _PROHIBITED_TABLES):
            raise ValueError(f"SASLprep: prohibited code point U+{ord(ch):04X} at {position}")
    if any(stringprep.in_table_d1(ch) for ch in normalized):
        if any(stringprep.in_table_d2(ch) for ch in normalized):
            raise ValueError("SASLprep: mixes right-to-left and left-to-right characters")
        if not (stringprep.in_table_d1(normalized[0]) and stringprep.in_table_d1(normalized[-1])):
            raise ValueError(
                "SASLprep: right-to-left text must start and end with a right-to-left character"
            )
    return normalized


def scram_password(password: str) -> bytes:
    """The bytes PostgreSQL feeds to PBKDF2 for ``password``.

    Like PostgreSQL (server and libpq), a password that SASLprep rejects is used as is,
    so that any password set with ALTER ROLE ... PASSWORD still works.
    """
    if not password.isascii():
        with contextlib.suppress(ValueError):
            password = saslprep(password)
    return _password_bytes(password)


# --------------------------------------------------------------------------------------
# Salted password cache
# --------------------------------------------------------------------------------------


class _SaltedPasswordCache:
    """A small thread-safe LRU of PBKDF2 results, so that pools do not redo them.

    Keys are SHA-256 digests of (password, salt, iterations): the plaintext password is
    not retained here. The repr shows sizes only.
    """

    __slots__ = ("_entries", "_lock", "_max_size")

    def __init__(self, max_size: int) -> None:
        self._entries: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._max_size = max_size

    def __repr__(self) -> str:
        return f"<SaltedPasswordCache {len(self._entries)}/{self._max_size} entries>"

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def max_size(self) -> int:
        return self._max_size

    def resize(self, max_size: int) -> None:
        if max_size < 0:
            raise ValueError(f"cache size must be >= 0, got {max_size}")
        with self._lock:
            self._max_size = max_size
            while len(self._entries) > max_size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def salted_password(self, password: bytes, salt: bytes, iterations: int) -> bytes:
        if self._max_size == 0:
            return _pbkdf2(password, salt, iterations)
        key = hashlib.sha256(
            len(password).to_bytes(8, "big")
            + password
            + len(salt).to_bytes(8, "big")
            + salt
            + iterations.to_bytes(8, "big")
        ).digest()
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                return cached
        # Computed outside the lock: other threads should not wait for our PBKDF2.
        result = _pbkdf2(password, salt, iterations)
        with self._lock:
            self._entries[key] = result
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_size:
                self._entries.popitem(last=False)
        return result


def _pbkdf2(password: bytes, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password, salt, iterations)


_SALTED_PASSWORD_CACHE = _SaltedPasswordCache(16)


def clear_salted_password_cache() -> None:
    """Forget every cached PBKDF2 result (e.g. after a password change)."""
    _SALTED_PASSWORD_CACHE.clear()


def set_salted_password_cache_size(max_size: int) -> None:
    """Bound the cache to ``max_size`` entries; 0 disables caching."""
    _SALTED_PASSWORD_CACHE.resize(max_size)


# --------------------------------------------------------------------------------------
# SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677)
# --------------------------------------------------------------------------------------

_GS2_NO_BINDING = b"n,,"
_GS2_BINDING_NOT_OFFERED = b"y,,"
_GS2_TLS_SERVER_END_POINT = b"p=tls-server-end-point,,"


def _is_printable_nonce(nonce: str) -> bool:
    # RFC 5802: printable ASCII except ','.
    return bool(nonce) and all(0x21 <= ord(ch) <= 0x7E and ch != "," for ch in nonce)


def _saslname(user: str) -> str:
    return user.replace("=", "=3D").replace(",", "=2C")


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ProtocolError(f"SCRAM: {what} {_quote(value)} is not valid base64") from None


def _decode_server_message(message: bytes, what: str) -> str:
    try:
        return bytes(message).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"SCRAM: {what} is not valid UTF-8: {_quote(message)}") from None


def _split_attributes(text: str, what: str) -> list[tuple[str, str]]:
    """Split ``a=value,b=value`` into pairs, checking that each attribute is well formed."""
    pairs: list[tuple[str, str]] = []
    for part in text.split(","):
        if len(part) < 2 or part[1] != "=" or not ("a" <= part[0].lower() <= "z"):
            raise ProtocolError(f"SCRAM: malformed attribute {_quote(part)} in {what}")
        pairs.append((part[0], part[2:]))
    return pairs


def _take(pairs: list[tuple[str, str]], index: int, name: str, what: str) -> str:
    if index >= len(pairs) or pairs[index][0] != name:
        found = "nothing" if index >= len(pairs) else f"{pairs[index][0]!r}"
        raise ProtocolError(f"SCRAM: {what} lacks attribute {name!r} (found {found})")
    return pairs[index][1]


class ScramClient:
    """Client side of one SCRAM-SHA-256(-PLUS) exchange, without I/O.

    ``mechanisms`` is the list from AuthenticationSASL. ``tls_server_cert_der`` is the
    server's certificate in DER form when the connection uses TLS, else None: it both
    says whether TLS is on and supplies the channel binding data. ``nonce`` and ``user``
    exist for test vectors: PostgreSQL ignores the SCRAM user name (it uses the startup
    message's), so libpq and pgjet send an empty one.

    With channel_binding="prefer" and a certificate whose signature has no usable hash
    (Ed25519, Ed448), the client honestly reports that it cannot bind ("n" flag) and uses
    SCRAM-SHA-256; with "require" that situation raises ChannelBindingError.
    """

    def __init__(
        self,
        mechanisms: Sequence[str],
        password: str,
        *,
        channel_binding: ChannelBindingMode = "prefer",
        tls_server_cert_der: bytes | None = None,
        nonce: str | None = None,
        user: str = "",
        max_iterations: int = MAX_SCRAM_ITERATIONS,
        use_cache: bool = True,
    ) -> None:
        if channel_binding not in _CHANNEL_BINDING_MODES:
            raise ValueError(
                f"channel_binding must be one of {', '.join(_CHANNEL_BINDING_MODES)}, "
                f"got {channel_binding!r}"
            )
        if nonce is None:
            nonce = base64.b64encode(secrets.token_bytes(_CLIENT_NONCE_BYTES)).decode("ascii")
        elif not _is_printable_nonce(nonce):
            raise ValueError("the client nonce must be non-empty printable ASCII without ','")
        if max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {max_iterations}")

        self.mechanism, self.gs2_header, self._cbind_data = _negotiate(
            list(mechanisms), channel_binding, tls_server_cert_der
        )
        self.channel_binding: ChannelBindingMode = channel_binding
        self.max_iterations = max_iterations
        self._password: bytes | None = scram_password(password)
        self._use_cache = use_cache
        self._client_nonce = nonce
        self._client_first_bare = f"n={_saslname(user)},r={nonce}".encode()
        self._server_signature: bytes | None = None
        self._state = "initial"

    def __repr__(self) -> str:
        return f"<ScramClient mechanism={self.mechanism!r} state={self._state!r}>"

    @property
    def channel_binding_used(self) -> bool:
        """Whether the exchange binds to the TLS channel (SCRAM-SHA-256-PLUS)."""
        return self.mechanism == SCRAM_SHA_256_PLUS

    @property
    def finished(self) -> bool:
        """Whether the server's signature has been verified."""
        return self._state == "done"

    def client_first(self) -> bytes:
        """The client-first-message: SASLInitialResponse's data."""
        if self._state not in ("initial", "first_sent"):
            raise ProtocolError("SCRAM: client-first-message requested after the exchange began")
        self._state = "first_sent"
        return self.gs2_header + self._client_first_bare

    def client_final(self, server_first: bytes) -> bytes:
        """The client-final-message answering AuthenticationSASLContinue's data."""
        if self._state != "first_sent":
            raise ProtocolError(
                f"SCRAM: unexpected AuthenticationSASLContinue (exchange state {self._state})"
            )
        password = self._password
        assert password is not None  # only cleared once this method has succeeded
        self._state = "failed"  # until the message proves valid: no second attempt
        server_first_text = _decode_server_message(server_first, "server-first-message")
        nonce, salt, iterations = self._parse_server_first(server_first_text)

        if self._use_cache:
            salted = _SALTED_PASSWORD_CACHE.salted_password(password, salt, iterations)
        else:
            salted = _pbkdf2(password, salt, iterations)
        client_key = _hmac(salted, b"Client Key")
        stored_key = hashlib.sha256(client_key).digest()
        server_key = _hmac(salted, b"Server Key")

        binding = base64.b64encode(self.gs2_header + self._cbind_data).decode("ascii")
        without_proof = f"c={binding},r={nonce}".encode("ascii")
        auth_message = b",".join(
            (self._client_first_bare, server_first_text.encode("utf-8"), without_proof)
        )
        client_signature = _hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, client_signature, strict=True))

        self._server_signature = _hmac(server_key, auth_message)
        self._password = None  # no longer needed; do not keep it around
        self._state = "final_sent"
        return without_proof + b",p=" + base64.b64encode(proof)

    def verify_server_final(self, server_final: bytes) -> None:
        """Check AuthenticationSASLFinal's data: the server must prove it knows the password."""
        if self._state != "final_sent":
            raise ProtocolError(
                f"SCRAM: unexpected AuthenticationSASLFinal (exchange state {self._state})"
            )
        self._state = "failed"
        text = _decode_server_message(server_final, "server-final-message")
        pairs = _split_attributes(text, "server-final-message")
        if pairs[0][0] == "e":
            raise ProtocolError(f"SCRAM authentication failed, server says: {_quote(pairs[0][1])}")
        signature = _b64decode(_take(pairs, 0, "v", "server-final-message"), "server signature")
        expected = self._server_signature
        assert expected is not None
        if not hmac.compare_digest(signature, expected):
            raise ProtocolError(
                "SCRAM: the server's signature is wrong: the server does not know the password "
                "(or the exchange was tampered with)"
            )
        # Any further attributes are extensions, which we may ignore (RFC 5802, 5.1).
        self._state = "done"

    def check_complete(self) -> None:
        """Call on AuthenticationOk: refuse servers that skipped AuthenticationSASLFinal."""
        if self._state != "done":
            raise ProtocolError(
                "SCRAM: the server reported success without completing the SCRAM exchange "
                f"(exchange state {self._state})"
            )

    def _parse_server_first(self, text: str) -> tuple[str, bytes, int]:
        what = "server-first-message"
        pairs = _split_attributes(text, what)
        if pairs[0][0] == "m":
            raise ProtocolError("SCRAM: the server requires an unsupported mandatory extension")
        nonce = _take(pairs, 0, "r", what)
        salt_text = _take(pairs, 1, "s", what)
        iterations_text = _take(pairs, 2, "i", what)
        # pairs[3:] are extensions, which we may ignore (RFC 5802, 5.1).

        if not _is_printable_nonce(nonce):
            raise ProtocolError(f"SCRAM: the server nonce {_quote(nonce)} is not printable ASCII")
        if not nonce.startswith(self._client_nonce) or len(nonce) == len(self._client_nonce):
            raise ProtocolError(
                "SCRAM: the server nonce does not extend the client nonce "
                f"(client {_quote(self._client_nonce)}, server {_quote(nonce)})"
            )
        salt = _b64decode(salt_text, "salt")
        if not salt:
            raise ProtocolError("SCRAM: the server sent an empty salt")
        if not (iterations_text.isascii() and iterations_text.isdigit()) or len(
            iterations_text
        ) > len(str(self.max_iterations)):
            raise ProtocolError(
                f"SCRAM: iteration count {_quote(iterations_text)} is not an integer "
                f"between 1 and {self.max_iterations}"
            )
        iterations = int(iterations_text)
        if not 1 <= iterations <= self.max_iterations:
            raise ProtocolError(
                f"SCRAM: iteration count {iterations} is not between 1 and {self.max_iterations}"
            )
        return nonce, salt, iterations


def _negotiate(
    offered: list[str], mode: ChannelBindingMode, cert_der: bytes | None
) -> tuple[str, bytes, bytes]:
    """Pick the mechanism; return (mechanism, gs2 header, channel binding data)."""
    has_plain = SCRAM_SHA_256 in offered
    has_plus = SCRAM_SHA_256_PLUS in offered
    if not (has_plain or has_plus):
        names = ", ".join(_quote(name) for name in offered) or "none"
        raise AuthenticationMethodError(
            f"the server offered SASL mechanisms pgjet does not support ({names}); "
            f"pgjet supports {SCRAM_SHA_256} and {SCRAM_SHA_256_PLUS}"
        )

    if mode == "require":
        if cert_der is None:
            raise ChannelBindingError(
                "channel_binding=require, but the connection does not use TLS"
            )
        if not has_plus:
            raise ChannelBindingError(
                f"channel_binding=require, but the server does not offer {SCRAM_SHA_256_PLUS}"
            )
        try:
            cbind_data = tls_server_end_point(cert_der)
        except (ValueError, ChannelBindingError) as exc:
            raise ChannelBindingError(f"channel_binding=require, but {exc}") from exc
        return SCRAM_SHA_256_PLUS, _GS2_TLS_SERVER_END_POINT, cbind_data

    header = _GS2_NO_BINDING
    if mode == "prefer" and cert_der is not None:
        try:
            cbind_data = tls_server_end_point(cert_der)
        except (ValueError, ChannelBindingError):
            pass  # this certificate cannot be bound to: say so with the "n" flag
        else:
            if has_plus:
                return SCRAM_SHA_256_PLUS, _GS2_TLS_SERVER_END_POINT, cbind_data
            # We could bind but the server did not offer it: "y" lets a server that
            # does support binding detect a downgrade attack.
            header = _GS2_BINDING_NOT_OFFERED
    if not has_plain:
        raise AuthenticationMethodError(
            f"the server offers only {SCRAM_SHA_256_PLUS}, which needs channel binding, "
            f"but channel binding is not possible here (channel_binding={mode}, "
            f"TLS {'on' if cert_der is not None else 'off'})"
        )
    return SCRAM_SHA_256, header, b""

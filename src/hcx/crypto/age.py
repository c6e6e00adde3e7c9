"""The age file format (age-encryption.org/v1, c2sp.org/age) with X25519 recipients, on pyca primitives.

Files written here decrypt with Debian's `age -d`, and `age -e` files decrypt here. Supported:
binary (not armored) files, X25519 recipients (`age1…`) and identities (`AGE-SECRET-KEY-1…`).
Not supported: passphrases (scrypt), plugins, SSH keys, post-quantum recipients.

    age-encryption.org/v1
    -> X25519 <ephemeral share, base64>           one stanza per recipient
    <wrapped file key, base64, 64 columns>
    --- <HMAC-SHA-256 of the header up to "---", base64>
    <16-byte nonce><STREAM payload, see _age_stream>

Streams of any size are encrypted and decrypted in constant memory, on `workers` threads, and the
SHA-256 of the plaintext comes out of the same single pass (`EncryptResult`, `DecryptResult`).

Contract for callers: `decrypt` writes each chunk to `dst` only once it is authenticated, but an
error can come after part of the plaintext was written (a truncated or altered file is only
detected when reached). Write to a temporary file and rename it into place only when `decrypt`
returns; on an error, delete the temporary file. The same holds for `encrypt` when reading fails.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, Final, NoReturn

from bech32m import codecs as bech32

from hcx.crypto import _primitives as p
from hcx.crypto._age_stream import Hasher, open_stream, read_into, seal_stream, write_all
from hcx.errors import DecryptionError, InvalidInput, InvalidSignature

__all__ = ["AgeIdentity", "AgeRecipient", "DecryptResult", "EncryptResult", "decrypt", "encrypt"]

_VERSION_LINE: Final = b"age-encryption.org/v1\n"
_X25519_INFO: Final = b"age-encryption.org/v1/X25519"
_RECIPIENT_HRP: Final = "age"
_IDENTITY_HRP: Final = "AGE-SECRET-KEY-"
_FILE_KEY_SIZE = 16
_PAYLOAD_NONCE_SIZE = 16
_ZERO_NONCE: Final = bytes(12)
_COLUMNS = 64
# A header is read into memory, so its size is bounded: longer lines, longer stanza bodies and more
# stanzas than this are refused.
_MAX_LINE = 64 * 1024
_MAX_STANZAS = 1024
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*")
_ARGUMENT = re.compile(rb"[\x21-\x7e]+")


@dataclass(frozen=True)
class EncryptResult:
    size: int  # bytes of plaintext read
    sha256: bytes  # SHA-256 of the plaintext


@dataclass(frozen=True)
class DecryptResult:
    size: int  # bytes of plaintext written
    sha256: bytes  # SHA-256 of the plaintext


def _b64encode(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _b64decode(text: bytes) -> bytes | None:
    """Unpadded standard base64 in its one canonical spelling, or None."""
    if not _BASE64.fullmatch(text) or len(text) % 4 == 1:
        return None
    data = base64.b64decode(text + b"=" * (-len(text) % 4))
    return data if _b64encode(data) == text else None


def _bech32_encode(hrp: str, data: bytes) -> str:
    return str(bech32.bech32_encode(hrp.lower(), bytes(bech32.convertbits(data, 8, 5)), bech32.Encoding.BECH32))


def _bech32_decode(text: str, hrp: str, what: str) -> bytes:
    """The 32-byte key in a Bech32 (not Bech32m) string with this HRP, in the case age writes."""
    if not isinstance(text, str) or text != (text.upper() if hrp.isupper() else text.lower()):
        raise InvalidInput(f"an {what} is written in {'upper' if hrp.isupper() else 'lower'} case")
    try:
        got_hrp, values, encoding = bech32.bech32_decode(text)
        data = bytes(bech32.convertbits(values, 5, 8, False))
    except ValueError as exc:
        raise InvalidInput(f"not an {what}: the Bech32 encoding or checksum is invalid") from exc
    if got_hrp != hrp.lower() or encoding != bech32.Encoding.BECH32:
        raise InvalidInput(f"not an {what}: an {what} starts with {hrp}1")
    if len(data) != p.X25519_SIZE:
        raise InvalidInput(f"not an {what}: it holds {len(data)} bytes, not 32")
    return data


class AgeRecipient:
    """An X25519 age recipient, `age1…`: the public key that files are encrypted to."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        if len(raw) != p.X25519_SIZE:
            raise InvalidInput(f"an X25519 recipient is 32 bytes, not {len(raw)}")
        self._raw: Final = bytes(raw)

    @classmethod
    def parse(cls, text: str) -> AgeRecipient:
        if isinstance(text, str) and text.lower().startswith("age1pq1"):
            raise InvalidInput("post-quantum age recipients (age1pq1…) are not supported: use an X25519 age1… recipient")
        return cls(_bech32_decode(text, _RECIPIENT_HRP, "age recipient"))

    @property
    def raw(self) -> bytes:
        return self._raw

    def __str__(self) -> str:
        return _bech32_encode(_RECIPIENT_HRP, self._raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AgeRecipient) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash((AgeRecipient, self._raw))

    def __repr__(self) -> str:
        return f"AgeRecipient({str(self)!r})"


class AgeIdentity:
    """An X25519 age identity, `AGE-SECRET-KEY-1…`: the private key that decrypts. Its repr and str
    show only the recipient; the secret leaves only through `secret_text()`, and never by pickling."""

    __slots__ = ("_secret", "recipient")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != p.X25519_SIZE:
            raise InvalidInput(f"an X25519 identity is 32 bytes, not {len(secret)}")
        self._secret: Final = bytes(secret)
        self.recipient: Final = AgeRecipient(p.x25519_public(self._secret))

    @classmethod
    def generate(cls) -> AgeIdentity:
        return cls(p.random_bytes(p.X25519_SIZE))

    @classmethod
    def parse(cls, text: str) -> AgeIdentity:
        """Read `AGE-SECRET-KEY-1…` (the form `age-keygen` writes; surrounding whitespace is ignored)."""
        return cls(_bech32_decode(text.strip() if isinstance(text, str) else text, _IDENTITY_HRP, "age identity"))

    def secret_text(self) -> str:
        return _bech32_encode(_IDENTITY_HRP, self._secret).upper()

    def _unwrap(self, share: bytes, body: bytes) -> bytes | None:
        """The file key of an X25519 stanza addressed to this identity, or None."""
        try:
            shared = p.x25519_shared_secret(self._secret, share)
        except InvalidInput as exc:
            raise DecryptionError("an X25519 stanza of the age header has a low-order share") from exc
        wrap_key = p.hkdf_sha256(shared, salt=share + self.recipient.raw, info=_X25519_INFO)
        try:
            return p.ChaCha20Poly1305Key(wrap_key).decrypt(_ZERO_NONCE, body)
        except DecryptionError:
            return None

    def __reduce__(self) -> NoReturn:
        raise TypeError("an age identity cannot be pickled; use secret_text() where a key file is meant")

    def __repr__(self) -> str:
        return f"AgeIdentity(recipient={str(self.recipient)!r})"


@dataclass(frozen=True)
class _Stanza:
    arguments: tuple[bytes, ...]  # the first is the type, e.g. b"X25519"
    body: bytes

    def encode(self) -> bytes:
        text = _b64encode(self.body)
        lines = [text[i : i + _COLUMNS] for i in range(0, len(text), _COLUMNS)]
        if len(text) % _COLUMNS == 0:
            lines.append(b"")  # the body ends with a line shorter than 64 columns, maybe empty
        return b"-> " + b" ".join(self.arguments) + b"\n" + b"".join(line + b"\n" for line in lines)


def _wrap(file_key: bytes, recipient: AgeRecipient) -> _Stanza:
    ephemeral = p.random_bytes(p.X25519_SIZE)
    share = p.x25519_public(ephemeral)
    shared = p.x25519_shared_secret(ephemeral, recipient.raw)
    wrap_key = p.hkdf_sha256(shared, salt=share + recipient.raw, info=_X25519_INFO)
    return _Stanza((b"X25519", _b64encode(share)), p.ChaCha20Poly1305Key(wrap_key).encrypt(_ZERO_NONCE, file_key))


def _header_mac_key(file_key: bytes) -> bytes:
    return p.hkdf_sha256(file_key, salt=b"", info=b"header")


def _payload_key(file_key: bytes, nonce: bytes) -> p.ChaCha20Poly1305Key:
    return p.ChaCha20Poly1305Key(p.hkdf_sha256(file_key, salt=nonce, info=b"payload"))


def encrypt(src: BinaryIO, dst: BinaryIO, recipients: Sequence[AgeRecipient], *, workers: int = 2) -> EncryptResult:
    """Encrypt all of `src` to `dst` as an age file that any of `recipients` can decrypt."""
    if not recipients:
        raise InvalidInput("an age file needs at least one recipient")
    if not all(isinstance(r, AgeRecipient) for r in recipients):
        raise InvalidInput("age recipients must be AgeRecipient objects (AgeRecipient.parse('age1…'))")
    file_key = p.random_bytes(_FILE_KEY_SIZE)
    header = _VERSION_LINE + b"".join(_wrap(file_key, r).encode() for r in recipients) + b"---"
    mac = p.hmac_sha256(_header_mac_key(file_key), header)
    nonce = p.random_bytes(_PAYLOAD_NONCE_SIZE)
    write_all(dst, memoryview(header + b" " + _b64encode(mac) + b"\n" + nonce))
    size, sha256 = seal_stream(src, dst, _payload_key(file_key, nonce), workers)
    return EncryptResult(size, sha256)


def _malformed(why: str) -> NoReturn:
    raise DecryptionError(f"not a valid age file: {why}")


def _read_line(src: BinaryIO) -> bytes:
    line = src.readline(_MAX_LINE)
    if not line.endswith(b"\n"):
        _malformed("the header is truncated" if len(line) < _MAX_LINE else "a header line is too long")
    return line


def _read_header(src: BinaryIO) -> tuple[list[_Stanza], bytes, bytes]:
    """The stanzas, the bytes the MAC covers (up to and including "---"), and the MAC."""
    first = src.readline(len(_VERSION_LINE))
    if first != _VERSION_LINE:
        if first.startswith(b"-----BEGIN"):
            _malformed("ASCII-armored age files are not supported; decode the armor first")
        if first.startswith(b"age-encryption.org/"):
            _malformed("only version v1 of the age format is supported")
        _malformed("it does not start with the age-encryption.org/v1 line")
    covered = [first]
    stanzas: list[_Stanza] = []
    while True:
        line = _read_line(src)
        if line.startswith(b"--- "):
            mac = _b64decode(line[4:-1])
            if mac is None or len(mac) != 32:
                _malformed("the header MAC line is malformed")
            if not stanzas:
                _malformed("the header has no recipient stanza")
            covered.append(b"---")
            return stanzas, b"".join(covered), mac
        if not line.startswith(b"-> "):
            _malformed("a header line is neither a stanza nor the MAC line")
        if len(stanzas) >= _MAX_STANZAS:
            _malformed(f"the header has more than {_MAX_STANZAS} stanzas")
        arguments = tuple(line[3:-1].split(b" "))
        if not all(_ARGUMENT.fullmatch(argument) for argument in arguments):
            _malformed("a stanza has an empty argument or a character outside printable ASCII")
        covered.append(line)
        body = bytearray()
        while True:
            text_line = _read_line(src)
            covered.append(text_line)
            decoded = _b64decode(text_line[:-1])
            if decoded is None or len(text_line) - 1 > _COLUMNS:
                _malformed("a stanza body is not canonical base64 wrapped at 64 columns")
            body += decoded
            if len(text_line) - 1 < _COLUMNS:
                break
            if len(body) > _MAX_LINE:
                _malformed("a stanza body is too long")
        stanzas.append(_Stanza(arguments, bytes(body)))


def _unwrap_file_key(stanzas: list[_Stanza], identities: Sequence[AgeIdentity]) -> bytes:
    if any(stanza.arguments[0] == b"scrypt" for stanza in stanzas):
        raise DecryptionError("passphrase-encrypted (scrypt) age files are not supported")
    for stanza in stanzas:
        if stanza.arguments[0] != b"X25519":
            continue  # another recipient type, or grease: identities ignore what is not theirs
        share = _b64decode(stanza.arguments[1]) if len(stanza.arguments) == 2 else None
        if share is None or len(share) != p.X25519_SIZE or len(stanza.body) != _FILE_KEY_SIZE + 16:
            _malformed("an X25519 stanza does not have one 32-byte share and a 32-byte body")
        for identity in identities:
            file_key = identity._unwrap(share, stanza.body)
            if file_key is not None:
                return file_key
    raise DecryptionError("no identity matches a recipient of the age file",
                          details=[f"tried {identity.recipient}" for identity in identities])


def decrypt(src: BinaryIO, dst: BinaryIO, identities: Sequence[AgeIdentity], *, workers: int = 2,
            hasher: Hasher | None = None) -> DecryptResult:
    """Decrypt the age file in `src` to `dst` with one of `identities`. `hasher` (default
    `hashlib.sha256()`) is fed the plaintext in order and gives `DecryptResult.sha256`.

    Raises DecryptionError naming what is wrong: a malformed header, no matching identity, a header
    MAC that does not verify, a truncated payload, a chunk that fails authentication, data after
    the final chunk. See the module docstring for what `dst` holds then.
    """
    if not identities:
        raise InvalidInput("decrypting an age file needs at least one identity")
    if not all(isinstance(i, AgeIdentity) for i in identities):
        raise InvalidInput("age identities must be AgeIdentity objects (AgeIdentity.parse('AGE-SECRET-KEY-1…'))")
    stanzas, covered, mac = _read_header(src)
    file_key = _unwrap_file_key(stanzas, identities)
    try:
        p.hmac_sha256_verify(_header_mac_key(file_key), covered, mac)
    except InvalidSignature as exc:
        raise DecryptionError("the age header MAC does not verify: the header was altered") from exc
    nonce = bytes(read_into(src, bytearray(_PAYLOAD_NONCE_SIZE)))
    if len(nonce) != _PAYLOAD_NONCE_SIZE:
        raise DecryptionError("the age payload is truncated: its nonce is missing")
    size, sha256 = open_stream(src, dst, _payload_key(file_key, nonce), workers, hasher)
    return DecryptResult(size, sha256)

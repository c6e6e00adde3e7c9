"""Keys: Ed25519 for signing, ML-KEM-768 + X25519 (HPKE) for encryption.

    SigningKey     ──.public──▶  VerifyKey       (32 raw bytes)
    DecryptionKey  ──.public──▶  EncryptionKey   (1184 + 32 raw bytes)

Public keys are named by a `kid` (16 lowercase base32 characters of SHA-256(raw), for wire
headers and lookups) and shown to people as a `fingerprint` (160 bits of SHA-256(raw), in eight
groups of four base32 characters, to be read over the phone). Private keys leave memory only
through `export`, encrypted under a passphrase; their repr shows the kid and nothing else.
"""

from __future__ import annotations

import base64
import re
from typing import Final, NoReturn

from hcx.crypto import _primitives as p
from hcx.errors import InvalidInput

__all__ = [
    "DecryptionKey",
    "EncryptionKey",
    "SigningKey",
    "VerifyKey",
    "b64d",
    "b64e",
    "fingerprint",
    "kid_of",
    "parse_fingerprint",
]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_FINGERPRINT = re.compile(r"[A-Z2-7]{32}")
_SIGNING_PURPOSE: Final = b"ed25519 signing key"
_DECRYPTION_PURPOSE: Final = b"mlkem768-x25519 decryption key"


def b64e(data: bytes) -> str:
    """base64url (RFC 4648 §5) without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    """Decode base64url without padding; only the one canonical spelling of each value passes."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise InvalidInput("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64e(data) != text:
        raise InvalidInput("not canonical base64url (stray bits in the last character)")
    return data


def kid_of(raw: bytes) -> str:
    """Key id: the first 16 lowercase base32 characters (80 bits) of SHA-256(raw)."""
    return base64.b32encode(p.sha256(raw)).decode("ascii")[:16].lower()


def fingerprint(raw: bytes) -> str:
    """The first 20 bytes of SHA-256(raw), base32, in 8 groups of 4: `K3QZ-7M2A-…`."""
    text = base64.b32encode(p.sha256(raw)[:20]).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, 32, 4))


def parse_fingerprint(text: str) -> str:
    """Normalise a fingerprint typed by a person (any case, spaces, dashes or none)."""
    compact = re.sub(r"[\s-]", "", text).upper() if isinstance(text, str) else ""
    if not _FINGERPRINT.fullmatch(compact):
        raise InvalidInput("a fingerprint is 32 characters from A–Z and 2–7, in groups of four",
                           details=[f"got {len(compact)} characters after removing spaces and dashes"])
    return "-".join(compact[i : i + 4] for i in range(0, 32, 4))


class _NoPickle:
    """Private keys refuse to be pickled or copied by accident: use `export`."""

    __slots__ = ()

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} cannot be pickled; use export(passphrase)")


class _PublicKey:
    """What every public key offers: its raw bytes, a key id, a fingerprint, equality by bytes."""

    __slots__ = ()

    @property
    def raw(self) -> bytes:
        raise NotImplementedError

    @property
    def kid(self) -> str:
        return kid_of(self.raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, _PublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash((type(self), self.raw))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kid={self.kid!r})"


class VerifyKey(_PublicKey):
    """An Ed25519 public key."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        p.ed25519_check_public(raw)
        self._raw: Final = bytes(raw)

    @classmethod
    def from_bytes(cls, raw: bytes) -> VerifyKey:
        return cls(raw)

    @property
    def raw(self) -> bytes:
        return self._raw

    def verify(self, signature: bytes, data: bytes) -> None:
        """Return None if the signature is good; raise InvalidSignature otherwise."""
        p.ed25519_verify(self.raw, signature, data)


class SigningKey(_NoPickle):
    """An Ed25519 private key."""

    __slots__ = ("_key", "public")

    def __init__(self, key: p.Ed25519Private) -> None:
        self._key = key
        self.public: Final = VerifyKey(key.public_raw())

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(p.Ed25519Private.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """The key of a 32-byte RFC 8032 seed: for test vectors and key import only."""
        return cls(p.Ed25519Private.from_seed(seed))

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def export(self, passphrase: bytes) -> bytes:
        return p.encrypt_with_passphrase(passphrase, self._key.seed(), purpose=_SIGNING_PURPOSE)

    @classmethod
    def load(cls, data: bytes, passphrase: bytes) -> SigningKey:
        """Raise DecryptionError on a wrong passphrase, corrupt data or another kind of key."""
        seed = p.decrypt_with_passphrase(passphrase, data, purpose=_SIGNING_PURPOSE)
        return cls.from_seed(seed)

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.public.kid!r})"


class EncryptionKey(_PublicKey):
    """A hybrid ML-KEM-768 + X25519 public key (HPKE)."""

    __slots__ = ("_key",)

    def __init__(self, key: p.HybridPublic) -> None:
        self._key = key

    @classmethod
    def from_bytes(cls, raw: bytes) -> EncryptionKey:
        return cls(p.HybridPublic(bytes(raw)))

    @property
    def raw(self) -> bytes:
        return self._key.raw

    def _encrypt(self, plaintext: bytes, info: bytes) -> bytes:
        return self._key.encrypt(plaintext, info)


class DecryptionKey(_NoPickle):
    """A hybrid ML-KEM-768 + X25519 private key (HPKE)."""

    __slots__ = ("_key", "public")

    def __init__(self, key: p.HybridPrivate) -> None:
        self._key = key
        self.public: Final = EncryptionKey(key.public)

    @classmethod
    def generate(cls) -> DecryptionKey:
        return cls(p.HybridPrivate.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> DecryptionKey:
        """The key of a 96-byte seed (ML-KEM-768 d||z, then the X25519 scalar): for test
        vectors and key import only."""
        return cls(p.HybridPrivate(seed))

    def _decrypt(self, ciphertext: bytes, info: bytes) -> bytes:
        return self._key.decrypt(ciphertext, info)

    def export(self, passphrase: bytes) -> bytes:
        return p.encrypt_with_passphrase(passphrase, self._key.private_bytes(), purpose=_DECRYPTION_PURPOSE)

    @classmethod
    def load(cls, data: bytes, passphrase: bytes) -> DecryptionKey:
        """Raise DecryptionError on a wrong passphrase, corrupt data or another kind of key."""
        seed = p.decrypt_with_passphrase(passphrase, data, purpose=_DECRYPTION_PURPOSE)
        return cls.from_seed(seed)

    def __repr__(self) -> str:
        return f"DecryptionKey(kid={self.public.kid!r})"


class Vault:
    """Seals a node's private keys: the passphrase is stretched once (scrypt, with the node's salt),
    then each key is sealed cheaply under the result. Construct one per process and keep it."""

    def __init__(self, passphrase: bytes, salt: bytes) -> None:
        self._key = p.derive_vault_key(passphrase, salt)

    @staticmethod
    def new_salt() -> bytes:
        return p.new_vault_salt()

    def seal(self, key: SigningKey | DecryptionKey) -> bytes:
        if isinstance(key, SigningKey):
            return p.vault_seal(self._key, key._key.seed(), purpose=_SIGNING_PURPOSE)
        return p.vault_seal(self._key, key._key.private_bytes(), purpose=_DECRYPTION_PURPOSE)

    def open_signing(self, data: bytes) -> SigningKey:
        return SigningKey.from_seed(p.vault_open(self._key, data, purpose=_SIGNING_PURPOSE))

    def open_decryption(self, data: bytes) -> DecryptionKey:
        return DecryptionKey.from_seed(p.vault_open(self._key, data, purpose=_DECRYPTION_PURPOSE))

    def seal_secret(self, secret: bytes, *, purpose: str) -> bytes:
        """Another node secret (not a key pair), sealed the same way under its own purpose."""
        return p.vault_seal(self._key, secret, purpose=b"secret: " + purpose.encode())

    def open_secret(self, sealed: bytes, *, purpose: str) -> bytes:
        return p.vault_open(self._key, sealed, purpose=b"secret: " + purpose.encode())

    def __reduce__(self) -> NoReturn:
        raise TypeError("a vault cannot be pickled")

    def __repr__(self) -> str:
        return "Vault()"

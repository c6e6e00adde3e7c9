"""The only module of hcx that imports `cryptography.hazmat`, or reads randomness.

Everything here works on raw bytes or on small opaque key objects, and raises only the errors of
`hcx.errors`: library exceptions are translated at this boundary, `from exc`.

- Ed25519 signatures (RFC 8032): `Ed25519Private`, `ed25519_verify`.
- The hybrid KEM ML-KEM-768 + X25519 for HPKE (RFC 9180), suite
  MLKEM768-X25519 / HKDF-SHA256 / AES-256-GCM: `HybridPrivate`, `HybridPublic`.
  Serialisation: public = ML-KEM-768 encapsulation key (1184 bytes) || X25519 public (32);
  private = ML-KEM-768 seed d||z (64 bytes) || X25519 private scalar (32).
- Raw X25519 (`x25519_shared_secret`, `x25519_public`), for the Wycheproof vectors and the age
  format's X25519 recipients.
- Batched X25519 (`x25519_exchange_many`): one scalar times many u-coordinates, the
  exponentiation of the private set intersection (crypto/psi.py).
- For the age format (`hcx.crypto.age`): HKDF-SHA-256 (`hkdf_sha256`), HMAC-SHA-256
  (`hmac_sha256`, `hmac_sha256_verify`) and ChaCha20-Poly1305 (`ChaCha20Poly1305Key`), whose
  `encrypt_into`/`decrypt_into` release the GIL, so that threads can share the work.
- SHA-256, random bytes.
- Secrets at rest under a passphrase (`encrypt_with_passphrase`): scrypt + AES-256-GCM,

      offset  size  field
      0       1     version, 0x01
      1       1     log2 of the scrypt cost N (r = 8, p = 1 in version 1)
      2       16    salt (random)
      18      12    AES-GCM nonce (random)
      30      n+16  AES-256-GCM ciphertext || tag

  The key is scrypt(passphrase, salt); the associated data is
  b"hcx secret/1\\n" + purpose + b"\\n" + bytes 0..30, so a file written for one purpose
  (a signing key) never opens as another (a decryption key).
- A node's key vault (`derive_vault_key`, `vault_seal`, `vault_open`): the passphrase is
  stretched once per process with scrypt and the node's stored salt (1 byte log2 N || 16 bytes);
  each private key is then sealed with AES-256-GCM under that key:
  0x02 || nonce (12) || ciphertext || tag, associated data b"hcx vault/1\\n" + purpose.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import NoReturn

from cryptography.exceptions import InvalidSignature as _PycaInvalidSignature
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac, hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from hcx.errors import DecryptionError, InvalidInput, InvalidSignature

ED25519_PUBLIC_SIZE = 32
ED25519_SEED_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
MLKEM768_PUBLIC_SIZE = 1184
MLKEM768_SEED_SIZE = 64
X25519_SIZE = 32
HYBRID_PUBLIC_SIZE = MLKEM768_PUBLIC_SIZE + X25519_SIZE
HYBRID_PRIVATE_SIZE = MLKEM768_SEED_SIZE + X25519_SIZE

HPKE_SUITE_NAME = "MLKEM768-X25519/HKDF-SHA256/AES-256-GCM"
_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)

_SECRET_VERSION = 0x01
_SECRET_HEADER_SIZE = 30
# scrypt cost for new files: N = 2**17, r = 8 (128 MiB, about half a second). Files are read
# with the cost they name, within bounds, so the cost can rise without a new version.
SCRYPT_LOG2_N = 17
_SCRYPT_LOG2_N_RANGE = range(14, 21)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


class Ed25519Private:
    """An Ed25519 private key. Its repr shows nothing of the key."""

    __slots__ = ("_key",)

    def __init__(self, key: ed25519.Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> Ed25519Private:
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Ed25519Private:
        if len(seed) != ED25519_SEED_SIZE:
            raise InvalidInput(f"an Ed25519 seed is {ED25519_SEED_SIZE} bytes, not {len(seed)}")
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(seed))

    def seed(self) -> bytes:
        return self._key.private_bytes_raw()

    def public_raw(self) -> bytes:
        return self._key.public_key().public_bytes_raw()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


def ed25519_check_public(public: bytes) -> None:
    if len(public) != ED25519_PUBLIC_SIZE:
        raise InvalidInput(f"an Ed25519 public key is {ED25519_PUBLIC_SIZE} bytes, not {len(public)}")


def ed25519_verify(public: bytes, signature: bytes, data: bytes) -> None:
    """Raise InvalidSignature unless `signature` is a valid signature of `data` under `public`."""
    ed25519_check_public(public)
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, data)
    except _PycaInvalidSignature as exc:
        raise InvalidSignature("the Ed25519 signature does not verify") from exc


class HybridPublic:
    """An ML-KEM-768 + X25519 public key, for HPKE."""

    __slots__ = ("_key", "raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != HYBRID_PUBLIC_SIZE:
            raise InvalidInput(f"a hybrid encryption key is {HYBRID_PUBLIC_SIZE} bytes, not {len(raw)}")
        try:
            mlkem_key = mlkem.MLKEM768PublicKey.from_public_bytes(raw[:MLKEM768_PUBLIC_SIZE])
        except ValueError as exc:
            raise InvalidInput("the ML-KEM-768 part of the encryption key is malformed") from exc
        x_key = x25519.X25519PublicKey.from_public_bytes(raw[MLKEM768_PUBLIC_SIZE:])
        self._key = hpke.MLKEM768X25519PublicKey(mlkem_key, x_key)
        self.raw = raw

    def encrypt(self, plaintext: bytes, info: bytes) -> bytes:
        """HPKE base mode, single shot: enc || AEAD ciphertext."""
        return _SUITE.encrypt(plaintext, self._key, info=info)


class HybridPrivate:
    """An ML-KEM-768 + X25519 private key. Its repr shows nothing of the key."""

    __slots__ = ("_key", "_private", "public")

    def __init__(self, private: bytes) -> None:
        if len(private) != HYBRID_PRIVATE_SIZE:
            raise InvalidInput(f"a hybrid decryption key is {HYBRID_PRIVATE_SIZE} bytes, not {len(private)}")
        mlkem_key = mlkem.MLKEM768PrivateKey.from_seed_bytes(private[:MLKEM768_SEED_SIZE])
        x_key = x25519.X25519PrivateKey.from_private_bytes(private[MLKEM768_SEED_SIZE:])
        self._key = hpke.MLKEM768X25519PrivateKey(mlkem_key, x_key)
        self._private = private
        self.public = HybridPublic(
            mlkem_key.public_key().public_bytes_raw() + x_key.public_key().public_bytes_raw()
        )

    @classmethod
    def generate(cls) -> HybridPrivate:
        return cls(random_bytes(HYBRID_PRIVATE_SIZE))

    def private_bytes(self) -> bytes:
        return self._private

    def decrypt(self, ciphertext: bytes, info: bytes) -> bytes:
        try:
            return _SUITE.decrypt(ciphertext, self._key, info=info)
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError("the message does not decrypt") from exc


def x25519_shared_secret(private: bytes, public: bytes) -> bytes:
    """Raw X25519 (RFC 7748). An all-zero shared secret (a low-order public key) is refused."""
    if len(private) != X25519_SIZE or len(public) != X25519_SIZE:
        raise InvalidInput("X25519 keys are 32 bytes")
    key = x25519.X25519PrivateKey.from_private_bytes(private)
    try:
        return key.exchange(x25519.X25519PublicKey.from_public_bytes(public))
    except ValueError as exc:
        raise InvalidInput("X25519 gave the all-zero shared secret (low-order public key)") from exc


def x25519_public(private: bytes) -> bytes:
    """X25519(private, basepoint): the public key of a 32-byte X25519 private scalar."""
    if len(private) != X25519_SIZE:
        raise InvalidInput("X25519 keys are 32 bytes")
    return x25519.X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA-256 (RFC 5869): extract with `salt` (empty means no salt), then expand with `info`."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def hmac_sha256_verify(key: bytes, data: bytes, tag: bytes) -> None:
    """Compare in constant time; raise InvalidSignature if `tag` is not HMAC-SHA-256(key, data)."""
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    try:
        mac.verify(tag)
    except _PycaInvalidSignature as exc:
        raise InvalidSignature("the HMAC-SHA-256 does not verify") from exc


CHACHA20_POLY1305_TAG_SIZE = 16


class ChaCha20Poly1305Key:
    """A ChaCha20-Poly1305 key (RFC 8439), 12-byte nonces, no associated data. Its repr shows
    nothing of the key. The `_into` methods write into a caller's buffer and release the GIL."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise InvalidInput(f"a ChaCha20-Poly1305 key is 32 bytes, not {len(key)}")
        self._aead = ChaCha20Poly1305(key)

    def encrypt(self, nonce: bytes, plaintext: bytes) -> bytes:
        return self._aead.encrypt(nonce, plaintext, None)

    def decrypt(self, nonce: bytes, ciphertext: bytes) -> bytes:
        try:
            return self._aead.decrypt(nonce, ciphertext, None)
        except InvalidTag as exc:
            raise DecryptionError("the ChaCha20-Poly1305 tag does not verify") from exc

    def encrypt_into(self, nonce: bytes, plaintext: memoryview, out: memoryview) -> None:
        """`out` is exactly len(plaintext) + 16 bytes."""
        self._aead.encrypt_into(nonce, plaintext, None, out)

    def decrypt_into(self, nonce: bytes, ciphertext: memoryview, out: memoryview) -> None:
        """`out` is exactly len(ciphertext) - 16 bytes; on DecryptionError it holds garbage."""
        try:
            self._aead.decrypt_into(nonce, ciphertext, None, out)
        except InvalidTag as exc:
            raise DecryptionError("the ChaCha20-Poly1305 tag does not verify") from exc

    def __reduce__(self) -> NoReturn:
        raise TypeError("a ChaCha20-Poly1305 key cannot be pickled")

    def __repr__(self) -> str:
        return "ChaCha20Poly1305Key()"


# pyca's own parser of a raw X25519 public key, called without the checks that its public classmethod
# makes again on every call (an import, and whether OpenSSL has X25519: ~1.5 µs, 5 % of an
# exchange); the public one if a release of pyca lays out its bindings otherwise.
try:
    from cryptography.hazmat.bindings._rust import openssl as _pyca_rust

    _x25519_public: Callable[[bytes], x25519.X25519PublicKey] = _pyca_rust.x25519.from_public_bytes
except (ImportError, AttributeError):  # pragma: no cover
    _x25519_public = x25519.X25519PublicKey.from_public_bytes


def x25519_exchange_many(scalar: bytes, points: bytes) -> bytes:
    """X25519(scalar, u) for each 32-byte u-coordinate in `points`, concatenated in order.

    The scalar is clamped as RFC 7748 says, so results commute: X25519(a, X25519(b, u)) equals
    X25519(b, X25519(a, u)). A point of low order (all-zero result) is refused, whole batch."""
    if len(scalar) != X25519_SIZE or len(points) % X25519_SIZE:
        raise InvalidInput("X25519 scalars and points are 32 bytes each")
    key = x25519.X25519PrivateKey.from_private_bytes(scalar)  # (checks, once, that OpenSSL has X25519)
    exchange, public = key.exchange, _x25519_public
    try:
        return b"".join([exchange(public(points[i:i + X25519_SIZE]))
                         for i in range(0, len(points), X25519_SIZE)])
    except ValueError as exc:
        raise InvalidInput("a point of low order (X25519 gave the all-zero result)") from exc


def _secret_aad(purpose: bytes, header: bytes) -> bytes:
    return b"hcx secret/1\n" + purpose + b"\n" + header


def _scrypt(passphrase: bytes, salt: bytes, log2_n: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**log2_n, r=8, p=1).derive(passphrase)


def encrypt_with_passphrase(passphrase: bytes, plaintext: bytes, *, purpose: bytes) -> bytes:
    """Encrypt a secret for storage; see the module docstring for the layout."""
    if not passphrase:
        raise InvalidInput("an empty passphrase protects nothing")
    salt, nonce = random_bytes(16), random_bytes(12)
    header = bytes([_SECRET_VERSION, SCRYPT_LOG2_N]) + salt + nonce
    key = _scrypt(passphrase, salt, SCRYPT_LOG2_N)
    return header + AESGCM(key).encrypt(nonce, plaintext, _secret_aad(purpose, header))


def decrypt_with_passphrase(passphrase: bytes, data: bytes, *, purpose: bytes) -> bytes:
    """Open what `encrypt_with_passphrase` wrote. Any failure is one DecryptionError."""
    if len(data) < _SECRET_HEADER_SIZE + 16 or data[0] != _SECRET_VERSION:
        raise DecryptionError("not an hcx protected secret, or an unknown version of one")
    log2_n = data[1]
    if log2_n not in _SCRYPT_LOG2_N_RANGE:
        raise DecryptionError("the protected secret names an unsupported scrypt cost")
    header = data[:_SECRET_HEADER_SIZE]
    key = _scrypt(passphrase, header[2:18], log2_n)
    try:
        return AESGCM(key).decrypt(header[18:30], data[_SECRET_HEADER_SIZE:], _secret_aad(purpose, header))
    except InvalidTag as exc:
        raise DecryptionError("wrong passphrase, or the protected secret is corrupt") from exc


_VAULT_VERSION = 0x02


def new_vault_salt() -> bytes:
    """What a node stores to derive its vault key: the scrypt cost and a random salt."""
    return bytes([SCRYPT_LOG2_N]) + random_bytes(16)


def derive_vault_key(passphrase: bytes, vault_salt: bytes) -> bytes:
    if not passphrase:
        raise InvalidInput("an empty passphrase protects nothing")
    if len(vault_salt) != 17 or vault_salt[0] not in _SCRYPT_LOG2_N_RANGE:
        raise DecryptionError("the node's key salt is malformed")
    return _scrypt(passphrase, vault_salt[1:], vault_salt[0])


def vault_seal(vault_key: bytes, plaintext: bytes, *, purpose: bytes) -> bytes:
    nonce = random_bytes(12)
    return bytes([_VAULT_VERSION]) + nonce + AESGCM(vault_key).encrypt(nonce, plaintext, b"hcx vault/1\n" + purpose)


def vault_open(vault_key: bytes, data: bytes, *, purpose: bytes) -> bytes:
    """Any failure (wrong passphrase, corrupt data, another purpose) is one DecryptionError."""
    if len(data) < 1 + 12 + 16 or data[0] != _VAULT_VERSION:
        raise DecryptionError("not a key sealed by a node vault, or an unknown version of one")
    try:
        return AESGCM(vault_key).decrypt(data[1:13], data[13:], b"hcx vault/1\n" + purpose)
    except InvalidTag as exc:
        raise DecryptionError("the key does not open: wrong passphrase, or the key was altered") from exc

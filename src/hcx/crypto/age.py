"""The age file format (age-encryption.org/v1), X25519 recipients, streaming.

A stand-in on top of pyrage with the API of the pyca-based implementation (branch `age`), which
replaces this module at merge. Both stream: the input is read once in chunks and never held whole,
and the SHA-256 of the plaintext is computed on the side, so a caller gets fixity and encryption
from one pass over a file of any size.

    AgeIdentity.generate() / .parse(text) / .secret_text() / .recipient
    AgeRecipient.parse(text) / str(recipient)
    encrypt(src, dst, recipients) -> EncryptResult(size, sha256)     plaintext size and digest
    decrypt(src, dst, identities) -> DecryptResult(size, sha256)     idem, of what was written
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any, Final

import pyrage

from hcx.errors import DecryptionError, InvalidInput

__all__ = ["AgeIdentity", "AgeRecipient", "DecryptResult", "EncryptResult", "decrypt", "encrypt"]

_CHUNK: Final = 1 << 20


class AgeRecipient:
    """An X25519 age recipient, `age1…`."""

    __slots__ = ("_recipient", "_text")

    def __init__(self, recipient: Any, text: str) -> None:
        self._recipient = recipient
        self._text = text

    @classmethod
    def parse(cls, text: str) -> AgeRecipient:
        try:
            return cls(pyrage.x25519.Recipient.from_str(text), text)
        except (pyrage.RecipientError, ValueError, TypeError) as exc:
            raise InvalidInput("not an age X25519 recipient (age1…)") from exc

    def __str__(self) -> str:
        return self._text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AgeRecipient) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)

    def __repr__(self) -> str:
        return f"AgeRecipient({self._text!r})"


class AgeIdentity:
    """An X25519 age identity (private key). Its repr shows the recipient only."""

    __slots__ = ("_identity", "recipient")

    def __init__(self, identity: Any) -> None:
        self._identity = identity
        public = str(identity.to_public())
        self.recipient: Final = AgeRecipient(pyrage.x25519.Recipient.from_str(public), public)

    @classmethod
    def generate(cls) -> AgeIdentity:
        return cls(pyrage.x25519.Identity.generate())

    @classmethod
    def parse(cls, text: str) -> AgeIdentity:
        try:
            return cls(pyrage.x25519.Identity.from_str(text.strip()))
        except (pyrage.IdentityError, ValueError, TypeError) as exc:
            raise InvalidInput("not an age X25519 identity (AGE-SECRET-KEY-1…)") from exc

    def secret_text(self) -> str:
        return str(self._identity)

    def __repr__(self) -> str:
        return f"AgeIdentity(recipient={str(self.recipient)!r})"

    def __reduce__(self) -> Any:
        raise TypeError("an age identity cannot be pickled; use secret_text() and seal it")


@dataclass(frozen=True, slots=True)
class EncryptResult:
    size: int  # plaintext bytes read
    sha256: bytes  # SHA-256 of the plaintext


@dataclass(frozen=True, slots=True)
class DecryptResult:
    size: int  # plaintext bytes written
    sha256: bytes  # SHA-256 of the plaintext


class _Hashing:
    """A file-like wrapper that hashes and counts what passes through it (read or write)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.hash = hashlib.sha256()
        self.size = 0
        self.error: OSError | None = None  # an I/O error of the wrapped stream, told apart from bad input

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(_CHUNK if n is None or n < 0 else n)
        self.hash.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.hash.update(view)
        self.size += len(view)
        try:
            written = self._stream.write(view)
        except OSError as exc:
            self.error = exc
            raise
        return len(view) if written is None else written

    def flush(self) -> None:
        self._stream.flush()

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True


def encrypt(src: IO[bytes], dst: IO[bytes], recipients: Sequence[AgeRecipient], workers: int = 2) -> EncryptResult:
    """Encrypt `src` to every recipient into `dst`, streaming; `workers` is accepted for API
    compatibility (pyrage encrypts on one thread)."""
    del workers
    if not recipients:
        raise InvalidInput("age encryption needs at least one recipient")
    reader = _Hashing(src)
    try:
        pyrage.encrypt_io(reader, dst, [r._recipient for r in recipients])
    except pyrage.EncryptError as exc:
        raise InvalidInput(f"age encryption failed: {exc}") from exc
    return EncryptResult(reader.size, reader.hash.digest())


def decrypt(src: IO[bytes], dst: IO[bytes], identities: Sequence[AgeIdentity], workers: int = 2) -> DecryptResult:
    """Decrypt an age file into `dst`, streaming; DecryptionError if no identity opens it or it
    was altered (age authenticates every 64 KiB chunk and the header)."""
    del workers
    writer = _Hashing(dst)
    try:
        pyrage.decrypt_io(src, writer, [i._identity for i in identities])
    except (pyrage.DecryptError, ValueError, OSError) as exc:
        if writer.error is not None:
            raise writer.error from exc
        raise DecryptionError(f"the age file does not decrypt: {exc}") from exc
    return DecryptResult(writer.size, writer.hash.digest())

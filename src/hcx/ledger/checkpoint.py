"""c2sp.org/tlog-checkpoint@v1 bodies and c2sp.org/tlog-cosignature@v1 Ed25519 cosignatures.

A checkpoint is a signed note whose text is: origin, decimal tree size, base64 root hash, then
optional extension lines. A cosignature (signature type 0x04) is a note signature over

    cosignature/v1\\ntime <POSIX seconds>\\n<checkpoint text>

whose bytes are the 8-byte big-endian timestamp followed by the 64-byte Ed25519 signature. It
says "as of that time, this is the largest consistent tree I have seen for this origin": hcx
nodes cosign each other's checkpoints only after checking consistency (services/custody.py).
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from hcx.crypto.keys import SigningKey
from hcx.errors import InvalidInput, InvalidSignature
from hcx.ledger.merkle import HASH_SIZE
from hcx.ledger.note import (
    Ed25519NoteSigner,
    NamedEd25519Key,
    Note,
    NoteSignature,
    Verifier,
    b64decode_strict,
    parse_note,
    verify_note,
)

__all__ = [
    "COSIGNATURE_V1",
    "Checkpoint",
    "Cosignature",
    "CosignatureVerifier",
    "Cosigner",
    "open_checkpoint",
    "sign_checkpoint",
]

COSIGNATURE_V1: Final = 0x04
MAX_TIMESTAMP: Final = 2**63 - 1
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_COSIGNATURE = struct.Struct(">Q64s")


@dataclass(frozen=True)
class Checkpoint:
    """The head of a log: its origin, its size and its RFC 6962 root."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise InvalidInput("a checkpoint origin is one non-empty line")
        if not 0 <= self.size < 2**64:
            raise InvalidInput("a checkpoint size is an unsigned 64-bit number")
        if len(self.root) != HASH_SIZE:
            raise InvalidInput(f"a checkpoint root is {HASH_SIZE} bytes")
        if any(not line or "\n" in line for line in self.extensions):
            raise InvalidInput("checkpoint extension lines are non-empty single lines")

    def text(self) -> str:
        """The note text: what the log's signature and every cosignature cover."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii"), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise InvalidInput("a checkpoint has an origin, a size and a root hash, each on its own line")
        origin, size, root, *extensions = lines[:-1]
        if not _SIZE.fullmatch(size):
            raise InvalidInput("a checkpoint size is a decimal number without leading zeroes")
        return cls(origin, int(size), b64decode_strict(root, "the checkpoint root"), tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: Ed25519NoteSigner) -> Note:
    text = checkpoint.text()
    return Note(text, (signer.sign(text),))


def open_checkpoint(data: bytes | str, log: Sequence[Verifier], *, origin: str | None = None
                    ) -> tuple[Checkpoint, Note]:
    """Parse a signed checkpoint and check the log's signature (InvalidSignature otherwise) and,
    when given, its origin. Other signatures (cosignatures) are left to `CosignatureVerifier`."""
    note = parse_note(data)
    checkpoint = Checkpoint.parse(note.text)
    if origin is not None and checkpoint.origin != origin:
        raise InvalidSignature(f"the checkpoint is for the log {checkpoint.origin!r}, not {origin!r}")
    verify_note(note, log)
    return checkpoint, note


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: who, when (POSIX seconds), and its signature line."""

    name: str
    timestamp: int
    signature: NoteSignature


@dataclass(frozen=True)
class CosignatureVerifier(NamedEd25519Key):
    """Signature type 0x04: a cosigner's Ed25519 key (key ID derived with type byte 0x04)."""

    signature_type = COSIGNATURE_V1

    def verify(self, text: str, signature: bytes) -> None:
        self.timestamp_of(text, signature)

    def timestamp_of(self, text: str, signature: bytes) -> int:
        """The verified timestamp of a cosignature of `text`; InvalidSignature if it does not verify."""
        if len(signature) != _COSIGNATURE.size:
            raise InvalidSignature(f"a cosignature is {_COSIGNATURE.size} bytes, not {len(signature)}")
        timestamp, ed25519_signature = _COSIGNATURE.unpack(signature)
        if timestamp > MAX_TIMESTAMP:
            raise InvalidSignature("a cosignature timestamp does not exceed 2**63 - 1")
        self.public.verify(ed25519_signature, _cosigned_message(text, timestamp))
        return int(timestamp)

    def cosignatures(self, note: Note) -> list[Cosignature]:
        """This cosigner's signatures on `note`, each verified (InvalidSignature if one fails)."""
        found = []
        for signature in note.signatures:
            if (signature.name, signature.key_id) == (self.name, self.key_id):
                try:
                    found.append(Cosignature(self.name, self.timestamp_of(note.text, signature.signature), signature))
                except InvalidSignature as exc:
                    raise InvalidSignature(f"the cosignature by {self.name} does not verify") from exc
        return found


@dataclass(frozen=True)
class Cosigner:
    name: str
    key: SigningKey

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.key.public)

    def cosign(self, checkpoint: Checkpoint, timestamp: int) -> NoteSignature:
        """Cosign a checkpoint whose consistency the caller has checked; `timestamp` in POSIX seconds."""
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise InvalidInput("a cosignature timestamp is between 0 and 2**63 - 1")
        signature = self.key.sign(_cosigned_message(checkpoint.text(), timestamp))
        return NoteSignature(self.name, self.verifier.key_id, _COSIGNATURE.pack(timestamp, signature))


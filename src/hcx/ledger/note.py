"""c2sp.org/signed-note@v1: a text, a blank line, and signature lines `— <name> base64(key ID || sig)`.

Parsing is strict (valid UTF-8, no control characters but newline, names without spaces or '+',
canonical base64): two readers never disagree about what was signed. Verification follows the
spec's rules: signatures by unknown keys (name and key ID not both known) are ignored, a known
key's bad signature rejects the whole note, and a note with no good known signature is rejected.

Signature types are pluggable through `Verifier`: this module implements type 0x01 (Ed25519 over
the text); checkpoint.py adds 0x04 (timestamped cosignatures).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, Protocol, Self

from hcx.crypto.keys import SigningKey, VerifyKey
from hcx.errors import InvalidInput, InvalidSignature

__all__ = [
    "ED25519",
    "MAX_SIGNATURES",
    "Ed25519NoteSigner",
    "Ed25519NoteVerifier",
    "NamedEd25519Key",
    "Note",
    "NoteSignature",
    "Verifier",
    "b64decode_strict",
    "check_key_name",
    "decode_vkey",
    "encode_vkey",
    "key_id",
    "parse_note",
    "parse_signature_line",
    "verify_note",
]

ED25519: Final = 0x01
MAX_SIGNATURES: Final = 64  # the spec asks verifiers to accept at least 16
MAX_NOTE_BYTES: Final = 1_000_000
_DASH: Final = "— "
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


def b64decode_strict(text: str, what: str) -> bytes:
    """Standard base64 (RFC 4648 §4), padded, in its one canonical spelling."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise InvalidInput(f"{what} is not base64") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise InvalidInput(f"{what} is not canonical base64")
    return data


def check_key_name(name: str) -> None:
    if not name or "+" in name or any(ch.isspace() for ch in name) or _CONTROL.search(name):
        raise InvalidInput(f"{name!r} is not a key name: it must be non-empty, without spaces or '+'")


def key_id(name: str, signature_type: int, public: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4]: the spec's recommended key ID."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([signature_type]) + public).digest()[:4]


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key name, the 4-byte key ID and the signature proper."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{_DASH}{self.name} {base64.b64encode(self.key_id + self.signature).decode('ascii')}\n"


@dataclass(frozen=True)
class Note:
    """A signed note: `text` ends in a newline and is exactly what the signatures cover."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        _check_text(self.text)

    def format(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signature(self, signature: NoteSignature) -> Note:
        return Note(self.text, (*self.signatures, signature))


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise InvalidInput("a note text ends with a newline")
    if _CONTROL.search(text):
        raise InvalidInput("a note contains no control characters other than newline")


def parse_signature_line(line: str) -> NoteSignature:
    """One signature line, without its final newline."""
    if not line.startswith(_DASH):
        raise InvalidInput("a note signature line starts with an em dash and a space")
    name, space, encoded = line[len(_DASH):].partition(" ")
    if not space:
        raise InvalidInput("a note signature line is '— <name> <base64 signature>'")
    check_key_name(name)
    raw = b64decode_strict(encoded, f"the signature of {name}")
    if len(raw) < 5:
        raise InvalidInput(f"the signature of {name} is too short to hold a key ID and a signature")
    return NoteSignature(name, raw[:4], raw[4:])


def parse_note(data: bytes | str) -> Note:
    """Read a signed note; raise InvalidInput on anything the spec does not allow."""
    if isinstance(data, bytes):
        if len(data) > MAX_NOTE_BYTES:
            raise InvalidInput(f"a note is at most {MAX_NOTE_BYTES} bytes")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput("a note is UTF-8 text") from exc
    if _CONTROL.search(data):
        raise InvalidInput("a note contains no control characters other than newline (no CR, no tab)")
    if not data.endswith("\n"):
        raise InvalidInput("a note ends with a newline")
    split = data.rfind("\n\n")
    if split < 0:
        raise InvalidInput("a note has a blank line between its text and its signatures")
    text, lines = data[: split + 1], data[split + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise InvalidInput(f"a note carries at most {MAX_SIGNATURES} signatures")
    return Note(text, tuple(parse_signature_line(line) for line in lines))


class Verifier(Protocol):
    """A known key: it checks the signatures whose name and key ID are its own."""

    @property
    def name(self) -> str: ...
    @property
    def key_id(self) -> bytes: ...
    def verify(self, text: str, signature: bytes) -> None: ...


@dataclass(frozen=True)
class NamedEd25519Key:
    """A named Ed25519 public key of one signature type: the key ID and the vkey spelling derive
    from the name, the type byte and the key, whatever the type signs."""

    signature_type: ClassVar[int]
    name: str
    public: VerifyKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.signature_type, self.public.raw)

    def vkey(self) -> str:
        return encode_vkey(self.name, self.signature_type, self.public.raw)

    @classmethod
    def from_vkey(cls, vkey: str) -> Self:
        name, _, public = decode_vkey(vkey, cls.signature_type)
        return cls(name, VerifyKey(public))


@dataclass(frozen=True)
class Ed25519NoteVerifier(NamedEd25519Key):
    """Signature type 0x01: Ed25519 over the note text."""

    signature_type = ED25519

    def verify(self, text: str, signature: bytes) -> None:
        self.public.verify(signature, text.encode("utf-8"))


@dataclass(frozen=True)
class Ed25519NoteSigner:
    name: str
    key: SigningKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def verifier(self) -> Ed25519NoteVerifier:
        return Ed25519NoteVerifier(self.name, self.key.public)

    def sign(self, text: str) -> NoteSignature:
        _check_text(text)
        return NoteSignature(self.name, self.verifier.key_id, self.key.sign(text.encode("utf-8")))


def encode_vkey(name: str, signature_type: int, public: bytes) -> str:
    """`<name>+<hex key ID>+base64(type || public key)`."""
    check_key_name(name)
    return f"{name}+{key_id(name, signature_type, public).hex()}+" \
           f"{base64.b64encode(bytes([signature_type]) + public).decode('ascii')}"


def decode_vkey(vkey: str, expected_type: int) -> tuple[str, bytes, bytes]:
    """(name, key ID, public key) of a verifier key of `expected_type`; the key ID must be the
    one the spec derives, so a vkey cannot name one key and carry another."""
    parts = vkey.strip().split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
        raise InvalidInput("a verifier key is '<name>+<8 hex digits>+<base64 key>'")
    name, hex_id, encoded = parts
    check_key_name(name)
    material = b64decode_strict(encoded, "the verifier key")
    if not material or material[0] != expected_type:
        raise InvalidInput(f"the verifier key is not of signature type 0x{expected_type:02x}")
    public = material[1:]
    if key_id(name, expected_type, public).hex() != hex_id:
        raise InvalidInput(f"the verifier key's ID {hex_id} does not match its name and key")
    return name, bytes.fromhex(hex_id), public


def verify_note(note: Note, verifiers: Sequence[Verifier]) -> list[NoteSignature]:
    """The signatures of `note` made by `verifiers`' keys, all checked. Raise InvalidSignature if
    one of them fails, or if none of the known keys signed."""
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: list[NoteSignature] = []
    for signature in note.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            continue
        try:
            verifier.verify(note.text, signature.signature)
        except (InvalidSignature, InvalidInput) as exc:
            raise InvalidSignature(f"the note's signature by {signature.name} does not verify") from exc
        verified.append(signature)
    if not verified:
        names = ", ".join(sorted({v.name for v in verifiers})) or "nobody"
        raise InvalidSignature(f"the note carries no signature by a known key (expected: {names})")
    return verified

"""The sending authority's signature over a bag's tag manifest: `tagmanifest-sha256.txt.sig`.

A UTF-8 text file of exactly six lines (docs/evidence.md):

    hcx manifest-signature/1
    party VNM
    authority 01JD…                      (the authority's id in its node descriptor)
    key <kid> <base64url Ed25519 public key>
    signed-at 2026-11-23T09:00:00Z
    signature <base64url Ed25519 signature>

The signature covers the first five lines, each with its line feed, followed by the exact bytes of
`tagmanifest-sha256.txt`. The tag manifest lists every other tag file (bagit.txt, bag-info.txt,
manifest-sha256.txt, case.jsonld) and the payload manifest every payload file, so one signature
fixes every byte of the bag.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

from hcx.crypto.keys import SigningKey, VerifyKey, b64d, b64e, kid_of
from hcx.errors import InvalidInput

__all__ = ["SIGNATURE_FORMAT", "SIGNATURE_NAME", "ManifestSignature", "sign_manifest"]

SIGNATURE_FORMAT: Final = "hcx manifest-signature/1"
SIGNATURE_NAME: Final = "tagmanifest-sha256.txt.sig"
_FIELDS: Final = ("party", "authority", "key", "signed-at", "signature")
_PARTY = re.compile(r"[A-Z]{3}")
_AUTHORITY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_KID = re.compile(r"[a-z2-7]{16}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


class SignatureFormatError(InvalidInput):
    """A malformed signature file; `line` is the 1-based line at fault."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True, slots=True)
class ManifestSignature:
    party: str
    authority: str
    key: VerifyKey
    signed_at: str
    signature: bytes

    def _signed_lines(self) -> str:
        return (f"{SIGNATURE_FORMAT}\nparty {self.party}\nauthority {self.authority}\n"
                f"key {self.key.kid} {b64e(self.key.raw)}\nsigned-at {self.signed_at}\n")

    def format(self) -> bytes:
        return (self._signed_lines() + f"signature {b64e(self.signature)}\n").encode("ascii")

    def verify(self, tagmanifest: bytes) -> None:
        """InvalidSignature unless the signature holds over these tag-manifest bytes."""
        self.key.verify(self.signature, self._signed_lines().encode("ascii") + tagmanifest)

    @classmethod
    def parse(cls, data: bytes) -> ManifestSignature:
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise SignatureFormatError(data.count(b"\n", 0, exc.start) + 1, "not ASCII text") from exc
        lines = text.split("\n")
        if lines[-1] != "" or len(lines) != 7:
            raise SignatureFormatError(min(len(lines), 7), "a signature file has exactly six lines, each ending "
                                                           "with a line feed")
        if lines[0] != SIGNATURE_FORMAT:
            raise SignatureFormatError(1, f"the first line is {SIGNATURE_FORMAT!r}")
        values: list[str] = []
        for number, (name, line) in enumerate(zip(_FIELDS, lines[1:6], strict=True), start=2):
            if not line.startswith(name + " "):
                raise SignatureFormatError(number, f"expected '{name} …'")
            values.append(line[len(name) + 1:])
        party, authority, key, signed_at, signature = values
        if not _PARTY.fullmatch(party):
            raise SignatureFormatError(2, "the party is an ISO 3166-1 alpha-3 code")
        if not _AUTHORITY.fullmatch(authority):
            raise SignatureFormatError(3, "not an authority id")
        kid, _, raw = key.partition(" ")
        try:
            public = VerifyKey(b64d(raw))
        except InvalidInput as exc:
            raise SignatureFormatError(4, f"not an Ed25519 public key: {exc.message}") from exc
        if not _KID.fullmatch(kid) or kid_of(public.raw) != kid:
            raise SignatureFormatError(4, "the key id does not match the key")
        if not _TIME.fullmatch(signed_at):
            raise SignatureFormatError(5, "signed-at is a UTC time written YYYY-MM-DDTHH:MM:SSZ")
        try:
            raw_signature = b64d(signature)
        except InvalidInput as exc:
            raise SignatureFormatError(6, "the signature is not base64url") from exc
        if len(raw_signature) != 64:
            raise SignatureFormatError(6, "an Ed25519 signature is 64 bytes")
        parsed = cls(party, authority, public, signed_at, raw_signature)
        if parsed.format() != data:
            raise SignatureFormatError(1, "not in canonical form")
        return parsed


def sign_manifest(tagmanifest: bytes, *, party: str, authority: str, key: SigningKey,
                  at: dt.datetime) -> ManifestSignature:
    signed_at = at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    unsigned = ManifestSignature(party, authority, key.public, signed_at, b"")
    signature = key.sign(unsigned._signed_lines().encode("ascii") + tagmanifest)
    result = ManifestSignature(party, authority, key.public, signed_at, signature)
    result.verify(tagmanifest)  # a key that does not match its public half fails here, not in court
    return result

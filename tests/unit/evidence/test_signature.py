"""The manifest signature file: round trip, strict parsing naming the line, tampering."""

from __future__ import annotations

import datetime as dt

import pytest

from hcx.crypto.keys import SigningKey
from hcx.errors import InvalidSignature
from hcx.evidence.signature import ManifestSignature, SignatureFormatError, sign_manifest

AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
TAGMANIFEST = b"0" * 64 + b"  bagit.txt\n"


def signed() -> tuple[SigningKey, bytes]:
    key = SigningKey.generate()
    return key, sign_manifest(TAGMANIFEST, party="VNM", authority="01AUTHORITY", key=key, at=AT).format()


def test_a_signature_reads_back_and_verifies() -> None:
    key, data = signed()
    parsed = ManifestSignature.parse(data)
    assert (parsed.party, parsed.authority, parsed.key, parsed.signed_at) == ("VNM", "01AUTHORITY", key.public,
                                                                               "2026-11-23T09:00:00Z")
    parsed.verify(TAGMANIFEST)
    with pytest.raises(InvalidSignature):
        parsed.verify(TAGMANIFEST.replace(b"0", b"1", 1))


@pytest.mark.parametrize(("line", "old", "new"), [
    (1, b"manifest-signature/1", b"manifest-signature/2"),
    (2, b"party VNM", b"party vnm"),
    (4, b"key ", b"key a"),
    (5, b"09:00:00Z", b"09:00:00+"),
])
def test_a_malformed_file_names_its_line(line: int, old: bytes, new: bytes) -> None:
    _, data = signed()
    with pytest.raises(SignatureFormatError) as caught:
        ManifestSignature.parse(data.replace(old, new, 1))
    assert caught.value.line == line


def test_a_changed_field_breaks_the_signature() -> None:
    _, data = signed()
    parsed = ManifestSignature.parse(data.replace(b"signed-at 2026-11-23", b"signed-at 2026-11-24"))
    with pytest.raises(InvalidSignature):
        parsed.verify(TAGMANIFEST)
    with pytest.raises(SignatureFormatError):
        ManifestSignature.parse(data + b"extra\n")

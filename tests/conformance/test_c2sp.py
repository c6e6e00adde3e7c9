"""C2SP signed-note and tlog-checkpoint against real data (conformance/SOURCES.md §7).

- the signed-note spec's example (vkey `example.com/foo+530d903a+…`);
- Tessera's 15-entry test log: checkpoint.0..15 verify under log.vkey, and each root is the RFC
  6962 root of the first N entries of the entry bundle (and of the level-0 hash tile).
"""

from __future__ import annotations

import re
import struct

import pytest

from hcx.errors import InvalidInput, InvalidSignature
from hcx.ledger.checkpoint import open_checkpoint
from hcx.ledger.frontier import Frontier
from hcx.ledger.merkle import EMPTY_ROOT, leaf_hash
from hcx.ledger.note import Ed25519NoteVerifier, parse_note, verify_note
from tests.conftest import CONFORMANCE

C2SP = CONFORMANCE / "c2sp"
LOG = C2SP / "tessera-testdata" / "testdata" / "log"
ORIGIN = "example.com/log/testdata"
WORDS = "one two three four five six seven eit nain ten ileven twelf threeten fourten fivten".split()

SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = ("This is an example message.\n\n— example.com/foo "
             "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")


def _entries(bundle: bytes) -> list[bytes]:
    """Tessera entry bundle: each entry is a big-endian uint16 length, then its bytes."""
    entries, offset = [], 0
    while offset < len(bundle):
        (length,) = struct.unpack_from(">H", bundle, offset)
        entries.append(bundle[offset + 2 : offset + 2 + length])
        offset += 2 + length
    return entries


def _log_verifier() -> Ed25519NoteVerifier:
    return Ed25519NoteVerifier.from_vkey((C2SP / "tessera-testdata" / "log.vkey").read_text())


def test_signed_note_spec_example() -> None:
    verifier = Ed25519NoteVerifier.from_vkey(SPEC_VKEY)
    note = parse_note(SPEC_NOTE.encode())
    assert note.text == "This is an example message.\n"
    assert [s.name for s in verify_note(note, [verifier])] == ["example.com/foo"]
    assert verifier.vkey() == SPEC_VKEY
    assert note.format() == SPEC_NOTE


def test_spec_example_with_altered_text_is_refused() -> None:
    note = parse_note(SPEC_NOTE.replace("example message", "example massage"))
    with pytest.raises(InvalidSignature):
        verify_note(note, [Ed25519NoteVerifier.from_vkey(SPEC_VKEY)])


@pytest.mark.parametrize("size", range(16))
def test_tessera_checkpoint_verifies_and_matches_entries(size: int) -> None:
    checkpoint, note = open_checkpoint((LOG / f"checkpoint.{size}").read_bytes(), [_log_verifier()], origin=ORIGIN)
    assert checkpoint.size == size
    assert note.format().encode() == (LOG / f"checkpoint.{size}").read_bytes()
    if size == 0:
        assert checkpoint.root == EMPTY_ROOT
        return
    entries = _entries((LOG / "tile" / "entries" / "000.p" / str(size)).read_bytes())
    assert [e.decode() for e in entries] == WORDS[:size]
    leaves = [leaf_hash(e) for e in entries]
    assert Frontier.of(leaves).root() == checkpoint.root
    assert (LOG / "tile" / "0" / "000.p" / str(size)).read_bytes() == b"".join(leaves)


def test_latest_checkpoint_is_checkpoint_15() -> None:
    assert (LOG / "checkpoint").read_bytes() == (LOG / "checkpoint.15").read_bytes()


def test_checkpoint_for_another_origin_is_refused() -> None:
    with pytest.raises(InvalidSignature, match=re.escape("not 'example.com/other'")):
        open_checkpoint((LOG / "checkpoint.3").read_bytes(), [_log_verifier()], origin="example.com/other")


def test_checkpoint_under_an_unknown_key_is_refused() -> None:
    with pytest.raises(InvalidSignature, match="no signature by a known key"):
        open_checkpoint((LOG / "checkpoint.3").read_bytes(), [Ed25519NoteVerifier.from_vkey(SPEC_VKEY)])


def test_vkey_with_a_wrong_key_id_is_refused() -> None:
    with pytest.raises(InvalidInput, match="does not match"):
        Ed25519NoteVerifier.from_vkey(SPEC_VKEY.replace("530d903a", "530d903b"))

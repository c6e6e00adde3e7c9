"""Signed notes, checkpoints and cosignatures: round trips, strict parsing, tampering."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hcx.crypto.keys import SigningKey
from hcx.errors import InvalidInput, InvalidSignature
from hcx.ledger.checkpoint import Checkpoint, CosignatureVerifier, Cosigner, open_checkpoint, sign_checkpoint
from hcx.ledger.merkle import EMPTY_ROOT, leaf_hash
from hcx.ledger.note import Ed25519NoteSigner, Ed25519NoteVerifier, Note, NoteSignature, parse_note, verify_note

LOG = Ed25519NoteSigner("hcx/VNM", SigningKey.from_seed(bytes(range(32))))
WITNESS = Cosigner("hcx/FRA", SigningKey.from_seed(bytes(range(1, 33))))
CHECKPOINT = Checkpoint("hcx/VNM", 12, leaf_hash(b"x"))


def signed() -> str:
    return sign_checkpoint(CHECKPOINT, LOG).format()


def test_checkpoint_round_trip() -> None:
    checkpoint, note = open_checkpoint(signed(), [LOG.verifier], origin="hcx/VNM")
    assert checkpoint == CHECKPOINT
    assert note.format() == signed()
    assert note.text == f"hcx/VNM\n12\n{base64.b64encode(CHECKPOINT.root).decode()}\n"


def test_extension_lines_are_kept_and_signed() -> None:
    with_extension = Checkpoint("hcx/VNM", 0, EMPTY_ROOT, ("tile 256",))
    checkpoint, _ = open_checkpoint(sign_checkpoint(with_extension, LOG).format(), [LOG.verifier])
    assert checkpoint.extensions == ("tile 256",)


@given(st.integers(0, len(signed().encode()) - 1), st.integers(1, 255))
def test_any_changed_byte_is_refused(position: int, xor: int) -> None:
    data = bytearray(signed().encode())
    data[position] ^= xor
    with pytest.raises((InvalidInput, InvalidSignature)):
        open_checkpoint(bytes(data), [LOG.verifier], origin="hcx/VNM")


@pytest.mark.parametrize("bad", [
    "no blank line\n— hcx/VNM AAAAAAA=\n",
    "text\n\n— hcx/VNM AAAAAAA=",  # no final newline
    "text\r\n\n— hcx/VNM AAAAAAA=\n",  # CR
    "text\t\n\n— hcx/VNM AAAAAAA=\n",  # tab
    "text\n\n",  # no signature
    "text\n\n- hcx/VNM AAAAAAA=\n",  # hyphen, not an em dash
    "text\n\n— hcx/VNM AAAAAAA\n",  # unpadded base64
    "text\n\n— hcx/VNM AAAA\n",  # key ID with no signature
    "text\n\n— hcx+VNM AAAAAAA=\n",  # '+' in the name
    "text\n\n—  AAAAAAA=\n",  # empty name
    "text\n\n— hcx/VNM\n",
])
def test_malformed_notes_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_note(bad)


def test_non_utf8_is_refused() -> None:
    with pytest.raises(InvalidInput, match="UTF-8"):
        parse_note(b"\xff\n\n\xe2\x80\x94 a AAAAAAA=\n")


@pytest.mark.parametrize("bad", ["hcx/VNM\n012\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n",
                                 "hcx/VNM\n1\n" + base64.b64encode(b"short").decode() + "\n",
                                 "hcx/VNM\n1\n",
                                 "\n1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n",
                                 "hcx/VNM\n1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n\n"])
def test_malformed_checkpoint_bodies_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        Checkpoint.parse(bad)


def test_unknown_signatures_are_ignored_and_bad_known_ones_reject_the_note() -> None:
    note = parse_note(signed())
    stranger = Ed25519NoteSigner("example.com/other", SigningKey.from_seed(bytes(32)))
    with_stranger = note.with_signature(stranger.sign(note.text))
    assert [s.name for s in verify_note(with_stranger, [LOG.verifier])] == ["hcx/VNM"]
    same_name_other_id = NoteSignature("hcx/VNM", b"\0\0\0\0", b"x" * 64)
    assert verify_note(note.with_signature(same_name_other_id), [LOG.verifier])  # ignored: ID unknown
    corrupt = NoteSignature("hcx/VNM", LOG.verifier.key_id, b"x" * 64)
    with pytest.raises(InvalidSignature, match="by hcx/VNM does not verify"):
        verify_note(note.with_signature(corrupt), [LOG.verifier])
    with pytest.raises(InvalidSignature, match="no signature by a known key"):
        verify_note(note, [stranger.verifier])


def test_cosignature_round_trip_and_message() -> None:
    line = WITNESS.cosign(CHECKPOINT, 1_679_315_147)
    note = parse_note(signed()).with_signature(line)
    [cosignature] = WITNESS.verifier.cosignatures(note)
    assert cosignature.timestamp == 1_679_315_147
    assert line.key_id != Ed25519NoteSigner("hcx/FRA", WITNESS.key).verifier.key_id  # type byte 0x04, not 0x01
    message = f"cosignature/v1\ntime 1679315147\n{CHECKPOINT.text()}".encode()
    WITNESS.key.public.verify(line.signature[8:], message)
    assert open_checkpoint(note.format(), [LOG.verifier])[0] == CHECKPOINT  # the log ignores the cosignature


def test_a_tampered_cosignature_is_refused() -> None:
    line = WITNESS.cosign(CHECKPOINT, 1_679_315_147)
    later = NoteSignature(line.name, line.key_id, (1_679_315_148).to_bytes(8, "big") + line.signature[8:])
    note = parse_note(signed()).with_signature(later)
    with pytest.raises(InvalidSignature):
        WITNESS.verifier.cosignatures(note)
    with pytest.raises(InvalidInput):
        WITNESS.cosign(CHECKPOINT, -1)


def test_vkeys_round_trip_and_are_typed() -> None:
    assert Ed25519NoteVerifier.from_vkey(LOG.verifier.vkey()) == LOG.verifier
    assert CosignatureVerifier.from_vkey(WITNESS.verifier.vkey()) == WITNESS.verifier
    with pytest.raises(InvalidInput, match="type 0x01"):
        Ed25519NoteVerifier.from_vkey(WITNESS.verifier.vkey())
    with pytest.raises(InvalidInput):
        Ed25519NoteVerifier.from_vkey("hcx/VNM+zz+AA==")


def test_a_note_text_must_end_with_a_newline() -> None:
    with pytest.raises(InvalidInput):
        Note("no newline", ())
    with pytest.raises(InvalidInput):
        LOG.sign("no newline")

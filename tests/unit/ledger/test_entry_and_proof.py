"""Custody entries (canonical, salted) and the tlog-proof text format."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hcx.crypto.keys import SigningKey
from hcx.errors import InclusionProofError, InvalidInput, InvalidSignature
from hcx.ledger.checkpoint import Checkpoint, Cosigner, sign_checkpoint
from hcx.ledger.entry import CustodyEntry, CustodyEvent, commitment, custody_leaf_hash
from hcx.ledger.frontier import Frontier
from hcx.ledger.merkle import inclusion_proof, leaf_hash
from hcx.ledger.note import Ed25519NoteSigner, parse_note
from hcx.ledger.proof import TlogProof, verify_tlog_proof

AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
DIGEST = "sha256:" + hashlib.sha256(b"file").hexdigest()
ENTRY = CustodyEntry(CustodyEvent.sent, DIGEST, "officer", AT, "PKG-01J")
SALT = bytes(range(32))
LOG = Ed25519NoteSigner("hcx/VNM", SigningKey.from_seed(bytes(32)))
WITNESS = Cosigner("hcx/FRA", SigningKey.from_seed(bytes([7] * 32)))


def test_entry_is_canonical_json() -> None:
    assert ENTRY.canonical() == (
        b'{"at":"2026-11-23T09:00:00.000000Z","event":"sent","format":"custody-entry/1",'
        b'"object":"' + DIGEST.encode() + b'","ref":"PKG-01J","role":"officer"}')
    assert CustodyEntry.parse(ENTRY.canonical()) == ENTRY


def test_commitment_is_salted() -> None:
    assert commitment(SALT, ENTRY.canonical()) == hashlib.sha256(SALT + ENTRY.canonical()).digest()
    assert custody_leaf_hash(SALT, ENTRY.canonical()) == leaf_hash(commitment(SALT, ENTRY.canonical()))
    assert commitment(bytes(32), ENTRY.canonical()) != commitment(SALT, ENTRY.canonical())
    with pytest.raises(InvalidInput):
        commitment(b"short", ENTRY.canonical())


@pytest.mark.parametrize("field", ["object_digest", "actor_role", "ref"])
def test_entries_refuse_free_text(field: str) -> None:
    values = {"event": CustodyEvent.sent, "object_digest": DIGEST, "actor_role": "officer", "at": AT,
              "ref": "PKG-01J", field: "Nguyễn Văn A, born 1970"}
    with pytest.raises(InvalidInput):
        CustodyEntry(**values)  # type: ignore[arg-type]


def test_entries_refuse_naive_times_and_non_canonical_bytes() -> None:
    with pytest.raises(InvalidInput):
        CustodyEntry(CustodyEvent.sent, DIGEST, "officer", AT.replace(tzinfo=None), "PKG-01J")
    with pytest.raises(InvalidInput):
        CustodyEntry.parse(ENTRY.canonical().replace(b'{"at"', b'{ "at"'))
    with pytest.raises(InvalidInput):
        CustodyEntry.parse(ENTRY.canonical().replace(b'"sent"', b'"lost"'))


def _proof(index: int, size: int, *, cosign: bool = False) -> tuple[TlogProof, list[bytes]]:
    entries = [CustodyEntry(CustodyEvent.sealed, DIGEST, "officer", AT, f"PKG-{n}").canonical() for n in range(size)]
    leaves = [custody_leaf_hash(SALT, e) for e in entries]
    nodes = {(s.level, s.index): s.hash for s in Frontier().extend(leaves)}
    checkpoint = Checkpoint("hcx/VNM", size, Frontier.of(leaves).root())
    note = sign_checkpoint(checkpoint, LOG)
    if cosign:
        note = note.with_signature(WITNESS.cosign(checkpoint, 1_700_000_000))
    path = inclusion_proof(index, size, lambda wanted: [nodes[(s.level, s.index)] for s in wanted])
    return TlogProof(index, tuple(path), note.format(), SALT + entries[index]), leaves


@given(st.integers(1, 40), st.data())
def test_tlog_proof_round_trips_and_verifies(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1))
    proof, leaves = _proof(index, size)
    again = TlogProof.parse(proof.format())
    assert again == proof
    verify_tlog_proof(again, leaves[index], log=[LOG.verifier], origin="hcx/VNM")


def test_tlog_proof_layout_follows_the_spec() -> None:
    proof, _ = _proof(2, 5)
    lines = proof.format().split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1" and lines[1].startswith("extra ") and lines[2] == "index 2"
    assert lines[3 + len(proof.proof)] == ""
    assert TlogProof.parse(TlogProof(2, proof.proof, proof.checkpoint).format()).extra is None


def test_tlog_proof_failures_are_named() -> None:
    proof, leaves = _proof(3, 6)
    with pytest.raises(InclusionProofError):
        verify_tlog_proof(proof, leaves[2], log=[LOG.verifier])
    with pytest.raises(InvalidSignature, match="not 'hcx/FRA'"):
        verify_tlog_proof(proof, leaves[3], log=[LOG.verifier], origin="hcx/FRA")
    with pytest.raises(InvalidSignature, match="policy asks for 1"):
        verify_tlog_proof(proof, leaves[3], log=[LOG.verifier], witnesses=[WITNESS.verifier], min_witnesses=1)
    cosigned, _ = _proof(3, 6, cosign=True)
    result = verify_tlog_proof(cosigned, leaves[3], log=[LOG.verifier], witnesses=[WITNESS.verifier], min_witnesses=1)
    assert result.witnesses == ("hcx/FRA",)
    assert len(parse_note(cosigned.checkpoint).signatures) == 2


@pytest.mark.parametrize("bad", ["not a proof\n\nx", "c2sp.org/tlog-proof@v1\nindex 01\n\nx",
                                 "c2sp.org/tlog-proof@v1\nindex 1\nnot base64!\n\nx",
                                 "c2sp.org/tlog-proof@v1\nindex 1\n"])
def test_malformed_tlog_proofs_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        TlogProof.parse(bad)

"""The custody log end to end: services/custody.py over storage/ledger.py.

The node under test (VNM) runs on the `database` fixture (SQLite, and PostgreSQL when
HCX_TEST_DATABASE_URL is set); its peer FRA on a SQLite file of its own. Proofs are checked the way
a court would: from text, with the public keys only (ledger/proof.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hcx.crypto.keys import SigningKey
from hcx.errors import Conflict, InclusionProofError, InvalidInput, InvalidSignature, NotFound, PolicyDenied
from hcx.ledger.checkpoint import Checkpoint, CosignatureVerifier, Cosigner, open_checkpoint, sign_checkpoint
from hcx.ledger.entry import CustodyEntry, CustodyEvent, custody_leaf_hash
from hcx.ledger.frontier import Frontier
from hcx.ledger.merkle import verify_consistency
from hcx.ledger.note import Ed25519NoteSigner, Ed25519NoteVerifier
from hcx.ledger.proof import TlogProof, verify_tlog_proof
from hcx.rules import Rules
from hcx.services import accounts, custody, federation
from hcx.services.context import Context
from hcx.storage.db import make_engine, migrate
from hcx.storage.unit_of_work import Database
from tests.conftest import FixedClock, World


def digest(n: int) -> str:
    return "sha256:" + hashlib.sha256(b"evidence file %d" % n).hexdigest()


def record(ctx: Context, n: int, event: CustodyEvent = CustodyEvent.sealed, ref: str = "PKG-1") -> int:
    with ctx.unit_of_work() as uow:
        index = custody.record(ctx, uow, event, object_digest=digest(n), actor_role="officer", ref=ref)
        uow.commit()
        return index


def node_key_raw(ctx: Context) -> bytes:
    with ctx.unit_of_work() as uow:
        return federation.signing_key(ctx, uow, federation.NODE).public.raw


def pin(ctx: Context, party: str, node_key: bytes, clock: FixedClock) -> None:
    now = clock.now()
    with ctx.unit_of_work() as uow:
        uow.add_peer(party=party, url=f"http://{party.lower()}.invalid", node_key=node_key, descriptor={},
                     descriptor_version=1, expires_at=now + dt.timedelta(days=30), pinned_at=now, refreshed_at=now)
        uow.commit()


@pytest.fixture
def vnm(world: World) -> Context:
    return world.ctx


@pytest.fixture
def fra(tmp_path: Path, rules: Rules, clock: FixedClock, vnm: Context) -> Iterator[Context]:
    engine = make_engine(f"sqlite:///{tmp_path / 'fra.db'}")
    migrate(engine)
    ctx = Context(unit_of_work=Database(engine).unit_of_work, rules=rules, clock=clock,
                  key_passphrase=b"another passphrase")
    accounts.init_node(ctx, party="FRA", name="France")
    pin(ctx, "VNM", node_key_raw(vnm), clock)
    pin(vnm, "FRA", node_key_raw(ctx), clock)
    yield ctx
    engine.dispose()


def log_verifier(ctx: Context) -> Ed25519NoteVerifier:
    return Ed25519NoteVerifier.from_vkey(custody.log_vkey(ctx))


def leaf_of(proof: TlogProof) -> bytes:
    assert proof.extra is not None
    return custody_leaf_hash(proof.extra[:32], proof.extra[32:])


# --- recording and proving ----------------------------------------------------------------

def test_recorded_entries_are_proven_in_a_signed_checkpoint(vnm: Context) -> None:
    indices = [record(vnm, n) for n in range(7)]
    assert indices == list(range(7))
    note = custody.checkpoint(vnm)
    checkpoint, _ = open_checkpoint(note, [log_verifier(vnm)], origin="hcx/VNM")
    assert checkpoint.size == 7
    for index in indices:
        proof = TlogProof.parse(custody.prove_inclusion(vnm, index).format())
        verified = verify_tlog_proof(proof, leaf_of(proof), log=[log_verifier(vnm)], origin="hcx/VNM")
        assert verified.checkpoint == checkpoint
        entry = CustodyEntry.parse(proof.extra[32:] if proof.extra else b"")
        assert (entry.event, entry.object_digest, entry.ref) == (CustodyEvent.sealed, digest(index), "PKG-1")


def test_an_entry_commits_or_rolls_back_with_its_transaction(vnm: Context) -> None:
    record(vnm, 0)
    with vnm.unit_of_work() as uow:
        custody.record(vnm, uow, "sent", object_digest=digest(1), actor_role="officer", ref="PKG-1")
        # no commit: the change it records failed, so the entry must vanish with it
    assert record(vnm, 2) == 1
    assert [e.index for e in custody.entries_for(vnm, "PKG-1")] == [0, 1]


def test_batched_appends_build_the_same_tree(vnm: Context, clock: FixedClock) -> None:
    entries = [CustodyEntry(CustodyEvent.received, digest(n), custody.NODE_ROLE, clock.now(), f"REQ-{n % 3}")
               for n in range(45)]
    with vnm.unit_of_work() as uow:
        assert custody.record_many(vnm, uow, entries[:20]) == 0
        assert custody.record_many(vnm, uow, entries[20:]) == 20
        uow.commit()
    checkpoint, _ = open_checkpoint(custody.checkpoint(vnm), [log_verifier(vnm)])
    stored = [e for ref in ("REQ-0", "REQ-1", "REQ-2") for e in custody.entries_for(vnm, ref)]
    leaves = [e.leaf_hash for e in sorted(stored, key=lambda e: e.index)]
    assert [custody_leaf_hash(e.salt or b"", e.entry or b"") for e in sorted(stored, key=lambda e: e.index)] == leaves
    assert Frontier.of(leaves).root() == checkpoint.root
    for index in (0, 19, 20, 31, 32, 44):
        proof = custody.prove_inclusion(vnm, index)
        verify_tlog_proof(proof, leaves[index], log=[log_verifier(vnm)])


def test_checkpoints_are_consistent_and_signed_once_per_size(vnm: Context) -> None:
    sizes_and_roots = []
    for batch in (1, 3, 4, 9):
        for n in range(batch):
            record(vnm, n)
        note = custody.checkpoint(vnm)
        assert custody.checkpoint(vnm) == note  # the same size is not signed twice
        checkpoint, _ = open_checkpoint(note, [log_verifier(vnm)])
        sizes_and_roots.append((checkpoint.size, checkpoint.root))
    for old, new in itertools.pairwise(sizes_and_roots):
        verify_consistency(old[0], new[0], old[1], new[1], custody.prove_consistency(vnm, old[0], new[0]))
    with pytest.raises(InvalidInput):
        custody.prove_consistency(vnm, 3, 99)


def test_a_proof_for_an_unsigned_size_is_not_found(vnm: Context) -> None:
    record(vnm, 0)
    record(vnm, 1)
    custody.checkpoint(vnm)
    with pytest.raises(NotFound):
        custody.prove_inclusion(vnm, 0, size=1)
    with pytest.raises(InvalidInput):
        custody.prove_inclusion(vnm, 5, size=2)


# --- erasure --------------------------------------------------------------------------------

def test_erasure_forgets_the_entry_and_the_log_still_verifies(vnm: Context) -> None:
    for n in range(5):
        record(vnm, n)
    before = custody.prove_inclusion(vnm, 2)
    leaf = leaf_of(before)
    with vnm.unit_of_work() as uow:
        erasure = custody.erase(vnm, uow, 2, actor_role="admin")
        uow.commit()
    assert erasure == 5
    after = custody.prove_inclusion(vnm, 2)
    assert after.extra is None  # nothing left to show
    verify_tlog_proof(after, leaf, log=[log_verifier(vnm)])  # the leaf stays, a newer checkpoint proves it
    verify_tlog_proof(before, leaf, log=[log_verifier(vnm)])  # and older proofs still hold
    erased_record = custody.prove_inclusion(vnm, erasure)
    entry = CustodyEntry.parse(erased_record.extra[32:] if erased_record.extra else b"")
    assert (entry.event, entry.object_digest, entry.ref) == ("erased", "sha256:" + leaf.hex(), "custody-entry/2")
    with vnm.unit_of_work() as uow, pytest.raises(Conflict):
        custody.erase(vnm, uow, 2, actor_role="admin")


# --- cosigning, forks and rollbacks ----------------------------------------------------------

def test_peers_cosign_each_others_checkpoints(vnm: Context, fra: Context) -> None:
    for n in range(3):
        record(vnm, n)
    note = custody.checkpoint(vnm)
    line = custody.cosign(fra, "VNM", note, [])
    custody.add_cosignature(vnm, "FRA", 3, line)
    cosigned = custody.checkpoint(vnm)
    assert cosigned == note + line
    witness = CosignatureVerifier.from_vkey(custody.cosigner_vkey(fra))
    proof = custody.prove_inclusion(vnm, 1)
    verified = verify_tlog_proof(proof, leaf_of(proof), log=[log_verifier(vnm)], witnesses=[witness], min_witnesses=1)
    assert verified.witnesses == ("hcx/FRA",)

    for n in range(3, 10):  # the log grows; FRA checks consistency from what it saw
        record(vnm, n)
    custody.cosign(fra, "VNM", custody.checkpoint(vnm), custody.prove_consistency(vnm, 3, 10))
    assert custody.alarms(fra) == []


def test_a_cosignature_by_another_key_is_refused(vnm: Context, fra: Context) -> None:
    record(vnm, 0)
    checkpoint, _ = open_checkpoint(custody.checkpoint(vnm), [log_verifier(vnm)])
    forged = Cosigner("hcx/FRA", SigningKey.generate()).cosign(checkpoint, 1_700_000_000).line()
    with pytest.raises(InvalidInput, match="not by FRA"):
        custody.add_cosignature(vnm, "FRA", 1, forged)


def test_a_checkpoint_not_signed_by_the_pinned_key_is_refused(vnm: Context, fra: Context) -> None:
    impostor = Ed25519NoteSigner("hcx/VNM", SigningKey.generate())
    note = sign_checkpoint(Checkpoint("hcx/VNM", 0, hashlib.sha256(b"").digest()), impostor).format()
    with pytest.raises(InvalidSignature):
        custody.cosign(fra, "VNM", note, [])


def _rewrite_log(database: Database, ctx: Context, *, keep_checkpoints: bool) -> None:
    """What an attacker with the database could do: replace the entries, keep the key."""
    with database.engine.begin() as conn:
        tables = ["ledger_nodes", "ledger_entries", "ledger_head"]
        if not keep_checkpoints:
            tables = ["ledger_cosignatures", "ledger_checkpoints", *tables]
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed table names
    for n in range(100, 108):
        record(ctx, n)


def test_a_log_rewritten_after_a_checkpoint_is_detected_when_cosigning(
        vnm: Context, fra: Context, database: Database, world: World) -> None:
    for n in range(5):
        record(vnm, n)
    custody.cosign(fra, "VNM", custody.checkpoint(vnm), [])

    _rewrite_log(database, vnm, keep_checkpoints=False)
    forked = custody.checkpoint(vnm)  # signed by the real key: only consistency can tell
    with pytest.raises(InclusionProofError, match="fork"):
        custody.cosign(fra, "VNM", forked, custody.prove_consistency(vnm, 5, 8))

    alarms = custody.alarms(fra)
    assert [(a.party, a.kind) for a in alarms] == [("VNM", "fork")]
    assert "\n5\n" in alarms[0].previous_note and "\n8\n" in alarms[0].offered_note
    with pytest.raises(InclusionProofError):  # and it stays refused
        custody.cosign(fra, "VNM", forked, [])


def test_the_node_refuses_to_sign_over_its_own_rewritten_log(vnm: Context, database: Database) -> None:
    for n in range(5):
        record(vnm, n)
    custody.checkpoint(vnm)
    _rewrite_log(database, vnm, keep_checkpoints=True)
    with pytest.raises(InclusionProofError, match="rewritten"):
        custody.checkpoint(vnm)


def test_rollbacks_raise_alarms_and_older_consistent_checkpoints_are_not_cosigned(
        vnm: Context, fra: Context) -> None:
    for n in range(4):
        record(vnm, n)
    old = custody.checkpoint(vnm)
    for n in range(4, 6):
        record(vnm, n)
    custody.cosign(fra, "VNM", custody.checkpoint(vnm), custody.prove_consistency(vnm, 4, 6))
    with pytest.raises(Conflict, match="larger checkpoint"):
        custody.cosign(fra, "VNM", old, custody.prove_consistency(vnm, 4, 6))
    with pytest.raises(InclusionProofError, match="rollback"):
        custody.cosign(fra, "VNM", old, [])
    assert [a.kind for a in custody.alarms(fra)] == ["rollback"]


def test_alarms_are_for_admins_and_auditors(world: World) -> None:
    assert custody.alarms(world.ctx, world.admin) == []
    assert custody.alarms(world.ctx, world.auditor) == []
    with pytest.raises(PolicyDenied):
        custody.alarms(world.ctx, world.officer)


# --- the CLI ----------------------------------------------------------------------------------

def test_cli_proves_and_verifies_offline(vnm: Context, fra: Context, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hcx.cli import log as log_cli
    from hcx.cli.node import Node
    from hcx.config import load_settings

    for n in range(6):
        record(vnm, n)
    node = Node(load_settings(data_dir=tmp_path / "vnm"), _context=vnm)
    runner = CliRunner()
    note = runner.invoke(log_cli.app, ["checkpoint"], obj=node)
    assert note.exit_code == 0 and note.stdout.startswith("hcx/VNM\n6\n")
    custody.add_cosignature(vnm, "FRA", 6, custody.cosign(fra, "VNM", note.stdout, []))
    vkeys = runner.invoke(log_cli.app, ["vkey"], obj=node).stdout.split()
    fra_witness = custody.cosigner_vkey(fra)
    proof_file = tmp_path / "entry-4.tlog-proof"
    assert runner.invoke(log_cli.app, ["prove", "4", "--out", str(proof_file)], obj=node).exit_code == 0

    verified = runner.invoke(log_cli.app, ["verify", str(proof_file), "--vkey", vkeys[0], "--witness", fra_witness,
                                           "--min-witnesses", "1", "--json"])  # no node: offline
    assert verified.exit_code == 0, verified.output
    assert '"witnesses": [\n    "hcx/FRA"\n  ]' in verified.stdout and '"index": 4' in verified.stdout

    tampered = tmp_path / "tampered.tlog-proof"
    tampered.write_text(proof_file.read_text().replace("index 4", "index 3"))
    refused = runner.invoke(log_cli.app, ["verify", str(tampered), "--vkey", vkeys[0]])
    assert isinstance(refused.exception, InclusionProofError)
    unwitnessed = runner.invoke(log_cli.app, ["verify", str(proof_file), "--vkey", vkeys[0], "--min-witnesses", "1"])
    assert isinstance(unwitnessed.exception, InvalidSignature)

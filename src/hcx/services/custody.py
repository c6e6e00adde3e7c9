"""The custody log's use cases: record custody events, sign checkpoints, prove, cosign peers.

Each node keeps one append-only RFC 9162 log of *commitments* to custody events (ledger/entry.py);
its checkpoints are C2SP signed notes with origin and key name `hcx/<party>` (ISO 3166-1 alpha-3),
signed by the node key. The party, not the node URL, names the log: a node may move, its log must
not change name. Peers cosign each other's checkpoints (tlog-cosignature, type 0x04, same node key
and name) after checking that the new checkpoint extends the last one they saw; a checkpoint that
does not is a fork (or a rollback): it is refused and recorded as an alarm for admins.

    record(ctx, uow, event, …) -> index        in the caller's transaction, beside the change
    erase(ctx, uow, index, …) -> index         forget salt + entry; log the erasure itself
    checkpoint(ctx) -> note text               sign the current tree (idempotent per size)
    prove_inclusion(ctx, index, size) -> TlogProof      c2sp.org/tlog-proof, offline-verifiable
    prove_consistency(ctx, old, new) -> [hash]
    cosign(ctx, party, note, proof) -> line    a peer's checkpoint, after the consistency check
    add_cosignature(ctx, party, size, line)    a peer's cosignature of one of our checkpoints
    alarms(ctx, actor) -> [Alarm]
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Sequence

from hcx.crypto.keys import VerifyKey
from hcx.domain.ports import LedgerStore, UnitOfWork
from hcx.errors import Conflict, InclusionProofError, InvalidInput, NotFound, PolicyDenied
from hcx.ledger import merkle
from hcx.ledger.checkpoint import Checkpoint, CosignatureVerifier, Cosigner, open_checkpoint, sign_checkpoint
from hcx.ledger.entry import SALT_SIZE, CustodyEntry, CustodyEvent, custody_leaf_hash
from hcx.ledger.note import Ed25519NoteSigner, Ed25519NoteVerifier, parse_note, parse_signature_line
from hcx.ledger.proof import TlogProof
from hcx.ledger.records import Alarm, NewLeaf, StoredCheckpoint, StoredCosignature, StoredEntry
from hcx.rules.schema import Role
from hcx.services import federation
from hcx.services.context import Context, Principal

log = logging.getLogger(__name__)

NODE_ROLE = "node"  # the actor role of events the node records by itself (a message received, say)
ALARM_READERS = frozenset({Role.admin, Role.auditor})


def origin(party: str) -> str:
    """The log's origin line and key name: `hcx/<party>`."""
    return f"hcx/{party}"


def _fetch(store: LedgerStore) -> merkle.FetchSubtrees:
    return lambda subtrees: store.subtree_hashes(subtrees)


def _party(uow: UnitOfWork) -> str:
    node = uow.get_node()
    if node is None:
        raise NotFound("this node is not initialised")
    return node.party


# --- recording ------------------------------------------------------------------------------

def record(ctx: Context, uow: UnitOfWork, event: CustodyEvent | str, *, object_digest: str, actor_role: str,
           ref: str, at: dt.datetime | None = None) -> int:
    """Append one custody entry in the caller's transaction; return its index in the log."""
    entry = CustodyEntry(CustodyEvent(event), object_digest, actor_role, at or ctx.clock.now(), ref)
    return record_many(ctx, uow, [entry])


def record_many(ctx: Context, uow: UnitOfWork, entries: Sequence[CustodyEntry]) -> int:
    """Append entries in order (one frontier update, one insert per table); return the first index."""
    now = ctx.clock.now()
    leaves = []
    for entry in entries:
        salt, data = secrets.token_bytes(SALT_SIZE), entry.canonical()
        leaves.append(NewLeaf(custody_leaf_hash(salt, data), salt, data, entry.ref, now))
    return uow.ledger.append(leaves)


def erase(ctx: Context, uow: UnitOfWork, index: int, *, actor_role: str) -> int:
    """Lawful erasure: forget the entry's salt and bytes (its leaf, hence every proof, stays) and
    log the erasure itself, naming only the erased leaf's hash. Returns the erasure's index."""
    store = uow.ledger
    entry = store.entry(index)
    if entry is None:
        raise NotFound(f"no custody entry {index}")
    if entry.erased_at is not None:
        raise Conflict(f"custody entry {index} is already erased")
    store.erase(index, ctx.clock.now())
    return record(ctx, uow, CustodyEvent.erased, object_digest="sha256:" + entry.leaf_hash.hex(),
                  actor_role=actor_role, ref=f"custody-entry/{index}")


def entries_for(ctx: Context, ref: str) -> list[StoredEntry]:
    """The custody entries of one request or package, oldest first (erased ones have no bytes)."""
    with ctx.unit_of_work() as uow:
        return uow.ledger.entries_for(ref)


# --- checkpoints ----------------------------------------------------------------------------

def _signer(ctx: Context, uow: UnitOfWork) -> Ed25519NoteSigner:
    return Ed25519NoteSigner(origin(_party(uow)), federation.signing_key(ctx, uow, federation.NODE))


def _with_cosignatures(store: LedgerStore, stored: StoredCheckpoint) -> str:
    note = parse_note(stored.note)
    for cosignature in store.cosignatures(stored.size):
        note = note.with_signature(parse_signature_line(cosignature.line.rstrip("\n")))
    return note.format()


def checkpoint(ctx: Context) -> str:
    """The signed checkpoint of the current tree, with the cosignatures received for it.

    Before signing a new size, the node checks that its own tree still extends its last
    checkpoint: a log must never sign two inconsistent checkpoints, and a store rewritten behind
    its back is caught here rather than by its peers."""
    with ctx.unit_of_work() as uow:
        store = uow.ledger
        size, latest = store.size(), store.latest_checkpoint()
        if latest is not None and latest.size == size:
            return _with_cosignatures(store, latest)
        fetch = _fetch(store)
        root = merkle.root(size, fetch)
        if latest is not None and latest.size > 0:
            if latest.size > size:
                raise InclusionProofError(f"the custody log has {size} entries but checkpoint {latest.size} "
                                          "was signed: entries were removed; refusing to sign")
            proof = merkle.consistency_proof(latest.size, size, fetch)
            try:
                merkle.verify_consistency(latest.size, size, latest.root, root, proof)
            except InclusionProofError as exc:
                raise InclusionProofError(f"the custody log no longer extends its checkpoint of size {latest.size}: "
                                          "it was rewritten; refusing to sign") from exc
        note = sign_checkpoint(Checkpoint(origin(_party(uow)), size, root), _signer(ctx, uow))
        store.add_checkpoint(StoredCheckpoint(size, root, note.format(), ctx.clock.now()))
        uow.commit()
        log.info("custody log checkpoint signed: size %d", size)
        return note.format()


def log_vkey(ctx: Context) -> str:
    """This log's verifier key (`hcx/<party>+<key ID>+<key>`), to publish for offline verification."""
    with ctx.unit_of_work() as uow:
        return _signer(ctx, uow).verifier.vkey()


def cosigner_vkey(ctx: Context) -> str:
    """This node's cosigner key (signature type 0x04), for peers' and courts' witness policies."""
    with ctx.unit_of_work() as uow:
        signer = _signer(ctx, uow)
        return CosignatureVerifier(signer.name, signer.key.public).vkey()


# --- proofs ---------------------------------------------------------------------------------

def prove_inclusion(ctx: Context, index: int, size: int | None = None) -> TlogProof:
    """A tlog-proof of entry `index` in the checkpoint of `size` (default: the latest checkpoint,
    signing a new one when none covers the entry). `extra` carries salt || entry unless erased."""
    if size is None:
        with ctx.unit_of_work() as uow:
            latest = uow.ledger.latest_checkpoint()
        if latest is None or latest.size <= index:
            checkpoint(ctx)
    with ctx.unit_of_work() as uow:
        store = uow.ledger
        stored = store.latest_checkpoint() if size is None else store.checkpoint(size)
        if stored is None:
            raise NotFound(f"no checkpoint of size {size}; sign one with `hcx log checkpoint`")
        if not 0 <= index < stored.size:
            raise InvalidInput(f"entry {index} is not in the checkpoint of size {stored.size}")
        entry = store.entry(index)
        if entry is None:
            raise NotFound(f"no custody entry {index}")
        proof = merkle.inclusion_proof(index, stored.size, _fetch(store))
        extra = entry.salt + entry.entry if entry.salt is not None and entry.entry is not None else None
        return TlogProof(index, tuple(proof), _with_cosignatures(store, stored), extra)


def prove_consistency(ctx: Context, old_size: int, new_size: int) -> list[bytes]:
    with ctx.unit_of_work() as uow:
        store = uow.ledger
        if not 0 < old_size <= new_size <= store.size():
            raise InvalidInput(f"no consistency proof from {old_size} to {new_size} in a log of {store.size()}")
        return merkle.consistency_proof(old_size, new_size, _fetch(store))


# --- cosigning ------------------------------------------------------------------------------

def _check_extends(seen: StoredCheckpoint, offered: Checkpoint, proof: Sequence[bytes]) -> None:
    """Raise InclusionProofError unless `offered` and `seen` are views of one append-only log."""
    smaller, larger = (seen.size, seen.root), (offered.size, offered.root)
    if offered.size < seen.size:
        smaller, larger = larger, smaller
    if smaller[0] > 0:  # every log extends the empty tree
        merkle.verify_consistency(smaller[0], larger[0], smaller[1], larger[1], proof)


def cosign(ctx: Context, peer_party: str, peer_checkpoint: str, consistency_proof: Sequence[bytes]) -> str:
    """Cosign a peer's checkpoint; return the signature line to add to it.

    The checkpoint must be signed by the peer's pinned node key under origin `hcx/<party>`. If we
    saw a checkpoint from this peer before, `consistency_proof` must prove the two consistent (from
    the smaller to the larger; the first checkpoint seen is trusted as is). If it does not, the
    peer forked or rolled back its log: an alarm is recorded (and committed) and
    InclusionProofError raised. An older checkpoint consistent with what we saw is refused
    (Conflict): a cosignature vouches for the largest tree seen."""
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        peer = federation.pinned_peer(uow, peer_party)
        name = origin(peer_party)
        offered, note = open_checkpoint(peer_checkpoint, [Ed25519NoteVerifier(name, VerifyKey(peer.node_key))],
                                        origin=name)
        store = uow.ledger
        seen = store.latest_peer_checkpoint(peer_party)
        if seen is not None:
            try:
                _check_extends(seen, offered, consistency_proof)
            except InclusionProofError as exc:
                kind = "rollback" if offered.size < seen.size else "fork"
                alarm = Alarm(ctx.new_id(), peer_party, kind, f"{exc.message} (seen size {seen.size}, "
                              f"offered size {offered.size})", seen.note, note.format(), now)
                store.add_alarm(alarm)
                uow.commit()
                log.error("custody log %s of %s: alarm %s: %s", kind, peer_party, alarm.id, exc.message)
                raise InclusionProofError(f"{peer_party}'s log is not consistent with the checkpoint of size "
                                          f"{seen.size} it showed before ({kind}); alarm {alarm.id} recorded",
                                          details=[exc.message]) from exc
            if offered.size < seen.size:
                raise Conflict(f"already cosigned {peer_party}'s larger checkpoint of size {seen.size}")
        store.add_peer_checkpoint(StoredCheckpoint(offered.size, offered.root, note.format(), now, peer_party))
        signer = _signer(ctx, uow)
        line = Cosigner(signer.name, signer.key).cosign(offered, int(now.timestamp())).line()
        uow.commit()
        return line


def add_cosignature(ctx: Context, peer_party: str, size: int, line: str) -> None:
    """Keep a peer's cosignature of our checkpoint of `size` (InvalidSignature if it is not one)."""
    with ctx.unit_of_work() as uow:
        peer = federation.pinned_peer(uow, peer_party)
        store = uow.ledger
        stored = store.checkpoint(size)
        if stored is None:
            raise NotFound(f"no checkpoint of size {size}")
        signature = parse_signature_line(line.rstrip("\n"))
        verifier = CosignatureVerifier(origin(peer_party), VerifyKey(peer.node_key))
        if (signature.name, signature.key_id) != (verifier.name, verifier.key_id):
            raise InvalidInput(f"the cosignature is not by {peer_party}'s node key")
        timestamp = verifier.timestamp_of(parse_note(stored.note).text, signature.signature)
        store.add_cosignature(StoredCosignature(size, peer_party, signature.line(), timestamp, ctx.clock.now()))
        uow.commit()


def alarms(ctx: Context, actor: Principal | None = None) -> list[Alarm]:
    """Forks and rollbacks seen in peers' logs, newest first: for admins and auditors (or the CLI)."""
    if actor is not None and actor.role not in ALARM_READERS:
        raise PolicyDenied("only admins and auditors see custody-log alarms")
    with ctx.unit_of_work() as uow:
        return uow.ledger.alarms()

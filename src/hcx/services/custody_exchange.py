"""The other side's custody entries about one package, fetched over the federation channel.

An export holds the custody entries of both sides, each side's proved to a checkpoint the other
side cosigned. A node has its own entries; the peer's it asks for (docs/evidence.md, "Custody of
both sides"), in the style of the witness documents (docs/witness.md):

    A → B  POST /federation/witness/custody    custody-request/1, signed by A's node key: the
           package (id and digest) and `size`, the size of B's log that A last cosigned
    B → A  custody-answer/1, signed by B's node key: B's checkpoint of that size and one
           c2sp.org/tlog-proof per entry of B's log about the package below that size

B answers only about a package that concerns A: one A sent to B, or one B sent to A. A checks the
answer against B's pinned node key and the checkpoint it cosigned, and every proof before it
keeps it; the checkpoint it keeps carries B's signature and A's cosignature only.

    witness_now(ctx, party) -> warning | None      a witness exchange, at export time
    own_custody(ctx, package_id, party) -> Custody this node's entries, proved to a checkpoint
                                                    `party` cosigned if there is one that covers them
    fetch(ctx, party, package_id, digest) -> Custody   the peer's entries (A's side)
    answer(ctx, body) -> signed answer             B's side of /federation/witness/custody
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from hcx.crypto.keys import VerifyKey
from hcx.domain.lifecycle import Direction
from hcx.domain.ports import UnitOfWork
from hcx.errors import Conflict, Error, InvalidInput, NotFound, PeerProtocolError, PeerUnreachable, PolicyDenied
from hcx.ledger.checkpoint import Checkpoint, CosignatureVerifier, Cosigner, open_checkpoint
from hcx.ledger.entry import SALT_SIZE, CustodyEntry, custody_leaf_hash
from hcx.ledger.note import Ed25519NoteVerifier, Note, NoteSignature, parse_note, verify_note
from hcx.ledger.proof import TlogProof, verify_tlog_proof
from hcx.services import custody, federation, witness
from hcx.services.context import Context

log = logging.getLogger(__name__)

MAX_ENTRIES = 256  # entries of one log about one package in an answer (a package has a handful)
PackageId = Annotated[str, Field(pattern=r"^[0-9A-Za-z]{1,26}$")]
ProofText = Annotated[str, Field(min_length=1, max_length=65_536)]


class CustodyRequest(witness._Document):
    package: PackageId
    digest: witness.Digest
    size: Annotated[int, Field(ge=1, lt=2**63)]  # the size of the answerer's log the asker cosigned


class CustodyAnswer(witness._Document):
    request: witness.Digest
    checkpoint: witness.Note
    proofs: list[ProofText] = Field(max_length=MAX_ENTRIES)


@dataclass(frozen=True, slots=True)
class Custody:
    """One log's entries about a package: proofs to one checkpoint, and the log's verifier key.
    `cosigned` says whether the checkpoint carries the other side's cosignature."""

    log_vkey: str
    checkpoint: str
    proofs: tuple[TlogProof, ...]
    cosigned: bool


# --- both sides: keeping a checkpoint's signatures to the two that matter ------------------------

def only_signatures(note: Note, keep: Sequence[tuple[str, bytes]]) -> Note:
    """`note` with the signatures by the given (name, key ID) only: an export's checkpoint carries
    no signature by a key it does not hold, so `hcx verify` can refuse any it cannot check."""
    wanted = set(keep)
    return Note(note.text, tuple(s for s in note.signatures if (s.name, s.key_id) in wanted))


def _with_checkpoint(proofs: Sequence[TlogProof], text: str) -> tuple[TlogProof, ...]:
    return tuple(TlogProof(p.index, p.proof, text, p.extra) for p in proofs)


def _own_cosigner(ctx: Context) -> Cosigner:
    with ctx.reading() as uow:
        party = federation.own_party(ctx, uow)
        return Cosigner(custody.origin(party), federation.signing_key(ctx, uow, federation.NODE))


# --- at export --------------------------------------------------------------------------------

def witness_now(ctx: Context, party: str) -> str | None:
    """Exchange cosignatures with `party` now, so that both logs' latest checkpoints (this node's
    with its "exported" entry) carry the other's cosignature. A warning if that failed."""
    if ctx.transport is None:
        return f"{party} was not asked to cosign this node's latest checkpoint: no federation transport"
    try:
        witness.exchange(ctx, party)
    except Error as exc:
        log.warning("export: witnessing with %s failed: %s: %s", party, exc.__class__.__name__, exc.message)
        return f"witnessing with {party} at export failed ({exc.__class__.__name__}: {exc.message})"
    return None


def own_custody(ctx: Context, package_id: str, party: str | None) -> Custody:
    """This node's entries about the package, proved to the latest checkpoint `party` cosigned if
    it covers them all, else to the latest checkpoint (then `cosigned` is False)."""
    entries = [e for e in custody.entries_for(ctx, package_id) if e.entry is not None]
    if not entries:
        raise Conflict(f"package {package_id} has no custody entry")
    last = max(e.index for e in entries)
    with ctx.reading() as uow:
        cosigned = uow.ledger.latest_cosignature(party) if party else None
    if cosigned is not None and cosigned.size > last:
        size = cosigned.size
    else:
        custody.checkpoint(ctx)
        with ctx.reading() as uow:
            latest = uow.ledger.latest_checkpoint()
        assert latest is not None
        size = latest.size
    proofs = [custody.prove_inclusion(ctx, e.index, size) for e in entries if e.index < size]
    log_key = Ed25519NoteVerifier.from_vkey(custody.log_vkey(ctx))
    # the proofs' checkpoints differ at most in cosignatures that arrived meanwhile: keep the most
    fullest = max((parse_note(p.checkpoint) for p in proofs), key=lambda n: len(n.signatures))
    keep = [(log_key.name, log_key.key_id)]
    with ctx.reading() as uow:
        peers = [(p.party, p.node_key) for p in uow.list_peers()]
    witnesses = {p: CosignatureVerifier(custody.origin(p), VerifyKey(key)) for p, key in peers}
    if party is None:
        keep += [(w.name, w.key_id) for w in witnesses.values()]
    elif party in witnesses:
        keep.append((witnesses[party].name, witnesses[party].key_id))
    note = only_signatures(fullest, keep)
    peer_signed = party in witnesses and bool(witnesses[party].cosignatures(note))
    return Custody(log_key.vkey(), note.format(), _with_checkpoint(proofs, note.format()), peer_signed)


# --- A: asking the peer -------------------------------------------------------------------------

def fetch(ctx: Context, party: str, package_id: str, digest: str) -> Custody:
    """`party`'s entries about the package, proved to the latest checkpoint of its log this node
    cosigned, each proof checked; the checkpoint carries its signature and our cosignature."""
    with ctx.reading() as uow:
        own = federation.own_party(ctx, uow)
        peer = federation.trusted_peer(ctx, uow, party)
        url, node_key = peer.url, peer.node_key
        seen = uow.ledger.latest_peer_checkpoint(party)
    if seen is None or seen.size == 0:
        raise Conflict(f"this node never cosigned a checkpoint of {party}'s log holding entries")
    if ctx.transport is None:
        raise PeerUnreachable(f"no federation transport to ask {party}")
    request = witness._sign(ctx, "custody-request", {
        "from": own, "to": party, "at": witness._utc(ctx.clock.now()), "package": package_id, "digest": digest,
        "size": seen.size})
    answer, _ = witness._open(ctx, "custody-answer", ctx.transport.custody(url, request), CustodyAnswer,
                              sender=party)
    if answer.request != witness._digest(request):
        raise PeerProtocolError(f"{party}'s custody answer is not an answer to our request")
    log_key = Ed25519NoteVerifier(custody.origin(party), VerifyKey(node_key))
    try:
        checkpoint, note = open_checkpoint(answer.checkpoint, [log_key], origin=log_key.name)
    except Error as exc:
        raise PeerProtocolError(f"{party}'s custody answer: its checkpoint: {exc.message}") from exc
    if note.text != parse_note(seen.note).text:
        raise PeerProtocolError(f"{party} answered with a checkpoint of size {checkpoint.size}, not the one of size "
                                f"{seen.size} this node cosigned")
    cosigner = _own_cosigner(ctx)
    text = _ours_cosigned(ctx, cosigner, note, checkpoint, log_key)
    proofs = [_checked(party, number, raw, note, text, log_key, cosigner.verifier, package_id, digest)
              for number, raw in enumerate(answer.proofs, start=1)]
    if len({p.index for p in proofs}) != len(proofs):
        raise PeerProtocolError(f"{party}'s custody answer proves one entry twice")
    return Custody(log_key.vkey(), text, tuple(sorted(proofs, key=lambda p: p.index)), True)


def _ours_cosigned(ctx: Context, cosigner: Cosigner, note: Note, checkpoint: Checkpoint,
                   log_key: Ed25519NoteVerifier) -> str:
    """The peer's checkpoint with its own signature and our cosignature (the one it kept from the
    witness exchange, else a new one: we checked this checkpoint's consistency when we cosigned)."""
    verifier = cosigner.verifier
    logged = verify_note(note, [log_key])
    ours: list[NoteSignature] = [c.signature for c in verifier.cosignatures(note)]
    if not ours:
        ours = [cosigner.cosign(checkpoint, int(ctx.clock.now().timestamp()))]
    return Note(note.text, (*logged, ours[0])).format()


def _checked(party: str, number: int, raw: str, note: Note, text: str, log_key: Ed25519NoteVerifier,
             ours: CosignatureVerifier, package_id: str, digest: str) -> TlogProof:
    """One proof of the answer, checked, re-formed with the checkpoint text we keep (`text`)."""
    try:
        proof = TlogProof.parse(raw)
        if parse_note(proof.checkpoint).text != note.text:
            raise InvalidInput("its checkpoint is not the answer's checkpoint")
        if proof.extra is None or len(proof.extra) <= SALT_SIZE:
            raise InvalidInput("it carries no entry")
        salt, entry_bytes = proof.extra[:SALT_SIZE], proof.extra[SALT_SIZE:]
        entry = CustodyEntry.parse(entry_bytes)
        if entry.ref != package_id or entry.object_digest != digest:
            raise InvalidInput(f"it is about {entry.ref} ({entry.object_digest}), not package {package_id}")
        proof = TlogProof(proof.index, proof.proof, text, proof.extra)
        verify_tlog_proof(proof, custody_leaf_hash(salt, entry_bytes), log=[log_key], origin=log_key.name,
                          witnesses=[ours], min_witnesses=1)
    except Error as exc:
        raise PeerProtocolError(f"{party}'s custody proof {number}: {exc.message}") from exc
    return proof


# --- B: answering ------------------------------------------------------------------------------

def _concerns(uow: UnitOfWork, package_id: str, digest: str, party: str) -> bool:
    """Whether the package is one `party` sent us, or one we sent `party` (answering its request)."""
    from hcx.services import evidence, evidence_exchange  # late: they build on this module

    row = evidence.store(uow).get(package_id)
    if row is None or row.digest != digest:
        return False
    incoming = evidence_exchange.store(uow).get_incoming(package_id)
    if incoming is not None:
        return incoming.peer_party == party
    if row.request_id is None or row.state != "sent":
        return False
    request = uow.get_request(row.request_id, authority_id=row.authority_id)
    return request is not None and request.direction == Direction.incoming and request.requesting_party == party


def answer(ctx: Context, body: bytes) -> dict[str, Any]:
    """Answer a peer's custody request: our entries about a package that concerns it, proved to
    our checkpoint of the size it cosigned. Raises (the router refuses opaquely) otherwise."""
    request, digest = witness._open(ctx, "custody-request", witness._parse(body), CustodyRequest)
    party = request.from_
    with ctx.reading() as uow:
        if not _concerns(uow, request.package, request.digest, party):
            raise PolicyDenied(f"{party} asked for the custody entries of package {request.package} "
                               f"({request.digest}), which is not one exchanged with it")
        stored = uow.ledger.checkpoint(request.size)
    if stored is None:
        raise NotFound(f"{party} asked for proofs to our checkpoint of size {request.size}, which we never signed")
    entries = [e for e in custody.entries_for(ctx, request.package) if e.index < request.size and e.entry is not None]
    if len(entries) > MAX_ENTRIES:
        raise Conflict(f"package {request.package} has more than {MAX_ENTRIES} custody entries")
    proofs = [custody.prove_inclusion(ctx, e.index, request.size) for e in entries]
    note = proofs[0].checkpoint if proofs else stored.note  # with the cosignatures we hold for it
    log.info("custody: %d entries about package %s shown to %s (checkpoint %d)", len(proofs), request.package,
             party, request.size)
    return witness._sign(ctx, "custody-answer", {
        "from": request.to, "to": party, "at": witness._utc(ctx.clock.now()), "request": digest,
        "checkpoint": note, "proofs": [p.format() for p in proofs]})


# --- an export's two sides ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BothSides:
    own: Custody
    peer: Custody | None  # None: the peer could not be asked (see warnings)
    warnings: tuple[str, ...]


def both_sides(ctx: Context, package_id: str, digest: str, party: str) -> BothSides:
    """At export, after the "exported" entry: witness with `party` so that both checkpoints carry
    the other's cosignature, then this node's entries and `party`'s, each proved to a cosigned
    checkpoint. What could not be done is said in the warnings, never skipped silently."""
    warnings = [w for w in (witness_now(ctx, party),) if w]
    own = own_custody(ctx, package_id, party)
    if not own.cosigned:
        size = Checkpoint.parse(parse_note(own.checkpoint).text).size
        warnings.append(f"this node's custody checkpoint of size {size} carries no cosignature of {party}: "
                        f"{party} has not yet cosigned the entries up to this export")
    try:
        peer: Custody | None = fetch(ctx, party, package_id, digest)
    except Error as exc:
        log.warning("export of %s: %s's custody entries not fetched: %s: %s", package_id, party,
                    exc.__class__.__name__, exc.message)
        peer = None
        warnings.append(f"{party}'s custody entries could not be fetched from {party} "
                        f"({exc.__class__.__name__}: {exc.message})")
    return BothSides(own, peer, tuple(warnings))

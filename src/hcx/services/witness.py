"""Witnessing: pinned peers cosign each other's custody-log checkpoints (C2SP tlog-cosignature).

An exchange is started by a node (A) with one pinned peer (B); the protocol is in docs/witness.md:

    A → B  POST /federation/witness                witness-request/1, signed by A's node key:
           A's checkpoint, a consistency proof from the size of A's log that B last cosigned
           (as far as A knows), and `seen`: the size of B's log that A last cosigned
    B → A  witness-answer/1, signed by B's node key: B's cosignature of A's checkpoint (given by
           custody.cosign after its consistency check), B's checkpoint, and a proof from `seen`
    A → B  POST /federation/witness/cosignature    witness-cosignature/1: A's cosignature of B's
           checkpoint, after the same check; B keeps it and answers with a signed witness-ack/1

Each side checks the other's signature with the node key it pinned before it uses anything. A
fork or a rollback is caught by custody.cosign on whichever side sees it: the alarm is recorded
and logged there, and no cosignature is given.

    exchange(ctx, party) -> Witnessed      A's side, one whole exchange (the CLI and the worker)
    exchange_due(ctx) -> int               by the worker, every few moments: the peers whose cosignature lags
    answer(ctx, body) -> signed answer     B's side of /federation/witness
    accept_cosignature(ctx, body) -> ack   B's side of /federation/witness/cosignature
    witnesses(ctx, actor) -> [row]         per peer: the last cosignatures each way, alarms
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from hcx.crypto.canonical import canonical, parse_json
from hcx.crypto.envelope import sign_document, verify_document
from hcx.crypto.keys import VerifyKey, b64d, b64e
from hcx.errors import (
    Error,
    InclusionProofError,
    InvalidInput,
    PeerProtocolError,
    PolicyDenied,
    VerificationError,
)
from hcx.ledger.checkpoint import Checkpoint
from hcx.ledger.note import parse_note
from hcx.services import custody, federation
from hcx.services.context import Context, Principal

log = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 262_144
MAX_PROOF_HASHES = 128  # a consistency proof in a tree of 2**64 leaves has fewer
_LOCK = "hcx.witness"
_LAST_ROUND = "witness.last_round"

Party = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
Size = Annotated[int, Field(ge=0, lt=2**63)]
Note = Annotated[str, Field(min_length=1, max_length=100_000)]
Hash = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{43}$")]  # b64e: URL-safe, unpadded
Line = Annotated[str, Field(min_length=1, max_length=1_000)]
Digest = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]


def _valid_time(value: str) -> str:
    dt.datetime.fromisoformat(value)  # ValueError (a validation error) for 2026-13-45T…
    return value


Timestamp = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"), AfterValidator(_valid_time)]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=False)

    from_: Party = Field(alias="from")
    to: Party
    at: Timestamp


class WitnessRequest(_Document):
    checkpoint: Note
    proof_from: Size
    proof: list[Hash] = Field(max_length=MAX_PROOF_HASHES)
    seen: Size  # the size of the receiver's log the sender last cosigned (0: none)


class WitnessAnswer(_Document):
    request: Digest
    cosigned: Size | None  # the size of the requester's checkpoint cosigned (None: see `seen`)
    cosignature: Line | None
    seen: Size  # the size of the requester's log the answerer has now cosigned
    checkpoint: Note
    proof_from: Size
    proof: list[Hash] = Field(max_length=MAX_PROOF_HASHES)


class WitnessCosignature(_Document):
    size: Size
    cosignature: Line


class WitnessAck(_Document):
    request: Digest


_D = TypeVar("_D", bound=_Document)


@dataclass(frozen=True)
class Witnessed:
    """The outcome of one exchange: which of our checkpoints the peer cosigned, and which of its
    checkpoints we cosigned (None if another exchange moved our view of its log meanwhile)."""

    party: str
    our_size: int
    their_size: int | None


# --- helpers ----------------------------------------------------------------------------------

def _lock(ctx: Context) -> AbstractContextManager[Any]:
    """One lock for the whole node, across its processes (a PostgreSQL advisory lock when several
    share the database): the worker's exchanges and the peers' calls to this node read and move the
    same views of the logs (last checkpoint seen, last signed) between transactions."""
    return ctx.exclusive(_LOCK)


def _utc(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(signed: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(signed)).hexdigest()


def _size_of(note: str) -> int:
    return Checkpoint.parse(parse_note(note).text).size


def _sign(ctx: Context, kind: str, document: dict[str, Any]) -> dict[str, Any]:
    with ctx.reading() as uow:
        return sign_document(kind, document, federation.signing_key(ctx, uow, federation.NODE))


def _open(ctx: Context, kind: str, signed: object, model: type[_D], *, sender: str | None = None
          ) -> tuple[_D, str]:
    """Check a peer's signed document against the node key pinned for the party it names (and
    `sender`, when we know who must answer), then its shape, its addressee and its age."""
    document = signed.get("document") if isinstance(signed, dict) else None
    claimed = document.get("from") if isinstance(document, dict) else None
    if not isinstance(claimed, str) or not isinstance(signed, dict):
        raise InvalidInput(f"a {kind} is a signed document naming its sender")
    if sender is not None and claimed != sender:
        raise PeerProtocolError(f"the {kind} comes from {claimed!r}, not {sender}")
    with ctx.reading() as uow:
        own = federation.own_party(ctx, uow)
        if claimed == own:
            raise InvalidInput(f"a {kind} from this node's own party {own}")
        peer = federation.trusted_peer(ctx, uow, claimed)
        verified = verify_document(kind, signed, VerifyKey(peer.node_key))
    try:
        parsed = model.model_validate(verified)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        raise InvalidInput(f"the {kind} is malformed: {problems}") from exc
    if parsed.to != own:
        raise InvalidInput(f"the {kind} is addressed to {parsed.to}, not {own}")
    at = dt.datetime.fromisoformat(parsed.at)
    if abs(ctx.clock.now() - at) > ctx.policy.clock_skew:
        raise VerificationError(f"the {kind} of {claimed} is dated {parsed.at}, outside the tolerated clock skew")
    return parsed, _digest(signed)


def _parse(body: bytes) -> object:
    if len(body) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(f"a witness document is at most {MAX_DOCUMENT_BYTES} bytes")
    return parse_json(body)


def _proof(ctx: Context, old: int, new: int) -> list[str]:
    """A consistency proof of our log from `old` to `new`. It is empty from 0 (every log extends
    the empty one) and when `old` is not below `new`: from a larger size there is none, and the
    peer will see a rollback."""
    return [b64e(h) for h in custody.prove_consistency(ctx, old, new)] if 0 < old < new else []


def _cosign(ctx: Context, party: str, note: str, proof: list[bytes]) -> str:
    """custody.cosign, except that a checkpoint already found inconsistent is refused at once:
    a forked peer retries every round, and one alarm per forked checkpoint is enough."""
    text = parse_note(note).text
    with ctx.reading() as uow:
        alarms = [a for a in uow.ledger.alarms() if a.party == party]
    for alarm in alarms:
        if parse_note(alarm.offered_note).text == text:
            raise InclusionProofError(f"{party}'s checkpoint of size {_size_of(note)} was found inconsistent "
                                      f"before ({alarm.kind}, alarm {alarm.id}); not cosigned")
    return custody.cosign(ctx, party, note, proof)


def _last_seen(ctx: Context, party: str) -> int | None:
    """The size of `party`'s log we last cosigned (None: we never saw it)."""
    with ctx.reading() as uow:
        seen = uow.ledger.latest_peer_checkpoint(party)
    return seen.size if seen else None


def _seen(ctx: Context, party: str) -> int:
    return _last_seen(ctx, party) or 0


# --- A: starting an exchange ------------------------------------------------------------------

def exchange(ctx: Context, party: str) -> Witnessed:
    """Ask `party` to cosign our latest checkpoint and cosign its own in return."""
    with ctx.reading() as uow:
        own = federation.own_party(ctx, uow)
        url = federation.trusted_peer(ctx, uow, party).url
        cosigned = uow.ledger.latest_cosignature(party)
    assert ctx.transport is not None
    with _lock(ctx):
        note = custody.checkpoint(ctx)
    size = _size_of(note)
    answer, seen = _ask(ctx, own, party, url, note, size, cosigned.size if cosigned else 0)
    if answer.cosignature is None:  # it cosigned another size of our log than we knew: prove from that one
        answer, seen = _ask(ctx, own, party, url, note, size, answer.seen)
    if answer.cosignature is None or answer.cosigned != size:
        raise PeerProtocolError(f"{party} did not cosign our checkpoint of size {size}")
    with _lock(ctx):
        custody.add_cosignature(ctx, party, size, answer.cosignature)
    their_size = _cosign_theirs(ctx, own, party, url, answer, seen)
    log.info("witnessed with %s: it cosigned our checkpoint %d, we cosigned its %s", party, size, their_size)
    return Witnessed(party, size, their_size)


def _ask(ctx: Context, own: str, party: str, url: str, note: str, size: int, proof_from: int
         ) -> tuple[WitnessAnswer, int]:
    seen = _seen(ctx, party)
    request = _sign(ctx, "witness-request", {
        "from": own, "to": party, "at": _utc(ctx.clock.now()), "checkpoint": note, "proof_from": proof_from,
        "proof": _proof(ctx, proof_from, size), "seen": seen})
    assert ctx.transport is not None
    answer, _ = _open(ctx, "witness-answer", ctx.transport.witness(url, request), WitnessAnswer, sender=party)
    if answer.request != _digest(request) or answer.proof_from != seen:
        raise PeerProtocolError(f"{party}'s witness answer is not an answer to our request")
    if answer.cosignature is None and (answer.cosigned is not None or answer.seen == proof_from):
        raise PeerProtocolError(f"{party} refused to cosign without saying from which size to prove")
    return answer, seen


def _cosign_theirs(ctx: Context, own: str, party: str, url: str, answer: WitnessAnswer, seen: int) -> int | None:
    """Cosign the peer's checkpoint (custody.cosign raises, and records the alarm, on a fork or a
    rollback) and send the cosignature back."""
    with _lock(ctx):
        if _seen(ctx, party) != seen:
            log.info("witnessing %s: its checkpoint was cosigned meanwhile; skipping this one", party)
            return None
        line = _cosign(ctx, party, answer.checkpoint, [b64d(h) for h in answer.proof])
    their_size = _size_of(answer.checkpoint)
    signed = _sign(ctx, "witness-cosignature", {"from": own, "to": party, "at": _utc(ctx.clock.now()),
                                                "size": their_size, "cosignature": line})
    assert ctx.transport is not None
    ack, _ = _open(ctx, "witness-ack", ctx.transport.send_cosignature(url, signed), WitnessAck, sender=party)
    if ack.request != _digest(signed):
        raise PeerProtocolError(f"{party}'s acknowledgement is not for our cosignature")
    return their_size


def exchange_due(ctx: Context) -> int:
    """Called by the worker every few moments (federation/worker.py). At most once per
    `policy.witness_interval`, exchange with every pinned peer that has not yet cosigned our log
    at its current size. Failures are logged, not raised: the next round tries again."""
    now = ctx.clock.now()
    last = ctx.cache.get(_LAST_ROUND)
    if isinstance(last, dt.datetime) and now - last < ctx.policy.witness_interval:
        return 0
    ctx.cache[_LAST_ROUND] = now
    with ctx.reading() as uow:
        size = uow.ledger.size()
        due = []
        for peer in uow.list_peers():
            cosigned = uow.ledger.latest_cosignature(peer.party)
            if peer.expires_at > now and (cosigned is None or cosigned.size < size):
                due.append(peer.party)
    done = 0
    for party in due:
        try:
            exchange(ctx, party)
            done += 1
        except Error as exc:
            log.warning("witnessing with %s failed: %s: %s", party, exc.__class__.__name__, exc.message)
    return done


# --- B: answering -----------------------------------------------------------------------------

def answer(ctx: Context, body: bytes) -> dict[str, Any]:
    """Answer a peer's witness request: cosign its checkpoint if it extends the last one we saw,
    and show ours with a proof from the size it last saw. Raises (and, on a fork or a rollback,
    records an alarm) rather than answer a request it cannot honour."""
    request, digest = _open(ctx, "witness-request", _parse(body), WitnessRequest)
    party = request.from_
    proof = [b64d(h) for h in request.proof]
    with _lock(ctx):
        seen = _last_seen(ctx, party)
        if seen is not None and request.proof_from != seen:  # it does not know which size we cosigned last
            cosignature, cosigned = None, None
        else:  # what we saw before, or nothing: trusted on first use, like the pinning
            cosignature = _cosign(ctx, party, request.checkpoint, proof)
            cosigned = seen = _size_of(request.checkpoint)
        note = custody.checkpoint(ctx)
        our_proof = _proof(ctx, request.seen, _size_of(note))
    return _sign(ctx, "witness-answer", {
        "from": request.to, "to": party, "at": _utc(ctx.clock.now()), "request": digest, "cosigned": cosigned,
        "cosignature": cosignature, "seen": seen, "checkpoint": note, "proof_from": request.seen,
        "proof": our_proof})


def accept_cosignature(ctx: Context, body: bytes) -> dict[str, Any]:
    """Keep a peer's cosignature of one of our checkpoints (custody.add_cosignature verifies it)."""
    document, digest = _open(ctx, "witness-cosignature", _parse(body), WitnessCosignature)
    with _lock(ctx):
        custody.add_cosignature(ctx, document.from_, document.size, document.cosignature)
    return _sign(ctx, "witness-ack", {"from": document.to, "to": document.from_, "at": _utc(ctx.clock.now()),
                                      "request": digest})


# --- for admins ---------------------------------------------------------------------------------

def witnesses(ctx: Context, actor: Principal | None = None) -> list[dict[str, Any]]:
    """Per pinned peer: the largest of our checkpoints it cosigned, the largest of its checkpoints
    we cosigned, and how many alarms its log raised. For admins and auditors (or the CLI)."""
    if actor is not None and actor.role not in custody.ALARM_READERS:
        raise PolicyDenied("only admins and auditors see the witnesses of the custody log")
    with ctx.reading() as uow:
        store = uow.ledger
        size = store.size()
        alarms = store.alarms(limit=10_000)
        rows = []
        for peer in uow.list_peers():
            ours, theirs = store.latest_cosignature(peer.party), store.latest_peer_checkpoint(peer.party)
            rows.append({
                "party": peer.party, "log_size": size,
                "cosigned_our_size": ours.size if ours else None,
                "cosigned_our_at": dt.datetime.fromtimestamp(ours.timestamp, dt.UTC).isoformat() if ours else None,
                "we_cosigned_size": theirs.size if theirs else None,
                "we_cosigned_at": theirs.at.isoformat() if theirs else None,
                "alarms": sum(1 for a in alarms if a.party == peer.party)})
        return rows

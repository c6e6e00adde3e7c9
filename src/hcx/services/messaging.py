"""Messages between nodes about requests: what leaves (into the outbox, in the same transaction as
the state change) and what arrives (verified, stored once, applied in order, answered by a signed
receipt).

Each node numbers its own messages about one request (`seq`, 1 = the submission); the receiver
applies a peer's messages in that order and keeps the early ones waiting, so delivery may be out
of order and at least once.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hcx.crypto.envelope import Opened, open_, seal, sign_receipt
from hcx.crypto.keys import DecryptionKey, EncryptionKey, VerifyKey, b64d
from hcx.domain import lifecycle
from hcx.domain.lifecycle import Direction, Step
from hcx.domain.model import Draft
from hcx.domain.ports import RequestRecord, UnitOfWork
from hcx.errors import Conflict, Error, InvalidInput, NotFound, PolicyDenied, VerificationError
from hcx.services import federation
from hcx.services.context import Context

log = logging.getLogger(__name__)

SUBMITTED = "request.submitted"
EVENT = "request.event"
EVIDENCE = "evidence.package"  # handled by services/evidence_exchange.py


def utc(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- leaving ----------------------------------------------------------------------------------

def counterpart_party(record: RequestRecord) -> str:
    return record.requested_party if record.direction == Direction.outgoing else record.requesting_party


def enqueue(ctx: Context, uow: UnitOfWork, record: RequestRecord, kind: str, body: dict[str, Any]) -> None:
    """Seal a message about `record` to its counterpart and put it in the outbox (no commit here)."""
    now = ctx.clock.now()
    party = counterpart_party(record)
    peer = federation.peer_descriptor(ctx, uow, party)
    if record.counterpart_authority is None:  # drafted before the peer was pinned: address it now
        own = uow.get_authority(record.authority_id)
        chosen = peer.authority_for(own.kind if own else "central_authority")
        record.counterpart_authority = chosen.id if chosen else None
    recipient = peer.authority(record.counterpart_authority or "")
    described = recipient.encryption_key() if recipient else None
    if recipient is None or described is None:
        raise Conflict(f"{party} publishes no encryption key for authority {record.counterpart_authority}")
    record.last_sent_seq += 1
    message_id = ctx.new_id()
    envelope = {
        "v": 1, "id": message_id, "type": kind,
        "from": {"party": record.requesting_party if record.direction == Direction.outgoing
                 else record.requested_party, "authority": record.authority_id},
        "to": {"party": party, "authority": recipient.id},
        "created": utc(now), "in_reply_to": None, "request_ref": record.exchange_id,
        "body": {**body, "seq": record.last_sent_seq},
    }
    sealed = seal(envelope, signer=federation.signing_key(ctx, uow, record.authority_id),
                  recipient=EncryptionKey.from_bytes(b64d(described.key)))
    uow.add_outbox(id=message_id, peer_party=party, request_id=record.id, type=kind, wire=sealed.wire,
                   digest=sealed.digest, status="pending", attempts=0, next_attempt_at=now, lease_until=None,
                   created_at=now, delivered_at=None, last_error="", receipt=None)
    log.info("queued %s %s for %s (request %s, seq %s)", kind, message_id, party, record.id, record.last_sent_seq)


def is_peer(uow: UnitOfWork, party: str) -> bool:
    return uow.get_peer(party) is not None


# --- arriving ---------------------------------------------------------------------------------

class SubmittedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seq: int = Field(ge=1)
    reference: str = Field(max_length=64)
    document: dict[str, Any]


class EventBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seq: int = Field(ge=1)
    action: str = Field(max_length=64)
    details: dict[str, Any] = {}


def receive(ctx: Context, wire: bytes) -> dict[str, Any]:
    """Verify, store once and apply one message from a peer; return the signed receipt (or raise)."""
    [result] = receive_many(ctx, [wire])
    if isinstance(result, Error):
        raise result
    return result


def receive_many(ctx: Context, wires: list[bytes]) -> list[dict[str, Any] | Error]:
    """Verify, store once and apply messages from peers; a signed receipt for each, or its refusal.

    Every message is verified and decrypted first, outside the write transaction; those that pass
    are stored and applied together, in one transaction. A duplicate (same id, same digest) gets
    the receipt stored the first time; a different message under a known id, a stale or future
    one, or anything that does not verify is refused and nothing of it is stored."""
    now = ctx.clock.now()
    results: list[dict[str, Any] | Error] = []
    opened_all: list[tuple[int, Opened, dt.datetime]] = []
    with ctx.reading() as reading:  # verify and decrypt without holding the write lock
        party_of_node = federation.own_party(ctx, reading)
        lookups = _KeyLookups(ctx, reading, party_of_node)
        for i, wire in enumerate(wires):
            try:
                opened = open_(wire, decryption_key_for=lookups.decryption_key, verify_key_for=lookups.verify_key)
                created = dt.datetime.fromisoformat(opened.envelope.created.replace("Z", "+00:00"))
                if created > now + ctx.policy.clock_skew:
                    raise VerificationError(f"message {opened.envelope.id} is from the future "
                                            f"({opened.envelope.created})")
                opened_all.append((i, opened, created))
                results.append({})
            except Error as exc:
                results.append(exc)
    if not opened_all:
        return results
    with ctx.unit_of_work() as uow:
        for i, opened, created in opened_all:
            try:
                with uow.savepoint():  # a message that fails takes none of the others with it
                    results[i] = _store(ctx, uow, opened, created, party_of_node, now)
            except Error as exc:
                results[i] = exc
        uow.commit()
    return results


class _KeyLookups:
    """The keys `open_` asks for: the sender's among its pinned descriptor, ours from the vault."""

    def __init__(self, ctx: Context, uow: UnitOfWork, party: str) -> None:
        self.ctx, self.uow, self.party = ctx, uow, party

    def verify_key(self, party: str, authority: str, kid: str) -> VerifyKey:
        described = federation.peer_descriptor(self.ctx, self.uow, party).authority(authority)
        key = described.signing_key(kid) if described else None
        if key is None:
            raise VerificationError(f"{party}/{authority} has no active signing key {kid}")
        return VerifyKey.from_bytes(b64d(key.key))

    def decryption_key(self, party: str, authority: str, kid: str) -> DecryptionKey:
        if party != self.party or self.uow.get_authority(authority) is None:
            raise NotFound(f"the message is addressed to {party}/{authority}, not to this node")
        return federation.decryption_key(self.ctx, self.uow, authority, kid)


def _store(ctx: Context, uow: UnitOfWork, opened: Opened, created: dt.datetime, party_of_node: str,
           now: dt.datetime) -> dict[str, Any]:
    """Store one verified message once, apply it if its turn has come, and sign its receipt."""
    envelope = opened.envelope
    known = uow.get_inbox(envelope.id)
    if known is not None:
        if known.digest != opened.digest:
            raise Conflict(f"message {envelope.id} was already received with another content")
        return known.receipt
    if created < now - ctx.policy.replay_window - ctx.policy.clock_skew:
        raise VerificationError(f"message {envelope.id} is too old ({envelope.created}): a replay?")
    to = envelope.to.authority
    receipt = sign_receipt(message_id=envelope.id, envelope_digest=opened.digest, received_at=utc(now),
                           by_party=party_of_node, by_authority=to, signer=federation.signing_key(ctx, uow, to))
    status, error, seq, record = _file(ctx, uow, opened, to)
    sender, sender_authority = _from(opened)
    uow.add_inbox(id=envelope.id, peer_party=sender, from_authority=sender_authority, to_authority=to,
                  type=envelope.type, exchange_id=envelope.request_ref, seq=seq, digest=opened.digest,
                  envelope=envelope.model_dump(mode="json", by_alias=True), receipt=receipt, status=status,
                  error=error, received_at=now)
    if record is not None:
        _apply_waiting(ctx, uow, record, to)
    log.info("received %s %s from %s: %s", envelope.type, envelope.id, sender, status)
    return receipt


def _from(opened: Opened) -> tuple[str, str]:
    return opened.envelope.from_.party, opened.envelope.from_.authority


def _file(ctx: Context, uow: UnitOfWork, opened: Opened, to: str
          ) -> tuple[str, str, int, RequestRecord | None]:
    """Apply the message if its turn has come: (status, error, seq, the request it was applied to)."""
    envelope = opened.envelope
    party, authority = _from(opened)
    try:
        if envelope.type == SUBMITTED:
            submitted = SubmittedBody.model_validate(envelope.body)
            return "applied", "", submitted.seq, _create_incoming(ctx, uow, opened, submitted, to)
        if envelope.type == EVENT:
            event = EventBody.model_validate(envelope.body)
            record = uow.find_exchange(envelope.request_ref or "", authority_id=to)
            if record is None or event.seq > record.last_applied_seq + 1:
                return "waiting", "", event.seq, None
            if event.seq <= record.last_applied_seq:
                return "duplicate", "", event.seq, None
            _apply_event(ctx, uow, record, event, party)
            return "applied", "", event.seq, record
        if envelope.type == EVIDENCE:
            from hcx.services import evidence_exchange  # late: it builds on the evidence services

            evidence_exchange.receive(ctx, uow, opened, to)
            return "applied", "", 0, None
        raise InvalidInput(f"unknown message type {envelope.type!r}")
    except (ValidationError, InvalidInput, Conflict, PolicyDenied) as exc:
        # stored and receipted (it was delivered), but not applied: the admin sees why
        log.warning("message %s from %s/%s not applied: %s", envelope.id, party, authority, exc)
        seq = envelope.body.get("seq")
        return "rejected", str(exc)[:500], seq if isinstance(seq, int) else 0, None


def _create_incoming(ctx: Context, uow: UnitOfWork, opened: Opened, body: SubmittedBody, to: str
                     ) -> RequestRecord:
    from hcx.services import requests  # late: requests imports this module

    envelope = opened.envelope
    party, authority = _from(opened)
    if not envelope.request_ref:
        raise InvalidInput("a submission must name its request")
    if uow.find_exchange(envelope.request_ref, authority_id=to) is not None:
        raise Conflict(f"request {envelope.request_ref} was already submitted")
    draft = Draft.model_validate(body.document)
    if draft.requested_party != federation.own_party(ctx, uow) or draft.requesting_party != party:
        raise InvalidInput("the request's parties do not match the sender and this node")
    peer = federation.peer_descriptor(ctx, uow, party)
    sender = peer.authority(authority)
    return requests.record_incoming(ctx, uow, draft, authority_id=to, exchange_id=envelope.request_ref,
                                    counterpart=sender.name if sender else authority,
                                    counterpart_authority=authority, peer_reference=body.reference,
                                    message_id=envelope.id)


def _apply_event(ctx: Context, uow: UnitOfWork, record: RequestRecord, event: EventBody, party: str) -> None:
    from hcx.services import requests

    step = Step.model_validate({"action": event.action, **event.details})
    outcome = lifecycle.take_for_counterpart(ctx.rules, request_type=record.type, state=record.state,
                                             direction=Direction(record.direction), step=step,
                                             today=ctx.clock.now().date())
    record.last_applied_seq = event.seq
    requests.apply_outcome(ctx, uow, record, outcome, step, actor_id=None, by_counterpart=True,
                           extra_details={"peer": party})


def _apply_waiting(ctx: Context, uow: UnitOfWork, record: RequestRecord, to: str) -> None:
    """Messages that arrived early, applied now that their turn has come."""
    assert record.exchange_id is not None
    for message in uow.waiting_inbox(record.exchange_id):
        if message.to_authority != to or message.seq != record.last_applied_seq + 1:
            continue
        try:
            _apply_event(ctx, uow, record, EventBody.model_validate(message.envelope["body"]), message.peer_party)
            message.status = "applied"
        except (ValidationError, InvalidInput, Conflict, PolicyDenied) as exc:
            message.status, message.error = "rejected", str(exc)[:500]

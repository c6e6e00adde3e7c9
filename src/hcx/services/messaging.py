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
from hcx.crypto.keys import DecryptionKey, EncryptionKey, SigningKey, VerifyKey, b64d
from hcx.domain import lifecycle
from hcx.domain.descriptor import Descriptor
from hcx.domain.lifecycle import Direction, Step
from hcx.domain.model import Draft
from hcx.domain.ports import InboxRecord, RequestRecord, UnitOfWork
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


# The envelope allows request references of 128 characters; the inbox and the requests keep 64 (and
# this node's own exchange ids are far shorter): a longer one is refused before anything is stored,
# on SQLite as on PostgreSQL (which would refuse the row only at its flush).
REQUEST_REF_KEPT = 64


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
                if len(opened.envelope.request_ref or "") > REQUEST_REF_KEPT:
                    raise InvalidInput(f"message {opened.envelope.id} names a request reference of "
                                       f"{len(opened.envelope.request_ref or '')} characters; this node keeps "
                                       f"at most {REQUEST_REF_KEPT}")
                opened_all.append((i, opened, created))
                results.append({})
            except Error as exc:
                results.append(exc)
    if not opened_all:
        return results
    try:
        stored = _store_batch(ctx, opened_all, results, party_of_node, now, careful=False)
    except _Uneven:
        stored = _store_batch(ctx, opened_all, results, party_of_node, now, careful=True)
    for message in stored:
        log.info("received %s %s from %s: %s", message.type, message.id, message.peer_party, message.status)
    return results


class _Uneven(Exception):
    """A message of a batch stored without savepoints failed: store the batch again, carefully."""


def _store_batch(ctx: Context, opened_all: list[tuple[int, Opened, dt.datetime]],
                 results: list[dict[str, Any] | Error], party_of_node: str, now: dt.datetime, *, careful: bool
                 ) -> list[InboxRecord]:
    """Store and apply the batch's verified messages in one transaction, their receipts into
    `results`; returns the messages stored. Not `careful`, all messages share the transaction as one
    piece (the common case, and much cheaper) and the first that fails raises _Uneven, undoing all;
    `careful`, each has a savepoint, so one that fails takes none of the others with it. A message
    fails too if its rows clash with stored data, which the database may tell only at a later
    flush (a later message's query, the commit): the unit of work raises Conflict there, in both
    modes. (A message stored as rejected did not fail: it is kept, receipted and shown to the admin
    in both modes.)"""
    stored_all: list[InboxRecord] = []
    with ctx.unit_of_work() as uow:
        batch = _Batch(ctx, uow, [opened for _, opened, _ in opened_all])
        for i, opened, created in opened_all:
            try:
                with uow.savepoint() if careful else uow.without_savepoint():  # a clash at a flush: Conflict
                    results[i], stored, record = _store(ctx, uow, batch, opened, created, party_of_node, now)
            except Error as exc:
                if not careful:
                    raise _Uneven from exc
                results[i] = exc
                continue
            if stored is not None:
                stored_all.append(stored)
            batch.stored(stored, record)
        try:
            uow.commit()
        except Error as exc:
            if careful:
                raise
            raise _Uneven from exc
    return stored_all


class _KeyLookups:
    """The keys `open_` asks for: the sender's among its pinned descriptor, ours from the vault.
    Each is looked up once per batch (the batch is read in one snapshot)."""

    def __init__(self, ctx: Context, uow: UnitOfWork, party: str) -> None:
        self.ctx, self.uow, self.party = ctx, uow, party
        self._verify: dict[tuple[str, str, str], VerifyKey] = {}
        self._decrypt: dict[tuple[str, str, str], DecryptionKey] = {}

    def verify_key(self, party: str, authority: str, kid: str) -> VerifyKey:
        found = self._verify.get((party, authority, kid))
        if found is None:
            described = federation.peer_descriptor(self.ctx, self.uow, party).authority(authority)
            key = described.signing_key(kid) if described else None
            if key is None:
                raise VerificationError(f"{party}/{authority} has no active signing key {kid}")
            found = self._verify[party, authority, kid] = VerifyKey.from_bytes(b64d(key.key))
        return found

    def decryption_key(self, party: str, authority: str, kid: str) -> DecryptionKey:
        found = self._decrypt.get((party, authority, kid))
        if found is None:
            if party != self.party or self.uow.get_authority(authority) is None:
                raise NotFound(f"the message is addressed to {party}/{authority}, not to this node")
            found = self._decrypt[party, authority, kid] = federation.decryption_key(self.ctx, self.uow,
                                                                                       authority, kid)
        return found


class _Batch:
    """What a batch looks up once in its write transaction, instead of once per message: the
    messages already received under its ids, the exchanges with messages waiting for their turn,
    the signing keys of its recipients and the descriptors of its senders."""

    def __init__(self, ctx: Context, uow: UnitOfWork, opened: list[Opened]) -> None:
        self.ctx, self.uow = ctx, uow
        exchanges = sorted({o.envelope.request_ref for o in opened if o.envelope.request_ref})
        # first hold the exchanges: another batch of one of them (delivered concurrently) commits
        # before we look, or waits until we have committed, so no waiting step is missed
        uow.lock_exchanges(exchanges)
        self._requests = {(r.exchange_id, r.authority_id): r for r in uow.find_exchanges(exchanges)}
        self.known = {m.id: m for m in uow.get_inboxes(sorted({o.envelope.id for o in opened}))}
        self.waiting = uow.waiting_exchanges(exchanges)
        self._signers: dict[str, SigningKey] = {}
        self._peers: dict[str, Descriptor] = {}

    def signing_key(self, authority: str) -> SigningKey:
        if authority not in self._signers:
            self._signers[authority] = federation.signing_key(self.ctx, self.uow, authority)
        return self._signers[authority]

    def peer(self, party: str) -> Descriptor:
        if party not in self._peers:
            self._peers[party] = federation.peer_descriptor(self.ctx, self.uow, party)
        return self._peers[party]

    def exchange(self, exchange_id: str, authority_id: str) -> RequestRecord | None:
        """The request of an exchange (locked for the transaction), as `UnitOfWork.find_exchange`."""
        return self._requests.get((exchange_id, authority_id))

    def stored(self, message: InboxRecord | None, record: RequestRecord | None) -> None:
        """A message whose savepoint was released: a repeat later in the batch is a duplicate, and
        the request it created is found by the next messages of its exchange."""
        if record is not None and record.exchange_id:
            self._requests[record.exchange_id, record.authority_id] = record
        if message is not None:
            self.known[message.id] = message
            if message.status == "waiting" and message.exchange_id:
                self.waiting.add(message.exchange_id)


def _store(ctx: Context, uow: UnitOfWork, batch: _Batch, opened: Opened, created: dt.datetime,
           party_of_node: str, now: dt.datetime
           ) -> tuple[dict[str, Any], InboxRecord | None, RequestRecord | None]:
    """Store one verified message once, apply it if its turn has come, and sign its receipt;
    returns the receipt, the stored message (None for a duplicate) and the request it applied to."""
    envelope = opened.envelope
    known = batch.known.get(envelope.id)
    if known is not None:
        if known.digest != opened.digest:
            raise Conflict(f"message {envelope.id} was already received with another content")
        return known.receipt, None, None
    if created < now - ctx.policy.replay_window - ctx.policy.clock_skew:
        raise VerificationError(f"message {envelope.id} is too old ({envelope.created}): a replay?")
    to = envelope.to.authority
    receipt = sign_receipt(message_id=envelope.id, envelope_digest=opened.digest, received_at=utc(now),
                           by_party=party_of_node, by_authority=to, signer=batch.signing_key(to))
    status, error, seq, record = _file(ctx, uow, batch, opened, to)
    sender, sender_authority = _from(opened)
    stored = uow.add_inbox(id=envelope.id, peer_party=sender, from_authority=sender_authority, to_authority=to,
                           type=envelope.type, exchange_id=envelope.request_ref, seq=seq, digest=opened.digest,
                           envelope=envelope.model_dump(mode="json", by_alias=True), receipt=receipt,
                           status=status, error=error, received_at=now)
    if record is not None and record.exchange_id in batch.waiting:
        _apply_waiting(ctx, uow, record, to)
    return receipt, stored, record


def _from(opened: Opened) -> tuple[str, str]:
    return opened.envelope.from_.party, opened.envelope.from_.authority


def _file(ctx: Context, uow: UnitOfWork, batch: _Batch, opened: Opened, to: str
          ) -> tuple[str, str, int, RequestRecord | None]:
    """Apply the message if its turn has come: (status, error, seq, the request it was applied to)."""
    envelope = opened.envelope
    party, authority = _from(opened)
    try:
        if envelope.type == SUBMITTED:
            submitted = SubmittedBody.model_validate(envelope.body)
            return "applied", "", submitted.seq, _create_incoming(ctx, uow, batch, opened, submitted, to)
        if envelope.type == EVENT:
            event = EventBody.model_validate(envelope.body)
            record = batch.exchange(envelope.request_ref or "", to)
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


def _create_incoming(ctx: Context, uow: UnitOfWork, batch: _Batch, opened: Opened, body: SubmittedBody,
                     to: str) -> RequestRecord:
    from hcx.services import requests  # late: requests imports this module

    envelope = opened.envelope
    party, authority = _from(opened)
    if not envelope.request_ref:
        raise InvalidInput("a submission must name its request")
    if batch.exchange(envelope.request_ref, to) is not None:
        raise Conflict(f"request {envelope.request_ref} was already submitted")
    draft = Draft.model_validate(body.document)
    if draft.requested_party != federation.own_party(ctx, uow) or draft.requesting_party != party:
        raise InvalidInput("the request's parties do not match the sender and this node")
    sender = batch.peer(party).authority(authority)
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

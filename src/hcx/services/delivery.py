"""Delivering the outbox: claim due messages under a lease, post them, keep the signed receipts.

At-least-once: a worker killed mid-batch leaves its messages leased; when the lease runs out
another worker (or the same one restarted) sends them again and the receiver deduplicates them.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hcx.crypto.envelope import verify_receipt
from hcx.crypto.keys import VerifyKey, b64d
from hcx.domain.descriptor import Descriptor
from hcx.domain.ports import OutboxRecord
from hcx.errors import Error, NotFound, PolicyDenied, VerificationError
from hcx.rules.schema import Role
from hcx.services import federation
from hcx.services.context import Context, Principal

log = logging.getLogger(__name__)

BACKOFF_BASE = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class Claimed:
    id: str
    peer_party: str
    url: str
    wire: bytes
    digest: str


def backoff(attempts: int, rng: random.Random, cap: dt.timedelta) -> dt.timedelta:
    """Exponential, capped, with jitter on the upper half so the retries of many nodes spread out."""
    ceiling: dt.timedelta = min(cap, BACKOFF_BASE * (2 ** min(attempts, 20)))
    return ceiling * rng.uniform(0.5, 1.0)


def claim(ctx: Context, *, limit: int = 50) -> list[Claimed]:
    now = ctx.clock.now()
    with ctx.reading() as reading:  # an idle worker looks without taking the write lock
        if not reading.outbox_due(now=now):
            return []
    with ctx.unit_of_work() as uow:
        claimed, urls = [], {}
        for message in uow.claim_outbox(now=now, lease_until=now + ctx.policy.lease, limit=limit):
            if message.peer_party not in urls:
                peer = uow.get_peer(message.peer_party)
                assert peer is not None
                urls[message.peer_party] = peer.url
            claimed.append(Claimed(message.id, message.peer_party, urls[message.peer_party], message.wire,
                                   message.digest))
        uow.commit()
        return claimed


def _receipt_keys(descriptor: Descriptor) -> Callable[[str, str, str], VerifyKey]:
    """Find the key a receipt names among the active signing keys of the peer that should sign it."""
    def verify_key_for(party: str, authority: str, kid: str) -> VerifyKey:
        described = descriptor.authority(authority) if party == descriptor.party else None
        key = described.signing_key(kid) if described else None
        if key is None:
            raise VerificationError(f"the receipt is signed by an unknown key {party}/{authority}/{kid}")
        return VerifyKey.from_bytes(b64d(key.key))
    return verify_key_for


def record_receipts(ctx: Context, receipts: dict[str, Any]) -> list[str]:
    """Keep the peers' signed receipts and mark those messages delivered, in one transaction.

    The receipts are checked first, without the write lock. Returns the ids whose receipt did not
    verify; they stay pending and are retried."""
    good: dict[str, dict[str, Any]] = {}
    bad: list[str] = []
    with ctx.reading() as uow:
        lookups: dict[str, Callable[[str, str, str], VerifyKey]] = {}
        for message in uow.outbox_items(sorted(receipts)):  # one statement for the round
            if message.status == "delivered":
                continue
            try:
                if message.peer_party not in lookups:
                    lookups[message.peer_party] = _receipt_keys(federation.peer_descriptor(ctx, uow,
                                                                                           message.peer_party))
                verify_receipt(receipts[message.id], verify_key_for=lookups[message.peer_party],
                               message_id=message.id, envelope_digest=message.digest)
            except Error as exc:
                log.warning("receipt for %s from %s refused: %s", message.id, message.peer_party, exc.message)
                bad.append(message.id)
                continue
            good[message.id] = receipts[message.id]
    if good:
        with ctx.unit_of_work() as uow:
            uow.mark_delivered(good, now=ctx.clock.now())
            uow.commit()
    return bad


def record_failures(ctx: Context, failures: dict[str, str], rng: random.Random) -> None:
    """Count the failed attempts, schedule the next ones, park the messages that are too old."""
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        for message_id, error in failures.items():
            message = uow.get_outbox(message_id)
            if message is None or message.status != "pending":
                continue
            message.attempts += 1
            message.last_error, message.lease_until = error[:500], None
            if now - message.created_at >= ctx.policy.message_max_age:
                message.status = "parked"
                log.warning("message %s to %s parked after %s attempts: %s", message.id, message.peer_party,
                            message.attempts, error)
            else:
                message.next_attempt_at = now + backoff(message.attempts, rng, ctx.policy.retry_max)
        uow.commit()


def deliver_due(ctx: Context, *, limit: int = 50, rng: random.Random | None = None) -> int:
    """One round of delivery; returns how many messages were delivered.

    The messages of a round go to each peer in one request, and their receipts are recorded
    together: if the worker dies before, the messages are sent again after their lease and the
    receivers answer with the receipts they already gave."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
    transport = ctx.transport
    assert transport is not None
    receipts: dict[str, Any] = {}
    failures: dict[str, str] = {}
    by_peer: dict[str, list[Claimed]] = {}
    for message in claim(ctx, limit=limit):
        by_peer.setdefault(message.url, []).append(message)
    for url, batch in by_peer.items():  # one request per peer: its inbox stores the batch in one transaction
        try:
            answers = transport.deliver_batch(url, [m.wire for m in batch])
        except Error as exc:
            log.info("delivery of %s messages to %s failed: %s", len(batch), batch[0].peer_party, exc.message)
            failures.update({m.id: f"{exc.__class__.__name__}: {exc.message}" for m in batch})
            continue
        for message, answer in zip(batch, answers, strict=True):
            if isinstance(answer, dict) and "error" in answer:
                failures[message.id] = "refused by the peer"
            else:
                receipts[message.id] = answer
    for message_id in record_receipts(ctx, receipts) if receipts else []:
        failures[message_id] = "the receipt did not verify"
    if failures:
        record_failures(ctx, failures, rng)
    return len(receipts) - sum(1 for m in failures if m in receipts)


def retry(ctx: Context, actor: Principal | None, message_id: str) -> None:
    """An admin sends a parked message again."""
    if actor is not None and actor.role is not Role.admin:
        raise PolicyDenied("only an admin can retry a parked message")
    with ctx.unit_of_work() as uow:
        message = uow.get_outbox(message_id)
        if message is None:
            raise NotFound(f"no message {message_id}")
        if message.status != "parked":
            return
        now = ctx.clock.now()
        message.status, message.attempts, message.next_attempt_at = "pending", 0, now
        message.created_at = now  # a fresh age budget before it is parked again
        uow.audit(id=ctx.new_id(), at=now, actor_id=actor.user_id if actor else None, action="outbox.retry",
                  object_type="message", object_id=message_id, details={})
        uow.commit()


def outbox_view(message: OutboxRecord) -> dict[str, Any]:
    return {"id": message.id, "peer": message.peer_party, "type": message.type, "status": message.status,
            "attempts": message.attempts, "request_id": message.request_id,
            "created_at": message.created_at.isoformat(), "next_attempt_at": message.next_attempt_at.isoformat(),
            "delivered_at": message.delivered_at.isoformat() if message.delivered_at else None,
            "last_error": message.last_error, "digest": message.digest, "receipt": message.receipt}


def list_outbox(ctx: Context, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    with ctx.reading() as uow:
        return [outbox_view(m) for m in uow.list_outbox(status=status, limit=limit)]


def list_inbox(ctx: Context, *, limit: int = 100) -> list[dict[str, Any]]:
    with ctx.reading() as uow:
        return [{"id": m.id, "peer": m.peer_party, "type": m.type, "status": m.status, "seq": m.seq,
                 "exchange_id": m.exchange_id, "error": m.error, "received_at": m.received_at.isoformat(),
                 "digest": m.digest} for m in uow.list_inbox(limit=limit)]

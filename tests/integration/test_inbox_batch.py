"""One batch into the inbox: what the batch looks up once (messages already received, waiting
exchanges, requests of its exchanges) must give the same outcome as one message at a time."""

from __future__ import annotations

import datetime as dt

from hcx.domain.lifecycle import Step
from hcx.errors import VerificationError
from hcx.services import delivery, messaging, requests
from tests.conftest import FixedClock
from tests.integration.test_federation_flow import PeerNode, approved_mla, pair

__all__ = ["pair"]  # the fixture, shared with the flow tests


def test_a_batch_applies_an_early_step_after_its_submission_and_answers_a_repeat_alike(
        pair: tuple[PeerNode, PeerNode]) -> None:
    vnm, aus = pair
    rid = approved_mla(vnm)
    requests.transition(vnm.ctx, vnm.officer, rid, Step(action="withdraw", reasons="No longer needed."))
    submission, withdrawal = sorted(delivery.claim(vnm.ctx), key=lambda m: m.id)

    # the step first (it must wait), then its submission (which applies it), then the submission again
    first, second, repeat = messaging.receive_many(aus.ctx, [withdrawal.wire, submission.wire, submission.wire])

    assert isinstance(first, dict) and isinstance(second, dict) and repeat == second
    incoming = aus.only_request()
    assert incoming.state == "withdrawn"
    assert [e.action for e in incoming.events] == ["register", "withdraw"]
    assert {m["id"]: m["status"] for m in delivery.list_inbox(aus.ctx)} == {
        submission.id: "applied", withdrawal.id: "applied"}
    # sent again in a later batch: the same receipts, nothing applied twice
    assert messaging.receive_many(aus.ctx, [submission.wire, withdrawal.wire]) == [second, first]
    assert [e.action for e in aus.only_request().events] == ["register", "withdraw"]


def test_a_rejected_message_in_a_batch_leaves_the_others_applied(pair: tuple[PeerNode, PeerNode]) -> None:
    vnm, aus = pair
    first, second = approved_mla(vnm), approved_mla(vnm)
    vnm.deliver()
    theirs = {requests.show(aus.ctx, aus.officer, r.id).events[0].details["peer_reference"]: r.id
              for r in requests.list_requests(aus.ctx, aus.officer)}
    first_there, second_there = (theirs[requests.show(vnm.ctx, vnm.officer, rid).reference] for rid in (first, second))
    requests.transition(vnm.ctx, vnm.officer, first, Step(action="withdraw", reasons="No longer needed."))
    # AUS accepts the first (crossing its withdrawal: VNM will refuse to apply it) and acknowledges the second
    requests.transition(aus.ctx, aus.officer, first_there, Step(action="accept"))
    requests.transition(aus.ctx, aus.officer, second_there, Step(action="acknowledge"))
    acceptance, acknowledgement = sorted(delivery.claim(aus.ctx), key=lambda m: m.id)

    results = messaging.receive_many(vnm.ctx, [acceptance.wire, acknowledgement.wire])

    assert all(isinstance(r, dict) and r["message_id"] for r in results)  # both receipted
    assert requests.show(vnm.ctx, vnm.officer, first).state == "withdrawn"
    assert requests.show(vnm.ctx, vnm.officer, second).state == "acknowledged"
    statuses = {m["id"]: m["status"] for m in delivery.list_inbox(vnm.ctx)}
    assert statuses == {acceptance.id: "rejected", acknowledgement.id: "applied"}


def test_a_replayed_message_in_a_batch_is_refused_alone(pair: tuple[PeerNode, PeerNode], clock: FixedClock) -> None:
    vnm, aus = pair
    approved_mla(vnm)
    [old] = delivery.claim(vnm.ctx)
    clock.current += aus.ctx.policy.replay_window + aus.ctx.policy.clock_skew + dt.timedelta(minutes=1)
    approved_mla(vnm)
    [fresh] = [m for m in delivery.claim(vnm.ctx) if m.id != old.id]  # the old one's lease has run out too

    refused, receipt = messaging.receive_many(aus.ctx, [old.wire, fresh.wire])

    assert isinstance(refused, VerificationError) and "replay" in refused.message
    assert isinstance(receipt, dict) and receipt["message_id"] == fresh.id
    assert [m["id"] for m in delivery.list_inbox(aus.ctx)] == [fresh.id]  # nothing of the replay is stored
    assert len(requests.list_requests(aus.ctx, aus.officer)) == 1

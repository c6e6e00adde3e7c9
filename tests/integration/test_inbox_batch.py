"""One batch into the inbox: what the batch looks up once (messages already received, waiting
exchanges, requests of its exchanges) must give the same outcome as one message at a time."""

from __future__ import annotations

from hcx.domain.lifecycle import Step
from hcx.services import delivery, messaging, requests
from tests.integration.test_federation_flow import PeerNode, mla, pair

__all__ = ["pair"]  # the fixture, shared with the flow tests


def test_a_batch_applies_an_early_step_after_its_submission_and_answers_a_repeat_alike(
        pair: tuple[PeerNode, PeerNode]) -> None:
    vnm, aus = pair
    rid = requests.create(vnm.ctx, vnm.officer, mla()).id
    requests.transition(vnm.ctx, vnm.officer, rid, Step(action="submit"))
    requests.transition(vnm.ctx, vnm.supervisor, rid, Step(action="approve"))
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

"""One batch into the inbox: what the batch looks up once (messages already received, waiting
exchanges, requests of its exchanges) must give the same outcome as one message at a time."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest

from hcx.domain.lifecycle import Direction, Step
from hcx.domain.ports import RequestRecord
from hcx.errors import Conflict, InvalidInput, VerificationError
from hcx.services import delivery, messaging, requests
from hcx.storage.models import InboxMessage
from hcx.storage.unit_of_work import SqlUnitOfWork
from tests.conftest import FixedClock
from tests.integration.test_federation_flow import PeerNode, approved_mla, pair
from tests.integration.test_pipelined_delivery import pair_on

__all__ = ["pair", "pair_on"]  # the fixtures, shared with the flow tests


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


def test_a_message_that_clashes_only_at_a_flush_is_refused_alone(
        pair_on: tuple[PeerNode, PeerNode], monkeypatch: pytest.MonkeyPatch) -> None:
    """A message the batch's look-up misses (stored meanwhile by a concurrent batch, say) clashes
    only when its row is flushed, here by the next message's queries, without a savepoint: the
    batch is stored again message by message, and only the clashing one is refused."""
    vnm, aus = pair_on
    first, second = approved_mla(vnm), approved_mla(vnm)
    vnm.deliver()
    for rid in (first, second):
        requests.transition(vnm.ctx, vnm.officer, rid, Step(action="withdraw", reasons="No longer needed."))
    stored, fresh = sorted(delivery.claim(vnm.ctx), key=lambda m: m.id)
    [receipt] = messaging.receive_many(aus.ctx, [stored.wire])
    assert isinstance(receipt, dict)
    lookup = SqlUnitOfWork.get_inboxes

    def missing_the_stored_one(uow: SqlUnitOfWork, ids: Sequence[str]) -> Sequence[InboxMessage]:
        return [m for m in lookup(uow, ids) if m.id != stored.id]

    monkeypatch.setattr(SqlUnitOfWork, "get_inboxes", missing_the_stored_one)
    before = {m["id"]: m["status"] for m in delivery.list_inbox(aus.ctx)}

    refused, applied = messaging.receive_many(aus.ctx, [stored.wire, fresh.wire])

    assert isinstance(refused, Conflict)
    assert isinstance(applied, dict) and applied["message_id"] == fresh.id
    assert {m["id"]: m["status"] for m in delivery.list_inbox(aus.ctx)} == before | {fresh.id: "applied"}
    shown = [requests.show(aus.ctx, aus.officer, r.id) for r in requests.list_requests(aus.ctx, aus.officer)]
    assert sorted([e.action for e in r.events] for r in shown) == [["register", "withdraw"]] * 2  # nothing twice
    assert {r.state for r in shown} == {"withdrawn"}


def test_two_batches_racing_to_number_the_years_first_request_both_store_their_submission(
        pair_on: tuple[PeerNode, PeerNode], monkeypatch: pytest.MonkeyPatch) -> None:
    """The first request of a year creates its numbers' counter: two batches of other exchanges
    (not held apart on PostgreSQL) may both create it, and the second clashes at that flush. Its
    submission is filed as rejected and the transaction goes on, dead: the clash must still fail the
    message (not the batch, not silently), and the batch, stored again, number it after the first."""
    vnm, aus = pair_on
    approved_mla(vnm), approved_mla(vnm)
    wires = [m.wire for m in sorted(delivery.claim(vnm.ctx), key=lambda m: m.id)]
    entered = threading.Event()
    numbering = SqlUnitOfWork.next_reference_number

    def lingering(uow: SqlUnitOfWork, *, party: str, year: int) -> int:
        number = numbering(uow, party=party, year=year)
        if not entered.is_set():  # the first batch holds its new counter, uncommitted, a while
            entered.set()
            time.sleep(0.3)
        return number

    monkeypatch.setattr(SqlUnitOfWork, "next_reference_number", lingering)
    results: dict[int, Any] = {}

    def receive(i: int) -> None:
        try:
            results[i] = messaging.receive_many(aus.ctx, [wires[i]])
        except Exception as exc:  # noqa: BLE001 - the test reports it
            results[i] = exc

    threads = [threading.Thread(target=receive, args=(i,)) for i in range(2)]
    threads[0].start()
    assert entered.wait(10)
    threads[1].start()
    for thread in threads:
        thread.join(30)

    assert all(isinstance(r, list) and isinstance(r[0], dict) for r in results.values()), results
    assert {m["status"] for m in delivery.list_inbox(aus.ctx)} == {"applied"}
    references = {r.reference for r in requests.list_requests(aus.ctx, aus.officer)}
    assert len(references) == 2


def test_a_message_whose_request_reference_this_node_cannot_keep_is_refused_alone(
        pair_on: tuple[PeerNode, PeerNode]) -> None:
    """The envelope allows a request reference of 128 characters, the inbox keeps 64: such a message
    is refused before anything is stored (PostgreSQL would refuse the row at its flush, SQLite keep
    it), and only that message."""
    vnm, aus = pair_on
    approved_mla(vnm)
    with vnm.ctx.unit_of_work() as uow:  # a peer's message about an exchange of its own naming
        authority = uow.list_authorities()[0]
        record = SimpleNamespace(requested_party="AUS", requesting_party="VNM", direction=Direction.outgoing,
                                 counterpart_authority=None, authority_id=authority.id, last_sent_seq=0,
                                 id=None, exchange_id="E" * 100)
        messaging.enqueue(vnm.ctx, uow, cast(RequestRecord, record), messaging.EVENT, {"action": "withdraw"})
        uow.commit()
    submission, long = sorted(delivery.claim(vnm.ctx), key=lambda m: m.id)

    receipt, answer = messaging.receive_many(aus.ctx, [submission.wire, long.wire])

    assert isinstance(receipt, dict) and receipt["message_id"] == submission.id
    assert aus.only_request().state == "submitted"
    kept = {m["id"] for m in delivery.list_inbox(aus.ctx)}
    assert isinstance(answer, InvalidInput) and "keeps at most 64" in answer.message
    assert kept == {submission.id}

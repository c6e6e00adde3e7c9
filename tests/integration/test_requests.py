"""The request use cases on a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from hcx.domain.lifecycle import Direction, Step
from hcx.errors import Conflict, InvalidInput, NotFound, PolicyDenied
from hcx.services import requests
from hcx.services.requests import NewRequest
from tests.conftest import EXAMPLES, World


def new(kind: str = "mutual_legal_assistance", direction: Direction = Direction.outgoing, **changes: object
        ) -> NewRequest:
    document = json.loads((EXAMPLES / f"{kind}.json").read_text(encoding="utf-8")) | changes
    return NewRequest.model_validate({"draft": document, "direction": direction})


def snapshot(world: World, request_id: str) -> tuple[str, int, int]:
    view = requests.show(world.ctx, world.supervisor, request_id)
    return view.state, view.version, len(view.events)


def test_a_draft_gets_a_reference_and_its_findings(world: World) -> None:
    first = requests.create(world.ctx, world.officer, new())
    second = requests.create(world.ctx, world.officer, new())
    assert (first.reference, second.reference) == ("VNM-2026-000001", "VNM-2026-000002")
    assert first.state == "draft" and first.events[0].action == "create"
    assert not [f for f in first.findings if f.severity == "error"]


def test_an_outgoing_request_through_its_whole_life(world: World) -> None:
    ctx, olga, sam = world.ctx, world.officer, world.supervisor
    request = requests.create(ctx, olga, new())
    rid = request.id
    assert requests.transition(ctx, olga, rid, Step(action="submit")).state == "awaiting_approval"
    with pytest.raises(PolicyDenied):
        requests.transition(ctx, olga, rid, Step(action="approve"))
    sent = requests.transition(ctx, sam, rid, Step(action="approve"))
    assert sent.state == "submitted"
    assert sent.due_at == dt.datetime(2027, 1, 31, 23, 59, 59, tzinfo=dt.UTC)  # the suggested deadline
    for action, extra in [("acknowledge", {}), ("request_information", {"message": "Which accounts?"})]:
        requests.transition(ctx, olga, rid, Step(action=action, record_counterpart=True, **extra))  # type: ignore[arg-type]
    requests.transition(ctx, olga, rid, Step(action="provide_information", message="Accounts 1 and 2."))
    for action, extra in [("accept", {}), ("execute_partially", {"summary": "Account 1 records."}),
                          ("execute", {"summary": "Account 2 records."})]:
        requests.transition(ctx, olga, rid, Step(action=action, record_counterpart=True, **extra))  # type: ignore[arg-type]
    done = requests.transition(ctx, olga, rid, Step(action="close"))
    assert done.state == "closed" and done.allowed_actions == []
    assert [(e.action, e.actor_id, e.recorded_for_counterpart) for e in done.events] == [
        ("create", olga.user_id, False), ("submit", olga.user_id, False), ("approve", sam.user_id, False),
        ("acknowledge", olga.user_id, True), ("request_information", olga.user_id, True),
        ("provide_information", olga.user_id, False), ("accept", olga.user_id, True),
        ("execute_partially", olga.user_id, True), ("execute", olga.user_id, True), ("close", olga.user_id, False)]
    assert done.events[4].details == {"message": "Which accounts?"}


def test_an_incoming_request_refused_with_cited_grounds(world: World) -> None:
    ctx = world.ctx
    incoming = requests.create(ctx, world.officer, new(direction=Direction.incoming, requesting_party="AUS",
                                                       requested_party="VNM"))
    assert incoming.state == "submitted" and incoming.due_at is not None
    requests.transition(ctx, world.officer, incoming.id, Step(action="acknowledge"))
    with pytest.raises(InvalidInput) as raised:
        requests.transition(ctx, world.supervisor, incoming.id,
                            Step(action="refuse", grounds=["bank_secrecy"], reasons="secret"))
    assert "40(8)" in raised.value.details[0]
    refused = requests.transition(ctx, world.supervisor, incoming.id, Step(
        action="refuse", grounds=["essential_interests"], reasons="Would reveal an ongoing security operation."))
    assert refused.state == "refused"
    assert refused.events[-1].details == {"grounds": ["essential_interests"],
                                          "reasons": "Would reveal an ongoing security operation."}


def test_a_refused_step_changes_nothing(world: World) -> None:
    rid = requests.create(world.ctx, world.officer, new()).id
    before = snapshot(world, rid)
    attempts = [(world.officer, Step(action="approve"), Conflict),
                (world.auditor, Step(action="submit"), PolicyDenied),
                (world.officer, Step(action="withdraw"), Conflict),
                (world.officer, Step(action="refuse", grounds=["essential_interests"], reasons="r",
                                     record_counterpart=True), Conflict)]
    for who, step, error in attempts:
        with pytest.raises(error):
            requests.transition(world.ctx, who, rid, step)
        assert snapshot(world, rid) == before


def test_a_draft_with_errors_cannot_be_submitted(world: World) -> None:
    document = json.loads((EXAMPLES / "mutual_legal_assistance.json").read_text(encoding="utf-8"))
    del document["fields"]["purpose"]
    request = requests.create(world.ctx, world.officer, NewRequest.model_validate({"draft": document}))
    with pytest.raises(InvalidInput) as raised:
        requests.transition(world.ctx, world.officer, request.id, Step(action="submit"))
    assert [d["path"] for d in raised.value.details] == ["fields.purpose"]
    assert snapshot(world, request.id)[0] == "draft"


def test_exempt_types_are_sent_without_approval_and_preservation_expiry_is_tracked(world: World) -> None:
    ctx, tuan = world.ctx, world.contact
    rid = requests.create(ctx, tuan, new("expedited_preservation")).id
    assert requests.transition(ctx, tuan, rid, Step(action="submit")).state == "submitted"
    for action, extra in [("accept", {}), ("execute", {"summary": "Preserved."})]:
        view = requests.transition(ctx, tuan, rid, Step(action=action, record_counterpart=True, **extra))  # type: ignore[arg-type]
    assert view.preservation_expires_on == dt.date(2026, 11, 23) + dt.timedelta(days=90)
    extended = requests.transition(ctx, tuan, rid, Step(action="extend_preservation", extension_days=60))
    assert extended.preservation_expires_on == dt.date(2026, 11, 23) + dt.timedelta(days=150)


def test_an_emergency_request_is_only_for_the_24_7_contact(world: World) -> None:
    findings = requests.create(world.ctx, world.officer, new("emergency_request")).findings
    assert [f.code for f in findings if f.severity == "error"] == ["sender_kind"]
    assert not [f for f in requests.create(world.ctx, world.contact, new("emergency_request")).findings
                if f.severity == "error"]


def test_every_query_is_scoped_to_the_users_authority(world: World) -> None:
    rid = requests.create(world.ctx, world.officer, new()).id
    assert [r.id for r in requests.list_requests(world.ctx, world.supervisor)] == [rid]
    assert requests.list_requests(world.ctx, world.other_officer) == []
    with pytest.raises(NotFound):
        requests.show(world.ctx, world.other_officer, rid)
    with pytest.raises(NotFound):
        requests.transition(world.ctx, world.other_officer, rid, Step(action="submit"))
    with pytest.raises(PolicyDenied):
        requests.show(world.ctx, world.admin, rid)


def test_requests_must_involve_the_nodes_party_and_known_types(world: World) -> None:
    with pytest.raises(InvalidInput, match="requesting party"):
        requests.create(world.ctx, world.officer, new(requesting_party="FRA"))
    with pytest.raises(InvalidInput):
        requests.create(world.ctx, world.officer, new(type="pizza"))
    with pytest.raises(InvalidInput):
        requests.create(world.ctx, world.officer, new(requested_party="ZZZ"))
    assert requests.list_requests(world.ctx, world.officer) == []


def test_text_in_any_script_round_trips(world: World) -> None:
    text = "ملخص الوقائع — 事实摘要 — Tóm tắt sự việc: lừa đảo trực tuyến 🚨"
    document = json.loads((EXAMPLES / "mutual_legal_assistance.json").read_text(encoding="utf-8"))
    document["fields"]["summary_of_facts"] = text
    rid = requests.create(world.ctx, world.officer, NewRequest.model_validate({"draft": document})).id
    assert requests.show(world.ctx, world.officer, rid).document["fields"]["summary_of_facts"] == text


def test_a_draft_is_edited_with_optimistic_locking(world: World) -> None:
    view = requests.create(world.ctx, world.officer, new())
    draft = requests.parse_draft(view.document | {"requested_party": "FRA"})
    edited = requests.update_draft(world.ctx, world.officer, view.id, draft, version=view.version)
    assert edited.requested_party == "FRA" and edited.version == view.version + 1
    with pytest.raises(Conflict):
        requests.update_draft(world.ctx, world.officer, view.id, draft, version=view.version)


def test_reading_a_request_is_audited(world: World) -> None:
    from hcx.services import accounts

    rid = requests.create(world.ctx, world.officer, new()).id
    requests.show(world.ctx, world.auditor, rid)
    trail = accounts.list_audit(world.ctx)
    assert (trail[0].action, trail[0].actor_id, trail[0].object_id) == ("request.read", world.auditor.user_id, rid)

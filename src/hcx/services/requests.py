"""Cooperation requests: validate, draft, register incoming, read, and move through the lifecycle.

Every change is one transaction: the new state, its event (who, when, why) and the audit entry
are committed together or not at all.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hcx.domain import deadlines, lifecycle
from hcx.domain.lifecycle import Actor, Direction, Step
from hcx.domain.model import Draft, Finding, has_errors
from hcx.domain.ports import RequestRecord, UnitOfWork
from hcx.domain.validation import validate
from hcx.errors import Conflict, InvalidInput, NotFound, PolicyDenied
from hcx.rules.schema import AuthorityKind, Role
from hcx.services import federation, messaging
from hcx.services.context import Context, Principal, require_role
from hcx.services.views import EventView, FindingView, RequestSummary, RequestView

WRITERS = (Role.officer, Role.supervisor)
READERS = (Role.officer, Role.supervisor, Role.auditor)
FATAL = {"unknown_request_type", "unknown_party"}


class NewRequest(BaseModel):
    """A draft to write (outgoing), or a request received outside hcx to register (incoming)."""

    model_config = ConfigDict(extra="forbid")

    draft: Draft
    direction: Direction = Direction.outgoing
    counterpart: str = Field("", max_length=200, description="the other party's authority")
    counterpart_authority: str | None = Field(
        None, max_length=64, description="id of the recipient authority in the peer's descriptor (default: the "
                                         "authority of the same kind as yours, else its central authority)")


def parse_draft(document: Any) -> Draft:
    try:
        return Draft.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput("the request is not well formed", details=_pydantic_problems(exc)) from exc


def _pydantic_problems(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()]


def check(ctx: Context, draft: Draft, *, sender_kind: AuthorityKind | None = None) -> list[Finding]:
    """Findings for a draft, without storing anything."""
    return validate(draft, ctx.rules, today=ctx.clock.now().date(), sender_kind=sender_kind)


def _sender_kind(uow: UnitOfWork, principal: Principal) -> AuthorityKind:
    authority = uow.get_authority(principal.authority_id)
    assert authority is not None
    return AuthorityKind(authority.kind)


def create(ctx: Context, principal: Principal, new: NewRequest) -> RequestView:
    require_role(principal, WRITERS, "write requests")
    draft, direction = new.draft, new.direction
    own = draft.requesting_party if direction is Direction.outgoing else draft.requested_party
    if own != principal.party:
        side = "requesting" if direction is Direction.outgoing else "requested"
        raise InvalidInput(f"the {side} party of a{'n' if side == 'requested' else ''} {direction} request "
                           f"is this node's party, {principal.party}")
    with ctx.unit_of_work() as uow:
        sender_kind = _sender_kind(uow, principal) if direction is Direction.outgoing else None
        findings = check(ctx, draft, sender_kind=sender_kind)
        fatal = [f for f in findings if f.code in FATAL]
        if fatal:
            raise InvalidInput("the request cannot be recorded", details=[f.as_dict() for f in fatal])
        if direction is Direction.incoming:
            if messaging.is_peer(uow, draft.requesting_party):
                raise PolicyDenied(f"{draft.requesting_party} uses hcx: its requests arrive from its node")
            record = record_incoming(ctx, uow, draft, authority_id=principal.authority_id, exchange_id=None,
                                     counterpart=new.counterpart.strip(), counterpart_authority=None,
                                     actor_id=principal.user_id)
        else:
            record = _new_record(ctx, uow, draft, direction, authority_id=principal.authority_id,
                                 counterpart=new.counterpart.strip(), actor_id=principal.user_id)
            record.exchange_id = record.id
            record.counterpart_authority = _recipient(ctx, uow, draft, sender_kind, new.counterpart_authority)
        action = "create" if direction is Direction.outgoing else "register"
        _audit(ctx, uow, principal.user_id, f"request.{action}", record.id, {"type": draft.type})
        uow.commit()
        return _view(ctx, uow, record, principal, findings)


def _recipient(ctx: Context, uow: UnitOfWork, draft: Draft, sender_kind: AuthorityKind | None,
               chosen: str | None) -> str | None:
    """The peer authority an outgoing request will be addressed to; None if the party is not a peer."""
    if not messaging.is_peer(uow, draft.requested_party):
        return None
    peer = federation.peer_descriptor(ctx, uow, draft.requested_party)
    authority = peer.authority(chosen) if chosen else peer.authority_for(sender_kind.value if sender_kind else "")
    if authority is None:
        raise InvalidInput(f"{draft.requested_party} has no authority {chosen or 'to address this request to'}; "
                           f"its authorities: {', '.join(f'{a.id} ({a.name})' for a in peer.authorities)}")
    return authority.id


def _new_record(ctx: Context, uow: UnitOfWork, draft: Draft, direction: Direction, *, authority_id: str,
                counterpart: str, actor_id: str | None, details: dict[str, Any] | None = None,
                **columns: Any) -> RequestRecord:
    """A new request and its first event; `columns` set the request's others at once (one INSERT,
    no UPDATE after it)."""
    now = ctx.clock.now()
    party = federation.own_party(ctx, uow)
    number = uow.next_reference_number(party=party, year=now.year)
    lc = ctx.rules.lifecycle
    state = lc.initial if direction is Direction.outgoing else lc.incoming_initial
    record = uow.add_request(
        id=ctx.new_id(), reference=f"{party}-{now.year}-{number:06d}", authority_id=authority_id,
        direction=direction.value, type=draft.type, requesting_party=draft.requesting_party,
        requested_party=draft.requested_party, language=draft.language, counterpart=counterpart, state=state,
        document=draft.model_dump(mode="json"), created_by=actor_id, submitted_by=None, created_at=now,
        **{"updated_at": now, "due_at": None, "preservation_expires_on": None, "exchange_id": None,
           "counterpart_authority": None, "last_sent_seq": 0, "last_applied_seq": 0, **columns})
    action = "create" if direction is Direction.outgoing else "register"
    uow.add_event(id=ctx.new_id(), request_id=record.id, seq=1, action=action, from_state="", to_state=state,
                  actor_id=actor_id, recorded_for_counterpart=False, details=details or {}, at=now)
    return record


def record_incoming(ctx: Context, uow: UnitOfWork, draft: Draft, *, authority_id: str, exchange_id: str | None,
                    counterpart: str, counterpart_authority: str | None, actor_id: str | None = None,
                    peer_reference: str | None = None, message_id: str | None = None) -> RequestRecord:
    """A request this node's party is asked to answer: registered by an officer, or received from a peer."""
    received = {"peer_reference": peer_reference, "message": message_id} if message_id else None
    return _new_record(ctx, uow, draft, Direction.incoming, authority_id=authority_id, counterpart=counterpart,
                       actor_id=actor_id, details=received, exchange_id=exchange_id,
                       counterpart_authority=counterpart_authority,
                       # the submission is the peer's first message about it
                       last_applied_seq=1 if message_id is not None else 0,
                       due_at=_response_due(ctx, draft, ctx.clock.now()))


def update_draft(ctx: Context, principal: Principal, request_id: str, draft: Draft, *, version: int | None
                 ) -> RequestView:
    require_role(principal, WRITERS, "write requests")
    with ctx.unit_of_work() as uow:
        record = _locked(uow, principal, request_id)
        if record.state != ctx.rules.lifecycle.initial or record.direction != Direction.outgoing:
            raise Conflict("only a draft can be edited")
        if version is not None and version != record.version:
            raise Conflict("the draft was changed meanwhile; reload it and try again")
        if draft.requesting_party != record.requesting_party:
            raise InvalidInput(f"the requesting party stays {record.requesting_party}")
        findings = check(ctx, draft, sender_kind=_sender_kind(uow, principal))
        fatal = [f for f in findings if f.code in FATAL]
        if fatal:
            raise InvalidInput("the draft cannot be saved", details=[f.as_dict() for f in fatal])
        record.type, record.requested_party, record.language = draft.type, draft.requested_party, draft.language
        record.document = draft.model_dump(mode="json")
        record.updated_at = ctx.clock.now()
        _audit(ctx, uow, principal.user_id, "request.edit", record.id, {})
        uow.commit()
        return _view(ctx, uow, record, principal, findings)


def list_requests(ctx: Context, principal: Principal, *, state: str | None = None, type: str | None = None,
                  direction: str | None = None, limit: int = 100, offset: int = 0) -> list[RequestSummary]:
    require_role(principal, READERS, "read requests")
    with ctx.reading() as uow:
        records = uow.list_requests(authority_id=principal.authority_id, state=state, type=type,
                                    direction=direction, limit=min(max(limit, 1), 500), offset=max(offset, 0))
        return [RequestSummary.model_validate(r, from_attributes=True) for r in records]


def show(ctx: Context, principal: Principal, request_id: str) -> RequestView:
    """One request with its history; reading it is itself recorded in the audit trail."""
    require_role(principal, READERS, "read requests")
    with ctx.unit_of_work() as uow:
        record = uow.get_request(request_id, authority_id=principal.authority_id)
        if record is None:
            raise NotFound(f"no request {request_id}")
        _audit(ctx, uow, principal.user_id, "request.read", record.id, {})
        view = _view(ctx, uow, record, principal, None)
        uow.commit()
        return view


def transition(ctx: Context, principal: Principal, request_id: str, step: Step) -> RequestView:
    with ctx.unit_of_work() as uow:
        record = _locked(uow, principal, request_id)
        direction = Direction(record.direction)
        peer = messaging.is_peer(uow, messaging.counterpart_party(record))
        if step.record_counterpart and peer:
            raise PolicyDenied(f"{messaging.counterpart_party(record)} uses hcx: its steps arrive from its node")
        exempt = record.type in ctx.rules.lifecycle.approval_exempt_types
        outcome = lifecycle.take(
            ctx.rules, request_type=record.type, state=record.state, direction=direction,
            actor=Actor(principal.user_id, principal.role), step=step, submitted_by=record.submitted_by,
            approval_required=ctx.policy.four_eyes and not exempt, today=ctx.clock.now().date())
        findings: list[Finding] | None = None
        if step.action in ("submit", "approve"):
            findings = check(ctx, Draft.model_validate(record.document), sender_kind=_sender_kind(uow, principal))
            if has_errors(findings):
                raise InvalidInput("the request has errors to fix before it is sent",
                                   details=[f.as_dict() for f in findings if f.severity == "error"])
        if step.action == "submit":
            record.submitted_by = principal.user_id
        from_state = record.state
        apply_outcome(ctx, uow, record, outcome, step, actor_id=principal.user_id,
                      by_counterpart=outcome.transition.side is not direction.own_side)
        _audit(ctx, uow, principal.user_id, f"request.{step.action}", record.id,
               {"from": from_state, "to": outcome.to_state})
        if peer:
            _send(ctx, uow, record, step, from_state)
        uow.commit()
        if peer:
            ctx.outbox_filled()
        return _view(ctx, uow, record, principal, findings)


def _send(ctx: Context, uow: UnitOfWork, record: RequestRecord, step: Step, from_state: str) -> None:
    """Tell the counterpart's node: the whole request once it is sent, then every step that travels."""
    transition = ctx.rules.lifecycle.transition(step.action)
    assert transition is not None
    if record.state == "submitted" and from_state in ("draft", "awaiting_approval"):
        messaging.enqueue(ctx, uow, record, messaging.SUBMITTED,
                          {"reference": record.reference, "document": record.document})
    elif not transition.internal:
        messaging.enqueue(ctx, uow, record, messaging.EVENT, {"action": step.action, "details": step.details()})


def apply_outcome(ctx: Context, uow: UnitOfWork, record: RequestRecord, outcome: lifecycle.Outcome, step: Step,
                  *, actor_id: str | None, by_counterpart: bool, extra_details: dict[str, Any] | None = None
                  ) -> None:
    """Move `record` to the outcome's state and record the event (who, when, why)."""
    now = ctx.clock.now()
    draft = Draft.model_validate(record.document)
    if outcome.to_state == "submitted" and record.direction == Direction.outgoing:
        record.due_at = _response_due(ctx, draft, now)
    if record.type == "expedited_preservation" and step.action in ("execute", "extend_preservation"):
        record.preservation_expires_on = _preservation_expiry(ctx, record, draft, step, now)
    details = step.details()
    uow.add_event(id=ctx.new_id(), request_id=record.id, seq=len(uow.list_events(record.id)) + 1,
                  action=step.action, from_state=record.state, to_state=outcome.to_state, actor_id=actor_id,
                  recorded_for_counterpart=by_counterpart, details=details | (extra_details or {}), at=now)
    record.state = outcome.to_state
    record.updated_at = now


def _locked(uow: UnitOfWork, principal: Principal, request_id: str) -> RequestRecord:
    record = uow.lock_request(request_id, authority_id=principal.authority_id)
    if record is None:
        raise NotFound(f"no request {request_id}")
    return record


def _response_due(ctx: Context, draft: Draft, now: dt.datetime) -> dt.datetime:
    rtype = ctx.rules.request_type(draft.type)
    assert rtype is not None
    suggested = draft.fields.get("suggested_deadline")
    try:
        suggested_date = dt.date.fromisoformat(suggested) if isinstance(suggested, str) else None
    except ValueError:
        suggested_date = None
    rule = ctx.rules.deadline(rtype.deadline)
    return deadlines.response_due(rule, sent_at=now, suggested=suggested_date, sla_days=ctx.policy.sla_days).at


def _preservation_expiry(ctx: Context, record: RequestRecord, draft: Draft, step: Step, now: dt.datetime
                         ) -> dt.date:
    rule = ctx.rules.deadline("preservation")
    if step.action == "extend_preservation" and record.preservation_expires_on is not None:
        return record.preservation_expires_on + dt.timedelta(days=step.extension_days or 0)
    days = draft.fields.get("preservation_days")
    period = deadlines.preservation_period(rule, preserved_on=now.date(),
                                           requested_days=days if isinstance(days, int) else None)
    return period.expires_on


def _audit(ctx: Context, uow: UnitOfWork, actor_id: str | None, action: str, request_id: str,
           details: dict[str, Any]) -> None:
    uow.audit(id=ctx.new_id(), at=ctx.clock.now(), actor_id=actor_id, action=action,
              object_type="request", object_id=request_id, details=details)


def _view(ctx: Context, uow: UnitOfWork, record: RequestRecord, principal: Principal,
          findings: list[Finding] | None) -> RequestView:
    if findings is None:
        findings = check(ctx, Draft.model_validate(record.document))
    summary = RequestSummary.model_validate(record, from_attributes=True)
    return RequestView(
        **summary.model_dump(),
        language=record.language, document=record.document, version=record.version,
        allowed_actions=lifecycle.allowed_actions(ctx.rules, request_type=record.type, state=record.state,
                                                  direction=Direction(record.direction), role=principal.role),
        events=[EventView.model_validate(e, from_attributes=True) for e in uow.list_events(record.id)],
        findings=[FindingView(**f.as_dict()) for f in findings],
    )

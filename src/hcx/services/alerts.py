"""Alerts: a new link between cases (a value newly shared, at home or abroad) for the analysts of the
cases, and the follow-up it offers.

A link is found once, at ingest (`record_links`, called by the indicator import in its transaction):
each new posting's key is looked up once in the index and every other case holding it, up to the
generic cap, makes an alert. Between two local cases each case gets one (naming the other); with a
counterpart's case (a posting learned from a peer) the local case gets one naming the counterpart's
party and authority. Generic values (in more than `max_cases` cases) never alert.

    list_alerts(ctx, principal, open_only=True) -> [AlertView]
    acknowledge(ctx, principal, alert_id) -> AlertView
    open_draft(ctx, principal, alert_id, type=…, language=…) -> RequestView   spontaneous information or
                                                                              a joint-investigation proposal,
                                                                              pre-filled; the alert is acknowledged
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from hcx.domain.model import Draft
from hcx.domain.ports import UnitOfWork
from hcx.errors import InvalidInput, NotFound, PolicyDenied
from hcx.indicators.sharing import Destination, Level, Route
from hcx.rules.schema import Role
from hcx.services import requests
from hcx.services.context import Context, Principal, require_role
from hcx.services.requests import NewRequest
from hcx.services.views import RequestView

READERS = frozenset({Role.analyst, Role.officer, Role.supervisor, Role.auditor})
ACKNOWLEDGERS = frozenset({Role.analyst, Role.officer, Role.supervisor})
FOLLOW_UPS: tuple[str, ...] = ("spontaneous_information", "joint_investigation")
FollowUp = Literal["spontaneous_information", "joint_investigation"]
DEFAULT_JIT_MONTHS = 6


# --- the store, as this module sees it ---------------------------------------------------------

class PostingLike(Protocol):
    key: bytes
    case_ref: str
    country: str
    origin: str


class AlertRecord(Protocol):
    id: str
    authority_id: str
    key: bytes
    kind: str
    value: str
    case_ref: str
    other_case_ref: str
    other_country: str
    other_authority: str
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    request_id: str | None


class AlertStore(Protocol):
    def postings_for_keys(self, *, authority_id: str, keys: Sequence[bytes]) -> Sequence[PostingLike]: ...
    def add_alerts(self, rows: Sequence[dict[str, Any]]) -> int: ...
    def alerts(self, *, authority_id: str, open_only: bool, limit: int, offset: int) -> Sequence[AlertRecord]: ...
    def alert(self, *, authority_id: str, alert_id: str) -> AlertRecord | None: ...
    def acknowledge_alert(self, *, authority_id: str, alert_id: str, user_id: str, at: dt.datetime) -> bool: ...
    def record_alert_request(self, *, authority_id: str, alert_id: str, request_id: str) -> None: ...


class _AlertingUnitOfWork(Protocol):
    @property
    def indicators(self) -> AlertStore: ...


def _store(uow: UnitOfWork) -> AlertStore:
    return cast(_AlertingUnitOfWork, uow).indicators


# --- finding new links at ingest -------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NewPosting:
    """A posting just written (or about to be): its key, value and case."""

    key: bytes
    kind: str
    value: str
    case_ref: str
    country: str
    origin: str = ""


def holders_of(uow: UnitOfWork, *, authority_id: str, keys: Sequence[bytes]) -> dict[bytes, list[PostingLike]]:
    """The postings already in the index under each of `keys`: the one lookup per key (batched)."""
    holders: dict[bytes, list[PostingLike]] = defaultdict(list)
    for posting in _store(uow).postings_for_keys(authority_id=authority_id, keys=keys):
        holders[posting.key].append(posting)
    return holders


def record_links(uow: UnitOfWork, *, authority_id: str, own_party: str, new: Sequence[NewPosting],
                 holders: Mapping[bytes, Sequence[PostingLike]], max_cases: int, now: dt.datetime,
                 new_id: Callable[[], str]) -> int:
    """Alert every new link of `new` (postings not in the index before), given what `holders_of` found
    for their keys; returns the number of links (pairs of cases). Generic values make none."""
    index = _store(uow)
    rows: list[dict[str, Any]] = []
    links = 0
    for posting in new:
        others = [o for o in holders.get(posting.key, ()) if (o.country, o.case_ref) != (posting.country,
                                                                                          posting.case_ref)]
        if not others or len(others) + 1 > max_cases:
            continue  # alone, or generic
        for other in others:
            links += 1
            rows.extend(_alert_rows(posting, other, authority_id=authority_id, own_party=own_party, now=now,
                                    new_id=new_id))
    if rows:
        index.add_alerts(rows)
    return links


def _alert_rows(new: NewPosting, other: PostingLike, *, authority_id: str, own_party: str, now: dt.datetime,
                new_id: Callable[[], str]) -> list[dict[str, Any]]:
    """One alert per local case of the link, naming the other case."""
    sides = [(new.case_ref, new.country, new.origin, other.case_ref, other.country, other.origin),
             (other.case_ref, other.country, other.origin, new.case_ref, new.country, new.origin)]
    return [{"id": new_id(), "authority_id": authority_id, "key": new.key, "kind": new.kind, "value": new.value,
             "case_ref": case, "other_case_ref": other_case, "other_country": other_country,
             "other_authority": other_origin, "created_at": now, "acknowledged_at": None, "acknowledged_by": None,
             "request_id": None}
            for case, country, _origin, other_case, other_country, other_origin in sides
            if country == own_party]  # a counterpart's case is alerted on its own node


# How a responder-side match alert names the peer: the positions came from the initiator, which this
# node cannot check (docs/matching.md, "What each side learns").
PEER_ASSERTED = "(match asserted by the peer, not confirmed by this node)"


def record_match_alerts(uow: UnitOfWork, *, authority_id: str, peer_party: str, peer_authority: str,
                        matched: Sequence[tuple[bytes, str, str, str]], now: dt.datetime,
                        new_id: Callable[[], str], asserted_by_peer: bool = False) -> int:
    """Alert the local cases holding values that private matching found at a peer: (key, kind, value,
    case_ref) each. The peer's case is not disclosed by the protocol, so the alert names its authority
    only; a repeated match of the same value with the same party alerts once. On the responder's
    side the matches are the initiator's word (`asserted_by_peer`): the alert says so."""
    other = f"{peer_authority} {PEER_ASSERTED}" if asserted_by_peer else peer_authority
    rows = [{"id": new_id(), "authority_id": authority_id, "key": key, "kind": kind, "value": value,
             "case_ref": case_ref, "other_case_ref": "", "other_country": peer_party,
             "other_authority": other, "created_at": now, "acknowledged_at": None,
             "acknowledged_by": None, "request_id": None}
            for key, kind, value, case_ref in matched]
    return _store(uow).add_alerts(rows) if rows else 0


# --- reading and acting on alerts ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AlertView:
    id: str
    kind: str
    value: str
    case_ref: str
    other_case_ref: str
    other_country: str
    other_authority: str
    abroad: bool
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    request_id: str | None
    offers: tuple[str, ...]  # the follow-ups open_draft can make (abroad only)


def _view(record: AlertRecord, own_party: str) -> AlertView:
    abroad = record.other_country != own_party
    return AlertView(record.id, record.kind, record.value, record.case_ref, record.other_case_ref,
                     record.other_country, record.other_authority, abroad, record.created_at,
                     record.acknowledged_at, record.acknowledged_by, record.request_id,
                     FOLLOW_UPS if abroad else ())


def list_alerts(ctx: Context, principal: Principal, *, open_only: bool = True, limit: int = 100,
                offset: int = 0) -> list[AlertView]:
    """The alerts of the principal's authority, newest first."""
    require_role(principal, READERS, "read alerts")
    if not 1 <= limit <= 1000 or offset < 0:
        raise InvalidInput("limit is 1 to 1000 and offset at least 0")
    with ctx.reading() as uow:
        records = _store(uow).alerts(authority_id=principal.authority_id, open_only=open_only, limit=limit,
                                     offset=offset)
        return [_view(r, principal.party) for r in records]


def _get(uow: UnitOfWork, principal: Principal, alert_id: str) -> AlertRecord:
    record = _store(uow).alert(authority_id=principal.authority_id, alert_id=alert_id)
    if record is None:
        raise NotFound(f"no alert {alert_id}")
    return record


def acknowledge(ctx: Context, principal: Principal, alert_id: str) -> AlertView:
    """Mark an alert seen. Acknowledging it again changes nothing."""
    require_role(principal, ACKNOWLEDGERS, "acknowledge alerts")
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        _get(uow, principal, alert_id)
        if _store(uow).acknowledge_alert(authority_id=principal.authority_id, alert_id=alert_id,
                                         user_id=principal.user_id, at=now):
            uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="alert.acknowledged",
                      object_type="alert", object_id=alert_id, details={})
        uow.commit()
        return _view(_get(uow, principal, alert_id), principal.party)


def follow_up_draft(alert: AlertView, *, type: FollowUp, requesting_party: str, authority_name: str,
                    authority_kind: str, language: str) -> Draft:
    """The draft an alert offers: the shared indicator, both case references and the counterpart.
    Pure: it does not check TLP; `open_draft` does, before calling it."""
    if not alert.abroad:
        raise InvalidInput("both cases are this node's: there is no counterpart to inform or invite")
    counterpart = alert.other_authority or f"the authorities of {alert.other_country}"
    their_case = f"case {alert.other_case_ref}" if alert.other_case_ref else "a case"  # private matching names none
    facts = (f"Our case {alert.case_ref} and {counterpart}'s {their_case} share the indicator "
             f"{alert.kind} {alert.value}.")
    fields: dict[str, Any] = {"requesting_authority": {"name": authority_name, "kind": authority_kind,
                                                       "reference": alert.case_ref}}
    if type == "spontaneous_information":
        fields |= {"information": f"{facts} The indicator: {alert.kind} {alert.value}.",
                   "relevance": f"It links our case {alert.case_ref} to your {their_case}."}
    else:
        fields |= {"purpose": f"Investigate together the activity behind {alert.kind} {alert.value}, seen in "
                              f"{alert.case_ref} and {alert.other_case_ref}.",
                   "summary_of_facts": facts, "participating_parties": [requesting_party, alert.other_country],
                   "duration_months": DEFAULT_JIT_MONTHS}
    return Draft(type=type, requesting_party=requesting_party, requested_party=alert.other_country,
                 language=language, fields=fields)


# An officer's follow-up to the counterpart that holds the value is a deliberate need-to-know
# decision: a posting with no TLP marking does not stop it; an explicit marking is the policy's.
FOLLOW_UP_UNMARKED = Level.CLEAR


def _may_go_to_counterpart(ctx: Context, principal: Principal, alert: AlertView, key: bytes) -> None:
    """Refuse (PolicyDenied, naming the marking) a follow-up whose indicator TLP keeps from the
    counterpart's party: every posting of the value in the authority must allow it."""
    from hcx.services import taxii  # here, not above: taxii imports the index, which imports this module

    with ctx.reading() as uow:
        to = Destination(Route.FOREIGN, alert.other_country, None,
                         pinned_peer=uow.get_peer(alert.other_country) is not None)
        found = taxii.value_decisions(taxii.store(uow), authority_id=principal.authority_id, keys=[key], to=to,
                                      unmarked=FOLLOW_UP_UNMARKED)
    decision = found[bytes(key)]
    if not decision.allowed:
        raise PolicyDenied(f"the {alert.kind} of alert {alert.id} may not go to {alert.other_country}: "
                           f"{decision.reason}")


_DRAFTS_SCANNED = 500  # the authority's newest drafts of that type, where an orphan of a crash would be


def _same_draft(ctx: Context, principal: Principal, draft: Draft) -> str | None:
    """The id of an outgoing draft of the authority holding exactly `draft`, if there is one."""
    wanted = draft.model_dump(mode="json")
    with ctx.reading() as uow:
        for record in uow.list_requests(authority_id=principal.authority_id, state="draft", type=draft.type,
                                        direction="outgoing", limit=_DRAFTS_SCANNED):
            if record.document == wanted:
                return record.id
    return None


def open_draft(ctx: Context, principal: Principal, alert_id: str, *, type: FollowUp,
               language: str = "en") -> RequestView:
    """Open spontaneous information or a joint-investigation proposal to the counterpart of an alert,
    pre-filled; the draft is validated and stored like any other (requests.create checks the role),
    and the alert is acknowledged and points at it."""
    if type not in FOLLOW_UPS:
        raise InvalidInput(f"a follow-up is one of {', '.join(FOLLOW_UPS)}")
    require_role(principal, READERS, "read alerts")
    with ctx.reading() as uow:
        record = _get(uow, principal, alert_id)
        alert, key = _view(record, principal.party), bytes(record.key)
        authority = uow.get_authority(principal.authority_id)
        assert authority is not None
        authority_name, authority_kind = authority.name, authority.kind
    _may_go_to_counterpart(ctx, principal, alert, key)
    draft = follow_up_draft(alert, type=type, requesting_party=principal.party, authority_name=authority_name,
                            authority_kind=authority_kind, language=language)
    # requests.create commits on its own: after a crash before the alert is linked below, a retry
    # finds that draft (the same document: drafts are deterministic) and links it, not a second one
    existing = _same_draft(ctx, principal, draft)
    view = (requests.show(ctx, principal, existing) if existing is not None
            else requests.create(ctx, principal, NewRequest(draft=draft, counterpart=alert.other_authority[:200])))
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        index = _store(uow)
        index.acknowledge_alert(authority_id=principal.authority_id, alert_id=alert_id, user_id=principal.user_id,
                                at=now)
        index.record_alert_request(authority_id=principal.authority_id, alert_id=alert_id, request_id=view.id)
        uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="alert.followed_up",
                  object_type="alert", object_id=alert_id, details={"request": view.id, "type": type})
        uow.commit()
    return view

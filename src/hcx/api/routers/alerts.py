"""Alerts on new links between cases: list, acknowledge, follow up with a pre-filled draft request."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from hcx.api.deps import ContextDep, PrincipalDep
from hcx.services import alerts
from hcx.services.views import RequestView

router = APIRouter(tags=["alerts"])


class Alert(BaseModel):
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
    offers: list[str]


class FollowUp(BaseModel):
    type: alerts.FollowUp
    language: str = Field("en", pattern=r"^[a-z]{2,3}$")


def _out(view: alerts.AlertView) -> Alert:
    return Alert(id=view.id, kind=view.kind, value=view.value, case_ref=view.case_ref,
                 other_case_ref=view.other_case_ref, other_country=view.other_country,
                 other_authority=view.other_authority, abroad=view.abroad, created_at=view.created_at,
                 acknowledged_at=view.acknowledged_at, acknowledged_by=view.acknowledged_by,
                 request_id=view.request_id, offers=list(view.offers))


@router.get("/alerts", response_model=list[Alert])
def list_alerts(ctx: ContextDep, principal: PrincipalDep, all: bool = False,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                offset: Annotated[int, Query(ge=0)] = 0) -> list[Alert]:
    """Your authority's alerts, newest first: open ones, or `all=true` for acknowledged ones too."""
    return [_out(v) for v in alerts.list_alerts(ctx, principal, open_only=not all, limit=limit, offset=offset)]


@router.post("/alerts/{alert_id}/ack", response_model=Alert)
def acknowledge(ctx: ContextDep, principal: PrincipalDep, alert_id: str) -> Alert:
    return _out(alerts.acknowledge(ctx, principal, alert_id))


@router.post("/alerts/{alert_id}/draft", response_model=RequestView, status_code=201)
def open_draft(ctx: ContextDep, principal: PrincipalDep, alert_id: str, body: FollowUp) -> RequestView:
    """Open spontaneous information or a joint-investigation proposal to the counterpart, pre-filled."""
    return alerts.open_draft(ctx, principal, alert_id, type=body.type, language=body.language)

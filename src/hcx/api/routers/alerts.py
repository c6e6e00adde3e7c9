"""Alerts on new links between cases: list, acknowledge, follow up with a pre-filled draft request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from hcx.api.deps import ContextDep, PrincipalDep
from hcx.services import alerts
from hcx.services.views import RequestView

router = APIRouter(tags=["alerts"])


class FollowUp(BaseModel):
    type: alerts.FollowUp
    language: str = Field("en", pattern=r"^[a-z]{2,3}$")


@router.get("/alerts", response_model=list[alerts.AlertView])
def list_alerts(ctx: ContextDep, principal: PrincipalDep, all: bool = False,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                offset: Annotated[int, Query(ge=0)] = 0) -> list[alerts.AlertView]:
    """Your authority's alerts, newest first: open ones, or `all=true` for acknowledged ones too."""
    return alerts.list_alerts(ctx, principal, open_only=not all, limit=limit, offset=offset)


@router.post("/alerts/{alert_id}/ack", response_model=alerts.AlertView)
def acknowledge(ctx: ContextDep, principal: PrincipalDep, alert_id: str) -> alerts.AlertView:
    return alerts.acknowledge(ctx, principal, alert_id)


@router.post("/alerts/{alert_id}/draft", response_model=RequestView, status_code=201)
def open_draft(ctx: ContextDep, principal: PrincipalDep, alert_id: str, body: FollowUp) -> RequestView:
    """Open spontaneous information or a joint-investigation proposal to the counterpart, pre-filled."""
    return alerts.open_draft(ctx, principal, alert_id, type=body.type, language=body.language)

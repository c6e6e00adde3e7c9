"""Cooperation requests: validate, create, edit, list, read, transitions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from hcx.api.deps import ContextDep, PrincipalDep
from hcx.domain.lifecycle import Step
from hcx.domain.model import Draft, has_errors
from hcx.services import requests
from hcx.services.requests import NewRequest
from hcx.services.views import FindingView, RequestSummary, RequestView

router = APIRouter(tags=["requests"])


class Validation(BaseModel):
    valid: bool
    findings: list[FindingView]


@router.post("/validate", response_model=Validation)
def validate(ctx: ContextDep, principal: PrincipalDep, draft: Draft) -> Validation:
    """Findings for a draft (each citing its article); nothing is stored."""
    findings = requests.check(ctx, draft)
    return Validation(valid=not has_errors(findings), findings=[FindingView(**f.as_dict()) for f in findings])


@router.post("/requests", response_model=RequestView, status_code=201)
def create(ctx: ContextDep, principal: PrincipalDep, body: NewRequest) -> RequestView:
    return requests.create(ctx, principal, body)


@router.get("/requests", response_model=list[RequestSummary])
def list_requests(
    ctx: ContextDep, principal: PrincipalDep, state: str | None = None, type: str | None = None,
    direction: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[RequestSummary]:
    return requests.list_requests(ctx, principal, state=state, type=type, direction=direction,
                                  limit=limit, offset=offset)


@router.get("/requests/{request_id}", response_model=RequestView)
def show(ctx: ContextDep, principal: PrincipalDep, request_id: str) -> RequestView:
    return requests.show(ctx, principal, request_id)


@router.put("/requests/{request_id}/draft", response_model=RequestView)
def update_draft(ctx: ContextDep, principal: PrincipalDep, request_id: str, draft: Draft,
                 version: int | None = None) -> RequestView:
    return requests.update_draft(ctx, principal, request_id, draft, version=version)


@router.post("/requests/{request_id}/transitions", response_model=RequestView)
def transition(ctx: ContextDep, principal: PrincipalDep, request_id: str, step: Step) -> RequestView:
    return requests.transition(ctx, principal, request_id, step)

"""The convention as data, read-only: request types, lifecycle, refusal grounds, parties, status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hcx.api.deps import ContextDep
from hcx.errors import NotFound
from hcx.rules.schema import Lifecycle, RefusalRules, RequestType
from hcx.services import parties
from hcx.services.parties import StatusReport

router = APIRouter(tags=["convention"])


@router.get("/rules/request-types", response_model=list[RequestType])
def request_types(ctx: ContextDep) -> list[RequestType]:
    return ctx.rules.request_types


@router.get("/rules/request-types/{code}", response_model=RequestType)
def request_type(ctx: ContextDep, code: str) -> RequestType:
    found = ctx.rules.request_type(code)
    if found is None:
        raise NotFound(f"no request type {code!r}")
    return found


@router.get("/rules/lifecycle", response_model=Lifecycle, response_model_by_alias=True)
def lifecycle(ctx: ContextDep) -> Lifecycle:
    return ctx.rules.lifecycle


@router.get("/rules/refusal-grounds", response_model=RefusalRules)
def refusal_grounds(ctx: ContextDep) -> RefusalRules:
    return ctx.rules.refusal


@router.get("/parties")
def list_parties(ctx: ContextDep) -> list[dict[str, Any]]:
    return [p.model_dump() for p in ctx.rules.parties]


@router.get("/parties/status", response_model=StatusReport)
def status(ctx: ContextDep, language: str = "en") -> StatusReport:
    return parties.status_report(ctx.rules, language=language)

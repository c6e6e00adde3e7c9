"""Returning evidence: seal completed uploads into a package for an incoming request, send it,
and follow a package a peer sent. See docs/evidence.md ("Returning evidence")."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from hcx.api.deps import ContextDep, PrincipalDep
from hcx.services import evidence, evidence_exchange

router = APIRouter(tags=["evidence"])
PackageId = Annotated[str, Path(max_length=26)]


class SealUploads(BaseModel):
    uploads: list[Annotated[str, Field(max_length=26)]] = Field(min_length=1, max_length=1000)
    case_ref: str = Field(min_length=1, max_length=64)
    request_id: str = Field(max_length=26)


def _package(view: evidence.PackageView) -> dict[str, Any]:
    return asdict(view) | {"created_at": view.created_at.isoformat()}


@router.post("/evidence", status_code=201)
async def seal(ctx: ContextDep, principal: PrincipalDep, body: SealUploads) -> dict[str, Any]:
    """Seal completed uploads into a package answering an incoming request (officer, supervisor)."""
    view = await run_in_threadpool(evidence_exchange.seal_uploads, ctx, principal, body.uploads,
                                   case_ref=body.case_ref, request_id=body.request_id)
    return _package(view)


@router.get("/evidence/{package_id}")
def show(ctx: ContextDep, principal: PrincipalDep, package_id: PackageId) -> dict[str, Any]:
    return _package(evidence.get(ctx, principal, package_id))


@router.post("/evidence/{package_id}/send")
async def send(ctx: ContextDep, principal: PrincipalDep, package_id: PackageId) -> dict[str, Any]:
    """Send a sealed package to the requesting State: capabilities, custody "sent", the message."""
    return asdict(await run_in_threadpool(evidence_exchange.send, ctx, principal, package_id))


@router.get("/evidence/{package_id}/incoming")
def incoming(ctx: ContextDep, principal: PrincipalDep, package_id: PackageId) -> dict[str, Any]:
    """The download state of a package a peer sent: fetching, received or failed (with why)."""
    return evidence_exchange.incoming_status(ctx, principal, package_id)

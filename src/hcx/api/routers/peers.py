"""Peers and message queues, for admins: pin and list peers, watch the outbox, retry parked messages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from hcx.api.deps import ContextDep, PrincipalDep
from hcx.errors import PolicyDenied
from hcx.rules.schema import Role
from hcx.services import delivery, federation
from hcx.services.context import Principal

router = APIRouter(tags=["federation"])


def _admin(principal: Principal) -> None:
    if principal.role is not Role.admin:
        raise PolicyDenied("peers and message queues are for admins")


class NewPeer(BaseModel):
    url: str = Field(min_length=1, max_length=300)
    fingerprint: str = Field(min_length=1, max_length=100, description="obtained out of band")


@router.get("/peers")
def list_peers(ctx: ContextDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    _admin(principal)
    return federation.list_peers(ctx)


@router.post("/peers", status_code=201)
def add_peer(ctx: ContextDep, principal: PrincipalDep, body: NewPeer) -> dict[str, Any]:
    peer = federation.add_peer(ctx, principal, url=body.url, expected_fingerprint=body.fingerprint)
    return {"party": peer.party, "url": peer.url, "version": peer.descriptor_version}


@router.get("/node/fingerprint")
def fingerprint(ctx: ContextDep, principal: PrincipalDep) -> dict[str, str]:
    return {"fingerprint": federation.node_fingerprint(ctx)}


@router.get("/outbox")
def outbox(ctx: ContextDep, principal: PrincipalDep, status: str | None = None, limit: int = 100
           ) -> list[dict[str, Any]]:
    _admin(principal)
    return delivery.list_outbox(ctx, status=status, limit=min(max(limit, 1), 1000))


@router.post("/outbox/{message_id}/retry", status_code=204)
def retry(ctx: ContextDep, principal: PrincipalDep, message_id: str) -> None:
    delivery.retry(ctx, principal, message_id)


@router.get("/inbox")
def inbox(ctx: ContextDep, principal: PrincipalDep, limit: int = 100) -> list[dict[str, Any]]:
    _admin(principal)
    return delivery.list_inbox(ctx, limit=min(max(limit, 1), 1000))

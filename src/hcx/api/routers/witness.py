"""Witnessing the custody logs: the endpoints peers call, and what admins see.

    POST /federation/witness              a peer asks us to cosign its checkpoint (services/witness.py)
    POST /federation/witness/cosignature  a peer's cosignature of one of our checkpoints
    POST /federation/witness/custody      a peer asks for our custody entries about a package
                                          exchanged with it (services/custody_exchange.py)
    GET  /api/v1/log/alarms               forks and rollbacks seen in peers' logs (admins, auditors)
    GET  /api/v1/log/witnesses            per peer: the last cosignatures each way (admins, auditors)

A peer gets one opaque refusal whatever went wrong; the detail goes to the local log."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from hcx.api.deps import ContextDep, PrincipalDep
from hcx.api.errors import error_body
from hcx.errors import Error
from hcx.services import custody, custody_exchange, witness
from hcx.services.context import Context

log = logging.getLogger(__name__)
router = APIRouter(prefix="/federation/witness", tags=["federation"])
api_router = APIRouter(prefix="/log", tags=["custody log"])


@router.post("", responses={400: {"description": "refused"}})
async def witness_request(ctx: ContextDep, request: Request) -> Any:
    """A signed witness-request/1; the answer is a signed witness-answer/1 (docs/witness.md)."""
    return await _serve(ctx, request, witness.answer, "witness request")


@router.post("/cosignature", responses={400: {"description": "refused"}})
async def witness_cosignature(ctx: ContextDep, request: Request) -> Any:
    """A signed witness-cosignature/1; the answer is a signed witness-ack/1."""
    return await _serve(ctx, request, witness.accept_cosignature, "cosignature")


@router.post("/custody", responses={400: {"description": "refused"}})
async def custody_request(ctx: ContextDep, request: Request) -> Any:
    """A signed custody-request/1; the answer is a signed custody-answer/1 (docs/evidence.md)."""
    return await _serve(ctx, request, custody_exchange.answer, "custody request")


async def _serve(ctx: Context, request: Request, handle: Callable[[Context, bytes], dict[str, Any]],
                 what: str) -> Any:
    client = request.client.host if request.client else "?"
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > witness.MAX_DOCUMENT_BYTES:
            log.warning("witness: refused a %s over %s bytes from %s", what, witness.MAX_DOCUMENT_BYTES, client)
            return _refused()
    try:
        return await run_in_threadpool(handle, ctx, bytes(body))
    except Error as exc:
        log.warning("witness: refused a %s from %s: %s: %s", what, client, exc.__class__.__name__, exc.message)
        return _refused()


def _refused() -> JSONResponse:
    return JSONResponse(error_body("refused", "witness request refused"), status_code=400)


@api_router.get("/alarms")
def alarms(ctx: ContextDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Forks and rollbacks seen in peers' custody logs, newest first, with both checkpoints."""
    return [{"id": a.id, "party": a.party, "kind": a.kind, "detail": a.detail, "raised_at": a.raised_at.isoformat(),
             "previous_note": a.previous_note, "offered_note": a.offered_note}
            for a in custody.alarms(ctx, principal)]


@api_router.get("/witnesses")
def witnesses(ctx: ContextDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Per pinned peer: our largest checkpoint it cosigned, its largest we cosigned, its alarms."""
    return witness.witnesses(ctx, principal)

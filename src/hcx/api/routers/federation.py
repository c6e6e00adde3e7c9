"""The federation endpoints peers call: this node's descriptor, and its inbox.

A peer gets one opaque refusal whatever went wrong; the detail goes to the local log."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hcx.api.deps import ContextDep
from hcx.api.errors import error_body
from hcx.errors import Error
from hcx.services import federation, messaging

log = logging.getLogger(__name__)
router = APIRouter(prefix="/federation", tags=["federation"])
MAX_MESSAGE_BYTES = 4_194_304


@router.get("/descriptor")
def descriptor(ctx: ContextDep) -> dict[str, Any]:
    """This node's signed descriptor: party, URL, authorities and their public keys."""
    return federation.descriptor(ctx)


@router.post("/inbox", responses={400: {"description": "message refused"}})
async def inbox(ctx: ContextDep, request: Request) -> Any:
    """Receive one sealed message; answer with a signed receipt."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_MESSAGE_BYTES:
            log.warning("inbox: refused a message over %s bytes from %s", MAX_MESSAGE_BYTES, _client(request))
            return _refused()
    try:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(messaging.receive, ctx, bytes(body))
    except Error as exc:
        log.warning("inbox: refused a message from %s: %s: %s", _client(request), exc.__class__.__name__,
                    exc.message)
        return _refused()


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _refused() -> JSONResponse:
    return JSONResponse(error_body("refused", "message refused"), status_code=400)

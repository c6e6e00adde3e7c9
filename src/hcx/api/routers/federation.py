"""The federation endpoints peers call: this node's descriptor, and its inbox.

A peer gets one opaque refusal whatever went wrong; the detail goes to the local log."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from hcx.api.deps import ContextDep
from hcx.api.errors import error_body
from hcx.errors import Error
from hcx.services import federation, messaging

log = logging.getLogger(__name__)
router = APIRouter(prefix="/federation", tags=["federation"])
MAX_MESSAGE_BYTES = 4_194_304
MAX_BATCH_MESSAGES = 100
MAX_BATCH_BYTES = 16 * MAX_MESSAGE_BYTES


@router.get("/descriptor")
def descriptor(ctx: ContextDep) -> dict[str, Any]:
    """This node's signed descriptor: party, URL, authorities and their public keys."""
    return federation.descriptor(ctx)


@router.post("/inbox", responses={400: {"description": "message refused"}})
async def inbox(ctx: ContextDep, request: Request) -> Any:
    """Receive one sealed message; answer with a signed receipt."""
    body = await _read(request, MAX_MESSAGE_BYTES, "message")
    if body is None:
        return _refused()
    try:
        return await run_in_threadpool(messaging.receive, ctx, body)
    except Error as exc:
        log.warning("inbox: refused a message from %s: %s: %s", _client(request), exc.__class__.__name__,
                    exc.message)
        return _refused()


@router.post("/inbox/batch", responses={400: {"description": "batch refused"}})
async def inbox_batch(ctx: ContextDep, request: Request) -> Any:
    """Receive several sealed messages, one per line; answer with a signed receipt for each, or
    an opaque refusal in its place. They are stored in one transaction."""
    body = await _read(request, MAX_BATCH_BYTES, "batch")
    if body is None:
        return _refused()
    wires = [line for line in body.split(b"\n") if line]
    if not wires or len(wires) > MAX_BATCH_MESSAGES or any(len(w) > MAX_MESSAGE_BYTES for w in wires):
        log.warning("inbox: refused a malformed batch of %s messages from %s", len(wires), _client(request))
        return _refused()
    results = await run_in_threadpool(messaging.receive_many, ctx, wires)
    answers: list[Any] = []
    for result in results:
        if isinstance(result, Error):
            log.warning("inbox: refused a message from %s: %s: %s", _client(request), result.__class__.__name__,
                        result.message)
            answers.append(error_body("refused", "message refused"))
        else:
            answers.append(result)
    return JSONResponse({"results": answers})  # plain JSON already: no encoder pass over every receipt


async def _read(request: Request, limit: int, what: str) -> bytes | None:
    """The body, or None (logged) if it grows past `limit`: it is never read whole first."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            log.warning("inbox: refused a %s over %s bytes from %s", what, limit, _client(request))
            return None
    return bytes(body)


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _refused() -> JSONResponse:
    return JSONResponse(error_body("refused", "message refused"), status_code=400)

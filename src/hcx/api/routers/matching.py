"""The matching endpoint peers call: one sealed protocol message in, the sealed answer out, each
with its points attached after a newline (`application/vnd.hcx.match`, docs/matching.md).

A message that does not verify (its envelope or its attachment) gets the same opaque refusal as the
inbox's; a verified one that this node declines (rate limit, size cap, out of turn) gets a sealed
`match.refused` answer."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hcx.api.deps import ContextDep
from hcx.api.routers.federation import MAX_MESSAGE_BYTES, _client, _read, _refused
from hcx.errors import Error
from hcx.services import matching

log = logging.getLogger(__name__)
router = APIRouter(prefix="/federation", tags=["federation"])


@router.post("/match", responses={400: {"description": "message refused"}})
async def match(ctx: ContextDep, request: Request) -> Any:
    """One message of the private set intersection protocol (docs/matching.md)."""
    body = await _read(request, MAX_MESSAGE_BYTES, "match message")  # the envelope and the attachment
    if body is None:
        return _refused()
    try:
        answer = await run_in_threadpool(matching.handle, ctx, body)
    except Error as exc:
        log.warning("match: refused a message from %s: %s: %s", _client(request), exc.__class__.__name__, exc.message)
        return _refused()
    return Response(content=answer, media_type=matching.MEDIA_TYPE)

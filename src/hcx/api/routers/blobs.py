"""`GET /federation/blobs/{capability_id}`: a blob served to the pinned peer holding a capability,
with HTTP ranges (206 + Content-Range, 416 for a range outside the blob) and ETag = its SHA-256.

Whatever is wrong with the credentials, the peer gets the federation routers' one opaque refusal;
the reason goes to the local log."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from hcx.api.deps import ContextDep
from hcx.api.errors import error_body
from hcx.api.routers.federation import _client, _refused
from hcx.errors import Error
from hcx.services import blob_transfer
from hcx.services.blob_transfer import PARTY_HEADER, SIGNATURE_HEADER
from hcx.services.context import Context

log = logging.getLogger(__name__)
router = APIRouter(prefix="/federation", tags=["federation"])
RANGE = re.compile(r"bytes=(\d*)-(\d*)")
STREAM_BYTES = 1 << 20


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of one `bytes=` range, or None if it cannot be satisfied. Several ranges
    are not served (one range is all a resuming client needs)."""
    match = RANGE.fullmatch(header.strip())
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:  # the last N bytes
        suffix = int(match[2])
        return (max(size - suffix, 0), size - 1) if suffix and size else None
    first = int(match[1])
    last = min(int(match[2]), size - 1) if match[2] else size - 1
    return (first, last) if first <= last and first < size else None


def _stream(ctx: Context, key: str, offset: int, length: int) -> Iterator[bytes]:
    with ctx.blob_store().reader(key, offset=offset, length=length) as stream:
        while chunk := stream.read(STREAM_BYTES):
            yield chunk


@router.get("/blobs/{capability_id}", responses={206: {"description": "a range of the blob"},
                                                 400: {"description": "refused"},
                                                 416: {"description": "range not satisfiable"}})
async def blob(ctx: ContextDep, request: Request, capability_id: Annotated[str, Path(max_length=26)],
               authorization: Annotated[str | None, Header()] = None,
               date: Annotated[str | None, Header()] = None,
               party: Annotated[str | None, Header(alias=PARTY_HEADER)] = None,
               signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
               range: Annotated[str | None, Header()] = None) -> Response:
    try:
        grant = await run_in_threadpool(
            blob_transfer.authorize, ctx, capability_id=capability_id, method="GET", path=request.url.path,
            authorization=authorization, party=party, date=date, signature=signature)
    except Error as exc:
        log.warning("blobs: refused %s from %s (party %r): %s: %s", capability_id, _client(request), party,
                    exc.__class__.__name__, exc.message)
        return _refused()
    stored = await run_in_threadpool(ctx.blob_store().size, grant.blob_key)
    if stored != grant.size:  # deleted or replaced since the grant: never serve other bytes under its ETag
        log.warning("blobs: capability %s names %s, which holds %s bytes, not %s", capability_id, grant.blob_key,
                    stored, grant.size)
        return _refused()
    headers = {"ETag": f'"{grant.sha256}"', "Accept-Ranges": "bytes", "Cache-Control": "no-store"}
    first, last, status = 0, grant.size - 1, 200
    if range is not None:
        window = parse_range(range, grant.size)
        if window is None:
            return JSONResponse(error_body("range_not_satisfiable", f"the blob has {grant.size} bytes"),
                                status_code=416, headers=headers | {"Content-Range": f"bytes */{grant.size}"})
        (first, last), status = window, 206
        headers["Content-Range"] = f"bytes {first}-{last}/{grant.size}"
    length = last - first + 1
    headers["Content-Length"] = str(length)
    await run_in_threadpool(blob_transfer.record_read, ctx, grant, first, last)
    log.info("blobs: serving %s bytes %s-%s of %s to %s", capability_id, first, last, grant.blob_key, party)
    return StreamingResponse(_stream(ctx, grant.blob_key, first, length), status_code=status, headers=headers,
                             media_type="application/octet-stream")

"""Resumable uploads: declare a file, send its chunks at explicit offsets, complete or cancel.
See docs/transfer.md for the protocol."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from hcx.api.deps import ContextDep, PrincipalDep
from hcx.errors import InvalidInput
from hcx.services import uploads
from hcx.services.uploads import UploadView

router = APIRouter(tags=["uploads"])
CHUNK_PATH = re.compile(r"/api/v1/uploads/[^/]+/chunks/[0-9]+")  # admitted up to the chunk size (api/limits.py)
UploadId = Annotated[str, Path(max_length=26)]


class NewUpload(BaseModel):
    file_name: str = Field(min_length=1, max_length=255)
    size: int = Field(ge=0)
    sha256: str = Field(min_length=64, max_length=64)


@router.post("/uploads", response_model=UploadView, status_code=201)
def create(ctx: ContextDep, principal: PrincipalDep, body: NewUpload) -> UploadView:
    """Declare a file (name, size, SHA-256); answers the upload id and the largest chunk size."""
    return uploads.create(ctx, principal, file_name=body.file_name, size=body.size, sha256=body.sha256)


@router.get("/uploads", response_model=list[UploadView])
def find(ctx: ContextDep, principal: PrincipalDep,
         status: Annotated[str | None, Query(pattern="^(open|complete|failed|cancelled)$")] = None,
         sha256: Annotated[str | None, Query(max_length=64)] = None) -> list[UploadView]:
    """The caller's own uploads, newest first; a client resumes the open one of its file."""
    return uploads.find(ctx, principal, status=status, sha256=sha256)


@router.get("/uploads/{upload_id}", response_model=UploadView)
def status(ctx: ContextDep, principal: PrincipalDep, upload_id: UploadId) -> UploadView:
    """How many bytes were received: the offset of the next chunk."""
    return uploads.status(ctx, principal, upload_id)


@router.put("/uploads/{upload_id}/chunks/{offset}", response_model=UploadView,
            openapi_extra={"requestBody": {"required": True,
                                           "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                               "format": "binary"}}}}})
async def append(ctx: ContextDep, principal: PrincipalDep, request: Request, upload_id: UploadId,
                 offset: Annotated[int, Path(ge=0)],
                 content_length: Annotated[int | None, Header()] = None) -> UploadView:
    """One chunk (the raw bytes as the body) at `offset` = bytes received so far. A body shorter or
    longer than its Content-Length is refused, as is a chunk past the declared size or out of order;
    the same chunk sent twice is accepted once."""
    if content_length is None:
        raise InvalidInput("a chunk needs a Content-Length header")
    limit = ctx.policy.upload_chunk_bytes
    body = bytearray()
    try:
        async for part in request.stream():
            body += part
            if len(body) > limit:
                raise InvalidInput(f"a chunk may hold at most {limit} bytes")
    except ClientDisconnect as exc:  # the client went away mid-body: a truncated chunk, nothing stored
        raise InvalidInput(f"the chunk is truncated: the connection closed after {len(body)} of "
                           f"{content_length} bytes; nothing was stored") from exc
    return await run_in_threadpool(uploads.append, ctx, principal, upload_id, offset, bytes(body),
                                   declared_length=content_length)


@router.post("/uploads/{upload_id}/complete", response_model=UploadView)
def complete(ctx: ContextDep, principal: PrincipalDep, upload_id: UploadId) -> UploadView:
    """Check size and SHA-256; the file becomes a blob that evidence sealing can take."""
    return uploads.complete(ctx, principal, upload_id)


@router.delete("/uploads/{upload_id}", status_code=204)
def cancel(ctx: ContextDep, principal: PrincipalDep, upload_id: UploadId) -> Response:
    """Stop an open upload and delete the bytes received."""
    uploads.cancel(ctx, principal, upload_id)
    return Response(status_code=204)

"""Resumable uploads of evidence files from an officer's machine to the node.

    create(ctx, principal, file_name=, size=, sha256=) -> UploadView   declare the file
    append(ctx, principal, id, offset, data) -> UploadView             one chunk at an explicit offset
    status / find / complete / cancel                                   see each function
    uploaded_blob(ctx, principal, id) -> UploadedBlob                  what evidence sealing consumes

The database row is the truth about how many bytes were received: a chunk's bytes are made
durable in the staging area first, then `received` is committed. A crash in between leaves bytes
past `received`, which the next chunk at that offset overwrites. Only officers and supervisors of
the uploading user's authority see an upload; for everyone else it does not exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Collection
from typing import Any, Protocol, cast

from pydantic import BaseModel

from hcx.domain.ports import BlobStaging, UnitOfWork
from hcx.errors import ConfigError, Conflict, InvalidInput, NotFound, VerificationError
from hcx.rules.schema import Role
from hcx.services.context import Context, Principal, require_role

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
ROLES = (Role.officer, Role.supervisor)


class UploadRecord(Protocol):
    id: str
    user_id: str
    authority_id: str
    file_name: str
    size: int
    sha256: str
    received: int
    status: str
    blob_key: str | None
    error: str
    created_at: dt.datetime
    updated_at: dt.datetime


class CapabilityRecord(Protocol):
    id: str
    token_hash: bytes
    blob_key: str
    peer_party: str
    sha256: str
    size: int
    created_at: dt.datetime
    expires_at: dt.datetime


class TransferStore(Protocol):
    """Uploads and capabilities (storage/transfer_store.py), in the unit of work's transaction."""

    def add_upload(self, **values: Any) -> UploadRecord: ...
    def get_upload(self, id: str, *, authority_id: str, lock: bool = False) -> UploadRecord | None: ...
    def list_uploads(self, *, user_id: str, status: str | None = None, sha256: str | None = None,
                     limit: int = 100) -> list[UploadRecord]: ...
    def add_capability(self, **values: Any) -> CapabilityRecord: ...
    def get_capability(self, id: str) -> CapabilityRecord | None: ...
    def upload_statuses(self, upload_ids: Collection[str]) -> dict[str, str]: ...
    def granted_keys(self, blob_keys: Collection[str], now: dt.datetime) -> set[str]: ...


class _TransferUnitOfWork(Protocol):
    @property
    def transfers(self) -> TransferStore: ...


def transfers(uow: UnitOfWork) -> TransferStore:
    """The unit of work's transfer tables (`SqlUnitOfWork.transfers`)."""
    return cast(_TransferUnitOfWork, uow).transfers


def staging(ctx: Context) -> BlobStaging:
    store = ctx.blob_store()
    if not isinstance(store, BlobStaging):
        raise ConfigError("this node's blob store cannot stage partial uploads")
    return store


class UploadView(BaseModel):
    id: str
    file_name: str
    size: int
    sha256: str
    received: int
    status: str
    blob_key: str | None
    error: str
    chunk_bytes: int
    created_at: dt.datetime
    updated_at: dt.datetime


class UploadedBlob(BaseModel):
    """A complete upload, as evidence sealing takes it: read it with `ctx.blob_store().reader(key)`."""

    key: str
    file_name: str
    size: int
    sha256: str


def _view(ctx: Context, upload: UploadRecord) -> UploadView:
    return UploadView(id=upload.id, file_name=upload.file_name, size=upload.size, sha256=upload.sha256,
                      received=upload.received, status=upload.status, blob_key=upload.blob_key, error=upload.error,
                      chunk_bytes=ctx.policy.upload_chunk_bytes, created_at=upload.created_at,
                      updated_at=upload.updated_at)


KEY_PREFIX = "uploads/"


def _key(upload_id: str) -> str:
    return f"{KEY_PREFIX}{upload_id}"


def _get(uow: UnitOfWork, principal: Principal, upload_id: str, *, lock: bool = False) -> UploadRecord:
    upload = transfers(uow).get_upload(upload_id, authority_id=principal.authority_id, lock=lock)
    if upload is None:
        raise NotFound(f"no upload {upload_id}")
    return upload


def check_file_name(name: str) -> str:
    """A plain file name: no directories, no control characters, at most 255 characters."""
    name = unicodedata.normalize("NFC", name)
    if (not name or len(name) > 255 or name in (".", "..") or "/" in name or "\\" in name
            or any(unicodedata.category(c).startswith("C") for c in name)):
        raise InvalidInput("the file name must be a plain name (no directories or control characters, "
                           "1 to 255 characters)", details=[{"path": "file_name", "message": repr(name)}])
    return name


def create(ctx: Context, principal: Principal, *, file_name: str, size: int, sha256: str) -> UploadView:
    require_role(principal, ROLES, "upload evidence")
    name = check_file_name(file_name)
    sha256 = sha256.lower()
    if not SHA256_HEX.fullmatch(sha256):
        raise InvalidInput("sha256 must be 64 hexadecimal digits", details=[{"path": "sha256", "message": sha256}])
    if size < 0 or size > ctx.policy.upload_max_bytes:
        raise InvalidInput(f"the declared size must be between 0 and {ctx.policy.upload_max_bytes} bytes "
                           "(this node's limit)", details=[{"path": "size", "message": str(size)}])
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        upload = transfers(uow).add_upload(
            id=ctx.new_id(), user_id=principal.user_id, authority_id=principal.authority_id, file_name=name,
            size=size, sha256=sha256, received=0, status="open", blob_key=None, error="", created_at=now,
            updated_at=now)
        uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="upload.create", object_type="upload",
                  object_id=upload.id, details={"size": size, "sha256": sha256})
        view = _view(ctx, upload)
        uow.commit()
        return view


def status(ctx: Context, principal: Principal, upload_id: str) -> UploadView:
    require_role(principal, ROLES, "upload evidence")
    with ctx.reading() as uow:
        return _view(ctx, _get(uow, principal, upload_id))


def find(ctx: Context, principal: Principal, *, status: str | None = None, sha256: str | None = None
         ) -> list[UploadView]:
    """The caller's own uploads, newest first (a client looks here for the upload to resume)."""
    require_role(principal, ROLES, "upload evidence")
    with ctx.reading() as uow:
        found = transfers(uow).list_uploads(user_id=principal.user_id, status=status,
                                            sha256=sha256.lower() if sha256 else None)
        return [_view(ctx, u) for u in found]


def append(ctx: Context, principal: Principal, upload_id: str, offset: int, data: bytes,
           *, declared_length: int | None = None) -> UploadView:
    """Add one chunk at `offset`, which must be the number of bytes received so far. The same chunk
    sent again (a retry after a lost answer) changes nothing; different bytes there are refused."""
    require_role(principal, ROLES, "upload evidence")
    if declared_length is not None and declared_length != len(data):
        raise InvalidInput(f"the chunk is truncated: {len(data)} bytes arrived, Content-Length said "
                           f"{declared_length}; nothing was stored")
    if not data:
        raise InvalidInput("an empty chunk")
    if len(data) > ctx.policy.upload_chunk_bytes:
        raise InvalidInput(f"a chunk may hold at most {ctx.policy.upload_chunk_bytes} bytes")
    if offset < 0:
        raise InvalidInput("the offset must not be negative")
    partial = staging(ctx)
    with ctx.unit_of_work() as uow:
        upload = _get(uow, principal, upload_id, lock=True)
        if upload.status != "open":
            raise Conflict(f"upload {upload_id} is {upload.status}; it takes no more chunks")
        if offset + len(data) > upload.size:
            raise InvalidInput(f"the chunk ends at byte {offset + len(data)}, beyond the declared size "
                               f"{upload.size}; nothing was stored")
        if offset < upload.received:
            same = offset + len(data) <= upload.received and \
                partial.read_partial(_key(upload_id), offset, len(data)) == data
            if same:
                return _view(ctx, upload)
            raise Conflict(f"other bytes were already received at offset {offset}; nothing was stored",
                           details=[{"path": "offset", "message": f"expected offset {upload.received}"}])
        if offset > upload.received:
            raise Conflict(f"chunks must arrive in order: expected offset {upload.received}, got {offset}",
                           details=[{"path": "offset", "message": f"expected offset {upload.received}"}])
        partial.append(_key(upload_id), offset, data)
        upload.received += len(data)
        upload.updated_at = ctx.clock.now()
        view = _view(ctx, upload)
        uow.commit()
        return view


def complete(ctx: Context, principal: Principal, upload_id: str) -> UploadView:
    """Check the size and SHA-256 of all bytes received; if they match, they become a blob. If
    the digest does not match, the bytes are deleted and the upload is marked failed."""
    require_role(principal, ROLES, "upload evidence")
    partial, store = staging(ctx), ctx.blob_store()
    key = _key(upload_id)
    with ctx.unit_of_work() as uow:
        upload = _get(uow, principal, upload_id, lock=True)
        if upload.status == "complete":
            return _view(ctx, upload)
        if upload.status != "open":
            raise Conflict(f"upload {upload_id} is {upload.status}")
        if upload.received != upload.size:
            raise InvalidInput(f"only {upload.received} of {upload.size} bytes were received; send the rest first")
        now = ctx.clock.now()
        try:
            if partial.partial_size(key) == 0 and upload.size and store.size(key) == upload.size:
                _check_promoted(ctx, key, upload)  # promoted before a crash lost the commit
            else:
                partial.promote(key, key, size=upload.size, sha256=upload.sha256)
        except VerificationError as exc:
            partial.discard(key)
            store.delete(key)
            upload.status, upload.error, upload.updated_at = "failed", exc.message, now
            uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="upload.failed",
                      object_type="upload", object_id=upload_id, details={"error": exc.message})
            uow.commit()
            raise
        upload.status, upload.blob_key, upload.updated_at = "complete", key, now
        uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="upload.complete", object_type="upload",
                  object_id=upload_id, details={"size": upload.size, "sha256": upload.sha256})
        view = _view(ctx, upload)
        uow.commit()
        return view


def _check_promoted(ctx: Context, key: str, upload: UploadRecord) -> None:
    digest = hashlib.sha256()
    with ctx.blob_store().reader(key) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != upload.sha256:
        raise VerificationError(f"{key}: the SHA-256 of the bytes received is {digest.hexdigest()}, not the "
                                f"declared {upload.sha256}")


def cancel(ctx: Context, principal: Principal, upload_id: str) -> None:
    """Stop an open upload and delete its bytes."""
    require_role(principal, ROLES, "upload evidence")
    with ctx.unit_of_work() as uow:
        upload = _get(uow, principal, upload_id, lock=True)
        if upload.status != "cancelled":
            if upload.status != "open":
                raise Conflict(f"upload {upload_id} is {upload.status}; only an open upload can be cancelled")
            now = ctx.clock.now()
            upload.status, upload.updated_at = "cancelled", now
            uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="upload.cancel",
                      object_type="upload", object_id=upload_id, details={"received": upload.received})
            uow.commit()
    # the bytes go only once the cancellation is committed (a failed commit leaves a resumable
    # upload whole); a crash before this line is repaired by cancelling again
    staging(ctx).discard(_key(upload_id))


def uploaded_blob(ctx: Context, principal: Principal, upload_id: str) -> UploadedBlob:
    """A complete upload of the caller's authority, for sealing into an evidence package."""
    require_role(principal, ROLES, "upload evidence")
    with ctx.reading() as uow:
        upload = _get(uow, principal, upload_id)
        if upload.status != "complete" or upload.blob_key is None:
            raise Conflict(f"upload {upload_id} is {upload.status}, not complete")
        return UploadedBlob(key=upload.blob_key, file_name=upload.file_name, size=upload.size, sha256=upload.sha256)

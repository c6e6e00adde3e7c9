"""Uploads and blob capabilities in SQL, bound to one session. Uploads are always looked up
within an authority: another authority's uploads do not exist for the caller."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hcx.storage.transfer_models import BlobCapability, Upload


class SqlTransferStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_upload(self, **values: Any) -> Upload:
        upload = Upload(**values)
        self.session.add(upload)
        self.session.flush()
        return upload

    def get_upload(self, id: str, *, authority_id: str, lock: bool = False) -> Upload | None:
        query = select(Upload).where(Upload.id == id, Upload.authority_id == authority_id)
        return self.session.scalars(query.with_for_update() if lock else query).first()

    def list_uploads(self, *, user_id: str, status: str | None = None, sha256: str | None = None,
                     limit: int = 100) -> Sequence[Upload]:
        query = select(Upload).where(Upload.user_id == user_id)
        if status:
            query = query.where(Upload.status == status)
        if sha256:
            query = query.where(Upload.sha256 == sha256)
        return self.session.scalars(query.order_by(Upload.created_at.desc(), Upload.id.desc()).limit(limit)).all()

    def add_capability(self, **values: Any) -> BlobCapability:
        capability = BlobCapability(**values)
        self.session.add(capability)
        self.session.flush()
        return capability

    def get_capability(self, id: str) -> BlobCapability | None:
        return self.session.get(BlobCapability, id)

    def upload_statuses(self, upload_ids: Collection[str]) -> dict[str, str]:
        """The status of each of these uploads that has a row (of any authority: for the sweep)."""
        rows = self.session.execute(select(Upload.id, Upload.status).where(Upload.id.in_(list(upload_ids))))
        return {id_: status for id_, status in rows}

    def granted_keys(self, blob_keys: Collection[str], now: dt.datetime) -> set[str]:
        """Those of these blob keys that a capability not yet expired lets a peer fetch."""
        return set(self.session.scalars(select(BlobCapability.blob_key).where(
            BlobCapability.blob_key.in_(list(blob_keys)), BlobCapability.expires_at > now)))

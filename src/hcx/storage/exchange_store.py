"""Incoming evidence packages in SQL (SQLite and PostgreSQL), bound to one session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hcx.storage.exchange_models import EvidenceIncoming


class SqlExchangeStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_incoming(self, **values: Any) -> EvidenceIncoming:
        row = EvidenceIncoming(**values)
        self.session.add(row)
        self.session.flush()
        return row

    def get_incoming(self, package_id: str, *, lock: bool = False) -> EvidenceIncoming | None:
        query = select(EvidenceIncoming).where(EvidenceIncoming.package_id == package_id)
        return self.session.scalars(query.with_for_update() if lock else query).first()

    def due_incoming(self, now: dt.datetime, *, limit: int = 10) -> Sequence[EvidenceIncoming]:
        return self.session.scalars(select(EvidenceIncoming)
                                    .where(EvidenceIncoming.status == "fetching",
                                           EvidenceIncoming.next_attempt_at <= now)
                                    .order_by(EvidenceIncoming.next_attempt_at).limit(limit)).all()

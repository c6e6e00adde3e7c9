"""Evidence packages in SQL (SQLite and PostgreSQL), bound to one session."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hcx.storage.evidence_models import EvidencePackage


class SqlEvidenceStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, **values: Any) -> EvidencePackage:
        package = EvidencePackage(**values)
        self.session.add(package)
        self.session.flush()
        return package

    def get(self, package_id: str) -> EvidencePackage | None:
        return self.session.get(EvidencePackage, package_id)

    def list(self, *, authority_id: str, limit: int = 100) -> Sequence[EvidencePackage]:
        return self.session.scalars(select(EvidencePackage).where(EvidencePackage.authority_id == authority_id)
                                    .order_by(EvidencePackage.created_at.desc(), EvidencePackage.id.desc())
                                    .limit(limit)).all()

    def states(self, package_ids: Collection[str]) -> dict[str, str]:
        """The state of each of these packages that has a row."""
        rows = self.session.execute(select(EvidencePackage.id, EvidencePackage.state)
                                    .where(EvidencePackage.id.in_(list(package_ids))))
        return {id_: state for id_, state in rows}

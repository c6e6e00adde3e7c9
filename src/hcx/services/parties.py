"""Parties and the Convention's status: signatures, ratifications, entry into force."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pydantic import BaseModel

from hcx.domain import treaty
from hcx.rules.schema import Ratification, Rules


class PartyStatus(BaseModel):
    code: str
    name: str
    kind: str
    signed: dt.date | None
    signed_at: str | None
    ratified: dt.date | None
    in_force: dt.date | None


class StatusReport(BaseModel):
    as_of: dt.date
    source: str
    signatories: int
    signed_in_hanoi: int
    ratifications: int
    threshold: int
    threshold_reached_on: dt.date | None
    entry_into_force: dt.date | None
    entry_into_force_rule: str
    later_ratifier_rule_verified: bool
    parties: list[PartyStatus]


HANOI_DAYS = (dt.date(2025, 10, 25), dt.date(2025, 10, 26))


def status_report(rules: Rules, *, ratifications: Sequence[Ratification] | None = None,
                  language: str = "en") -> StatusReport:
    """The status of the Convention; `ratifications` replaces the recorded ones (what-if lists)."""
    status = rules.status
    recorded = list(status.ratifications if ratifications is None else ratifications)
    parties = rules.parties_by_code
    rule = rules.entry_into_force
    summary = treaty.status(len(status.signatures), recorded, parties, rule)
    signed = {s.party: s for s in status.signatures}
    ratified = {r.party: r.date for r in sorted(recorded, key=lambda r: r.date, reverse=True)}
    involved = sorted(set(signed) | set(ratified))
    rows = [
        PartyStatus(
            code=code, name=parties[code].names.get(language) or parties[code].names["en"],
            kind=parties[code].kind,
            signed=signed[code].date if code in signed else None,
            signed_at=signed[code].place if code in signed else None,
            ratified=ratified.get(code),
            in_force=treaty.entry_into_force_for(code, recorded, parties, rule),
        )
        for code in involved
    ]
    return StatusReport(
        as_of=status.as_of, source=status.sources[status.signatures[0].source].title if status.signatures else "",
        signatories=summary.signatures,
        signed_in_hanoi=sum(1 for s in status.signatures if s.place == "Hanoi" and s.date in HANOI_DAYS),
        ratifications=summary.ratifications, threshold=summary.threshold,
        threshold_reached_on=summary.threshold_reached_on, entry_into_force=summary.entry_into_force,
        entry_into_force_rule=f"art. {rule.article}: the {rule.days_after_threshold}th day after the "
                              f"{rule.threshold}th instrument; later ratifiers: {rule.later_ratifier_days}th day "
                              f"after their own (art. {rule.later_ratifier_article}, "
                              f"{'verified' if rule.later_ratifier_verified else 'unverified'})",
        later_ratifier_rule_verified=rule.later_ratifier_verified,
        parties=rows,
    )

"""Entry into force of the Convention (art. 65), computed from the status data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from hcx.rules.schema import EntryIntoForce, Party, Ratification


@dataclass(frozen=True, slots=True)
class TreatyStatus:
    signatures: int
    ratifications: int
    threshold: int
    threshold_reached_on: dt.date | None
    entry_into_force: dt.date | None


def counting_instruments(
    ratifications: Sequence[Ratification], parties: dict[str, Party], rule: EntryIntoForce
) -> list[Ratification]:
    """Instruments that count towards the threshold, in order of deposit (one per party)."""
    first: dict[str, Ratification] = {}
    for r in sorted(ratifications, key=lambda r: r.date):
        party = parties.get(r.party)
        if party is not None and party.kind == "reio" and not rule.reio_counts_in_addition:
            continue
        first.setdefault(r.party, r)
    return list(first.values())


def threshold_date(
    ratifications: Sequence[Ratification], parties: dict[str, Party], rule: EntryIntoForce
) -> dt.date | None:
    counted = counting_instruments(ratifications, parties, rule)
    if len(counted) < rule.threshold:
        return None
    return counted[rule.threshold - 1].date


def general_entry_into_force(
    ratifications: Sequence[Ratification], parties: dict[str, Party], rule: EntryIntoForce
) -> dt.date | None:
    """The 90th day after the deposit of the 40th instrument (art. 65(1))."""
    reached = threshold_date(ratifications, parties, rule)
    return None if reached is None else reached + dt.timedelta(days=rule.days_after_threshold)


def entry_into_force_for(
    party: str, ratifications: Sequence[Ratification], parties: dict[str, Party], rule: EntryIntoForce
) -> dt.date | None:
    """When the Convention binds `party`: general entry into force, or for a later ratifier the
    30th day after its own deposit (art. 65(2), unverified), whichever is later."""
    general = general_entry_into_force(ratifications, parties, rule)
    own = next((r for r in sorted(ratifications, key=lambda r: r.date) if r.party == party), None)
    if general is None or own is None:
        return None
    reached = threshold_date(ratifications, parties, rule)
    assert reached is not None  # general is not None
    if own.date <= reached:
        return general
    return max(general, own.date + dt.timedelta(days=rule.later_ratifier_days))


def in_force_between(
    a: str, b: str, on: dt.date, ratifications: Sequence[Ratification], parties: dict[str, Party],
    rule: EntryIntoForce,
) -> bool:
    dates = [entry_into_force_for(p, ratifications, parties, rule) for p in (a, b)]
    return all(d is not None and d <= on for d in dates)


def status(
    signature_count: int, ratifications: Sequence[Ratification], parties: dict[str, Party],
    rule: EntryIntoForce,
) -> TreatyStatus:
    return TreatyStatus(
        signatures=signature_count,
        ratifications=len(counting_instruments(ratifications, parties, rule)),
        threshold=rule.threshold,
        threshold_reached_on=threshold_date(ratifications, parties, rule),
        entry_into_force=general_entry_into_force(ratifications, parties, rule),
    )

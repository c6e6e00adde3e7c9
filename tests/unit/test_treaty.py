"""Entry into force (art. 65) for hypothetical ratification lists."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from hcx.domain import treaty
from hcx.rules import load_rules
from hcx.rules.schema import Ratification
from hcx.services.parties import status_report

RULES = load_rules()
PARTIES = RULES.parties_by_code
RULE = RULES.entry_into_force
STATES = [p.code for p in RULES.parties if p.kind == "state"]
START = dt.date(2027, 1, 1)


def ratified(codes: list[str], start: dt.date = START) -> list[Ratification]:
    return [Ratification(party=c, date=start + dt.timedelta(days=i), instrument="ratification", source="S1",
                         verified=False) for i, c in enumerate(codes)]


def test_not_in_force_before_the_fortieth_instrument() -> None:
    assert treaty.general_entry_into_force(ratified(STATES[:39]), PARTIES, RULE) is None


def test_in_force_on_the_ninetieth_day_after_the_fortieth() -> None:
    fortieth = START + dt.timedelta(days=39)
    assert treaty.general_entry_into_force(ratified(STATES[:40]), PARTIES, RULE) == fortieth + dt.timedelta(days=90)
    assert treaty.general_entry_into_force(ratified(STATES[:55]), PARTIES, RULE) == fortieth + dt.timedelta(days=90)


def test_an_instrument_of_the_eu_does_not_count_in_addition() -> None:
    codes = [*STATES[:20], "EUU", *STATES[20:40]]
    expected = START + dt.timedelta(days=40) + dt.timedelta(days=90)  # the 40th State is the 41st instrument
    assert treaty.general_entry_into_force(ratified(codes), PARTIES, RULE) == expected


def test_a_state_counts_once_and_order_of_the_list_does_not_matter() -> None:
    twice = ratified([*STATES[:39], STATES[0]])
    assert treaty.general_entry_into_force(twice, PARTIES, RULE) is None
    shuffled = list(reversed(ratified(STATES[:40])))
    assert treaty.general_entry_into_force(shuffled, PARTIES, RULE) == START + dt.timedelta(days=39 + 90)


def test_a_later_ratifier_is_bound_thirty_days_after_its_own_deposit() -> None:
    instruments = ratified(STATES[:40])
    general = START + dt.timedelta(days=39 + 90)
    early_late = Ratification(party=STATES[40], date=START + dt.timedelta(days=60), instrument="accession",
                              source="S1", verified=False)
    late = Ratification(party=STATES[41], date=general + dt.timedelta(days=10), instrument="ratification",
                        source="S1", verified=False)
    everything = [*instruments, early_late, late]
    # after the 40th but before general entry into force: bound from general entry into force
    assert treaty.entry_into_force_for(STATES[40], everything, PARTIES, RULE) == general
    assert treaty.entry_into_force_for(STATES[41], everything, PARTIES, RULE) == late.date + dt.timedelta(days=30)
    assert treaty.entry_into_force_for(STATES[0], everything, PARTIES, RULE) == general
    assert treaty.entry_into_force_for(STATES[99], everything, PARTIES, RULE) is None
    assert treaty.in_force_between(STATES[0], STATES[1], general, everything, PARTIES, RULE)
    assert not treaty.in_force_between(STATES[0], STATES[1], general - dt.timedelta(days=1), everything, PARTIES,
                                       RULE)
    assert not treaty.in_force_between(STATES[0], STATES[41], general, everything, PARTIES, RULE)


@given(st.lists(st.sampled_from(STATES), unique=True, max_size=60), st.integers(0, 3650))
def test_entry_into_force_is_exactly_ninety_days_after_the_fortieth_distinct_state(codes: list[str], offset: int
                                                                                   ) -> None:
    start = START + dt.timedelta(days=offset)
    result = treaty.general_entry_into_force(ratified(codes, start), PARTIES, RULE)
    if len(codes) < 40:
        assert result is None
    else:
        assert result == start + dt.timedelta(days=39 + 90)


def test_the_status_report_counts_the_hanoi_signatures() -> None:
    report = status_report(RULES)
    assert report.signed_in_hanoi == 72
    assert report.threshold == 40
    assert report.ratifications == len(RULES.status.ratifications) < 40
    assert report.entry_into_force is None
    what_if = status_report(RULES, ratifications=ratified(STATES[:40]))
    assert what_if.entry_into_force == START + dt.timedelta(days=39 + 90)
    assert {p.code for p in what_if.parties} >= set(STATES[:40])


def test_names_come_in_the_six_un_languages_and_vietnamese() -> None:
    for party in RULES.parties:
        assert set(party.names) == {"ar", "zh", "en", "fr", "ru", "es", "vi"}, party.code
    names = {p.code: p.name for p in status_report(RULES, language="vi").parties}
    assert names["VNM"] == "Việt Nam"
    assert len([p for p in RULES.parties if p.un_member]) == 193

"""The TLP sharing policy (hcx.indicators.sharing), table-driven: every level to every route, named
recipients, the community of pinned peers, strictest-wins, unknown markings, exports."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from hcx.errors import InvalidInput
from hcx.indicators.markings import TLP1_IDS, TLP2_IDS
from hcx.indicators.model import Indicator, IndicatorKind
from hcx.indicators.sharing import RULES, Destination, Level, Route, decide, decide_value, level_of, parse_recipient
from hcx.indicators.stix_export import export_for
from hcx.indicators.stix_import import import_stix

OWNER = "01OWNERAUTHORITY"
OTHER = "01OTHERAUTHORITY"
OWN = Destination(Route.OWN_AUTHORITY, "VNM", OWNER)
TAXII_OWN = Destination(Route.TAXII_OWN, "VNM", OWNER)
NODE = Destination(Route.NODE_AUTHORITY, "VNM", OTHER)
TAXII_OTHER = Destination(Route.TAXII_OTHER, "VNM", OTHER)
PEER = Destination(Route.FOREIGN, "AUS", "01AUSPOLICE", pinned_peer=True)
STRANGER = Destination(Route.FOREIGN, "BRA", "01BRAPOLICE", pinned_peer=False)
DESTINATIONS = {"own": OWN, "taxii-own": TAXII_OWN, "node": NODE, "taxii-other": TAXII_OTHER, "peer": PEER,
                "stranger": STRANGER}
Y, N = True, False

# marking → allowed to (own, taxii-own, node, taxii-other, peer, stranger), when nobody is named
UNNAMED = [
    ("tlp:clear", (Y, Y, Y, Y, Y, Y)),
    (TLP1_IDS["tlp:white"], (Y, Y, Y, Y, Y, Y)),
    (TLP2_IDS["tlp:green"], (Y, Y, Y, Y, Y, N)),
    (TLP1_IDS["tlp:green"], (Y, Y, Y, Y, Y, N)),
    (TLP2_IDS["tlp:amber"], (Y, Y, N, N, N, N)),
    ("tlp:amber+strict", (Y, Y, N, N, N, N)),
    (TLP2_IDS["tlp:red"], (Y, N, N, N, N, N)),
    (TLP1_IDS["tlp:red"], (Y, N, N, N, N, N)),
    ("marking-definition--0b1c3a2e-7a4f-4f43-9d0a-6a3f2b0e1c11", (Y, N, N, N, N, N)),  # unknown: as RED
    ("tlp:purple", (Y, N, N, N, N, N)),  # unknown tag: as RED
    ("pap:red", (Y, Y, N, N, N, N)),  # PAP restricts nothing: unmarked, i.e. AMBER
    (None, (Y, Y, N, N, N, N)),  # no marking at all: AMBER
]


@pytest.mark.parametrize(("marking", "expected"), UNNAMED, ids=[str(m) for m, _ in UNNAMED])
def test_each_level_to_each_destination(marking: str | None, expected: tuple[bool, ...]) -> None:
    markings = [marking] if marking else []
    got = tuple(decide(markings, to=to).allowed for to in DESTINATIONS.values())
    assert dict(zip(DESTINATIONS, got, strict=True)) == dict(zip(DESTINATIONS, expected, strict=True))
    for to in DESTINATIONS.values():
        assert decide(markings, to=to).reason


# (marking, named recipients, destination, allowed)
NAMED = [
    ("tlp:amber", ["VNM/" + OTHER], "node", Y),
    ("tlp:amber", ["VNM/" + OTHER], "taxii-other", Y),
    ("tlp:amber", ["VNM"], "node", Y),  # the whole party
    ("tlp:amber", ["VNM/01SOMEONEELSE"], "node", N),
    ("tlp:amber", ["aus"], "peer", Y),  # names are case-insensitive on the party
    ("tlp:amber", ["AUS/01AUSPOLICE"], "peer", Y),
    ("tlp:amber", ["AUS/01AUSCUSTOMS"], "peer", N),
    ("tlp:amber", ["BRA"], "stranger", Y),  # named: need not be a pinned peer
    ("tlp:amber+strict", ["AUS"], "peer", Y),
    ("tlp:amber+strict", ["BRA"], "peer", N),
    ("tlp:red", ["AUS", "VNM", "BRA"], "peer", N),  # naming never opens RED
    ("tlp:red", ["VNM/" + OTHER], "node", N),
    ("tlp:red", ["VNM/" + OWNER], "taxii-own", N),
    ("tlp:green", [], "stranger", N),
    ("tlp:green", ["BRA"], "stranger", N),  # GREEN is the community, not a list
]


@pytest.mark.parametrize(("marking", "recipients", "where", "allowed"), NAMED)
def test_named_recipients(marking: str, recipients: list[str], where: str, allowed: bool) -> None:
    decision = decide([marking], recipients=recipients, to=DESTINATIONS[where])
    assert decision.allowed is allowed, decision.reason


@pytest.mark.parametrize(("markings", "level"), [
    (["tlp:clear", "tlp:green"], Level.GREEN),
    ([TLP2_IDS["tlp:amber"], "tlp:clear", "pap:clear"], Level.AMBER),
    (["tlp:green", TLP2_IDS["tlp:red"]], Level.RED),
    (["tlp:green", "marking-definition--0b1c3a2e-7a4f-4f43-9d0a-6a3f2b0e1c11"], Level.RED),
    (["pap:green"], Level.AMBER),
    ([], Level.AMBER),
])
def test_the_strictest_marking_governs(markings: list[str], level: Level) -> None:
    assert level_of(markings)[0] is level


def test_an_unmarked_default_can_be_chosen() -> None:
    assert decide([], to=STRANGER, unmarked=Level.CLEAR).allowed
    assert "unknown marking" in decide(["tlp:purple"], to=NODE).reason


def test_the_table_covers_every_level_and_route() -> None:
    assert set(RULES) == set(Level)
    assert all(set(rules) == set(Route) for rules in RULES.values())
    assert all(rules[Route.OWN_AUTHORITY].value == "allow" for rules in RULES.values())


@pytest.mark.parametrize("text", ["Australia", "AU", "AUS/", "AUS/x y", "", "A1S"])
def test_malformed_recipients_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_recipient(text)


def test_recipients_are_canonical() -> None:
    assert parse_recipient(" aus ") == "AUS"
    assert parse_recipient("vnm/01ABC") == "VNM/01ABC"


def _indicator(value: str, *markings: str) -> Indicator:
    return Indicator(IndicatorKind.DOMAIN, value, value, tuple(sorted(markings)))


def test_an_export_keeps_markings_and_never_carries_red() -> None:
    chosen = [_indicator("red-shop.com", TLP2_IDS["tlp:red"]), _indicator("amber-shop.com", TLP2_IDS["tlp:amber"]),
              _indicator("green-shop.com", TLP2_IDS["tlp:green"], "pap:amber"),
              _indicator("clear-shop.com", TLP2_IDS["tlp:clear"])]
    named = {"amber-shop.com": ["AUS"]}
    bundle, refused = export_for(chosen, to=PEER, created=dt.datetime(2026, 11, 23, tzinfo=dt.UTC),
                                 recipients_of=lambda i: named.get(i.value, ()))
    assert [(i.value, d.level) for i, d in refused] == [("red-shop.com", Level.RED)]
    report = import_stix(io.BytesIO(bundle.encode()), name="export", default_region=None, card_key=b"k" * 32)
    assert {i.value: set(i.markings) for i in report.indicators} == {
        "amber-shop.com": {TLP2_IDS["tlp:amber"]}, "green-shop.com": {TLP2_IDS["tlp:green"], "pap:amber"},
        "clear-shop.com": {TLP2_IDS["tlp:clear"]}}
    to_stranger, refused = export_for(chosen, to=STRANGER, created=dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    assert sorted(i.value for i, _ in refused) == ["amber-shop.com", "green-shop.com", "red-shop.com"]
    assert "red-shop.com" not in to_stranger and "clear-shop.com" in to_stranger


def test_a_value_leaves_only_if_every_posting_of_it_may() -> None:
    aus = Destination(Route.FOREIGN, "AUS", "01AUS", pinned_peer=True)
    taxii_own = Destination(Route.TAXII_OWN, "VNM", "01VNM")
    green, red, amber = (["tlp:green"], ()), (["tlp:red"], ()), (["tlp:amber"], ())
    assert decide_value([green, red], to=taxii_own).allowed is False
    assert decide_value([green, red], to=taxii_own).level is Level.RED
    assert decide_value([green, green], to=aus).allowed is True
    assert decide_value([green, amber], to=aus).allowed is False  # AMBER not named for AUS in one case
    assert decide_value([green, (["tlp:amber"], ["AUS"])], to=aus).level is Level.AMBER
    assert decide_value([], to=aus).allowed is False
    assert decide_value([([], ())], to=aus).allowed is False  # unmarked counts as AMBER
    assert decide_value([([], ())], to=aus, unmarked=Level.GREEN).allowed is True

"""TLP 2.0 enforcement: may an indicator with these markings go to this destination? (pure)

One function, `decide(markings, recipients=…, to=…)`, and one table, `RULES`, used by every path
that lets indicators out of their owning authority: TAXII responses, STIX exports, federation
messages and private matching. The strictest marking wins; PAP tags are kept but restrict nothing
(they govern what the recipient may *do*, not who may receive); a marking this module does not
know is treated as TLP:RED; an indicator without any TLP marking is treated as `UNMARKED`
(TLP:AMBER: need-to-know, so only to named recipients outside its authority).

Recipients are named as `PARTY` (every authority of a state, ISO 3166-1 alpha-3, e.g. `AUS`) or
`PARTY/AUTHORITY_ID` (one authority, e.g. `VNM/01JD…` for another authority of this node).
See docs/indicators.md, "Sharing (TLP)".
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from hcx.errors import InvalidInput
from hcx.indicators.markings import PAP_TAGS, TLP_LEVEL_BY_ID
from hcx.indicators.model import Indicator


class Level(enum.IntEnum):
    """TLP levels, least to most restrictive (TLP 1.0 WHITE is CLEAR)."""

    CLEAR = 0
    GREEN = 1
    AMBER = 2
    AMBER_STRICT = 3
    RED = 4

    @property
    def label(self) -> str:
        return "TLP:" + self.name.replace("_", "+")


LEVEL_BY_TAG: Mapping[str, Level] = {
    "tlp:clear": Level.CLEAR,
    "tlp:white": Level.CLEAR,
    "tlp:green": Level.GREEN,
    "tlp:amber": Level.AMBER,
    "tlp:amber+strict": Level.AMBER_STRICT,
    "tlp:red": Level.RED,
}
UNMARKED = Level.AMBER


class Route(enum.StrEnum):
    """Where an indicator would go, seen from the authority that owns it."""

    OWN_AUTHORITY = "own-authority"  # the owning authority's own users on this node
    TAXII_OWN = "taxii-own"  # a TAXII client signed in as a user of the owning authority
    NODE_AUTHORITY = "node-authority"  # another authority of this node
    TAXII_OTHER = "taxii-other"  # a TAXII client of another authority
    FOREIGN = "foreign"  # an authority of another state (federation, an export to it, matching)


class Rule(enum.StrEnum):
    ALLOW = "allow"
    COMMUNITY = "community"  # only to a pinned peer (foreign) — the node's own authorities are community
    NAMED = "named"  # only to a named recipient
    DENY = "deny"


R, A = Route, Rule
# The policy, as data. TLP:RED leaves neither the owning authority nor the node: a TAXII client is
# another system even when it signs in as the owning authority, so RED is never in a TAXII answer.
RULES: Mapping[Level, Mapping[Route, Rule]] = {
    Level.CLEAR: {R.OWN_AUTHORITY: A.ALLOW, R.TAXII_OWN: A.ALLOW, R.NODE_AUTHORITY: A.ALLOW,
                  R.TAXII_OTHER: A.ALLOW, R.FOREIGN: A.ALLOW},
    Level.GREEN: {R.OWN_AUTHORITY: A.ALLOW, R.TAXII_OWN: A.ALLOW, R.NODE_AUTHORITY: A.ALLOW,
                  R.TAXII_OTHER: A.ALLOW, R.FOREIGN: A.COMMUNITY},
    Level.AMBER: {R.OWN_AUTHORITY: A.ALLOW, R.TAXII_OWN: A.ALLOW, R.NODE_AUTHORITY: A.NAMED,
                  R.TAXII_OTHER: A.NAMED, R.FOREIGN: A.NAMED},
    Level.AMBER_STRICT: {R.OWN_AUTHORITY: A.ALLOW, R.TAXII_OWN: A.ALLOW, R.NODE_AUTHORITY: A.NAMED,
                         R.TAXII_OTHER: A.NAMED, R.FOREIGN: A.NAMED},
    Level.RED: {R.OWN_AUTHORITY: A.ALLOW, R.TAXII_OWN: A.DENY, R.NODE_AUTHORITY: A.DENY,
                R.TAXII_OTHER: A.DENY, R.FOREIGN: A.DENY},
}
_PARTY = re.compile(r"[A-Z]{3}")
_AUTHORITY = re.compile(r"[0-9A-Za-z_-]{1,64}")


@dataclass(frozen=True, slots=True)
class Destination:
    """The receiver: its route, its party (alpha-3), its authority if known, and for a foreign
    party whether it is a pinned peer of this node (the community TLP:GREEN may reach)."""

    route: Route
    party: str
    authority_id: str | None = None
    pinned_peer: bool = False

    def names(self) -> frozenset[str]:
        """The recipient names that designate this destination."""
        names = {self.party}
        if self.authority_id is not None:
            names.add(f"{self.party}/{self.authority_id}")
        return frozenset(names)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    level: Level
    reason: str


def parse_recipient(text: str) -> str:
    """A recipient name checked and in its canonical form (`AUS`, `VNM/01JD…`)."""
    party, slash, authority = text.strip().partition("/")
    party = party.upper()
    if not _PARTY.fullmatch(party) or (slash and not _AUTHORITY.fullmatch(authority)):
        raise InvalidInput(f"{text!r} is not a recipient; name one as PARTY (e.g. AUS) or PARTY/AUTHORITY_ID")
    return f"{party}/{authority}" if slash else party


def level_of(markings: Iterable[str], *, unmarked: Level = UNMARKED) -> tuple[Level, str]:
    """The level that governs sharing, and why: the strictest TLP marking; an unknown marking is RED.

    `markings` are STIX marking-definition ids or tags (`tlp:amber`, `pap:red`), as kept on an
    `Indicator` or, space-separated, in a posting's `tlp` text."""
    level: Level | None = None
    why = ""
    for marking in markings:
        tag = TLP_LEVEL_BY_ID.get(marking, marking.strip().lower())
        if tag in PAP_TAGS or not tag:
            continue
        found = LEVEL_BY_TAG.get(tag)
        if found is None:
            found, because = Level.RED, f"unknown marking {marking!r} is treated as TLP:RED"
        else:
            because = found.label
        if level is None or found > level:
            level, why = found, because
    if level is None:
        return unmarked, f"no TLP marking: treated as {unmarked.label}"
    return level, why


def decide(markings: Iterable[str], *, recipients: Iterable[str] = (), to: Destination,
           unmarked: Level = UNMARKED) -> Decision:
    """May an indicator with `markings`, whose owner named `recipients`, go to `to`?"""
    level, why = level_of(markings, unmarked=unmarked)
    rule = RULES[level][to.route]
    if rule is Rule.ALLOW:
        return Decision(True, level, f"{why}: allowed to {to.route.value}")
    if rule is Rule.DENY:
        return Decision(False, level, f"{why}: never to {to.route.value}")
    if rule is Rule.COMMUNITY:
        if to.pinned_peer:
            return Decision(True, level, f"{why}: {to.party} is a pinned peer (the community)")
        return Decision(False, level, f"{why}: {to.party} is not a pinned peer of this node")
    named = to.names() & {parse_recipient(r) for r in recipients}
    if named:
        return Decision(True, level, f"{why}: {sorted(named)[0]} is a named recipient")
    return Decision(False, level, f"{why}: only to named recipients, and {sorted(to.names())[-1]} is not one")


NO_POSTING = "no posting of the value is known"


def decide_value(postings: Iterable[tuple[Iterable[str], Iterable[str]]], *, to: Destination,
                 unmarked: Level = UNMARKED) -> Decision:
    """May a value go to `to`, given every posting of it in the owning authority (one per case, each
    as (markings, named recipients))? Only if every posting may: a value TLP:RED in one case does not
    leave because another case holds it as GREEN. The answer is the first refusal, or else the
    decision of the strictest posting. No posting at all: refused (nothing is known of the value)."""
    chosen: Decision | None = None
    for markings, recipients in postings:
        decision = decide(markings, recipients=recipients, to=to, unmarked=unmarked)
        if not decision.allowed:
            return decision
        if chosen is None or decision.level > chosen.level:
            chosen = decision
    return chosen if chosen is not None else Decision(False, unmarked, NO_POSTING)


RecipientsOf = Callable[[Indicator], Iterable[str]]  # the recipients named for an indicator


def shareable(indicators: Iterable[Indicator], *, to: Destination,
              recipients_of: RecipientsOf = lambda _indicator: ()) -> tuple[list[Indicator], list[tuple[Indicator, Decision]]]:
    """Split `indicators` into those that may go to `to` and those refused (with the decision)."""
    allowed: list[Indicator] = []
    refused: list[tuple[Indicator, Decision]] = []
    for indicator in indicators:
        decision = decide(indicator.markings, recipients=recipients_of(indicator), to=to)
        if decision.allowed:
            allowed.append(indicator)
        else:
            refused.append((indicator, decision))
    return allowed, refused


__all__ = ["NO_POSTING", "RULES", "Decision", "Destination", "Level", "Route", "Rule", "decide", "decide_value",
           "level_of", "parse_recipient", "shareable"]

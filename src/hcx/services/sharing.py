"""TLP enforcement for every path that lets indicators leave their authority (the policy itself is
pure: `hcx.indicators.sharing`). This module adds what the policy needs from the node: where a
party/authority sits (own authority, another authority of this node, a foreign party — pinned or
not) and the recipients the owning authority named (`indicator_recipients`).

    destination(ctx, owner, party=…, authority_id=…, taxii=False) -> Destination
    check(ctx, owner, items, to) -> list[Decision]        one decision per (case_ref, kind, value, tlp),
                                                          refused too if another posting of the value is
    export(ctx, principal, to=…, case_ref=None) -> Export  a STIX bundle, RED never in it if it leaves

Callers: the TAXII service (hcx.services.taxii), and federation messages and private matching,
which must call `check` (or `hcx.indicators.sharing.decide`) before any indicator goes out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hcx.errors import PolicyDenied
from hcx.indicators.model import Indicator, IndicatorKind
from hcx.indicators.sharing import NO_POSTING, Decision, Destination, Route, decide
from hcx.indicators.stix_export import export_stix
from hcx.services import indicators, taxii
from hcx.services.context import Context, Principal
from hcx.services.federation import own_party

Item = tuple[str, str, str, str]  # (case_ref, kind, canonical value, tlp text of the posting)


def destination(ctx: Context, owner: Principal, *, party: str, authority_id: str | None = None,
                taxii_client: bool = False) -> Destination:
    """Where `party`/`authority_id` sits, seen from `owner`'s authority."""
    with ctx.reading() as uow:
        home = own_party(ctx, uow)
        pinned = party != home and uow.get_peer(party) is not None
    if party != home:
        return Destination(Route.FOREIGN, party, authority_id, pinned_peer=pinned)
    own = authority_id == owner.authority_id
    if taxii_client:
        return Destination(Route.TAXII_OWN if own else Route.TAXII_OTHER, party, authority_id)
    return Destination(Route.OWN_AUTHORITY if own else Route.NODE_AUTHORITY, party, authority_id)


def check(ctx: Context, owner: Principal, items: Sequence[Item], to: Destination) -> list[Decision]:
    """The policy's decision for each of the owner's postings, with the recipients it named."""
    keys = indicators.posting_keys(ctx)
    with ctx.reading() as uow:
        store = taxii.store(uow)
        named = store.recipients(authority_id=owner.authority_id,
                                 items=[(case, kind, value) for case, kind, value, _ in items])
        held = {} if keys is None else taxii.value_decisions(
            store, authority_id=owner.authority_id, keys={keys(kind, value) for _, kind, value, _ in items}, to=to)
    decisions = []
    for case, kind, value, tlp in items:
        own = decide(tlp.split(), recipients=named.get((case, kind, value), ()), to=to)
        stored = held.get(keys(kind, value)) if keys is not None else None
        # the value leaves only if every posting of it may: those stored in its other cases too
        refused_elsewhere = own.allowed and stored is not None and not stored.allowed and stored.reason != NO_POSTING
        decisions.append(stored if refused_elsewhere and stored is not None else own)
    return decisions


@dataclass(frozen=True, slots=True)
class Export:
    bundle: str  # STIX 2.1 JSON
    exported: int
    refused: tuple[tuple[str, str, str], ...]  # (kind, value, reason) of what the policy kept back


def export(ctx: Context, principal: Principal, *, to: Destination, case_ref: str | None = None) -> Export:
    """The authority's indicators (of one case, or all) as a STIX bundle for `to`, markings kept."""
    if principal.role not in indicators.READERS:
        raise PolicyDenied("only analysts, officers and auditors may export indicators")
    with ctx.reading() as uow:
        store = taxii.store(uow)
        postings = [(bytes(p.key), p.kind, p.value, p.tlp) for p in _all(store, principal.authority_id)
                    if case_ref is None or p.case_ref == case_ref]
        # one value may sit in several cases: it goes out only if every posting of it may (the rule
        # TAXII applies too), and then with the markings of the postings exported
        decisions = taxii.value_decisions(store, authority_id=principal.authority_id,
                                          keys=[key for key, _, _, _ in postings], to=to)
    markings: dict[tuple[str, str], set[str]] = {}
    refusals: dict[tuple[str, str], str] = {}
    for key, kind, value, tlp in postings:
        markings.setdefault((kind, value), set()).update(taxii.posting_markings(tlp))
        if not decisions[key].allowed:
            refusals[(kind, value)] = decisions[key].reason
    chosen = [Indicator(IndicatorKind(kind), value, value, tuple(sorted(marks)))
              for (kind, value), marks in markings.items() if (kind, value) not in refusals]
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:  # what left the authority, and for whom, is on the audit trail
        uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="indicators.exported",
                  object_type="case", object_id=case_ref or "*",
                  details={"route": to.route.value, "party": to.party, "authority_id": to.authority_id,
                           "exported": len(chosen), "refused": len(refusals)})
        uow.commit()
    return Export(export_stix(chosen, created=now), len(chosen),
                  tuple((kind, value, reason) for (kind, value), reason in sorted(refusals.items())))


def _all(store: taxii.TaxiiStore, authority_id: str) -> Iterable[taxii.PostingRow]:
    after = None
    while True:
        batch = store.postings_page(authority_id=authority_id, added_after=None, after=after, limit=2000)
        yield from batch
        if len(batch) < 2000:
            return
        after = (batch[-1].first_seen, batch[-1].id)

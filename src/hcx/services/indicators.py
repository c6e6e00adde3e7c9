"""The local correlation index: import indicator files into cases, find linked cases, look a value up.

Each accepted indicator becomes a *posting* (indicator, case, authority) keyed by a 16-byte keyed
hash: HMAC-SHA-256(index key, kind ‖ 0x00 ‖ canonical value), truncated. The index key and the key
under which card numbers are hashed are derived from one per-node secret (32 random bytes, made on
first use, kept in the database sealed by the node key vault; it never leaves the node). Every query is scoped to the acting
principal's authority.

    import_file(ctx, principal, path, case_ref=…, format=…, default_region=…, country=…, origin=…)
                                                          -> ImportOutcome; new links become alerts
    links(ctx, principal, max_cases=50) -> Links          cases sharing indicators, hot values apart
    cross_country_links(ctx, principal) -> Links          the full cross-country link report (summary)
    cases_with(ctx, principal, kind, raw_value) -> Found  the cases holding one value
    check_summary(ctx, principal, repair=False) -> int    keys where the per-key summary and the
                                                          postings disagree (0: none); repair rebuilds

A posting's country is this node's party for its own cases, or a counterpart's party (with its
authority as `origin`) for the indicators of a counterpart's case learned through spontaneous
information, a joint investigation or private matching. A case is (country, case reference).

Analysts and officers import; they and auditors read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Protocol, cast

from hcx.domain.ports import UnitOfWork
from hcx.errors import InvalidInput
from hcx.indicators.markings import TLP_LEVEL_BY_ID
from hcx.indicators.model import ImportReport, Indicator
from hcx.indicators.normalise import normalise
from hcx.indicators.sharing import Level, level_of
from hcx.rules.schema import Role
from hcx.services import alerts, federation
from hcx.services.context import Context, Principal, require_role

IMPORTERS = frozenset({Role.analyst, Role.officer})
READERS = IMPORTERS | {Role.auditor}
DEFAULT_MAX_CASES = 50  # a value in more cases than this is generic: flagged, not paired
KEY_BYTES = 16
SECRET_BYTES = 32
MAX_CASE_REF = 64
MAX_ORIGIN = 200
PARALLEL_MIN_BYTES = 8 * 1024 * 1024  # a CSV file this big is normalised in worker processes
Format = Literal["csv", "misp", "stix", "auto"]
FORMATS: tuple[str, ...] = ("csv", "misp", "stix", "auto")
_CASE_REF = re.compile(r"[^\x00-\x1f\x7f]+")
_SNIFF_BYTES = 64 * 1024


# --- the store, as the services see it -------------------------------------------------------

class PostingRecord(Protocol):
    key: bytes
    kind: str
    value: str
    case_ref: str
    authority_id: str
    first_seen: dt.datetime
    tlp: str
    country: str
    origin: str


class IndicatorStore(Protocol):
    """The correlation index's storage (storage/indicator_store.py), in the unit of work's transaction."""

    def secret(self) -> bytes | None: ...
    def create_secret(self, secret: bytes, at: dt.datetime) -> bytes: ...
    def lock_postings(self, authority_ids: Iterable[str]) -> None: ...
    def known_keys(self, *, authority_id: str, case_ref: str, keys: Iterable[bytes], country: str = "") -> set[bytes]: ...
    def cross_country_keys(self, *, authority_id: str, max_cases: int) -> list[tuple[bytes, int]]: ...
    def cross_country_postings(self, *, authority_id: str, max_cases: int
                               ) -> list[tuple[bytes, str, str, str, str]]: ...
    def postings_for_keys(self, *, authority_id: str, keys: Iterable[bytes]) -> Sequence[alerts.PostingLike]: ...
    def add_postings(self, rows: Sequence[dict[str, Any]]) -> None: ...
    def markings_for(self, *, authority_id: str, case_ref: str, country: str, keys: Iterable[bytes]
                     ) -> dict[bytes, str]: ...
    def set_markings(self, *, authority_id: str, case_ref: str, country: str, markings: dict[bytes, str]) -> None: ...
    def postings_for(self, *, authority_id: str, key: bytes) -> Sequence[PostingRecord]: ...
    def shared_postings(self, *, authority_id: str, max_cases: int) -> Sequence[PostingRecord]: ...
    def generic_keys(self, *, authority_id: str, max_cases: int) -> list[tuple[str, str, int]]: ...
    def shared_keys(self, *, authority_id: str) -> dict[bytes, tuple[int, bool]]: ...
    def shared_keys_recomputed(self, *, authority_id: str) -> dict[bytes, tuple[int, bool]]: ...
    def rebuild_shared_keys(self, *, authority_id: str) -> None: ...


class _IndexedUnitOfWork(Protocol):
    @property
    def indicators(self) -> IndicatorStore: ...


def store(uow: UnitOfWork) -> IndicatorStore:
    """The unit of work's correlation index (`SqlUnitOfWork.indicators`)."""
    return cast(_IndexedUnitOfWork, uow).indicators


# --- results ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ImportOutcome:
    case_ref: str
    format: str
    report: ImportReport
    new: int  # postings added to the case
    known: int  # accepted indicators the case already had
    country: str = ""  # the case's country (this node's party unless the case is a counterpart's)
    links: int = 0  # new links to other cases (each an alert for the local cases)


@dataclass(frozen=True, slots=True)
class SharedIndicator:
    kind: str
    value: str


@dataclass(frozen=True, slots=True)
class CaseLink:
    case_a: str  # a counterpart's case reads COUNTRY/REF
    case_b: str
    indicators: tuple[SharedIndicator, ...]


@dataclass(frozen=True, slots=True)
class GenericIndicator:
    kind: str
    value: str
    cases: int


@dataclass(frozen=True, slots=True)
class Links:
    links: tuple[CaseLink, ...]
    generic: tuple[GenericIndicator, ...]  # in more than max_cases cases: left out of the links
    max_cases: int


@dataclass(frozen=True, slots=True)
class CaseHit:
    case_ref: str
    first_seen: dt.datetime
    tlp: str
    country: str = ""
    origin: str = ""


@dataclass(frozen=True, slots=True)
class Found:
    kind: str
    value: str
    cases: tuple[CaseHit, ...]


# --- keys ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Keys:
    index: bytes
    card: bytes

    @classmethod
    def derive(cls, secret: bytes) -> _Keys:
        def sub(label: bytes) -> bytes:
            return hmac.new(secret, label, hashlib.sha256).digest()
        return cls(sub(b"hcx indicator index key v1"), sub(b"hcx indicator card key v1"))

    def posting_key(self, kind: str, value: str) -> bytes:
        message = kind.encode() + b"\x00" + value.encode()
        return hmac.new(self.index, message, hashlib.sha256).digest()[:KEY_BYTES]


SECRET_PURPOSE = "indicator index"  # noqa: S105 - a label, not a secret


def posting_keys(ctx: Context) -> Callable[[str, str], bytes] | None:
    """The index key of a (kind, canonical value), or None while the index holds nothing."""
    keys = _keys(ctx, create=False)
    return keys.posting_key if keys is not None else None


def _keys(ctx: Context, *, create: bool) -> _Keys | None:
    """The index keys, from the node secret kept sealed by the node's key vault."""
    with ctx.reading() as uow:
        sealed = store(uow).secret()
        vault = federation.vault(ctx, uow)
    if sealed is None and create:
        with ctx.unit_of_work() as uow:
            fresh = vault.seal_secret(secrets.token_bytes(SECRET_BYTES), purpose=SECRET_PURPOSE)
            sealed = store(uow).create_secret(fresh, ctx.clock.now())
            uow.commit()
    return _Keys.derive(vault.open_secret(sealed, purpose=SECRET_PURPOSE)) if sealed is not None else None


# --- use cases -------------------------------------------------------------------------------

def _case_ref(value: str) -> str:
    ref = value.strip()
    if not ref or len(ref) > MAX_CASE_REF or not _CASE_REF.fullmatch(ref):
        raise InvalidInput(f"a case reference is 1 to {MAX_CASE_REF} printable characters")
    return ref


def tlp_text(markings: Iterable[str]) -> str:
    """Markings as people read them: TLP ids as `tlp:amber`, others (PAP tags, ids) as they are."""
    return " ".join(sorted({TLP_LEVEL_BY_ID.get(marking, marking) for marking in markings}))


def _sniff(path: Path, head: bytes) -> str:
    suffix = path.suffix.lower()
    if suffix in {".csv", ".tsv", ".txt"}:
        return "csv"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith((b"{", b"[")):
        return "csv" if b"," in head.split(b"\n", 1)[0] else "unknown"
    if re.search(rb'"(Event|Attribute|response)"\s*:', text):
        return "misp"
    if re.search(rb'"spec_version"\s*:|"type"\s*:\s*"bundle"', text):
        return "stix"
    return "unknown"


def _parse(stream: IO[bytes], fmt: str, *, name: str, default_region: str | None, card_key: bytes) -> ImportReport:
    if fmt == "csv":
        from hcx.indicators.csv_import import import_csv
        return import_csv(stream, name=name, default_region=default_region, card_key=card_key)
    if fmt == "misp":
        from hcx.indicators.misp_import import import_misp
        return import_misp(stream, name=name, default_region=default_region, card_key=card_key)
    from hcx.indicators.stix_import import import_stix  # imports stix2: only when needed
    return import_stix(stream, name=name, default_region=default_region, card_key=card_key)


def _region(default_region: str | None) -> str | None:
    if default_region is None or not default_region.strip():
        return None
    region = default_region.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", region):
        raise InvalidInput(f"{default_region!r} is not an ISO 3166-1 alpha-2 region code (e.g. VN)")
    return region


def _country(value: str | None, own: str) -> str:
    if value is None or not value.strip():
        return own
    country = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", country):
        raise InvalidInput(f"{value!r} is not an ISO 3166-1 alpha-3 country code (e.g. VNM)")
    return country


def import_file(ctx: Context, principal: Principal, path: Path, *, case_ref: str, format: Format = "auto",
                default_region: str | None = None, country: str | None = None, origin: str = "",
                max_cases: int = DEFAULT_MAX_CASES) -> ImportOutcome:
    """Import a CSV, MISP or STIX file into a case of the principal's authority.

    `country` (alpha-3) other than this node's party records a counterpart's case (its authority in
    `origin`), e.g. from spontaneous information. The file is read and normalised first (no
    transaction is open meanwhile; big CSV files in worker processes); its postings are then written
    in one transaction, where each key is looked up once and every new link to another case (not
    generic) becomes an alert. Re-importing a file adds nothing."""
    require_role(principal, IMPORTERS, "import indicators")
    case = _case_ref(case_ref)
    region = _region(default_region)
    case_country = _country(country, principal.party)
    origin = origin.strip()
    if len(origin) > MAX_ORIGIN or (origin and case_country == principal.party):
        raise InvalidInput(f"an origin (≤ {MAX_ORIGIN} characters) names the authority of a counterpart's case "
                           "and goes with its --country")
    if format not in FORMATS:
        raise InvalidInput(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    keys = _keys(ctx, create=True)
    assert keys is not None
    try:
        with path.open("rb") as stream:
            fmt = format if format != "auto" else _sniff(path, stream.read(_SNIFF_BYTES))
            if fmt == "unknown":
                raise InvalidInput(f"{path.name}: cannot tell whether this is CSV, MISP or STIX; give --format")
            stream.seek(0)
            if fmt == "csv" and path.stat().st_size >= PARALLEL_MIN_BYTES:
                from hcx.services.indicator_bulk import import_csv_parallel
                report = import_csv_parallel(path, name=path.name, default_region=region, card_key=keys.card)
            else:
                report = _parse(stream, fmt, name=path.name, default_region=region, card_key=keys.card)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
    postings = {keys.posting_key(i.kind.value, i.value): i for i in report.indicators}
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        index = store(uow)
        index.lock_postings([principal.authority_id])  # another import of the authority waits until we commit
        holders = alerts.holders_of(uow, authority_id=principal.authority_id, keys=list(postings))
        known = {key for key, held in holders.items()
                 if any((p.case_ref, p.country) == (case, case_country) for p in held)}
        fresh = [alerts.NewPosting(key, i.kind.value, i.value, case, case_country, origin)
                 for key, i in postings.items() if key not in known]
        index.add_postings([_row(key, postings[key], case, principal.authority_id, now, case_country, origin)
                            for key in (p.key for p in fresh)])
        tightened = _tighten(index, principal.authority_id, case, case_country, {k: postings[k] for k in known})
        if tightened:  # a marking only ever gets stricter on re-import, and the change is on the trail
            uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="indicators.marking_tightened",
                      object_type="case", object_id=case,
                      details={"file": path.name, "country": case_country, "tightened": len(tightened),
                               "postings": [{"key": key.hex(), "from": before, "to": after}
                                            for key, (before, after) in list(tightened.items())[:100]]})
        linked = alerts.record_links(uow, authority_id=principal.authority_id, own_party=principal.party, new=fresh,
                                     holders=holders, max_cases=max_cases, now=now, new_id=ctx.new_id)
        outcome = ImportOutcome(case, fmt, report, len(fresh), len(known), case_country, linked)
        uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="indicators.imported",
                  object_type="case", object_id=case,
                  details={"file": path.name, "format": fmt, "accepted": report.counts(), "new": outcome.new,
                           "known": outcome.known, "rejected": len(report.rejections),
                           "duplicates": report.duplicates, "country": case_country, "origin": origin,
                           "links": linked, "tightened": len(tightened)})
        uow.commit()
    return outcome


def _tighten(index: IndicatorStore, authority_id: str, case: str, country: str,
             known: dict[bytes, Indicator]) -> dict[bytes, tuple[str, str]]:
    """Re-imported postings whose new markings are stricter (TLP level) than the stored ones get both
    (the strictest wins when shared); a looser or equal marking, or none, changes nothing. Returns, per key
    changed, (markings before, markings after)."""
    if not known:
        return {}
    stored = index.markings_for(authority_id=authority_id, case_ref=case, country=country, keys=list(known))
    changed: dict[bytes, tuple[str, str]] = {}
    for key, indicator in known.items():
        before = stored.get(key)
        if before is None:
            continue
        new = tlp_text(indicator.markings)
        if level_of(new.split(), unmarked=Level.CLEAR)[0] > level_of(before.split())[0]:  # no marking: no change
            changed[key] = (before, " ".join(sorted(set(before.split()) | set(new.split()))))
    if changed:
        index.set_markings(authority_id=authority_id, case_ref=case, country=country,
                           markings={key: after for key, (_, after) in changed.items()})
    return changed


def _row(key: bytes, indicator: Indicator, case: str, authority_id: str, at: dt.datetime, country: str,
         origin: str) -> dict[str, Any]:
    return {"key": key, "kind": indicator.kind.value, "value": indicator.value, "case_ref": case,
            "authority_id": authority_id, "first_seen": at, "tlp": tlp_text(indicator.markings),
            "country": country, "origin": origin}


def case_label(case_ref: str, country: str, own_party: str) -> str:
    """How a case is named in a link: its reference, prefixed `COUNTRY/` when it is a counterpart's."""
    return case_ref if country == own_party else f"{country}/{case_ref}"


def links(ctx: Context, principal: Principal, *, max_cases: int = DEFAULT_MAX_CASES) -> Links:
    """The pairs of the authority's cases that share indicators, with what they share.

    A value in more than `max_cases` cases (a bank's switchboard, a public resolver) is generic:
    it is listed apart and makes no pairs (n cases would make n(n-1)/2)."""
    require_role(principal, READERS, "read the correlation index")
    if max_cases < 2:
        raise InvalidInput("max_cases is at least 2")
    with ctx.reading() as uow:
        index = store(uow)
        generic = index.generic_keys(authority_id=principal.authority_id, max_cases=max_cases)
        by_key: dict[bytes, tuple[SharedIndicator, list[str]]] = {}
        for posting in index.shared_postings(authority_id=principal.authority_id, max_cases=max_cases):
            entry = by_key.setdefault(bytes(posting.key), (SharedIndicator(posting.kind, posting.value), []))
            entry[1].append(case_label(posting.case_ref, posting.country, principal.party))
    return _pairs(by_key.values(), generic, max_cases)


def _pairs(shared: Iterable[tuple[SharedIndicator, list[str]]], generic: list[tuple[str, str, int]],
           max_cases: int) -> Links:
    pairs: dict[tuple[str, str], list[SharedIndicator]] = defaultdict(list)
    for indicator, case_refs in shared:
        cases = sorted(set(case_refs))
        for i, case_a in enumerate(cases):
            for case_b in cases[i + 1:]:
                pairs[(case_a, case_b)].append(indicator)
    found = [CaseLink(a, b, tuple(sorted(shared_, key=lambda s: (s.kind, s.value))))
             for (a, b), shared_ in pairs.items()]
    found.sort(key=lambda link: (-len(link.indicators), link.case_a, link.case_b))
    return Links(tuple(found), tuple(GenericIndicator(k, v, n) for k, v, n in generic), max_cases)


def cases_with(ctx: Context, principal: Principal, kind: str | None, raw_value: str, *,
               default_region: str | None = None) -> Found:
    """The authority's cases that hold `raw_value` (normalised first; `kind` None detects it)."""
    require_role(principal, READERS, "read the correlation index")
    keys = _keys(ctx, create=False)
    card_key = keys.card if keys is not None else secrets.token_bytes(SECRET_BYTES)  # nothing indexed yet
    indicator = normalise(kind, raw_value, default_region=_region(default_region), card_key=card_key)
    if keys is None:
        return Found(indicator.kind.value, indicator.display, ())
    with ctx.reading() as uow:
        postings = store(uow).postings_for(authority_id=principal.authority_id,
                                           key=keys.posting_key(indicator.kind.value, indicator.value))
        hits = tuple(CaseHit(p.case_ref, p.first_seen, p.tlp, p.country, p.origin) for p in postings)
    return Found(indicator.kind.value, indicator.display, hits)


def cross_country_links(ctx: Context, principal: Principal, *, max_cases: int = DEFAULT_MAX_CASES) -> Links:
    """The full cross-country link report: the pairs of cases of different countries sharing a value
    that is not generic, from the per-key summary kept at import (its cross-border keys) and their
    postings."""
    require_role(principal, READERS, "read the correlation index")
    if max_cases < 2:
        raise InvalidInput("max_cases is at least 2")
    with ctx.reading() as uow:
        by_key: dict[bytes, tuple[SharedIndicator, list[tuple[str, str]]]] = {}
        for key, kind, value, country, case_ref in store(uow).cross_country_postings(
                authority_id=principal.authority_id, max_cases=max_cases):
            entry = by_key.setdefault(key, (SharedIndicator(kind, value), []))
            entry[1].append((country, case_ref))
    pairs: dict[tuple[tuple[str, str], tuple[str, str]], list[SharedIndicator]] = defaultdict(list)
    for indicator, cases in by_key.values():
        ordered = sorted(set(cases))
        for i, case_a in enumerate(ordered):
            for case_b in ordered[i + 1:]:
                if case_a[0] != case_b[0]:  # across a border only
                    pairs[(case_a, case_b)].append(indicator)
    found = [CaseLink(case_label(a[1], a[0], principal.party), case_label(b[1], b[0], principal.party),
                      tuple(sorted(shared_, key=lambda s: (s.kind, s.value))))
             for (a, b), shared_ in pairs.items()]
    found.sort(key=lambda link: (-len(link.indicators), link.case_a, link.case_b))
    return Links(tuple(found), (), max_cases)


def check_summary(ctx: Context, principal: Principal, *, repair: bool = False) -> int:
    """Compare the authority's per-key summary (`indicator_shared_keys`, kept at import) with its
    recomputation from every posting; returns how many keys differ. `repair` (an importer's) rebuilds
    the summary from the postings when they differ, on the audit trail. A full scan: a maintenance
    job, not a query."""
    require_role(principal, IMPORTERS if repair else READERS, "check the correlation index")
    with ctx.unit_of_work() if repair else ctx.reading() as uow:
        index = store(uow)
        index.lock_postings([principal.authority_id])
        stored = index.shared_keys(authority_id=principal.authority_id)
        recomputed = index.shared_keys_recomputed(authority_id=principal.authority_id)
        differing = sum(1 for key in stored.keys() | recomputed.keys() if stored.get(key) != recomputed.get(key))
        if repair and differing:
            index.rebuild_shared_keys(authority_id=principal.authority_id)
            uow.audit(id=ctx.new_id(), at=ctx.clock.now(), actor_id=principal.user_id,
                      action="indicators.summary_repaired", object_type="authority",
                      object_id=principal.authority_id, details={"keys": differing})
            uow.commit()
    return differing

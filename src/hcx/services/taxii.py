"""TAXII 2.1 (OASIS) over the local correlation index: what CERT tools pull and push.

One API root (`api`), one collection per authority: that authority's postings as STIX 2.1
`indicator` objects (one per indicator and case), with their markings. A user sees and reaches
only the collection of their own authority; analysts and officers may write, auditors read.
Every object served passes `hcx.indicators.sharing.decide` for a TAXII client of the owning
authority, so TLP:RED is never in a TAXII answer. See docs/taxii.md.

    discovery(ctx, principal, api_root_url) / api_root(ctx, principal, max_content_length)
    collections(ctx, principal) / collection(ctx, principal, collection_id)
    objects(ctx, principal, collection_id, filters) -> Page        (also manifest and versions)
    add_objects(ctx, principal, collection_id, envelope) -> status  (push: the STIX import path)
    status(ctx, principal, status_id)
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
import json
import re
import secrets
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from hcx.domain.ports import UnitOfWork
from hcx.errors import InvalidInput, NotFound, PolicyDenied
from hcx.indicators.markings import PAP_TAGS, TLP1_IDS, TLP2_IDS
from hcx.indicators.model import Indicator, IndicatorKind
from hcx.indicators.sharing import (
    RULES,
    UNMARKED,
    Decision,
    Destination,
    Level,
    Route,
    Rule,
    decide_value,
    parse_recipient,
)
from hcx.indicators.stix_export import HCX_STIX_NAMESPACE, pattern_for
from hcx.services import indicators
from hcx.services.context import Context, Principal

API_ROOT = "api"
TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OBJECTS_PER_PUSH = 10_000
DEFAULT_CASE = "TAXII-INBOX"  # the case of pushed objects that name none
CASE_PROPERTY = "x_hcx_case_ref"
RECIPIENTS_PROPERTY = "x_hcx_recipients"
READ_ROLES = indicators.READERS
WRITE_ROLES = indicators.IMPORTERS
TAXII_NAMESPACE = uuid.UUID("0f4f4a4e-2a43-5d0e-9f1e-6b8b8c2f7a10")
_CASE_REF = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
_SCAN = 500  # postings read per query while filling a page


# --- the store, as this service sees it --------------------------------------------------------

class PostingRow(Protocol):
    id: int
    key: bytes
    kind: str
    value: str
    case_ref: str
    first_seen: dt.datetime
    tlp: str


class StatusRecord(Protocol):
    id: str
    status: str
    requested_at: dt.datetime
    total_count: int
    success_count: int
    failure_count: int
    pending_count: int
    details: dict[str, Any]


class TaxiiStore(Protocol):
    """storage/taxii_store.py, in the unit of work's transaction."""

    def postings_page(self, *, authority_id: str, added_after: dt.datetime | None,
                      after: tuple[dt.datetime, int] | None, limit: int) -> Sequence[Any]: ...
    def recipients(self, *, authority_id: str, items: Iterable[tuple[str, str, str]]
                   ) -> dict[tuple[str, str, str], set[str]]: ...
    def postings_of(self, *, authority_id: str, keys: Iterable[bytes]) -> list[tuple[bytes, str, str, str, str]]: ...
    def add_recipients(self, rows: Sequence[dict[str, Any]]) -> None: ...
    def add_status(self, **columns: Any) -> None: ...
    def status(self, *, authority_id: str, status_id: str) -> StatusRecord | None: ...


class _TaxiiUnitOfWork(Protocol):
    @property
    def taxii(self) -> TaxiiStore: ...


def store(uow: UnitOfWork) -> TaxiiStore:
    return cast(_TaxiiUnitOfWork, uow).taxii


def value_decisions(taxii: TaxiiStore, *, authority_id: str, keys: Iterable[bytes], to: Destination,
                    unmarked: Level = UNMARKED) -> dict[bytes, Decision]:
    """The TLP decision for each value (by its index key) of the authority, over every posting of it
    in every case and the recipients named for each (`hcx.indicators.sharing.decide_value`): the
    one rule TAXII answers, exports, checks and alert follow-ups apply."""
    wanted = [bytes(key) for key in keys]
    postings = taxii.postings_of(authority_id=authority_id, keys=wanted)
    # named recipients matter only where a level's rule for this route is "named" (not to TAXII_OWN)
    named = taxii.recipients(authority_id=authority_id,
                             items=[(case, kind, value) for _, case, kind, value, _ in postings]
                             ) if any(RULES[level][to.route] is Rule.NAMED for level in Level) else {}
    grouped: dict[bytes, set[tuple[str, frozenset[str]]]] = {}
    for key, case, kind, value, tlp in postings:
        grouped.setdefault(key, set()).add((tlp, frozenset(named.get((case, kind, value), ()))))
    decided: dict[tuple[tuple[str, frozenset[str]], ...], Decision] = {}  # most values share a few markings
    found: dict[bytes, Decision] = {}
    for key in dict.fromkeys(wanted):
        held = tuple(sorted(grouped.get(key, ()), key=lambda entry: (entry[0], sorted(entry[1]))))
        if held not in decided:
            decided[held] = decide_value([(tlp.split(), names) for tlp, names in held], to=to, unmarked=unmarked)
        found[key] = decided[held]
    return found


# --- requests and answers ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Filters:
    """The TAXII filters of GET objects / manifest / versions (section 3.4)."""

    added_after: dt.datetime | None = None
    limit: int = DEFAULT_LIMIT
    next: str | None = None
    ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    versions: frozenset[str] = frozenset({"last"})
    spec_versions: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Page:
    """STIX objects of one page, and what the headers and `more` / `next` say."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    date_added: list[str] = field(default_factory=list)
    more: bool = False
    next: str | None = None

    def manifest(self) -> list[dict[str, Any]]:
        return [{"id": o["id"], "date_added": added, "version": o["modified"], "media_type": STIX_MEDIA_TYPE}
                for o, added in zip(self.objects, self.date_added, strict=True)]


def parse_filters(*, added_after: str | None, limit: str | None, next: str | None, ids: Iterable[str],
                  types: Iterable[str], versions: Iterable[str], spec_versions: Iterable[str]) -> Filters:
    """Filters from query parameters (`match[...]` may repeat and may be comma-separated)."""

    def split(values: Iterable[str]) -> frozenset[str]:
        return frozenset(part.strip() for value in values for part in value.split(",") if part.strip())

    after = parse_timestamp(added_after, "added_after") if added_after else None
    if limit is None or limit == "":
        size = DEFAULT_LIMIT
    elif not limit.isdigit() or int(limit) < 1:
        raise InvalidInput("limit is a positive integer")
    else:
        size = min(int(limit), MAX_LIMIT)
    chosen_versions = split(versions) or frozenset({"last"})
    for version in chosen_versions - {"last", "first", "all"}:
        parse_timestamp(version, "match[version]")
    return Filters(after, size, next or None, split(ids), split(types), chosen_versions, split(spec_versions))


def parse_timestamp(text: str, what: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(f"{what} is not an RFC 3339 timestamp (e.g. 2026-11-23T09:00:00Z)") from exc
    if moment.tzinfo is None:
        raise InvalidInput(f"{what} needs a time zone (end it with Z)")
    return moment.astimezone(dt.UTC)


def stamp(moment: dt.datetime) -> str:
    """A STIX timestamp, to the microsecond, so that `added_after` a served date skips exactly it."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# --- discovery, API root, collections ----------------------------------------------------------

def collection_id(authority_id: str) -> str:
    return str(uuid.uuid5(TAXII_NAMESPACE, f"collection:{authority_id}"))


def discovery(ctx: Context, principal: Principal, api_root_url: str) -> dict[str, Any]:
    return {"title": f"hcx node {principal.party}",
            "description": "TAXII 2.1 access to the indicators of your authority on this hcx node",
            "default": api_root_url, "api_roots": [api_root_url]}


def api_root(ctx: Context, principal: Principal, *, max_content_length: int) -> dict[str, Any]:
    return {"title": "indicators", "description": "one collection per authority: its indicators",
            "versions": [TAXII_MEDIA_TYPE], "max_content_length": max_content_length}


def collections(ctx: Context, principal: Principal) -> list[dict[str, Any]]:
    """The collections the principal may see: their own authority's."""
    with ctx.reading() as uow:
        authority = uow.get_authority(principal.authority_id)
        name = authority.name if authority is not None else principal.authority_id
    return [{"id": collection_id(principal.authority_id), "title": f"Indicators of {name}",
             "description": "the authority's indicators, one STIX indicator per indicator and case",
             "alias": "indicators", "can_read": principal.role in READ_ROLES,
             "can_write": principal.role in WRITE_ROLES, "media_types": [STIX_MEDIA_TYPE]}]


def collection(ctx: Context, principal: Principal, wanted: str) -> dict[str, Any]:
    _own(principal, wanted)
    return collections(ctx, principal)[0]


def _own(principal: Principal, wanted: str) -> None:
    """Another authority's collection does not exist for this principal (no hint that it does)."""
    if wanted != collection_id(principal.authority_id):
        raise NotFound(f"no collection {wanted}")


def _may_read(principal: Principal) -> None:
    if principal.role not in READ_ROLES:
        raise PolicyDenied("only analysts, officers and auditors may read indicators")


# --- objects -----------------------------------------------------------------------------------

def object_id(authority_id: str, case_ref: str, kind: str, value: str) -> str:
    """A stable STIX id per posting: the same indicator of the same case keeps its id."""
    return f"indicator--{uuid.uuid5(TAXII_NAMESPACE, f'{authority_id}|{case_ref}|{kind}:{value}')}"


def posting_markings(tlp: str) -> tuple[str, ...]:
    """A posting's markings (`tlp_text`) as an `Indicator` keeps them: TLP levels as the TLP 2.0
    ids (TLP:WHITE as its 1.0 id), PAP tags as tags, other ids as they are."""
    found = set()
    for tag in tlp.split():
        if tag.startswith("marking-definition--") or tag in PAP_TAGS:
            found.add(tag)
        elif tag in TLP2_IDS:
            found.add(TLP2_IDS[tag])
        elif tag in TLP1_IDS:
            found.add(TLP1_IDS[tag])
    return tuple(sorted(found))


def marking_refs(tlp: str) -> list[str]:
    """A posting's markings as STIX `object_marking_refs`: PAP tags become the statement marking
    ids the STIX export uses (which the push path knows)."""
    return sorted({handling_marking_id(m) if m in PAP_TAGS else m for m in posting_markings(tlp)})


def handling_marking_id(tag: str) -> str:
    """The statement marking id `stix_export` gives a handling tag such as `pap:red`."""
    return _HANDLING_IDS.get(tag) or f"marking-definition--{uuid.uuid5(HCX_STIX_NAMESPACE, 'marking:' + tag)}"


_HANDLING_IDS: dict[str, str] = {}
_HANDLING_IDS.update({tag: handling_marking_id(tag) for tag in PAP_TAGS})


def stix_object(authority_id: str, posting: PostingRow) -> dict[str, Any]:
    indicator = Indicator(IndicatorKind(posting.kind), posting.value, posting.value)
    when = stamp(posting.first_seen)
    name = "payment card (keyed hash)" if indicator.kind is IndicatorKind.CARD else f"{posting.kind}: {posting.value}"
    found: dict[str, Any] = {
        "type": "indicator", "spec_version": "2.1",
        "id": object_id(authority_id, posting.case_ref, posting.kind, posting.value),
        "created": when, "modified": when, "valid_from": when, "name": name,
        "pattern": pattern_for(indicator), "pattern_type": "stix", CASE_PROPERTY: posting.case_ref,
    }
    refs = marking_refs(posting.tlp)
    if refs:
        found["object_marking_refs"] = refs
    return found


def _encode_next(posting: PostingRow) -> str:
    text = f"{posting.first_seen.astimezone(dt.UTC).isoformat()}|{posting.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_next(token: str) -> tuple[dt.datetime, int]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        when, _, posting_id = text.partition("|")
        return parse_timestamp(when, "next"), int(posting_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, InvalidInput) as exc:
        raise InvalidInput("next is not a token this server gave") from exc


def _matches(found: dict[str, Any], filters: Filters) -> bool:
    if filters.ids and found["id"] not in filters.ids:
        return False
    if filters.spec_versions and "2.1" not in filters.spec_versions:
        return False
    named = filters.versions - {"last", "first", "all"}
    return not named or any(parse_timestamp(v, "match[version]") == parse_timestamp(found["modified"], "version")
                            for v in named)


def objects(ctx: Context, principal: Principal, wanted: str, filters: Filters) -> Page:
    """One page of the collection, oldest first. Postings TLP forbids to a TAXII client are
    skipped (and do not count towards `limit`); `next` resumes after the last posting examined."""
    _own(principal, wanted)
    _may_read(principal)
    if filters.types and "indicator" not in filters.types:
        return Page()
    after = _decode_next(filters.next) if filters.next else None
    to = Destination(Route.TAXII_OWN, principal.party, principal.authority_id)
    page = Page()
    last: PostingRow | None = None
    with ctx.reading() as uow:
        taxii = store(uow)
        while True:
            batch = taxii.postings_page(authority_id=principal.authority_id, added_after=filters.added_after,
                                        after=after, limit=max(_SCAN, filters.limit + 1))
            # a value is served only if every posting of it (in every case) may leave
            allowed = value_decisions(taxii, authority_id=principal.authority_id, keys=[p.key for p in batch],
                                      to=to)
            for posting in batch:
                if len(page.objects) == filters.limit and last is not None:
                    return Page(page.objects, page.date_added, True, _encode_next(last))
                last = posting
                if not allowed[bytes(posting.key)].allowed:
                    continue
                found = stix_object(principal.authority_id, posting)
                if _matches(found, filters):
                    page.objects.append(found)
                    page.date_added.append(found["created"])  # date_added is when first seen, as created
                    if filters.ids and len(page.objects) == len(filters.ids):
                        return page  # an id names one posting: every wanted one is found
            if len(batch) < max(_SCAN, filters.limit + 1):
                return page
            after = (batch[-1].first_seen, batch[-1].id)


def one_object(ctx: Context, principal: Principal, wanted: str, stix_id: str, filters: Filters) -> Page:
    """GET objects/{id} (and versions): the object, or 404 — also when TLP keeps it from TAXII."""
    found = objects(ctx, principal, wanted, Filters(added_after=filters.added_after, limit=MAX_LIMIT,
                                                    ids=frozenset({stix_id}), versions=filters.versions,
                                                    spec_versions=filters.spec_versions))
    if not found.objects:
        raise NotFound(f"no object {stix_id} in this collection")
    return found


# --- push --------------------------------------------------------------------------------------

def _handling_definitions() -> list[dict[str, Any]]:
    """The PAP statement markings hcx serves by id, so that pulled objects pushed back keep them."""
    return [{"type": "marking-definition", "spec_version": "2.1", "id": handling_marking_id(tag),
             "created": "2020-01-01T00:00:00.000Z", "name": tag.upper(), "definition_type": "statement",
             "definition": {"statement": tag.upper()}} for tag in sorted(PAP_TAGS)]


def _envelope_objects(envelope: Any) -> list[Any]:
    if not isinstance(envelope, dict):
        raise InvalidInput("the body is not a TAXII envelope (a JSON object with 'objects')")
    found = envelope.get("objects")
    if not isinstance(found, list):
        raise InvalidInput("the envelope has no 'objects' list")
    if len(found) > MAX_OBJECTS_PER_PUSH:
        raise InvalidInput(f"at most {MAX_OBJECTS_PER_PUSH} objects per request; split the envelope")
    return found


@dataclass
class _Push:
    successes: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    by_case: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    recipients: dict[str, list[str]] = field(default_factory=dict)  # object id -> named recipients

    def fail(self, stix_object: Any, index: int, message: str) -> None:
        self.failures.append(_detail(stix_object, index, message))


def _detail(stix_object: Any, index: int, message: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"id": f"object #{index}"}
    if isinstance(stix_object, dict):
        detail["id"] = str(stix_object.get("id", detail["id"]))
        version = stix_object.get("modified") or stix_object.get("created")
        if version:
            detail["version"] = str(version)
    if message:
        detail["message"] = message[:500]
    return detail


def _classify(stix_object: Any, index: int, definitions: list[dict[str, Any]], push: _Push) -> None:
    """Decide one pushed object's outcome before anything is written (imports it alone, in memory)."""
    from hcx.indicators.stix_import import import_stix  # imports stix2

    if not isinstance(stix_object, dict):
        push.fail(stix_object, index, "not a JSON object")
        return
    if stix_object.get("type") == "marking-definition":
        push.successes.append(_detail(stix_object, index))
        return
    case_ref = stix_object.get(CASE_PROPERTY, DEFAULT_CASE)
    if not isinstance(case_ref, str) or not _CASE_REF.fullmatch(case_ref.strip()):
        push.fail(stix_object, index, f"{CASE_PROPERTY} is 1 to 64 printable characters")
        return
    named = stix_object.get(RECIPIENTS_PROPERTY, [])
    try:
        if not isinstance(named, list) or not all(isinstance(n, str) for n in named):
            raise InvalidInput(f"{RECIPIENTS_PROPERTY} is a list of recipient names")
        recipients = sorted({parse_recipient(n) for n in named})
    except InvalidInput as exc:
        push.fail(stix_object, index, exc.message)
        return
    alone = json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [*definitions, stix_object]})
    report = import_stix(io.BytesIO(alone.encode()), name="push", default_region=None,
                         card_key=secrets.token_bytes(32))
    if report.rejections and not report.indicators:
        push.fail(stix_object, index, "; ".join(r.reason for r in report.rejections[:3]))
    elif not report.indicators:
        skipped = ", ".join(sorted(k for k in report.skipped if k != "marking-definition")) or "nothing"
        push.fail(stix_object, index, f"no indicator hcx keeps in this object (skipped: {skipped})")
    else:
        push.successes.append(_detail(stix_object, index))
        push.by_case.setdefault(case_ref.strip(), []).append(stix_object)
        if recipients:
            push.recipients[str(stix_object["id"])] = recipients


def add_objects(ctx: Context, principal: Principal, wanted: str, envelope: Any) -> dict[str, Any]:
    """Push: each object is checked alone, then the accepted ones go, per case, through the STIX
    import of the correlation index (idempotent, audited). Answers a complete status resource."""
    _own(principal, wanted)
    if principal.role not in WRITE_ROLES:
        raise PolicyDenied("only analysts and officers may add indicators")
    pushed = _envelope_objects(envelope)
    requested_at = ctx.clock.now()
    given = [o for o in pushed if isinstance(o, dict) and o.get("type") == "marking-definition"]
    definitions = [*[d for d in _handling_definitions() if d["id"] not in {g.get("id") for g in given}], *given]
    push = _Push()
    for index, stix_object in enumerate(pushed):
        _classify(stix_object, index, definitions, push)
    status_id = str(uuid.uuid4())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hcx-taxii-") as scratch:
        for case_ref, chosen in sorted(push.by_case.items()):
            path = Path(scratch) / f"taxii-push-{status_id}.json"
            path.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}",
                                        "objects": [*definitions, *chosen]}), encoding="utf-8")
            outcome = indicators.import_file(ctx, principal, path, case_ref=case_ref, format="stix")
            for indicator in outcome.report.indicators:
                locator = indicator.source.locator if indicator.source else ""
                rows.extend({"authority_id": principal.authority_id, "case_ref": case_ref,
                             "kind": indicator.kind.value, "value": indicator.value, "recipient": recipient}
                            for recipient in push.recipients.get(locator, ()))
    details = {"successes": push.successes, "failures": push.failures}
    with ctx.unit_of_work() as uow:
        taxii = store(uow)
        taxii.add_recipients(rows)
        taxii.add_status(id=status_id, authority_id=principal.authority_id, user_id=principal.user_id,
                         collection_id=wanted, requested_at=requested_at, status="complete",
                         total_count=len(pushed), success_count=len(push.successes),
                         failure_count=len(push.failures), pending_count=0, details=details)
        uow.commit()
    return status(ctx, principal, status_id)


def status(ctx: Context, principal: Principal, status_id: str) -> dict[str, Any]:
    with ctx.reading() as uow:
        found = store(uow).status(authority_id=principal.authority_id, status_id=status_id)
        if found is None:
            raise NotFound(f"no status {status_id}")
        return {"id": found.id, "status": found.status, "request_timestamp": stamp(found.requested_at),
                "total_count": found.total_count, "success_count": found.success_count,
                "successes": found.details.get("successes", []), "failure_count": found.failure_count,
                "failures": found.details.get("failures", []), "pending_count": found.pending_count,
                "pendings": []}

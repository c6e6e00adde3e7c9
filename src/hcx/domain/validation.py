"""Validate a draft request against the rules: a draft in, findings out. Pure.

Each finding names the field (a path such as `fields.offences[0].max_penalty_years`) and cites
the article of the rule it comes from, so an officer sees at once what to fix and why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from hcx.domain import treaty
from hcx.domain.model import Draft, Finding, Severity
from hcx.rules.schema import AuthorityKind, Cited, FieldSpec, RequestType, Rules

ERROR, WARNING, INFO = Severity.error, Severity.warning, Severity.info

# Rules about the shape of a request rather than one field; cited like every other rule.
SCOPE = Cited(article="35", source="S4", verified=False)
LANGUAGE = Cited(article="40(14)", source="S29", verified=False)
AUTHORITY_KINDS = {k.value for k in AuthorityKind}


def validate(
    draft: Draft, rules: Rules, *, today: dt.date, sender_kind: AuthorityKind | None = None
) -> list[Finding]:
    """All findings for `draft`, errors first. `today` decides whether the Convention is in force."""
    findings = list(_check(draft, rules, today, sender_kind))
    order = {ERROR: 0, WARNING: 1, INFO: 2}
    return sorted(findings, key=lambda f: order[f.severity])


def _check(
    draft: Draft, rules: Rules, today: dt.date, sender_kind: AuthorityKind | None
) -> Iterator[Finding]:
    rtype = rules.request_type(draft.type)
    if rtype is None:
        known = ", ".join(sorted(rules.types_by_code))
        yield Finding.of(ERROR, "type", "unknown_request_type",
                         f"unknown request type {draft.type!r}; known types: {known}", SCOPE)
        return
    parties_known = True
    for path in ("requesting_party", "requested_party"):
        code = getattr(draft, path)
        if rules.party(code) is None:
            parties_known = False
            yield Finding.of(ERROR, path, "unknown_party", f"{code} is not a known party (ISO 3166-1 alpha-3)", SCOPE)
    if draft.requesting_party == draft.requested_party:
        yield Finding.of(ERROR, "requested_party", "same_party",
                         "the requested party must be another State than the requesting one", rtype)
    yield from _check_fields(draft.fields, rtype, rules)
    yield from _check_sender(draft.fields, rtype, sender_kind)
    if parties_known:
        yield from _check_language(draft, rules)
        yield from _check_offences(draft, rtype, rules)
        yield from _check_in_force(draft, rtype, rules, today)
    yield from _check_preservation(draft.fields, rtype, rules)


def _check_fields(values: dict[str, Any], rtype: RequestType, rules: Rules) -> Iterator[Finding]:
    for name in values:
        if rtype.field(name) is None:
            yield Finding.of(ERROR, f"fields.{name}", "unknown_field",
                             f"{name!r} is not a field of a {rtype.title} request", rtype)
    for spec in rtype.fields:
        path = f"fields.{spec.name}"
        value = values.get(spec.name)
        if _is_blank(value):
            if spec.required:
                yield Finding.of(ERROR, path, "required", f"missing: {spec.label}", spec)
            elif spec.recommended:
                yield Finding.of(WARNING, path, "recommended", f"recommended: {spec.label}", spec)
            continue
        yield from KIND_CHECKS[spec.kind](path, value, spec, rules)


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value) or (
        isinstance(value, str) and not value.strip())


# --- one checker per field kind ------------------------------------------------------------

Checker = Callable[[str, Any, FieldSpec, Rules], Iterator[Finding]]


def _text(path: str, value: Any, spec: FieldSpec, rules: Rules) -> Iterator[Finding]:
    if not isinstance(value, str):
        yield Finding.of(ERROR, path, "type", "must be text", spec)
    elif spec.min_length and len(value.strip()) < spec.min_length:
        yield Finding.of(ERROR, path, "too_short",
                         f"too short: describe {spec.label.lower()} (at least {spec.min_length} characters)", spec)


def _date(path: str, value: Any, spec: FieldSpec, rules: Rules) -> Iterator[Finding]:
    if _parse_date(value) is None:
        yield Finding.of(ERROR, path, "type", "must be a date written YYYY-MM-DD", spec)


def _parse_date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _integer(path: str, value: Any, spec: FieldSpec, rules: Rules) -> Iterator[Finding]:
    if not isinstance(value, int) or isinstance(value, bool):
        yield Finding.of(ERROR, path, "type", "must be a whole number", spec)
    elif spec.minimum is not None and value < spec.minimum:
        yield Finding.of(ERROR, path, "range", f"must be at least {spec.minimum}", spec)
    elif spec.maximum is not None and value > spec.maximum:
        yield Finding.of(ERROR, path, "range", f"must be at most {spec.maximum}", spec)


def _boolean(path: str, value: Any, spec: FieldSpec, rules: Rules) -> Iterator[Finding]:
    if not isinstance(value, bool):
        yield Finding.of(ERROR, path, "type", "must be true or false", spec)
    elif spec.must_be_true and not value:
        yield Finding.of(ERROR, path, "must_be_true", f"required: {spec.label}", spec)


def _object(path: str, value: Any, spec: FieldSpec, required: tuple[str, ...], optional: dict[str, str]
            ) -> Iterator[Finding]:
    """Check a small object: required text keys, optional keys of a kind, nothing else."""
    if not isinstance(value, dict):
        yield Finding.of(ERROR, path, "type", "must be an object", spec)
        return
    for key in value:
        if key not in required and key not in optional:
            yield Finding.of(ERROR, f"{path}.{key}", "unknown_field", f"unknown key {key!r}", spec)
    for key in required:
        if _is_blank(value.get(key)):
            yield Finding.of(ERROR, f"{path}.{key}", "required", f"missing: {key}", spec)
        elif not isinstance(value[key], str):
            yield Finding.of(ERROR, f"{path}.{key}", "type", "must be text", spec)
    for key, kind in optional.items():
        item = value.get(key)
        if item is None:
            continue
        if kind == "number" and (not isinstance(item, int | float) or isinstance(item, bool) or item < 0):
            yield Finding.of(ERROR, f"{path}.{key}", "type", "must be a number of years, 0 or more", spec)
        elif kind == "date" and _parse_date(item) is None:
            yield Finding.of(ERROR, f"{path}.{key}", "type", "must be a date written YYYY-MM-DD", spec)
        elif kind == "text" and not isinstance(item, str):
            yield Finding.of(ERROR, f"{path}.{key}", "type", "must be text", spec)


def _authority(path: str, value: Any, spec: FieldSpec, rules: Rules) -> Iterator[Finding]:
    yield from _object(path, value, spec, ("name",), {"kind": "text", "contact": "text", "reference": "text"})
    if isinstance(value, dict) and isinstance(value.get("kind"), str) and value["kind"] not in AUTHORITY_KINDS:
        yield Finding.of(ERROR, f"{path}.kind", "choice", f"must be one of {', '.join(sorted(AUTHORITY_KINDS))}", spec)


def _list_of(item_check: Callable[[str, Any, FieldSpec, Rules], Iterator[Finding]]) -> Checker:
    def check(path: str, value: Any, spec: FieldSpec, rules: Rules) -> Iterator[Finding]:
        if not isinstance(value, list):
            yield Finding.of(ERROR, path, "type", "must be a list", spec)
            return
        for i, item in enumerate(value):
            yield from item_check(f"{path}[{i}]", item, spec, rules)
    return check


def _person(path: str, value: Any, spec: FieldSpec, rules: Rules) -> Iterator[Finding]:
    yield from _object(path, value, spec, ("name",),
                       {"nationality": "text", "location": "text", "date_of_birth": "date", "role": "text"})
    if isinstance(value, dict) and isinstance(value.get("nationality"), str) and rules.party(value["nationality"]) is None:
        yield Finding.of(ERROR, f"{path}.nationality", "unknown_party",
                         f"{value['nationality']} is not a known State (ISO 3166-1 alpha-3)", spec)


OFFENCE_KEYS = {"convention_offence": "text", "max_penalty_years": "number",
                "national_provision": "text", "requested_party_provision": "text"}


def _offence(path: str, value: Any, spec: FieldSpec, rules: Rules) -> Iterator[Finding]:
    yield from _object(path, value, spec, ("description",), OFFENCE_KEYS)
    if isinstance(value, dict) and isinstance(value.get("convention_offence"), str):
        known = {o.code for o in rules.offences.offences}
        if value["convention_offence"] not in known:
            yield Finding.of(ERROR, f"{path}.convention_offence", "choice",
                             f"unknown offence; one of {', '.join(sorted(known))}", spec)


def _text_item(path: str, value: Any, spec: FieldSpec, rules: Rules) -> Iterator[Finding]:
    if not isinstance(value, str) or not value.strip():
        yield Finding.of(ERROR, path, "type", "must be non-empty text", spec)


def _party_item(path: str, value: Any, spec: FieldSpec, rules: Rules) -> Iterator[Finding]:
    if not isinstance(value, str) or rules.party(value) is None:
        yield Finding.of(ERROR, path, "unknown_party", f"{value!r} is not a known party (ISO 3166-1 alpha-3)", spec)


KIND_CHECKS: dict[str, Checker] = {
    "text": _text,
    "date": _date,
    "integer": _integer,
    "boolean": _boolean,
    "authority": _authority,
    "person_list": _list_of(_person),
    "offence_list": _list_of(_offence),
    "text_list": _list_of(_text_item),
    "party_list": _list_of(_party_item),
}


# --- checks across fields ------------------------------------------------------------------

def _check_sender(values: dict[str, Any], rtype: RequestType, sender_kind: AuthorityKind | None
                  ) -> Iterator[Finding]:
    declared = values.get("requesting_authority")
    kind: str | None = sender_kind.value if sender_kind else None
    if kind is None and isinstance(declared, dict) and isinstance(declared.get("kind"), str):
        kind = declared["kind"]
    allowed = [k.value for k in rtype.sender_kinds]
    if kind in AUTHORITY_KINDS and kind not in allowed:
        yield Finding.of(ERROR, "fields.requesting_authority.kind", "sender_kind",
                         f"a {rtype.title} request is sent by: {', '.join(allowed)}; not by {kind}", rtype)


def _check_language(draft: Draft, rules: Rules) -> Iterator[Finding]:
    declaration = rules.declaration(draft.requested_party)
    if declaration is None or not declaration.languages:
        yield Finding.of(INFO, "language", "languages_unknown",
                         f"{draft.requested_party} has not notified the languages it accepts", LANGUAGE)
    elif draft.language not in declaration.languages:
        yield Finding.of(ERROR, "language", "language_not_accepted",
                         f"{draft.requested_party} accepts requests in {', '.join(declaration.languages)}, "
                         f"not {draft.language}", LANGUAGE)


def _check_offences(draft: Draft, rtype: RequestType, rules: Rules) -> Iterator[Finding]:
    offences = draft.fields.get("offences")
    if not isinstance(offences, list):
        return
    serious = rules.offences.serious_crime
    declaration = rules.declaration(draft.requested_party)
    dual_needed = rtype.dual_criminality == "always" or (
        rtype.dual_criminality == "per_declaration" and declaration is not None
        and declaration.dual_criminality_required)
    spec = rtype.field("offences")
    assert spec is not None
    for i, offence in enumerate(offences):
        if not isinstance(offence, dict):
            continue
        path = f"fields.offences[{i}]"
        raw_penalty = offence.get("max_penalty_years")
        penalty = None if isinstance(raw_penalty, bool) or not isinstance(raw_penalty, int | float) else raw_penalty
        if rtype.seeks_evidence and not offence.get("convention_offence"):
            if penalty is None:
                yield Finding.of(ERROR, f"{path}.max_penalty_years", "serious_crime_unknown",
                                 "for an offence not established by the Convention, give the maximum penalty: "
                                 f"evidence is shared for serious crime ({serious.minimum_max_penalty_years} years or more)",
                                 serious)
            elif penalty < serious.minimum_max_penalty_years:
                yield Finding.of(ERROR, f"{path}.max_penalty_years", "not_serious_crime",
                                 f"not a serious crime: the maximum penalty is under "
                                 f"{serious.minimum_max_penalty_years} years and the offence is not one of the Convention",
                                 serious)
        if dual_needed and _is_blank(offence.get("requested_party_provision")):
            yield Finding.of(ERROR, f"{path}.requested_party_provision", "dual_criminality",
                             f"{draft.requested_party} requires dual criminality: name the provision of its law "
                             "that covers this conduct", spec)


def _check_in_force(draft: Draft, rtype: RequestType, rules: Rules, today: dt.date) -> Iterator[Finding]:
    rule = rules.entry_into_force
    if treaty.in_force_between(draft.requesting_party, draft.requested_party, today,
                               rules.status.ratifications, rules.parties_by_code, rule):
        return
    path = "fields.alternative_legal_basis"
    if _is_blank(draft.fields.get("alternative_legal_basis")):
        yield Finding.of(WARNING, path, "not_in_force",
                         f"the Convention is not in force between {draft.requesting_party} and "
                         f"{draft.requested_party} on {today.isoformat()}: state another legal basis "
                         "(a treaty or reciprocity)", rule)
    else:
        yield Finding.of(INFO, path, "alternative_basis",
                         "the Convention is not in force between the parties; the other legal basis given applies",
                         rule)


def _check_preservation(values: dict[str, Any], rtype: RequestType, rules: Rules) -> Iterator[Finding]:
    if not rtype.preservation:
        return
    days = values.get("preservation_days")
    rule = rules.deadline(rtype.deadline)
    minimum = rule.minimum_days or 0
    if isinstance(days, int) and not isinstance(days, bool) and 0 < days < minimum:
        yield Finding.of(WARNING, "fields.preservation_days", "preservation_minimum",
                         f"preservation lasts at least {minimum} days; the requested party keeps the data that long",
                         rule)

"""Validation of drafts against the rule data: parametrised over the data itself, so a new
request type or field is tested without a new test."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest

from hcx.domain.model import Draft, Finding, Severity
from hcx.domain.validation import validate
from hcx.rules import Rules, load_rules
from hcx.rules.schema import AuthorityKind, Declaration, Ratification
from tests.conftest import EXAMPLES

TODAY = dt.date(2026, 11, 23)
RULES = load_rules()


def example(code: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{code}.json").read_text(encoding="utf-8"))


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.error]


def check(document: dict[str, Any], rules: Rules = RULES, **kwargs: Any) -> list[Finding]:
    return validate(Draft.model_validate(document), rules, today=TODAY, **kwargs)


def with_rules(**changes: Any) -> Rules:
    """The shipped rules with some parts replaced (validated anew: no stale lookup caches)."""
    return Rules.model_validate({name: getattr(RULES, name) for name in Rules.model_fields} | changes)


def test_every_request_type_has_a_complete_example() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.json")) == sorted(t.code for t in RULES.request_types)


@pytest.mark.parametrize("code", [t.code for t in RULES.request_types])
def test_the_example_of_each_type_has_no_error(code: str) -> None:
    assert errors(check(example(code))) == []


REQUIRED = [(t.code, f.name) for t in RULES.request_types for f in t.fields if f.required]


@pytest.mark.parametrize(("code", "field"), REQUIRED, ids=[f"{c}.{f}" for c, f in REQUIRED])
@pytest.mark.parametrize("how", ["removed", "blank"])
def test_a_missing_required_field_is_one_error_naming_it_and_its_article(code: str, field: str, how: str) -> None:
    document = example(code)
    if how == "removed":
        del document["fields"][field]
    else:
        document["fields"][field] = "" if isinstance(document["fields"][field], str) else None
    spec = RULES.request_type(code).field(field)  # type: ignore[union-attr]
    found = errors(check(document))
    assert len(found) == 1, found
    assert found[0].path == f"fields.{field}"
    assert found[0].article == spec.article and found[0].code == "required"


def test_a_missing_recommended_field_is_a_warning() -> None:
    document = example("mutual_legal_assistance")
    del document["fields"]["persons_concerned"]
    findings = check(document)
    assert not errors(findings)
    assert any(f.path == "fields.persons_concerned" and f.severity is Severity.warning for f in findings)


@pytest.mark.parametrize(("field", "value", "code"), [
    ("summary_of_facts", 42, "type"),
    ("suggested_deadline", "31/01/2027", "type"),
    ("confidentiality_required", "yes", "type"),
    ("offences", {"description": "x"}, "type"),
    ("persons_concerned", [{"name": "A", "nationality": "XXX"}], "unknown_party"),
    ("persons_concerned", [{"nom": "A"}], "unknown_field"),
    ("requesting_authority", {"name": "A", "kind": "ministry"}, "choice"),
])
def test_wrong_field_values_are_errors(field: str, value: Any, code: str) -> None:
    document = example("mutual_legal_assistance")
    document["fields"][field] = value
    assert code in {f.code for f in errors(check(document))}


def test_integer_bounds_and_booleans_that_must_be_true() -> None:
    document = example("realtime_traffic_collection")
    document["fields"]["collection_period_days"] = 0
    assert [f.code for f in errors(check(document))] == ["range"]
    document["fields"]["collection_period_days"] = True
    assert [f.code for f in errors(check(document))] == ["type"]
    preservation = example("expedited_preservation")
    preservation["fields"]["mla_to_follow"] = False
    assert [f.code for f in errors(check(preservation))] == ["must_be_true"]


def test_unknown_fields_type_and_parties_are_errors() -> None:
    document = example("mutual_legal_assistance")
    document["fields"]["colour"] = "blue"
    assert [f.path for f in errors(check(document))] == ["fields.colour"]
    assert [f.code for f in errors(check({**document, "type": "pizza"}))] == ["unknown_request_type"]
    assert {f.path for f in errors(check({**example("extradition"), "requested_party": "ZZZ"}))} == {"requested_party"}
    assert "same_party" in {f.code for f in errors(check({**example("extradition"), "requested_party": "VNM"}))}


def test_the_sender_must_be_an_authority_that_may_send_the_type() -> None:
    document = example("emergency_request")
    assert not errors(check(document, sender_kind=AuthorityKind.contact_24_7))
    found = errors(check(document, sender_kind=AuthorityKind.central_authority))
    assert [f.code for f in found] == ["sender_kind"]


def test_the_emergency_must_be_justified() -> None:
    document = example("emergency_request")
    document["fields"]["imminent_risk"] = "urgent"
    found = errors(check(document))
    assert [(f.path, f.code, f.article) for f in found] == [("fields.imminent_risk", "too_short", "2")]


def test_evidence_of_an_offence_outside_the_convention_needs_a_serious_crime() -> None:
    document = example("mutual_legal_assistance")
    offence = {"description": "Illegal gambling website"}
    document["fields"]["offences"] = [offence]
    assert [f.code for f in errors(check(document))] == ["serious_crime_unknown"]
    offence["max_penalty_years"] = 3
    found = errors(check(document))
    assert [(f.code, f.article) for f in found] == [("not_serious_crime", "2(h)")]
    offence["max_penalty_years"] = 4
    assert not errors(check(document))


def test_dual_criminality_where_the_requested_party_requires_it() -> None:
    rules = with_rules(declarations=[Declaration(party="AUS", languages=["en"], dual_criminality_required=True,
                                                 source="HCX", verified=False)])
    document = example("mutual_legal_assistance")
    found = errors(check(document, rules))
    assert {f.path for f in found} == {"fields.offences[0].requested_party_provision",
                                       "fields.offences[1].requested_party_provision"}
    for offence in document["fields"]["offences"]:
        offence["requested_party_provision"] = "Criminal Code Act 1995 (Cth), s. 135.1"
    assert not errors(check(document, rules))
    preservation = example("expedited_preservation")  # preservation needs no dual criminality
    assert not errors(check(preservation, rules))


def test_the_language_must_be_one_the_requested_party_accepts() -> None:
    rules = with_rules(declarations=[Declaration(party="AUS", languages=["en"], source="HCX", verified=False)])
    document = example("mutual_legal_assistance")
    assert not errors(check(document, rules))
    document["language"] = "vi"
    assert [f.code for f in errors(check(document, rules))] == ["language_not_accepted"]
    assert any(f.code == "languages_unknown" for f in check(document))  # nothing declared: only informed


def test_a_preservation_shorter_than_sixty_days_is_a_warning() -> None:
    document = example("expedited_preservation")
    document["fields"]["preservation_days"] = 30
    findings = check(document)
    assert not errors(findings)
    assert any(f.code == "preservation_minimum" and f.article == "42(7)" for f in findings)


def forty_ratifications(*extra: str) -> list[Ratification]:
    states = [p.code for p in RULES.parties if p.kind == "state"][:40]
    parties = [*states, *extra]
    return [Ratification(party=p, date=dt.date(2026, 1, 1) + dt.timedelta(days=i), instrument="ratification",
                         source="S1", verified=False) for i, p in enumerate(parties)]


def test_not_in_force_between_the_parties_warns_on_the_alternative_legal_basis_field() -> None:
    document = example("spontaneous_information")
    found = [f for f in check(document) if f.code == "not_in_force"]
    assert [(f.severity, f.path) for f in found] == [(Severity.warning, "fields.alternative_legal_basis")]
    document["fields"]["alternative_legal_basis"] = "Reciprocity"
    assert any(f.code == "alternative_basis" and f.severity is Severity.info for f in check(document))
    status = RULES.status.model_copy(update={"ratifications": forty_ratifications("VNM", "PHL")})
    in_force = with_rules(status=status)
    assert not [f for f in check(example("spontaneous_information"), in_force) if f.code == "not_in_force"]


def test_validation_is_pure_and_does_not_change_the_draft() -> None:
    document = example("mutual_legal_assistance")
    before = copy.deepcopy(document)
    draft = Draft.model_validate(document)
    assert validate(draft, RULES, today=TODAY) == validate(draft, RULES, today=TODAY)
    assert draft.model_dump() == before

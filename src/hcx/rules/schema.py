"""Pydantic models of the rule files under `rules/data/`.

Every legal rule cites its article and its source, and says whether that was verified against
an authentic text (`verified`), so a correction is a one-line edit of the data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cited(Strict):
    article: str = Field(description="article of the convention, e.g. '40(15)(a)'")
    source: str = Field(description="id of an entry of sources.yaml")
    verified: bool


class Source(Strict):
    title: str
    url: str = ""


class Role(StrEnum):
    officer = "officer"
    supervisor = "supervisor"
    analyst = "analyst"
    auditor = "auditor"
    admin = "admin"


class AuthorityKind(StrEnum):
    central_authority = "central_authority"
    contact_24_7 = "contact_24_7"
    executing_authority = "executing_authority"
    law_enforcement = "law_enforcement"


class Side(StrEnum):
    requesting = "requesting"
    requested = "requested"


FieldKind = Literal[
    "text",
    "date",
    "integer",
    "boolean",
    "authority",
    "person_list",
    "offence_list",
    "text_list",
    "party_list",
]


class FieldSpec(Cited):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: FieldKind
    label: str
    required: bool = False
    recommended: bool = False
    min_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    must_be_true: bool = False
    help: str = ""


class RequestType(Cited):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    description: str
    sender_kinds: list[AuthorityKind] = Field(min_length=1)
    seeks_evidence: bool
    dual_criminality: Literal["not_required", "per_declaration", "always"]
    preservation: bool = False
    emergency: bool = False
    deadline: str
    refusal_grounds: list[str]
    fields: list[FieldSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_fields(self) -> RequestType:
        names = [f.name for f in self.fields]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"duplicate fields {sorted(duplicates)}")
        return self

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


class Offence(Cited):
    code: str
    title: str
    convention_article: int


class SeriousCrime(Cited):
    minimum_max_penalty_years: int


class OffenceCatalogue(Strict):
    offences: list[Offence]
    serious_crime: SeriousCrime


class RefusalGround(Cited):
    code: str
    title: str


class ForbiddenGround(Cited):
    code: str
    title: str


class RefusalRules(Strict):
    grounds: list[RefusalGround]
    forbidden: list[ForbiddenGround]


class DeadlineRule(Cited):
    code: str
    kind: Literal["as_soon_as_possible", "preservation", "fixed"]
    default_days: int | None = None
    default_hours: int | None = None
    minimum_days: int | None = None
    reminder_days_before: int | None = None


class State(Strict):
    code: str
    title: str
    terminal: bool = False


Requirement = Literal["reasons", "grounds", "until", "message", "summary", "extension_days"]


class Transition(Cited):
    action: str
    title: str
    from_states: list[str] = Field(alias="from", min_length=1)
    to: str
    to_without_approval: str | None = None
    side: Side
    roles: list[Role] = Field(min_length=1)
    requires: list[Requirement] = []
    four_eyes: bool = False
    internal: bool = Field(False, description="a step only this node sees; not sent to the other party")
    request_types: list[str] | None = None


class Lifecycle(Strict):
    initial: str
    incoming_initial: str
    states: list[State]
    transitions: list[Transition]
    approval_exempt_types: list[str]

    def state(self, code: str) -> State:
        return next(s for s in self.states if s.code == code)

    def transition(self, action: str) -> Transition | None:
        return next((t for t in self.transitions if t.action == action), None)


class EntryIntoForce(Cited):
    threshold: int
    days_after_threshold: int
    later_ratifier_days: int
    later_ratifier_article: str
    later_ratifier_verified: bool
    reio_counts_in_addition: bool


class Party(Strict):
    code: str = Field(pattern=r"^[A-Z]{3}$")
    alpha2: str = Field(pattern=r"^[A-Z]{2}$")
    kind: Literal["state", "observer_state", "reio"]
    un_member: bool
    names: dict[str, str]


class Signature(Strict):
    party: str
    date: dt.date
    place: str
    source: str
    verified: bool


class Ratification(Strict):
    party: str
    date: dt.date
    instrument: Literal["ratification", "acceptance", "approval", "accession"]
    source: str
    verified: bool


class ConventionStatus(Strict):
    as_of: dt.date
    sources: dict[str, Source]
    signatures: list[Signature]
    ratifications: list[Ratification]


class Declaration(Strict):
    party: str
    languages: list[str] = []
    central_authority: str = ""
    contact_24_7: str = ""
    reservations: list[str] = []
    dual_criminality_required: bool = False
    source: str
    verified: bool


class Rules(Strict):
    """Everything under rules/data, cross-checked."""

    sources: dict[str, Source]
    request_types: list[RequestType]
    offences: OffenceCatalogue
    refusal: RefusalRules
    deadlines: list[DeadlineRule]
    lifecycle: Lifecycle
    entry_into_force: EntryIntoForce
    parties: list[Party]
    status: ConventionStatus
    declarations: list[Declaration]

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Rules:
        """A copy whose lookup tables are rebuilt from its own data."""
        copy = super().model_copy(update=update, deep=deep)
        for name in ("types_by_code", "parties_by_code", "declarations_by_party"):
            copy.__dict__.pop(name, None)
        return copy

    @cached_property
    def types_by_code(self) -> dict[str, RequestType]:
        return {t.code: t for t in self.request_types}

    @cached_property
    def parties_by_code(self) -> dict[str, Party]:
        return {p.code: p for p in self.parties}

    @cached_property
    def declarations_by_party(self) -> dict[str, Declaration]:
        return {d.party: d for d in self.declarations}

    def request_type(self, code: str) -> RequestType | None:
        return self.types_by_code.get(code)

    def party(self, code: str) -> Party | None:
        return self.parties_by_code.get(code)

    def declaration(self, party: str) -> Declaration | None:
        return self.declarations_by_party.get(party)

    def deadline(self, code: str) -> DeadlineRule:
        return next(d for d in self.deadlines if d.code == code)

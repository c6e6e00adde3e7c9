"""Read the rule files (package data) and validate them; any defect raises ConfigError."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hcx.errors import ConfigError
from hcx.rules.schema import Cited, Rules

FILES = {
    "sources": "sources.yaml",
    "request_types": "request_types.yaml",
    "offences": "offences.yaml",
    "refusal": "refusal_grounds.yaml",
    "deadlines": "deadlines.yaml",
    "lifecycle": "lifecycle.yaml",
    "entry_into_force": "entry_into_force.yaml",
    "parties": "parties.yaml",
    "status": "convention_status.yaml",
    "declarations": "declarations.yaml",
}


def _read(directory: Path, name: str) -> Any:
    path = directory / name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"rule file {name} cannot be read: {exc.strerror}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"rule file {name} is not valid YAML: {exc}") from exc


def _unwrap(key: str, document: Any) -> Any:
    """Files hold one top-level key named like the Rules field, or the object itself."""
    if key in ("sources", "request_types", "deadlines", "parties", "declarations"):
        if not isinstance(document, dict) or key not in document:
            raise ConfigError(f"rule file {FILES[key]} must have a top-level '{key}' key")
        return document[key]
    return document


def load_rules_from(directory: Path) -> Rules:
    raw = {key: _unwrap(key, _read(directory, name)) for key, name in FILES.items()}
    try:
        rules = Rules.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{FILES.get(str(e['loc'][0]), e['loc'][0])}: {'.'.join(map(str, e['loc'][1:]))}: {e['msg']}"
            for e in exc.errors()
        ]
        raise ConfigError("the rule files are invalid", details=problems) from exc
    problems = list(_cross_check(rules))
    if problems:
        raise ConfigError("the rule files are inconsistent", details=problems)
    return rules


@cache
def load_rules() -> Rules:
    """The rules shipped with hcx (cached: they are immutable)."""
    return load_rules_from(Path(str(resources.files("hcx.rules") / "data")))


def _cited(rules: Rules) -> Iterator[tuple[str, Cited]]:
    for t in rules.request_types:
        yield f"request type {t.code}", t
        for f in t.fields:
            yield f"request type {t.code} field {f.name}", f
    for o in rules.offences.offences:
        yield f"offence {o.code}", o
    yield "serious crime", rules.offences.serious_crime
    for g in rules.refusal.grounds:
        yield f"refusal ground {g.code}", g
    for fg in rules.refusal.forbidden:
        yield f"forbidden ground {fg.code}", fg
    for d in rules.deadlines:
        yield f"deadline {d.code}", d
    for tr in rules.lifecycle.transitions:
        yield f"transition {tr.action}", tr
    yield "entry into force", rules.entry_into_force


def _cross_check(rules: Rules) -> Iterator[str]:
    for where, item in _cited(rules):
        if item.source not in rules.sources:
            yield f"{where}: unknown source {item.source!r}"
    grounds = {g.code for g in rules.refusal.grounds}
    forbidden = {g.code for g in rules.refusal.forbidden}
    deadlines = {d.code for d in rules.deadlines}
    types = [t.code for t in rules.request_types]
    if len(types) != len(set(types)):
        yield "request_types.yaml: duplicate request type codes"
    for t in rules.request_types:
        for g in t.refusal_grounds:
            if g in forbidden:
                yield f"request type {t.code}: refusal ground {g!r} is one the convention forbids"
            elif g not in grounds:
                yield f"request type {t.code}: unknown refusal ground {g!r}"
        if t.deadline not in deadlines:
            yield f"request type {t.code}: unknown deadline {t.deadline!r}"
    states = {s.code for s in rules.lifecycle.states}
    for code in (rules.lifecycle.initial, rules.lifecycle.incoming_initial):
        if code not in states:
            yield f"lifecycle.yaml: unknown initial state {code!r}"
    actions = [tr.action for tr in rules.lifecycle.transitions]
    if len(actions) != len(set(actions)):
        yield "lifecycle.yaml: duplicate actions"
    for tr in rules.lifecycle.transitions:
        for code in [*tr.from_states, tr.to, *([tr.to_without_approval] if tr.to_without_approval else [])]:
            if code not in states:
                yield f"transition {tr.action}: unknown state {code!r}"
        for code in tr.from_states:
            if rules.lifecycle.state(code).terminal:
                yield f"transition {tr.action}: leaves terminal state {code!r}"
        for code in tr.request_types or []:
            if code not in types:
                yield f"transition {tr.action}: unknown request type {code!r}"
    for code in rules.lifecycle.approval_exempt_types:
        if code not in types:
            yield f"lifecycle.yaml: unknown approval-exempt request type {code!r}"
    parties = {p.code for p in rules.parties}
    if len(parties) != len(rules.parties):
        yield "parties.yaml: duplicate party codes"
    for s in rules.status.signatures:
        if s.party not in parties:
            yield f"convention_status.yaml: signature by unknown party {s.party!r}"
        if s.source not in rules.status.sources:
            yield f"convention_status.yaml: signature of {s.party}: unknown source {s.source!r}"
    for r in rules.status.ratifications:
        if r.party not in parties:
            yield f"convention_status.yaml: ratification by unknown party {r.party!r}"
    for d in rules.declarations:
        if d.party not in parties:
            yield f"declarations.yaml: declaration of unknown party {d.party!r}"
        if d.source not in rules.sources:
            yield f"declarations.yaml: {d.party}: unknown source {d.source!r}"

"""The request lifecycle: may this actor take this step now, and where does it lead? Pure.

A refused step raises and changes nothing: `Conflict` when the step does not fit the current
state, `PolicyDenied` when the actor's role or side may not take it, `InvalidInput` when what the
step requires (grounds, reasons, a date...) is missing or wrong.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hcx.errors import Conflict, InvalidInput, PolicyDenied
from hcx.rules.schema import Role, Rules, Side, Transition


class Direction(StrEnum):
    outgoing = "outgoing"  # this node's party is the requesting party
    incoming = "incoming"  # this node's party is the requested party

    @property
    def own_side(self) -> Side:
        return Side.requesting if self is Direction.outgoing else Side.requested


class Step(BaseModel):
    """What an actor asks to do with a request."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(min_length=1, max_length=64)
    reasons: str | None = Field(default=None, max_length=20_000)
    grounds: list[str] | None = None
    until: dt.date | None = None
    message: str | None = Field(default=None, max_length=20_000)
    summary: str | None = Field(default=None, max_length=20_000)
    extension_days: int | None = Field(default=None, ge=1, le=365)
    record_counterpart: bool = Field(
        default=False,
        description="record a step the other party took outside hcx (its node is not a peer)",
    )

    def details(self) -> dict[str, Any]:
        """What the step carries besides its action: recorded in its event and sent to the peer."""
        return self.model_dump(mode="json", exclude_none=True, exclude={"action", "record_counterpart"})


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: str
    role: Role


@dataclass(frozen=True, slots=True)
class Outcome:
    transition: Transition
    to_state: str


def allowed_actions(rules: Rules, *, request_type: str, state: str, direction: Direction, role: Role
                    ) -> list[str]:
    """The steps `role` could take now on this node (their own side), for menus and hints."""
    return [
        t.action for t in rules.lifecycle.transitions
        if state in t.from_states and role in t.roles and t.side is direction.own_side
        and (t.request_types is None or request_type in t.request_types)
    ]


def _transition(rules: Rules, request_type: str, state: str, step: Step) -> Transition:
    transition = rules.lifecycle.transition(step.action)
    if transition is None or (transition.request_types is not None
                              and request_type not in transition.request_types):
        raise InvalidInput(f"{step.action!r} is not a step of a {request_type} request")
    if state not in transition.from_states:
        title = rules.lifecycle.state(state).title.lower()
        raise Conflict(f"cannot {transition.title.lower()} a request that is: {title}")
    return transition


def take(
    rules: Rules, *, request_type: str, state: str, direction: Direction, actor: Actor, step: Step,
    submitted_by: str | None, approval_required: bool, today: dt.date,
) -> Outcome:
    """Check `step` against the lifecycle rules and return where it leads; raise if it may not be taken."""
    transition = _transition(rules, request_type, state, step)
    if actor.role not in transition.roles:
        raise PolicyDenied(f"{transition.title} needs the role {' or '.join(transition.roles)}")
    if transition.side is not direction.own_side and not step.record_counterpart:
        raise PolicyDenied(
            f"{transition.title} is a step of the {transition.side} party; record it with "
            "record_counterpart only when that party does not use hcx")
    if transition.four_eyes and submitted_by == actor.user_id:
        raise PolicyDenied(f"{transition.title}: a second person must approve (four-eyes principle)")
    _check_requirements(rules, transition, request_type, step, today)
    to_state = transition.to
    if transition.to_without_approval and not approval_required:
        to_state = transition.to_without_approval
    return Outcome(transition, to_state)


def take_for_counterpart(rules: Rules, *, request_type: str, state: str, direction: Direction, step: Step,
                         today: dt.date) -> Outcome:
    """A step the other party's node took: it must be a step of that party's side, fit the current
    state and carry what the step requires. Its roles were checked by that node."""
    transition = _transition(rules, request_type, state, step)
    if transition.side is direction.own_side:
        raise PolicyDenied(f"{transition.title} is a step of this party, not of the other one")
    _check_requirements(rules, transition, request_type, step, today)
    return Outcome(transition, transition.to)


def _check_requirements(rules: Rules, transition: Transition, request_type: str, step: Step,
                        today: dt.date) -> None:
    missing = [r for r in transition.requires if _blank(getattr(step, r))]
    if missing:
        raise InvalidInput(f"{transition.title}: missing {', '.join(missing)}",
                           details=[f"{r} is required (art. {transition.article})" for r in missing])
    if "until" in transition.requires and step.until is not None and step.until <= today:
        raise InvalidInput(f"{transition.title}: the date must be in the future")
    if "grounds" in transition.requires:
        _check_grounds(rules, request_type, step.grounds or [])


def _check_grounds(rules: Rules, request_type: str, grounds: list[str]) -> None:
    forbidden = {g.code: g for g in rules.refusal.forbidden}
    rtype = rules.request_type(request_type)
    allowed = set(rtype.refusal_grounds) if rtype else set()
    problems = []
    for code in grounds:
        if code in forbidden:
            rule = forbidden[code]
            problems.append(f"{code}: {rule.title} is not a ground for refusal (art. {rule.article})")
        elif code not in allowed:
            problems.append(f"{code}: not a ground for refusing this request; allowed: {', '.join(sorted(allowed))}")
    if problems:
        raise InvalidInput("refusal grounds not allowed", details=problems)


def _blank(value: object) -> bool:
    return value is None or value == [] or (isinstance(value, str) and not value.strip())

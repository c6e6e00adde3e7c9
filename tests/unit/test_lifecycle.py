"""The lifecycle rules: property tests over every sequence of steps, and the specific checks."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hcx.domain.lifecycle import Actor, Direction, Step, allowed_actions, take
from hcx.errors import Conflict, Error, InvalidInput, PolicyDenied
from hcx.rules import load_rules
from hcx.rules.schema import Role

RULES = load_rules()
LC = RULES.lifecycle
TODAY = dt.date(2026, 11, 23)
TYPES = [t.code for t in RULES.request_types]
ACTIONS = [t.action for t in LC.transitions]
STATES = {s.code for s in LC.states}


def complete_step(action: str) -> Step:
    """A step carrying everything any transition may require."""
    return Step(action=action, reasons="reasons", grounds=["essential_interests"], until=TODAY + dt.timedelta(days=30),
                message="message", summary="summary", extension_days=30)


ATTEMPT = st.tuples(st.sampled_from(ACTIONS), st.sampled_from(list(Role)), st.sampled_from(["u1", "u2"]),
                    st.booleans())


@settings(max_examples=300, deadline=None)
@given(request_type=st.sampled_from(TYPES), direction=st.sampled_from(list(Direction)),
       attempts=st.lists(ATTEMPT, max_size=25), four_eyes=st.booleans())
def test_no_sequence_of_steps_reaches_a_state_the_rules_do_not_allow(
    request_type: str, direction: Direction, attempts: list[tuple[str, Role, str, bool]], four_eyes: bool,
) -> None:
    state = LC.initial if direction is Direction.outgoing else LC.incoming_initial
    submitted_by: str | None = None
    for action, role, user, counterpart in attempts:
        transition = LC.transition(action)
        assert transition is not None
        step = complete_step(action).model_copy(update={"record_counterpart": counterpart})
        try:
            outcome = take(RULES, request_type=request_type, state=state, direction=direction,
                           actor=Actor(user, role), step=step, submitted_by=submitted_by,
                           approval_required=four_eyes, today=TODAY)
        except Error as exc:
            # a refusal is for a reason the rules give
            allowed_here = state in transition.from_states and (
                transition.request_types is None or request_type in transition.request_types)
            role_ok = role in transition.roles
            side_ok = transition.side is direction.own_side or counterpart
            eyes_ok = not (transition.four_eyes and submitted_by == user)
            grounds_ok = "grounds" not in transition.requires or "essential_interests" in (
                RULES.request_type(request_type).refusal_grounds)  # type: ignore[union-attr]
            assert not (allowed_here and role_ok and side_ok and eyes_ok and grounds_ok), exc
            continue
        assert state in transition.from_states
        assert role in transition.roles
        assert outcome.to_state in {transition.to, transition.to_without_approval}
        assert outcome.to_state in STATES
        assert not LC.state(state).terminal
        if action == "submit":
            submitted_by = user
        state = outcome.to_state


@settings(max_examples=200, deadline=None)
@given(request_type=st.sampled_from(TYPES), state=st.sampled_from(sorted(STATES)),
       direction=st.sampled_from(list(Direction)), action=st.sampled_from(ACTIONS), role=st.sampled_from(list(Role)))
def test_a_role_that_may_not_take_a_step_is_refused(
    request_type: str, state: str, direction: Direction, action: str, role: Role,
) -> None:
    transition = LC.transition(action)
    assert transition is not None
    if role in transition.roles:
        return
    with pytest.raises(Error):
        take(RULES, request_type=request_type, state=state, direction=direction, actor=Actor("u", role),
             step=complete_step(action).model_copy(update={"record_counterpart": True}), submitted_by=None,
             approval_required=True, today=TODAY)


def attempt(action: str, *, state: str, role: Role = Role.supervisor, direction: Direction = Direction.incoming,
            request_type: str = "mutual_legal_assistance", submitted_by: str | None = None, **fields: object) -> str:
    step = Step(action=action, **fields)  # type: ignore[arg-type]
    return take(RULES, request_type=request_type, state=state, direction=direction, actor=Actor("me", role),
                step=step, submitted_by=submitted_by, approval_required=True, today=TODAY).to_state


def test_a_refusal_needs_grounds_and_reasons_and_never_bank_secrecy_or_fiscal_offence() -> None:
    with pytest.raises(InvalidInput, match="grounds"):
        attempt("refuse", state="acknowledged", reasons="because")
    with pytest.raises(InvalidInput, match="reasons"):
        attempt("refuse", state="acknowledged", grounds=["essential_interests"])
    for forbidden in ("bank_secrecy", "fiscal_offence"):
        with pytest.raises(InvalidInput) as raised:
            attempt("refuse", state="acknowledged", grounds=[forbidden], reasons="r")
        assert "is not a ground for refusal" in raised.value.details[0]
    with pytest.raises(InvalidInput, match="not allowed"):
        attempt("refuse", state="acknowledged", grounds=["no_consent"], reasons="r")
    assert attempt("refuse", state="acknowledged", grounds=["essential_interests"], reasons="r") == "refused"
    with pytest.raises(PolicyDenied, match="supervisor"):
        attempt("refuse", state="acknowledged", role=Role.officer, grounds=["essential_interests"], reasons="r")


def test_a_postponement_needs_a_future_date_and_reasons() -> None:
    with pytest.raises(InvalidInput):
        attempt("postpone", state="accepted", reasons="ongoing case")
    with pytest.raises(InvalidInput, match="future"):
        attempt("postpone", state="accepted", reasons="ongoing case", until=TODAY)
    assert attempt("postpone", state="accepted", reasons="ongoing", until=TODAY + dt.timedelta(days=1)) == "postponed"


def test_four_eyes_the_submitter_cannot_approve() -> None:
    common = {"state": "awaiting_approval", "direction": Direction.outgoing}
    with pytest.raises(PolicyDenied, match="four-eyes"):
        attempt("approve", submitted_by="me", **common)  # type: ignore[arg-type]
    assert attempt("approve", submitted_by="someone else", **common) == "submitted"  # type: ignore[arg-type]


def test_a_step_of_the_other_side_is_refused_unless_recorded_for_the_counterpart() -> None:
    with pytest.raises(PolicyDenied, match="requested party"):
        attempt("acknowledge", state="submitted", direction=Direction.outgoing)
    assert attempt("acknowledge", state="submitted", direction=Direction.outgoing,
                   record_counterpart=True) == "acknowledged"


def test_a_step_from_the_wrong_state_is_a_conflict_and_unknown_steps_are_invalid() -> None:
    with pytest.raises(Conflict, match="cannot"):
        attempt("execute", state="refused", summary="done")
    with pytest.raises(InvalidInput):
        attempt("teleport", state="submitted")
    with pytest.raises(InvalidInput, match="not a step"):
        attempt("extend_preservation", state="executed", direction=Direction.outgoing, extension_days=30)


def test_submit_skips_approval_for_exempt_types_or_when_the_node_does_not_ask_for_it() -> None:
    kwargs = {"state": "draft", "direction": Direction.outgoing, "role": Role.officer}
    assert attempt("submit", **kwargs) == "awaiting_approval"  # type: ignore[arg-type]
    actor = Actor("me", Role.officer)
    outcome = take(RULES, request_type="mutual_legal_assistance", state="draft", direction=Direction.outgoing,
                   actor=actor, step=Step(action="submit"), submitted_by=None, approval_required=False, today=TODAY)
    assert outcome.to_state == "submitted"


def test_allowed_actions_lists_only_own_side_steps_the_role_may_take() -> None:
    assert allowed_actions(RULES, request_type="mutual_legal_assistance", state="submitted",
                           direction=Direction.incoming, role=Role.officer) == [
        "acknowledge", "request_information", "accept"]
    assert allowed_actions(RULES, request_type="mutual_legal_assistance", state="submitted",
                           direction=Direction.outgoing, role=Role.officer) == ["withdraw"]
    assert allowed_actions(RULES, request_type="mutual_legal_assistance", state="submitted",
                           direction=Direction.incoming, role=Role.analyst) == []

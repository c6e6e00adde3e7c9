"""Deadlines computed from the rules data. Pure: the time comes in as an argument."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from hcx.rules.schema import DeadlineRule


@dataclass(frozen=True, slots=True)
class Due:
    at: dt.datetime
    basis: str  # "suggested by the requesting party", "service level of this node", ...


def response_due(rule: DeadlineRule, *, sent_at: dt.datetime, suggested: dt.date | None,
                 sla_days: Mapping[str, int]) -> Due:
    """When an answer is due. "As soon as possible" takes the requester's suggested deadline
    into account (art. 40), and otherwise the node's service level for that kind of deadline."""
    if suggested is not None and rule.kind == "as_soon_as_possible":
        end_of_day = dt.datetime.combine(suggested, dt.time(23, 59, 59), tzinfo=sent_at.tzinfo)
        return Due(end_of_day, "suggested by the requesting party")
    if rule.code in sla_days:
        return Due(sent_at + dt.timedelta(days=sla_days[rule.code]), "service level of this node")
    if rule.default_hours is not None:
        return Due(sent_at + dt.timedelta(hours=rule.default_hours), "default service level")
    return Due(sent_at + dt.timedelta(days=rule.default_days or 30), "default service level")


@dataclass(frozen=True, slots=True)
class Preservation:
    expires_on: dt.date
    remind_on: dt.date


def preservation_period(rule: DeadlineRule, *, preserved_on: dt.date, requested_days: int | None,
                        extension_days: int = 0) -> Preservation:
    """Data is preserved for the period asked, and at least the minimum (60 days, art. 42)."""
    days = max(requested_days or 0, rule.minimum_days or 0) + extension_days
    expires = preserved_on + dt.timedelta(days=days)
    return Preservation(expires, expires - dt.timedelta(days=rule.reminder_days_before or 0))

"""What the services return: plain pydantic models, shared by the API, the CLI and tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel


class AuthorityView(BaseModel):
    id: str
    party: str
    name: str
    kind: str
    created_at: dt.datetime


class UserView(BaseModel):
    id: str
    username: str
    display_name: str
    role: str
    authority_id: str
    active: bool
    created_at: dt.datetime


class TokenView(BaseModel):
    id: str
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class NewToken(TokenView):
    token: str  # shown once; only its hash is stored


class FindingView(BaseModel):
    severity: str
    path: str
    code: str
    message: str
    article: str
    source: str
    verified: bool


class EventView(BaseModel):
    seq: int
    action: str
    from_state: str
    to_state: str
    actor_id: str | None  # None: the step came from the other party's node
    recorded_for_counterpart: bool
    details: dict[str, Any]
    at: dt.datetime


class RequestSummary(BaseModel):
    id: str
    reference: str
    direction: str
    type: str
    requesting_party: str
    requested_party: str
    counterpart: str
    state: str
    created_at: dt.datetime
    updated_at: dt.datetime
    due_at: dt.datetime | None
    preservation_expires_on: dt.date | None


class RequestView(RequestSummary):
    language: str
    document: dict[str, Any]
    version: int
    allowed_actions: list[str]
    events: list[EventView]
    findings: list[FindingView]


class AuditView(BaseModel):
    id: str
    at: dt.datetime
    actor_id: str | None
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]

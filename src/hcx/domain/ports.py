"""What the services need from the outside world, as Protocols the adapters implement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class NodeRecord(Protocol):
    party: str
    name: str


class AuthorityRecord(Protocol):
    id: str
    party: str
    name: str
    kind: str
    created_at: dt.datetime


class UserRecord(Protocol):
    id: str
    username: str
    display_name: str
    role: str
    authority_id: str
    password_hash: str
    active: bool
    created_at: dt.datetime


class TokenRecord(Protocol):
    id: str
    user_id: str
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class RequestRecord(Protocol):
    id: str
    reference: str
    authority_id: str
    direction: str
    type: str
    requesting_party: str
    requested_party: str
    language: str
    counterpart: str
    state: str
    document: dict[str, Any]
    created_by: str
    submitted_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    due_at: dt.datetime | None
    preservation_expires_on: dt.date | None
    version: int


class EventRecord(Protocol):
    id: str
    request_id: str
    seq: int
    action: str
    from_state: str
    to_state: str
    actor_id: str
    recorded_for_counterpart: bool
    details: dict[str, Any]
    at: dt.datetime


class AuditRecord(Protocol):
    id: str
    at: dt.datetime
    actor_id: str | None
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]


class UnitOfWork(Protocol):
    """One transaction: everything done through it is committed together or not at all."""

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(self, *exc: object) -> None: ...
    def commit(self) -> None: ...

    # node
    def get_node(self) -> NodeRecord | None: ...
    def create_node(self, *, party: str, name: str, at: dt.datetime) -> NodeRecord: ...

    # authorities
    def add_authority(self, *, id: str, party: str, name: str, kind: str, at: dt.datetime) -> AuthorityRecord: ...
    def get_authority(self, id: str) -> AuthorityRecord | None: ...
    def list_authorities(self) -> Sequence[AuthorityRecord]: ...

    # users and tokens
    def add_user(self, *, id: str, username: str, display_name: str, role: str, authority_id: str,
                 password_hash: str, at: dt.datetime) -> UserRecord: ...
    def get_user(self, id: str) -> UserRecord | None: ...
    def find_user(self, username: str) -> UserRecord | None: ...
    def list_users(self) -> Sequence[UserRecord]: ...
    def add_token(self, *, id: str, user_id: str, name: str, token_hash: str, at: dt.datetime,
                  expires_at: dt.datetime | None) -> TokenRecord: ...
    def find_token(self, token_hash: str) -> TokenRecord | None: ...
    def get_token(self, id: str) -> TokenRecord | None: ...
    def list_tokens(self, user_id: str) -> Sequence[TokenRecord]: ...

    # requests
    def add_request(self, **values: Any) -> RequestRecord: ...
    def get_request(self, id: str, *, authority_id: str) -> RequestRecord | None: ...
    def lock_request(self, id: str, *, authority_id: str) -> RequestRecord | None: ...
    def list_requests(self, *, authority_id: str, state: str | None = None, type: str | None = None,
                      direction: str | None = None, limit: int = 100, offset: int = 0
                      ) -> Sequence[RequestRecord]: ...
    def next_reference_number(self, *, party: str, year: int) -> int: ...
    def add_event(self, **values: Any) -> EventRecord: ...
    def list_events(self, request_id: str) -> Sequence[EventRecord]: ...

    # audit
    def audit(self, *, id: str, at: dt.datetime, actor_id: str | None, action: str, object_type: str,
              object_id: str, details: dict[str, Any]) -> None: ...
    def list_audit(self, *, limit: int = 100) -> Sequence[AuditRecord]: ...

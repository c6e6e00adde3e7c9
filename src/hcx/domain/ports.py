"""What the services need from the outside world, as Protocols the adapters implement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, runtime_checkable

from hcx.ledger.merkle import Subtree
from hcx.ledger.records import Alarm, NewLeaf, StoredCheckpoint, StoredCosignature, StoredEntry


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class PeerTransport(Protocol):
    """How this node reaches its peers (HTTP in production and in tests)."""

    def fetch_descriptor(self, url: str) -> Any: ...
    def deliver(self, url: str, wire: bytes) -> Any: ...
    def deliver_batch(self, url: str, wires: list[bytes]) -> list[Any]: ...
    def match(self, url: str, message: bytes) -> bytes: ...  # one framed matching message, answered (docs/matching.md)
    def close(self) -> None: ...
    # witnessing (services/witness.py): signed documents out, the peer's signed answer back
    def witness(self, url: str, signed: dict[str, Any]) -> Any: ...
    def send_cosignature(self, url: str, signed: dict[str, Any]) -> Any: ...
    # the peer's custody entries about a package (services/custody_exchange.py)
    def custody(self, url: str, signed: dict[str, Any]) -> Any: ...


class NodeRecord(Protocol):
    party: str
    name: str
    url: str
    descriptor_version: int
    key_salt: bytes
    created_at: dt.datetime


class KeyRecord(Protocol):
    kid: str
    owner: str
    purpose: str
    public: bytes
    private_encrypted: bytes
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class PeerRecord(Protocol):
    party: str
    url: str
    node_key: bytes
    descriptor: dict[str, Any]
    descriptor_version: int
    expires_at: dt.datetime
    pinned_at: dt.datetime
    refreshed_at: dt.datetime


@dataclass(frozen=True)
class OutboxItem:
    """What delivery needs of an outbox message: to send it (`wire`), or to check its receipt
    (`digest`), without the rest of the row."""
    id: str
    peer_party: str
    digest: str
    status: str
    wire: bytes = b""


class OutboxRecord(Protocol):
    id: str
    peer_party: str
    request_id: str | None
    type: str
    wire: bytes
    digest: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    lease_until: dt.datetime | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    last_error: str
    receipt: dict[str, Any] | None


class InboxRecord(Protocol):
    id: str
    peer_party: str
    from_authority: str
    to_authority: str
    type: str
    exchange_id: str | None
    seq: int
    digest: str
    envelope: dict[str, Any]
    receipt: dict[str, Any]
    status: str
    error: str
    received_at: dt.datetime


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
    created_by: str | None
    submitted_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    due_at: dt.datetime | None
    preservation_expires_on: dt.date | None
    version: int
    exchange_id: str | None
    counterpart_authority: str | None
    last_sent_seq: int
    last_applied_seq: int


class EventRecord(Protocol):
    id: str
    request_id: str
    seq: int
    action: str
    from_state: str
    to_state: str
    actor_id: str | None
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
    def savepoint(self) -> AbstractContextManager[None]: ...
    def without_savepoint(self) -> AbstractContextManager[None]: ...

    # node
    def get_node(self) -> NodeRecord | None: ...
    def create_node(self, *, party: str, name: str, at: dt.datetime, key_salt: bytes) -> NodeRecord: ...

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

    def find_exchange(self, exchange_id: str, *, authority_id: str) -> RequestRecord | None: ...
    def find_exchanges(self, exchange_ids: Sequence[str]) -> Sequence[RequestRecord]: ...
    def lock_exchanges(self, exchange_ids: Sequence[str]) -> None: ...

    # keys and peers
    def add_key(self, *, kid: str, owner: str, purpose: str, public: bytes, private_encrypted: bytes,
                at: dt.datetime) -> KeyRecord: ...
    def active_key(self, *, owner: str, purpose: str) -> KeyRecord | None: ...
    def list_keys(self) -> Sequence[KeyRecord]: ...
    def get_key(self, kid: str) -> KeyRecord | None: ...
    def get_peer(self, party: str) -> PeerRecord | None: ...
    def list_peers(self) -> Sequence[PeerRecord]: ...
    def add_peer(self, **values: Any) -> PeerRecord: ...

    # outbox and inbox
    def add_outbox(self, **values: Any) -> OutboxRecord: ...
    def claim_outbox(self, *, now: dt.datetime, lease_until: dt.datetime, limit: int) -> Sequence[OutboxItem]: ...
    def get_outbox(self, id: str) -> OutboxRecord | None: ...
    def list_outbox(self, *, status: str | None = None, limit: int = 100) -> Sequence[OutboxRecord]: ...
    def get_inbox(self, id: str) -> InboxRecord | None: ...
    def add_inbox(self, **values: Any) -> InboxRecord: ...
    def waiting_inbox(self, exchange_id: str) -> Sequence[InboxRecord]: ...
    def list_inbox(self, *, limit: int = 100) -> Sequence[InboxRecord]: ...
    # batches: one statement for many messages
    def outbox_due(self, *, now: dt.datetime) -> bool: ...
    def outbox_items(self, ids: Sequence[str]) -> Sequence[OutboxItem]: ...
    def mark_delivered(self, receipts: dict[str, dict[str, Any]], *, now: dt.datetime) -> None: ...
    def get_inboxes(self, ids: Sequence[str]) -> Sequence[InboxRecord]: ...
    def waiting_exchanges(self, exchange_ids: Sequence[str]) -> set[str]: ...

    # audit
    def audit(self, *, id: str, at: dt.datetime, actor_id: str | None, action: str, object_type: str,
              object_id: str, details: dict[str, Any]) -> None: ...
    def list_audit(self, *, limit: int = 100) -> Sequence[AuditRecord]: ...

    @property
    def ledger(self) -> LedgerStore: ...


class LedgerStore(Protocol):
    """The custody log's storage (storage/ledger.py), bound to the unit of work's transaction."""

    def size(self) -> int: ...
    def append(self, leaves: Sequence[NewLeaf]) -> int: ...
    def subtree_hashes(self, subtrees: Sequence[Subtree]) -> list[bytes]: ...
    def entry(self, index: int) -> StoredEntry | None: ...
    def entries_for(self, ref: str) -> list[StoredEntry]: ...
    def erase(self, index: int, at: dt.datetime) -> None: ...
    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None: ...
    def checkpoint(self, size: int) -> StoredCheckpoint | None: ...
    def latest_checkpoint(self) -> StoredCheckpoint | None: ...
    def add_cosignature(self, cosignature: StoredCosignature) -> None: ...
    def cosignatures(self, size: int) -> list[StoredCosignature]: ...
    def latest_cosignature(self, party: str) -> StoredCosignature | None: ...
    def add_peer_checkpoint(self, checkpoint: StoredCheckpoint) -> None: ...
    def latest_peer_checkpoint(self, party: str) -> StoredCheckpoint | None: ...
    def add_alarm(self, alarm: Alarm) -> None: ...
    def alarms(self, *, limit: int = 100) -> list[Alarm]: ...


class BlobStore(Protocol):
    """Where evidence bytes live: the node's data dir by default, S3-compatible storage by setting.
    Keys are opaque ASCII strings made by the caller ("packages/<id>/<name>", "uploads/<id>")."""

    def writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A stream to write a new blob; the blob becomes visible under `key` only when the block
        exits without error (atomic: temp file + fsync + rename, or S3 multipart complete)."""
        ...

    def reader(self, key: str, *, offset: int = 0, length: int | None = None) -> AbstractContextManager[BinaryIO]:
        """Read a blob, or a byte range of it (HTTP ranges, resumed downloads). NotFound if absent."""
        ...

    def size(self, key: str) -> int | None:
        """The blob's size in bytes, or None if there is no such blob."""
        ...

    def delete(self, key: str) -> None:
        """Remove a blob; no error if it is absent."""
        ...


@runtime_checkable
class BlobStaging(Protocol):
    """The partial bytes of resumable uploads and downloads, beside a BlobStore (storage/blobs.py)."""

    def partial_size(self, key: str) -> int:
        """How many bytes are staged under `key` (0 if none)."""
        ...

    def append(self, key: str, offset: int, data: bytes) -> None:
        """Durably store `data` at `offset`, dropping any staged bytes past `offset` first."""
        ...

    def read_partial(self, key: str, offset: int, length: int) -> bytes:
        ...

    def promote(self, key: str, blob_key: str, *, size: int, sha256: str) -> None:
        """Make the staged bytes the blob `blob_key` if size and SHA-256 match (VerificationError if not)."""
        ...

    def discard(self, key: str) -> None:
        ...


@runtime_checkable
class BlobFetcher(Protocol):
    """Ranged GETs of a peer's blob (federation/blob_transport.py)."""

    def fetch_range(self, url: str, *, headers: dict[str, str], offset: int
                    ) -> AbstractContextManager[Iterator[bytes]]:
        """The blob's bytes from `offset` to its end, as they arrive; PeerError if refused."""
        ...

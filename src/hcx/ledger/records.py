"""What the custody log's store takes and gives back (see `domain.ports.LedgerStore`): plain
values, so the services never hold a database row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["Alarm", "NewLeaf", "StoredCheckpoint", "StoredCosignature", "StoredEntry"]


@dataclass(frozen=True, slots=True)
class NewLeaf:
    """A custody entry to append: its leaf hash, and the salt and entry it commits to."""

    leaf_hash: bytes
    salt: bytes
    entry: bytes
    ref: str
    recorded_at: dt.datetime


@dataclass(frozen=True, slots=True)
class StoredEntry:
    index: int
    leaf_hash: bytes
    salt: bytes | None  # None once erased
    entry: bytes | None
    ref: str | None
    recorded_at: dt.datetime
    erased_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A checkpoint this node signed, or one a peer showed (`party` set)."""

    size: int
    root: bytes
    note: str
    at: dt.datetime
    party: str | None = None


@dataclass(frozen=True, slots=True)
class StoredCosignature:
    size: int
    party: str
    line: str  # "— <name> <base64>\n", ready to append to the checkpoint
    timestamp: int
    received_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Alarm:
    """A peer showed a checkpoint inconsistent with one it showed before: a fork or a rollback."""

    id: str
    party: str
    kind: str  # "fork" (not an extension of what we saw) or "rollback" (smaller than what we saw)
    detail: str
    previous_note: str
    offered_note: str
    raised_at: dt.datetime

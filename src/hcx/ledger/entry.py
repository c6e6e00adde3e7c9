"""Custody entries: what the log commits to, without ever holding personal data.

An entry is the RFC 8785 JSON of

    {"format": "custody-entry/1", "event": "sent", "object": "sha256:…", "role": "officer",
     "at": "2026-11-23T09:00:00.000000Z", "ref": "<request or package id>"}

and the log's leaf data is its *commitment* SHA-256(salt || entry), with 32 random bytes of salt
kept beside the entry. The salt stops anyone holding only the log from confirming a guessed entry;
deleting salt and entry (lawful erasure) leaves the leaf, so every proof and checkpoint still
verifies while nothing can be learned about what was erased.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from hcx.crypto.canonical import canonical, parse_json
from hcx.errors import InvalidInput
from hcx.ledger.merkle import leaf_hash

__all__ = ["ENTRY_FORMAT", "SALT_SIZE", "CustodyEntry", "CustodyEvent", "commitment", "custody_leaf_hash"]

ENTRY_FORMAT: Final = "custody-entry/1"
SALT_SIZE: Final = 32
_DIGEST = re.compile(r"[a-z0-9-]{1,16}:[0-9a-f]{32,128}")
_ROLE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_REF = re.compile(r"[A-Za-z0-9._:/-]{1,128}")


class CustodyEvent(StrEnum):
    created = "created"
    sealed = "sealed"
    sent = "sent"
    received = "received"
    verified = "verified"
    opened = "opened"
    exported = "exported"
    erased = "erased"


def _timestamp(at: dt.datetime) -> str:
    if at.tzinfo is None:
        raise InvalidInput("a custody entry's time is timezone-aware")
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class CustodyEntry:
    """One custody event on one object (a digest: never a name, a file or a message body)."""

    event: CustodyEvent
    object_digest: str
    actor_role: str
    at: dt.datetime
    ref: str

    def __post_init__(self) -> None:
        if not _DIGEST.fullmatch(self.object_digest):
            raise InvalidInput(f"{self.object_digest!r} is not a digest written '<algorithm>:<hex>'")
        if not _ROLE.fullmatch(self.actor_role):
            raise InvalidInput(f"{self.actor_role!r} is not a role name")
        if not _REF.fullmatch(self.ref):
            raise InvalidInput(f"{self.ref!r} is not a request or package reference")
        _timestamp(self.at)

    def as_dict(self) -> dict[str, Any]:
        return {"format": ENTRY_FORMAT, "event": self.event.value, "object": self.object_digest,
                "role": self.actor_role, "at": _timestamp(self.at), "ref": self.ref}

    def canonical(self) -> bytes:
        return canonical(self.as_dict())

    @classmethod
    def parse(cls, data: bytes) -> CustodyEntry:
        """Read the canonical bytes of an entry back; anything but that exact spelling is refused."""
        value = parse_json(data)
        if not isinstance(value, dict) or value.get("format") != ENTRY_FORMAT or set(value) != {
                "format", "event", "object", "role", "at", "ref"}:
            raise InvalidInput(f"not a {ENTRY_FORMAT} custody entry")
        try:
            at = dt.datetime.strptime(value["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
            entry = cls(CustodyEvent(value["event"]), value["object"], value["role"], at, value["ref"])
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"not a {ENTRY_FORMAT} custody entry: {exc}") from exc
        if entry.canonical() != data:
            raise InvalidInput("the custody entry is not in canonical form")
        return entry


def commitment(salt: bytes, entry: bytes) -> bytes:
    """The leaf data: SHA-256(salt || canonical entry)."""
    if len(salt) != SALT_SIZE:
        raise InvalidInput(f"a custody salt is {SALT_SIZE} bytes")
    return hashlib.sha256(salt + entry).digest()


def custody_leaf_hash(salt: bytes, entry: bytes) -> bytes:
    """The RFC 6962 leaf hash of an entry's commitment: what the tree stores at its index."""
    return leaf_hash(commitment(salt, entry))

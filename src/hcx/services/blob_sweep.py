"""Sweeping the blob store of bytes nothing refers to (`hcx evidence sweep`).

A process killed mid-seal leaves a package's encrypted files with no package row; killed
mid-upload or mid-fetch, it leaves staged partial bytes or a half-written temporary file (an open
S3 multipart upload). Nothing else ever deletes them. The sweep does, under two rules:

- the database is the truth: the bytes of a package stay while its row exists (unless it
  failed: a refused package's bytes are meant to be gone), an upload's while it is open or
  complete, and any blob an unexpired capability names. Keys outside `packages/` and `uploads/`
  (`hcx evidence download --key`, `downloads/`) have no row to ask and are never swept; only their
  unfinished writes are, which nothing can resume.
- age: a package's or upload's bytes go only if every one of them is older than `older_than`
  (an in-flight seal keeps writing the package's newest file). The store is listed before the
  database is read, and each kind of row is committed before its first byte or within moments of
  its last (docs/evidence.md), so a row the sweep does not see cannot belong to bytes that old.

A store is one node's: another node's packages have no row here and would all look orphaned. The
first sweep marks the store with the node (blob `sweep-owner`); a sweep by any other node refuses.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from hcx.domain.ports import BlobStore
from hcx.errors import ConfigError, InvalidInput, NotFound, PolicyDenied
from hcx.evidence.package import prefix as package_prefix
from hcx.rules.schema import Role
from hcx.services import evidence, uploads
from hcx.services.context import Context, Principal

log = logging.getLogger(__name__)

DEFAULT_AGE = dt.timedelta(hours=24)
MIN_AGE = dt.timedelta(hours=1)  # far beyond the moments between a row's commit and its bytes
_PACKAGES = package_prefix("")  # "packages/"
_LIVE_UPLOADS = frozenset({"open", "complete"})
_BATCH = 500  # ids per IN (…) query
_AUDITED_IDS = 100
OWNER_KEY = "sweep-owner"  # which node's database accounts for this store


class StoredLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def modified(self) -> dt.datetime: ...
    @property
    def size(self) -> int: ...


@runtime_checkable
class Sweepable(Protocol):
    """A blob store that can list and remove what it holds (storage/blobs.py)."""

    def inventory(self) -> Iterator[StoredLike]: ...
    def remove(self, item: StoredLike) -> None: ...


@dataclass
class SweepReport:
    dry_run: bool
    older_than: dt.timedelta
    removed: list[StoredLike] = field(default_factory=list)
    kept_recent: int = 0  # unreferenced, but not old enough
    kept_referenced: int = 0

    @property
    def removed_bytes(self) -> int:
        return sum(item.size for item in self.removed)


def _owner(key: str) -> tuple[str, str] | None:
    """("package", id) or ("upload", id) for the keys a row accounts for; None for any other."""
    for kind, start in (("package", _PACKAGES), ("upload", uploads.KEY_PREFIX)):
        if key.startswith(start):
            owner_id = key[len(start):].partition("/")[0]
            return (kind, owner_id) if owner_id else None
    return None


def _batches(values: Iterable[str]) -> Iterator[list[str]]:
    values = sorted(values)
    for start in range(0, len(values), _BATCH):
        yield values[start:start + _BATCH]


def _referenced(ctx: Context, groups: dict[tuple[str, str], list[StoredLike]]) -> set[tuple[str, str]]:
    """The groups the database still accounts for, read after the store was listed."""
    packages = [owner_id for kind, owner_id in groups if kind == "package"]
    upload_ids = [owner_id for kind, owner_id in groups if kind == "upload"]
    keys = {item.key for items in groups.values() for item in items}
    kept: set[tuple[str, str]] = set()
    with ctx.reading() as uow:
        for batch in _batches(packages):
            states = evidence.store(uow).states(batch)
            kept |= {("package", i) for i, state in states.items() if state != "failed"}
        for batch in _batches(upload_ids):
            statuses = uploads.transfers(uow).upload_statuses(batch)
            kept |= {("upload", i) for i, status in statuses.items() if status in _LIVE_UPLOADS}
        granted: set[str] = set()
        for batch in _batches(keys):
            granted |= uploads.transfers(uow).granted_keys(batch, ctx.clock.now())
    kept |= {owner for owner, items in groups.items() if any(item.key in granted for item in items)}
    return kept


def sweep(ctx: Context, actor: Principal | None = None, *, older_than: dt.timedelta = DEFAULT_AGE,
          dry_run: bool = False) -> SweepReport:
    """Remove (or, `dry_run`, only list) the orphaned bytes of the blob store; an admin's task, or
    the node operator's at the command line (`actor` None)."""
    if actor is not None and actor.role is not Role.admin:
        raise PolicyDenied("only admins may sweep the blob store")
    if older_than < MIN_AGE:
        raise InvalidInput(f"bytes younger than {MIN_AGE} may belong to work in progress; sweep older ones only")
    store = ctx.blob_store()
    if not isinstance(store, Sweepable):
        raise ConfigError("this node's blob store cannot list what it holds")
    _claim(ctx, store, dry_run=dry_run)
    cutoff = ctx.clock.now() - older_than
    report = SweepReport(dry_run, older_than)
    groups: dict[tuple[str, str], list[StoredLike]] = defaultdict(list)
    unfinished_elsewhere: list[StoredLike] = []
    for item in store.inventory():
        owner = _owner(item.key)
        if owner is not None:
            groups[owner].append(item)
        elif item.kind == "unfinished":
            unfinished_elsewhere.append(item)
    referenced = _referenced(ctx, groups)
    doomed: list[StoredLike] = []
    for owner, items in groups.items():
        if owner in referenced:
            report.kept_referenced += len(items)
        elif max(item.modified for item in items) >= cutoff:
            report.kept_recent += len(items)
        else:
            doomed += items
    for item in unfinished_elsewhere:
        if item.modified >= cutoff:
            report.kept_recent += 1
        else:
            doomed.append(item)
    for item in doomed:
        if not dry_run:
            store.remove(item)
        report.removed.append(item)
    if doomed and not dry_run:
        _audit(ctx, actor, report)
        log.warning("blob sweep removed %d orphaned items (%d bytes)", len(doomed), report.removed_bytes)
    return report


def claim_store(ctx: Context) -> None:
    """Mark the node's blob store as its own, or refuse (ConfigError) one another node marked:
    `hcx serve` does this before it starts, so that a second node configured with the same store
    (whose evidence would have no rows here, and look orphaned to the sweep) is stopped at once."""
    if ctx.blobs is not None and isinstance(ctx.blobs, Sweepable):
        _claim(ctx, ctx.blobs, dry_run=False)


def _claim(ctx: Context, store: BlobStore, *, dry_run: bool) -> None:
    """Refuse a store another node marked as its own; mark an unmarked one as this node's."""
    with ctx.reading() as uow:
        node = uow.get_node()
        if node is None:
            raise NotFound("this node is not initialised")
        own = f"{node.party} {node.created_at.isoformat()}"
    try:
        with store.reader(OWNER_KEY) as stream:
            marked = stream.read(1000).decode("utf-8", "replace").strip()
    except NotFound:
        if not dry_run:
            with store.writer(OWNER_KEY) as out:
                out.write(own.encode("utf-8"))
        return
    if marked != own:
        raise ConfigError(f"this blob store is swept by another node ({marked}), whose evidence has no rows in this "
                          "node's database; give each node a store (or S3 prefix) of its own")


def _audit(ctx: Context, actor: Principal | None, report: SweepReport) -> None:
    owners = sorted({"/".join(owner) for item in report.removed if (owner := _owner(item.key))})
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        uow.audit(id=ctx.new_id(), at=now, actor_id=actor.user_id if actor else None, action="blob.sweep",
                  object_type="blob_store", object_id="sweep",
                  details={"removed": len(report.removed), "bytes": report.removed_bytes,
                           "older_than_seconds": int(report.older_than.total_seconds()),
                           "owners": owners[:_AUDITED_IDS], "owners_total": len(owners)})
        uow.commit()

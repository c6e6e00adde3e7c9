"""Evidence packages: seal files at seizure, export a package for a court.

    seal(ctx, principal, paths, case_ref=…) -> PackageView   files → encrypted bag in the blob
                                                             store, row, custody entry "sealed"
    export(ctx, principal, package_id, out) -> ExportView    self-contained folder for `hcx verify`,
                                                             custody entry "exported"
    get(ctx, principal, package_id) / list_packages(ctx, principal)

Each authority has an age identity (X25519) for evidence, made on first use, sealed by the node
key vault like its other private keys (keys table, purpose "age"), and published in the node
descriptor (`age_recipient`). A package is encrypted to the sending authority's own identity (its
archive copy) and, when it answers a request whose peer publishes one, to the requesting
authority's recipient. The layouts are in docs/evidence.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from hcx import __version__
from hcx.crypto.age import AgeIdentity, AgeRecipient
from hcx.crypto.keys import VerifyKey, fingerprint, kid_of
from hcx.domain.ports import UnitOfWork
from hcx.errors import Conflict, Error, InvalidInput, NotFound
from hcx.evidence import package as pkg
from hcx.evidence.export import ExportInput, PeerRecords, write_bag, write_records
from hcx.evidence.package import PackageMeta
from hcx.ledger.checkpoint import CosignatureVerifier, open_checkpoint
from hcx.ledger.entry import CustodyEvent
from hcx.ledger.note import Ed25519NoteVerifier
from hcx.rules.schema import Role
from hcx.services import custody, custody_exchange, federation
from hcx.services.context import Context, Principal, require_role

log = logging.getLogger(__name__)

SEALERS = frozenset({Role.officer, Role.supervisor})
EXPORTERS = SEALERS | {Role.auditor}
AGE_SECRET_PURPOSE = "age identity"  # noqa: S105 - a label, not a secret
_CASE_REF = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
Progress = Callable[[int], None]


# --- the store, as the services see it -------------------------------------------------------

class PackageRecord(Protocol):
    id: str
    request_id: str | None
    case_ref: str
    authority_id: str
    digest: str
    payload_bytes: int
    payload_files: int
    stored_bytes: int
    recipients: list[Any]
    created_at: dt.datetime
    state: str


class EvidenceStore(Protocol):
    """Evidence packages' rows (storage/evidence_store.py), in the unit of work's transaction."""

    def add(self, **values: Any) -> PackageRecord: ...
    def get(self, package_id: str) -> PackageRecord | None: ...
    def list(self, *, authority_id: str, limit: int = 100) -> Sequence[PackageRecord]: ...
    def states(self, package_ids: Collection[str]) -> dict[str, str]: ...


class _EvidenceUnitOfWork(Protocol):
    @property
    def evidence(self) -> EvidenceStore: ...


def store(uow: UnitOfWork) -> EvidenceStore:
    return cast(_EvidenceUnitOfWork, uow).evidence


# --- views -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PackageView:
    id: str
    case_ref: str
    request_id: str | None
    authority_id: str
    digest: str
    payload_bytes: int
    payload_files: int
    stored_bytes: int
    recipients: list[str]
    created_at: dt.datetime
    state: str
    custody_index: int | None = None

    @classmethod
    def of(cls, row: PackageRecord, custody_index: int | None = None) -> PackageView:
        return cls(row.id, row.case_ref, row.request_id, row.authority_id, row.digest, row.payload_bytes,
                   row.payload_files, row.stored_bytes, [str(r) for r in row.recipients], row.created_at, row.state,
                   custody_index)


@dataclass(frozen=True, slots=True)
class ExportView:
    package_id: str
    folder: Path
    files: int
    payload_bytes: int
    custody_entries: int
    checkpoint_size: int
    node_fingerprint: str
    warnings: tuple[str, ...] = ()  # what the export could not do (the peer unreachable…), said in report.html


# --- age identities --------------------------------------------------------------------------

def age_identity(ctx: Context, authority_id: str) -> AgeIdentity:
    """The authority's active age identity, made (and sealed in the key vault) on first use."""
    with ctx.unit_of_work() as uow:
        record = uow.active_key(owner=authority_id, purpose=federation.AGE_PURPOSE)
        vault = federation.vault(ctx, uow)
        if record is None:
            if uow.get_authority(authority_id) is None:
                raise NotFound(f"no authority {authority_id}")
            identity = AgeIdentity.generate()
            public = str(identity.recipient).encode("ascii")
            uow.add_key(kid=kid_of(public), owner=authority_id, purpose=federation.AGE_PURPOSE, public=public,
                        private_encrypted=vault.seal_secret(identity.secret_text().encode("ascii"),
                                                            purpose=AGE_SECRET_PURPOSE), at=ctx.clock.now())
            federation.bump_descriptor(uow)  # peers learn the new recipient
            uow.commit()
            return identity
        return AgeIdentity.parse(vault.open_secret(record.private_encrypted, purpose=AGE_SECRET_PURPOSE).decode())


def _all_age_identities(ctx: Context, uow: UnitOfWork, authority_id: str) -> list[AgeIdentity]:
    """Every age identity the authority ever had (rotated ones still open old packages)."""
    vault = federation.vault(ctx, uow)
    return [AgeIdentity.parse(vault.open_secret(k.private_encrypted, purpose=AGE_SECRET_PURPOSE).decode())
            for k in uow.list_keys() if k.owner == authority_id and k.purpose == federation.AGE_PURPOSE]


def _request_recipient(ctx: Context, uow: UnitOfWork, principal: Principal, request_id: str
                       ) -> tuple[str, AgeRecipient | None]:
    """The request's reference, and the requesting authority's age recipient if its peer publishes one."""
    request = uow.get_request(request_id, authority_id=principal.authority_id)
    if request is None:
        raise NotFound(f"no request {request_id}")
    if request.direction != "incoming":
        return request.reference, None
    try:
        descriptor = federation.peer_descriptor(ctx, uow, request.requesting_party)
    except Error as exc:
        log.warning("request %s: no age recipient for %s: %s", request_id, request.requesting_party, exc.message)
        return request.reference, None
    authority = descriptor.authority(request.counterpart_authority) if request.counterpart_authority else None
    if authority is None or authority.age_recipient is None:
        return request.reference, None
    return request.reference, AgeRecipient.parse(authority.age_recipient)


# --- sealing ---------------------------------------------------------------------------------

def plan(paths: Sequence[Path]) -> list[pkg.SourceFile]:
    """The files `seal` would take, checked (for a progress bar's total before sealing)."""
    return pkg.collect_sources(paths)


def seal(ctx: Context, principal: Principal, paths: Sequence[Path], *, case_ref: str, request_id: str | None = None,
         progress: Progress | None = None) -> PackageView:
    """Seal local files into a package of the principal's authority; record custody "sealed"."""
    require_role(principal, SEALERS, "seal evidence")
    if not _CASE_REF.fullmatch(case_ref):
        raise InvalidInput("a case reference is 1 to 64 characters, without control characters")
    return seal_sources(ctx, principal, pkg.collect_sources(paths), case_ref=case_ref, request_id=request_id,
                        progress=progress)


def seal_sources(ctx: Context, principal: Principal, sources: Sequence[pkg.SourceFile], *, case_ref: str,
                 request_id: str | None = None, progress: Progress | None = None) -> PackageView:
    """`seal`, for files already chosen (local files or completed uploads in the blob store)."""
    require_role(principal, SEALERS, "seal evidence")
    if not _CASE_REF.fullmatch(case_ref):
        raise InvalidInput("a case reference is 1 to 64 characters, without control characters")
    blobs = ctx.blob_store()
    archive = age_identity(ctx, principal.authority_id)
    recipients = [archive.recipient]
    package_id, now = ctx.new_id(), ctx.clock.now()
    with ctx.reading() as uow:
        authority = uow.get_authority(principal.authority_id)
        assert authority is not None
        authority_name = authority.name
        signer = federation.signing_key(ctx, uow, principal.authority_id)
        request_ref = None
        if request_id is not None:
            request_ref, peer_recipient = _request_recipient(ctx, uow, principal, request_id)
            if peer_recipient is not None:
                recipients.append(peer_recipient)
    meta = PackageMeta(package_id, case_ref, request_ref, principal.party, principal.authority_id, authority_name, now)
    sealed = pkg.seal(sources, meta, blobs=blobs, recipients=recipients, signer=signer, progress=progress)
    try:
        with ctx.unit_of_work() as uow:
            row = store(uow).add(id=package_id, request_id=request_id, case_ref=case_ref,
                                 authority_id=principal.authority_id, digest=sealed.digest,
                                 payload_bytes=sealed.payload_bytes, payload_files=len(sealed.files),
                                 stored_bytes=sealed.stored_bytes, recipients=[str(r) for r in recipients],
                                 created_at=now, state="sealed")
            index = custody.record(ctx, uow, CustodyEvent.sealed, object_digest=sealed.digest,
                                   actor_role=principal.role.value, ref=package_id, at=now)
            uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="evidence.sealed",
                      object_type="evidence_package", object_id=package_id,
                      details={"digest": sealed.digest, "files": len(sealed.files), "bytes": sealed.payload_bytes})
            uow.commit()
            view = PackageView.of(row, index)
    except BaseException:
        pkg.discard(package_id, len(sealed.files), blobs)
        raise
    log.info("evidence package %s sealed: %s, %d files", package_id, sealed.digest, len(sealed.files))
    return view


def get(ctx: Context, principal: Principal, package_id: str) -> PackageView:
    require_role(principal, EXPORTERS, "read evidence packages")
    with ctx.reading() as uow:
        row = store(uow).get(package_id)
        if row is None or row.authority_id != principal.authority_id:
            raise NotFound(f"no evidence package {package_id}")
        return PackageView.of(row)


def list_packages(ctx: Context, principal: Principal) -> list[PackageView]:
    require_role(principal, EXPORTERS, "read evidence packages")
    with ctx.reading() as uow:
        return [PackageView.of(r) for r in store(uow).list(authority_id=principal.authority_id)]


# --- export ----------------------------------------------------------------------------------

@contextmanager
def _folder_in_place(out: Path) -> Iterator[Path]:
    """A hidden sibling of `out` to write into: it becomes `out` when the block ends, so `out`
    appears only when the export is whole, and is removed if the block raises."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise Conflict(f"{out} exists and is not an empty directory")
    if not out.parent.is_dir():
        raise InvalidInput(f"{out.parent} is not a directory")
    partial = out.parent / f".{out.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o700)
    try:
        yield partial
        if out.exists():
            out.rmdir()
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def record_exported(ctx: Context, principal: Principal, view: PackageView) -> dt.datetime:
    """Custody "exported" and its audit entry, in one transaction, once the bag is whole on disk
    (a failed write leaves no export in the append-only log); returns when it was recorded."""
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        custody.record(ctx, uow, CustodyEvent.exported, object_digest=view.digest,
                       actor_role=principal.role.value, ref=view.id, at=now)
        uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="evidence.exported",
                  object_type="evidence_package", object_id=view.id, details={"digest": view.digest})
        uow.commit()
    return now


def export(ctx: Context, principal: Principal, package_id: str, out: Path, *, progress: Progress | None = None
           ) -> ExportView:
    """Write the court folder of a package (docs/evidence.md) and record custody "exported"."""
    view = get(ctx, principal, package_id)
    if view.state == "received":  # a peer's package: anchored on the sender's descriptor and log
        from hcx.services import evidence_exchange  # late: it builds on this module

        return evidence_exchange.export_received(ctx, principal, package_id, out, progress=progress)
    blobs = ctx.blob_store()
    with _folder_in_place(out) as partial:
        tags = pkg.read_tags(package_id, blobs, view.digest)
        with ctx.reading() as uow:
            identities = _all_age_identities(ctx, uow, principal.authority_id)
            party_of_node = federation.own_party(ctx, uow)
            peers = [(p.party, p.node_key) for p in uow.list_peers()]
            authority = uow.get_authority(view.authority_id)
            assert authority is not None
            authority_name = authority.name
        # the bag (the decrypted payload) first: custody "exported" is recorded only once it is
        # whole, so a failed write leaves no export in the append-only log; the proofs that include
        # the entry are written after it, before the folder appears under its name
        files = write_bag(partial, tags, payload=lambda number, digest, dst: pkg.open_payload(
            package_id, number, digest, blobs=blobs, identities=identities, dst=dst, progress=progress))
        now = record_exported(ctx, principal, view)
        party = _requesting_party(ctx, principal, view)
        warnings: tuple[str, ...] = ()
        peer_records = None
        if party is None:  # sealed here and never sent: this node's log alone
            own = custody_exchange.own_custody(ctx, package_id, None)
        else:
            sides = custody_exchange.both_sides(ctx, package_id, view.digest, party)
            own, warnings = sides.own, sides.warnings
            if sides.peer is not None:
                peer_records = PeerRecords(sides.peer.log_vkey, sides.peer.checkpoint,
                                           [(p.index, p.format()) for p in sides.peer.proofs])
        log_key = Ed25519NoteVerifier.from_vkey(own.log_vkey)
        checkpoint, _ = open_checkpoint(own.checkpoint, [log_key], origin=log_key.name)
        proofs = [(p.index, p.format()) for p in own.proofs]
        witnesses = [CosignatureVerifier(custody.origin(p), VerifyKey(key)).vkey() for p, key in peers]
        descriptor = federation.descriptor(ctx)
        node_fingerprint = fingerprint(VerifyKey(log_key.public.raw).raw)
        write_records(partial, ExportInput(
            package_id=package_id, case_ref=view.case_ref, party=party_of_node, authority_name=authority_name,
            digest=view.digest, tags=tags, sealed_at=view.created_at, exported_at=now,
            checkpoint=own.checkpoint, log_vkey=log_key.vkey(), witness_vkeys=witnesses, proofs=proofs,
            descriptor=descriptor, tool_version=__version__, peer=peer_records, warnings=warnings), files)
    return ExportView(package_id, out, view.payload_files, view.payload_bytes,
                      len(proofs) + len(peer_records.proofs if peer_records else ()), checkpoint.size,
                      node_fingerprint, warnings)


def _requesting_party(ctx: Context, principal: Principal, view: PackageView) -> str | None:
    """The party a sent package went to (its request's requesting State), else None."""
    if view.state != "sent" or view.request_id is None:
        return None
    with ctx.reading() as uow:
        request = uow.get_request(view.request_id, authority_id=principal.authority_id)
        return request.requesting_party if request is not None and request.direction == "incoming" else None


# for the evidence exchange (services/evidence_exchange.py), which builds on this module
all_age_identities = _all_age_identities
folder_in_place = _folder_in_place

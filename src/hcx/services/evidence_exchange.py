"""Returning evidence to the requesting State: seal from uploads, send, receive, fetch, export.

On the executing node (B):
    seal_uploads(ctx, principal, upload_ids, case_ref=, request_id=) -> PackageView
        completed uploads → a package for an incoming request, encrypted to the requesting
        authority's age recipient and B's own archive identity (each upload read once)
    send(ctx, principal, package_id) -> SentView
        one transaction: a capability per payload blob for the requesting party, custody "sent",
        and a federation message of kind `evidence.package` in the outbox
On the requesting node (A):
    receive(ctx, uow, opened, to)     messaging's hook: check everything that can be checked
                                      without the bytes, record the package "incoming"
    fetch_due(ctx) -> int             worker step: download (resumable), decrypt and check every
                                      payload digest, then "received" + custody received, verified
    export_received(ctx, principal, package_id, out)   the court folder of a received package

The wire format and the export layout are in docs/evidence.md ("Returning evidence").
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field

from hcx import __version__
from hcx.crypto.envelope import Opened
from hcx.crypto.envelope import seal as seal_envelope
from hcx.crypto.keys import EncryptionKey, VerifyKey, b64d
from hcx.domain.descriptor import Descriptor
from hcx.domain.lifecycle import Direction
from hcx.domain.ports import RequestRecord, UnitOfWork
from hcx.errors import Conflict, Error, InvalidInput, NotFound, PeerError, PolicyDenied, VerificationError
from hcx.evidence import bagit
from hcx.evidence import package as pkg
from hcx.evidence.export import ExportInput, PeerRecords, write_bag, write_records
from hcx.evidence.signature import SIGNATURE_NAME, ManifestSignature
from hcx.ledger.checkpoint import Checkpoint, CosignatureVerifier
from hcx.ledger.entry import SALT_SIZE, CustodyEntry, CustodyEvent, custody_leaf_hash
from hcx.ledger.note import Ed25519NoteVerifier, parse_note
from hcx.ledger.proof import TlogProof, verify_tlog_proof
from hcx.services import blob_transfer, custody, custody_exchange, evidence, federation, uploads
from hcx.services.blob_transfer import Capability
from hcx.services.context import Context, Principal, require_role
from hcx.services.evidence import PackageView, Progress

log = logging.getLogger(__name__)

KIND = "evidence.package"
CAPABILITY_TTL = dt.timedelta(days=14)  # time for the requesting node to fetch, with restarts
FETCH_ATTEMPTS = 8  # failed download rounds before a package is given up (each waits longer)
MAX_TAG_BYTES = 1 << 20
TAG_NAMES = frozenset({*pkg.PACKAGE_TAGS, pkg.TAGMANIFEST, SIGNATURE_NAME})


# --- the store, as the services see it -------------------------------------------------------

class IncomingRecord(Protocol):
    package_id: str
    message_id: str
    peer_party: str
    body: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    error: str
    updated_at: dt.datetime


class ExchangeStore(Protocol):
    """Incoming packages' rows (storage/exchange_store.py), in the unit of work's transaction."""

    def add_incoming(self, **values: Any) -> IncomingRecord: ...
    def get_incoming(self, package_id: str, *, lock: bool = False) -> IncomingRecord | None: ...
    def due_incoming(self, now: dt.datetime, *, limit: int = 10) -> Any: ...


class _ExchangeUnitOfWork(Protocol):
    @property
    def exchange(self) -> ExchangeStore: ...


def store(uow: UnitOfWork) -> ExchangeStore:
    return cast(_ExchangeUnitOfWork, uow).exchange


# --- the message -------------------------------------------------------------------------------

class PackageRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[0-9A-Za-z]{1,26}$")
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")


class SenderCustody(BaseModel):
    """The sender's custody entries for the package, each a c2sp.org/tlog-proof to `checkpoint`."""

    model_config = ConfigDict(extra="forbid")
    checkpoint: str = Field(max_length=65536)
    proofs: list[str] = Field(min_length=1, max_length=256)


class EvidenceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    package: PackageRef
    tags: dict[str, str]  # tag file name → base64 of its bytes
    payload: list[Capability] = Field(min_length=1, max_length=10000)  # payload file n, in manifest order
    custody: SenderCustody
    descriptor: dict[str, Any]  # the sender's signed node descriptor (for the court folder)


@dataclass(frozen=True, slots=True)
class SentView:
    package_id: str
    digest: str
    request_id: str
    message_id: str
    custody_index: int
    files: int


# --- B: sealing from uploads -----------------------------------------------------------------

def _incoming_request(uow: UnitOfWork, principal: Principal, request_id: str) -> RequestRecord:
    request = uow.get_request(request_id, authority_id=principal.authority_id)
    if request is None:
        raise NotFound(f"no request {request_id}")
    if request.direction != Direction.incoming:
        raise InvalidInput(f"request {request_id} is not an incoming request: evidence goes to the requesting State")
    return request


def _requester_recipient(ctx: Context, principal: Principal, request_id: str) -> bool:
    """Whether the requesting authority publishes an age recipient (in its pinned descriptor)."""
    with ctx.reading() as uow:
        request = _incoming_request(uow, principal, request_id)
        descriptor = federation.peer_descriptor(ctx, uow, request.requesting_party)
        authority = descriptor.authority(request.counterpart_authority or "")
        return authority is not None and authority.age_recipient is not None


def seal_uploads(ctx: Context, principal: Principal, upload_ids: list[str], *, case_ref: str, request_id: str,
                 progress: Progress | None = None) -> PackageView:
    """Seal completed uploads into a package answering an incoming request. Each upload's bytes are
    read once from the blob store; their SHA-256 must still be the one declared at upload."""
    require_role(principal, evidence.SEALERS, "seal evidence")
    if not upload_ids:
        raise InvalidInput("name at least one upload to seal")
    if len(set(upload_ids)) != len(upload_ids):
        raise InvalidInput("an upload is named twice")
    if not _requester_recipient(ctx, principal, request_id):
        with ctx.reading() as uow:
            party = _incoming_request(uow, principal, request_id).requesting_party
        federation.refresh_peer(ctx, party)  # it may have made its age identity since it was pinned
        if not _requester_recipient(ctx, principal, request_id):
            raise Conflict(f"the requesting authority of {party} publishes no age recipient: the evidence could "
                           "not be opened there; its node makes one with `hcx evidence recipient`")
    sources: list[pkg.SourceFile] = []
    seen: set[str] = set()
    for upload_id in upload_ids:
        blob = uploads.uploaded_blob(ctx, principal, upload_id)
        path = "data/" + blob.file_name
        if bagit.unsafe_path(path) is not None or "/" in blob.file_name:
            raise InvalidInput(f"upload {upload_id}: {blob.file_name!r} cannot be a file name in a bag")
        if path.casefold() in seen:
            raise InvalidInput(f"two uploads are named {blob.file_name!r}; a bag holds one file per name")
        seen.add(path.casefold())
        sources.append(pkg.SourceFile(path, Path(blob.file_name), blob.size, blob_key=blob.key, sha256=blob.sha256))
    return evidence.seal_sources(ctx, principal, sources, case_ref=case_ref, request_id=request_id, progress=progress)


# --- B: sending ------------------------------------------------------------------------------

def _custody_proofs(ctx: Context, package_id: str) -> SenderCustody:
    """This node's entries for the package, proved against one signed checkpoint."""
    custody.checkpoint(ctx)  # a checkpoint that covers every entry so far
    with ctx.reading() as uow:
        latest = uow.ledger.latest_checkpoint()
    assert latest is not None
    entries = [e for e in custody.entries_for(ctx, package_id) if e.index < latest.size]
    proofs = [custody.prove_inclusion(ctx, e.index, latest.size) for e in entries]
    if not proofs:
        raise Conflict(f"package {package_id} has no custody entry to send")
    texts = {p.checkpoint for p in proofs}
    if len(texts) != 1:  # a cosignature arrived meanwhile: prove again against the newer text
        return _custody_proofs(ctx, package_id)
    return SenderCustody(checkpoint=proofs[0].checkpoint, proofs=[p.format() for p in proofs])


def queue(ctx: Context, uow: UnitOfWork, record: RequestRecord, body: dict[str, Any]) -> str:
    """Seal an `evidence.package` message about an incoming request to its requesting authority and
    put it in the outbox (no commit). It carries no `seq`: it is not a step of the request's
    lifecycle, so it neither waits for nor holds up the request's own messages."""
    now = ctx.clock.now()
    party = record.requesting_party
    peer = federation.peer_descriptor(ctx, uow, party)
    recipient = peer.authority(record.counterpart_authority or "")
    described = recipient.encryption_key() if recipient else None
    if recipient is None or described is None:
        raise Conflict(f"{party} publishes no encryption key for authority {record.counterpart_authority}")
    message_id = ctx.new_id()
    envelope = {
        "v": 1, "id": message_id, "type": KIND,
        "from": {"party": record.requested_party, "authority": record.authority_id},
        "to": {"party": party, "authority": recipient.id},
        "created": now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "in_reply_to": None,
        "request_ref": record.exchange_id, "body": body,
    }
    sealed = seal_envelope(envelope, signer=federation.signing_key(ctx, uow, record.authority_id),
                           recipient=EncryptionKey.from_bytes(b64d(described.key)))
    uow.add_outbox(id=message_id, peer_party=party, request_id=record.id, type=KIND, wire=sealed.wire,
                   digest=sealed.digest, status="pending", attempts=0, next_attempt_at=now, lease_until=None,
                   created_at=now, delivered_at=None, last_error="", receipt=None)
    return message_id


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a message about a package carries besides capabilities (made outside the write
    transaction: checkpoint signing and proofs take their own)."""

    view: PackageView
    tags: dict[str, str]
    custody: SenderCustody
    descriptor: dict[str, Any]


def prepare(ctx: Context, principal: Principal, package_id: str) -> Prepared:
    require_role(principal, evidence.SEALERS, "send evidence")
    view = evidence.get(ctx, principal, package_id)
    if view.state != "sealed":
        raise Conflict(f"package {package_id} is {view.state}; only a sealed package can be sent")
    if view.request_id is None:
        raise InvalidInput(f"package {package_id} answers no request; seal the evidence for the request")
    with ctx.reading() as uow:
        _incoming_request(uow, principal, view.request_id)
    tags = pkg.read_tags(package_id, ctx.blob_store(), view.digest)
    return Prepared(view, {name: base64.b64encode(data).decode("ascii") for name, data in tags.items()},
                    _custody_proofs(ctx, package_id), federation.descriptor(ctx))


def body_for(ctx: Context, uow: UnitOfWork, prepared: Prepared, record: RequestRecord) -> EvidenceBody:
    """The message body, with one capability per payload blob for the requesting party (no commit)."""
    view = prepared.view
    capabilities = [blob_transfer.grant_capability(ctx, uow, pkg.payload_key(view.id, n), record.requesting_party,
                                                   CAPABILITY_TTL)
                    for n in range(view.payload_files)]
    return EvidenceBody(package=PackageRef(id=view.id, digest=view.digest), tags=prepared.tags, payload=capabilities,
                        custody=prepared.custody, descriptor=prepared.descriptor)


def send(ctx: Context, principal: Principal, package_id: str) -> SentView:
    """Send a sealed package to the State whose request it answers (docs/evidence.md)."""
    prepared = prepare(ctx, principal, package_id)
    request_id = prepared.view.request_id
    assert request_id is not None
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        row = evidence.store(uow).get(package_id)
        assert row is not None
        if row.state != "sealed":
            raise Conflict(f"package {package_id} is {row.state}; only a sealed package can be sent")
        record = _incoming_request(uow, principal, request_id)
        body = body_for(ctx, uow, prepared, record)
        message_id = queue(ctx, uow, record, body.model_dump(mode="json"))
        index = custody.record(ctx, uow, CustodyEvent.sent, object_digest=row.digest,
                               actor_role=principal.role.value, ref=package_id, at=now)
        row.state = "sent"
        uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="evidence.sent",
                  object_type="evidence_package", object_id=package_id,
                  details={"digest": row.digest, "request": record.id, "message": message_id,
                           "peer": record.requesting_party})
        uow.commit()
    ctx.outbox_filled()
    log.info("evidence package %s sent for request %s in message %s", package_id, request_id, message_id)
    return SentView(package_id, prepared.view.digest, request_id, message_id, index, len(body.payload))


# --- A: receiving the message ----------------------------------------------------------------

def _refuse(what: str) -> InvalidInput:
    return InvalidInput(f"evidence message refused: {what}")


def _decode_tags(body: EvidenceBody) -> dict[str, bytes]:
    if set(body.tags) != TAG_NAMES:
        raise _refuse(f"the tag files must be exactly {', '.join(sorted(TAG_NAMES))}")
    try:
        tags = {name: base64.b64decode(text, validate=True) for name, text in body.tags.items()}
    except (binascii.Error, ValueError) as exc:
        raise _refuse("a tag file is not base64") from exc
    if any(len(data) > MAX_TAG_BYTES for data in tags.values()):
        raise _refuse("a tag file is larger than 1 MiB")
    return tags


def _bag_info(data: bytes) -> dict[str, str]:
    elements: dict[str, str] = {}
    for line in data.decode("utf-8").splitlines():
        label, colon, value = line.partition(": ")
        if colon:
            elements.setdefault(label, value)
    return elements


def _sender_descriptor(body: EvidenceBody, node_key: bytes, party: str) -> Descriptor:
    try:
        document, _ = federation.read_descriptor(body.descriptor, VerifyKey(node_key))
    except Error as exc:
        raise _refuse(f"the sender's descriptor does not verify with the pinned node key of {party}") from exc
    if document.party != party:
        raise _refuse(f"the descriptor is of {document.party}, not of the sender {party}")
    return document


def check_signature(tags: dict[str, bytes], descriptor: Descriptor, party: str, authority: str) -> None:
    """The sending authority's signature over the tag manifest, with a key of its pinned descriptor."""
    try:
        signature = ManifestSignature.parse(tags[SIGNATURE_NAME])
    except Error as exc:
        raise _refuse(f"the tag-manifest signature is unreadable: {exc.message}") from exc
    described = descriptor.authority(signature.authority)
    if signature.party != party or signature.authority != authority or described is None:
        raise _refuse(f"the tag manifest is signed by {signature.party}/{signature.authority}, not the sender "
                      f"{party}/{authority}")
    if not any(k.kid == signature.key.kid and b64d(k.key) == signature.key.raw for k in described.signing_keys):
        raise _refuse(f"key {signature.key.kid} is not a signing key of {party}/{authority}")
    try:
        signature.verify(tags[pkg.TAGMANIFEST])
    except VerificationError as exc:
        raise _refuse(f"the signature over the tag manifest does not verify: {exc.message}") from exc


def _check_sender_custody(body: EvidenceBody, node_key: bytes, party: str) -> None:
    """Every proof verifies against the sender's log key and names this package; one is "sealed"."""
    log_key = Ed25519NoteVerifier(custody.origin(party), VerifyKey(node_key))
    events = []
    for number, text in enumerate(body.custody.proofs, start=1):
        try:
            proof = TlogProof.parse(text)
            if proof.checkpoint != body.custody.checkpoint:
                raise InvalidInput("its checkpoint is not the message's checkpoint")
            if proof.extra is None or len(proof.extra) <= SALT_SIZE:
                raise InvalidInput("it carries no entry")
            salt, entry_bytes = proof.extra[:SALT_SIZE], proof.extra[SALT_SIZE:]
            entry = CustodyEntry.parse(entry_bytes)
            if entry.object_digest != body.package.digest or entry.ref != body.package.id:
                raise InvalidInput(f"it is about {entry.ref} ({entry.object_digest}), not this package")
            verify_tlog_proof(proof, custody_leaf_hash(salt, entry_bytes), log=[log_key], origin=log_key.name)
        except Error as exc:
            raise _refuse(f"custody proof {number}: {exc.message}") from exc
        events.append(entry.event)
    if CustodyEvent.sealed not in events:
        raise _refuse("the sender's custody entries include no 'sealed' entry")


def receive(ctx: Context, uow: UnitOfWork, opened: Opened, to: str) -> str:
    """Messaging's hook for `evidence.package` (envelope signature and decryption already checked):
    check the package against the pinned peer and record it "incoming"; the bytes follow in
    `fetch_due`. Raises InvalidInput, Conflict or PolicyDenied: the message is then kept as
    rejected, with the reason, and nothing of the package is recorded."""
    envelope = opened.envelope
    party, authority = envelope.from_.party, envelope.from_.authority
    body = EvidenceBody.model_validate(envelope.body)
    package_id, digest = body.package.id, body.package.digest
    record = uow.find_exchange(envelope.request_ref or "", authority_id=to)
    if record is None:
        raise _refuse(f"it names no request of this node ({envelope.request_ref})")
    if record.direction != Direction.outgoing or record.requested_party != party:
        raise PolicyDenied(f"evidence message refused: {party} was not asked for evidence in request {record.id}")
    peer = uow.get_peer(party)
    if peer is None:
        raise PolicyDenied(f"evidence message refused: {party} is not a pinned peer")
    tags = _decode_tags(body)
    try:
        pkg.check_tags(package_id, tags, digest)
        manifest = pkg.manifest_entries(tags["manifest-sha256.txt"])
        info = _bag_info(tags["bag-info.txt"])
    except (VerificationError, UnicodeDecodeError, ValueError) as exc:
        raise _refuse(f"it references package {digest}, but its tag files are not that package's: "
                      f"{getattr(exc, 'message', exc)}") from exc
    if info.get("Hcx-Package-Id") != package_id or info.get("Hcx-Sender-Party") != party:
        raise _refuse("bag-info.txt names another package or sender")
    if len(manifest) != len(body.payload):
        raise _refuse(f"the manifest lists {len(manifest)} payload files but {len(body.payload)} capabilities came")
    base = peer.url.rstrip("/") + "/federation/blobs/"
    for capability in body.payload:
        if not capability.url.startswith(base) or capability.size < 0 or len(capability.sha256) != 64:
            raise _refuse(f"capability {capability.url} is not one of {party}'s blobs")
    sender = federation.peer_descriptor(ctx, uow, party)
    check_signature(tags, sender, party, authority)
    _sender_descriptor(body, peer.node_key, party)
    _check_sender_custody(body, peer.node_key, party)
    packages = evidence.store(uow)
    if packages.get(package_id) is not None:
        raise Conflict(f"evidence message refused: package {package_id} is already known here")
    oxum = info.get("Payload-Oxum", "0.0").partition(".")[0]
    now = ctx.clock.now()
    try:
        with uow.savepoint():  # a duplicate digest (a package known under another id) is refused whole
            packages.add(id=package_id, request_id=record.id, case_ref=info.get("Hcx-Case-Ref", "")[:64],
                         authority_id=to, digest=digest, payload_bytes=int(oxum) if oxum.isdigit() else 0,
                         payload_files=len(manifest), stored_bytes=sum(c.size for c in body.payload),
                         recipients=[], created_at=now, state="incoming")
    except Conflict as exc:
        raise Conflict(f"evidence message refused: package {digest} is already known here") from exc
    store(uow).add_incoming(package_id=package_id, message_id=envelope.id, peer_party=party,
                            body=body.model_dump(mode="json"), status="fetching", attempts=0, next_attempt_at=now,
                            error="", updated_at=now)
    uow.audit(id=ctx.new_id(), at=now, actor_id=None, action="evidence.incoming", object_type="evidence_package",
              object_id=package_id, details={"digest": digest, "peer": party, "request": record.id,
                                             "files": len(manifest)})
    log.info("evidence package %s (%s) announced by %s for request %s", package_id, digest, party, record.id)
    return package_id


# --- A: fetching and checking the bytes ------------------------------------------------------

class _Discard:
    """A sink for decrypted bytes whose digest is all that is checked."""

    def write(self, data: bytes) -> int:
        return len(data)


def fetch_due(ctx: Context, *, limit: int = 10) -> int:
    """One round: fetch and check the incoming packages that are due; returns how many were received."""
    with ctx.reading() as uow:
        due = [row.package_id for row in store(uow).due_incoming(ctx.clock.now(), limit=limit)]
    return sum(1 for package_id in due if fetch(ctx, package_id))


def fetch(ctx: Context, package_id: str) -> bool:
    """Download one incoming package (resuming what earlier runs staged), decrypt and check every
    payload file against the signed manifest, then mark it received. A peer that cannot be reached
    is tried again later (FETCH_ATTEMPTS rounds); bytes that do not check are deleted and the
    package is refused at once."""
    with ctx.reading() as uow:
        row = store(uow).get_incoming(package_id)
        if row is None or row.status != "fetching":
            return False
        body = EvidenceBody.model_validate(row.body)
        package = evidence.store(uow).get(package_id)
        assert package is not None
        authority_id, peer_party = package.authority_id, row.peer_party
        identities = evidence.all_age_identities(ctx, uow, authority_id)
    blobs = ctx.blob_store()
    try:
        for number, capability in enumerate(body.payload):
            blob_transfer.fetch_blob(ctx, capability, pkg.payload_key(package_id, number))
    except VerificationError as exc:
        _give_up(ctx, package_id, body, exc)
        return False
    except (PeerError, PolicyDenied, NotFound, Conflict) as exc:
        _try_later(ctx, package_id, body, exc)
        return False
    try:
        tags = _decode_tags(body)
        for name, data in tags.items():
            with blobs.writer(pkg.tag_key(package_id, name)) as out:
                out.write(data)
        pkg.read_tags(package_id, blobs, body.package.digest)
        with ctx.reading() as uow:
            check_signature(tags, federation.peer_descriptor(ctx, uow, peer_party), peer_party,
                            _signer_authority(tags))
        for number, (_, sha256) in enumerate(pkg.manifest_entries(tags["manifest-sha256.txt"])):
            pkg.open_payload(package_id, number, sha256, blobs=blobs, identities=identities,
                             dst=cast(IO[bytes], _Discard()))
    except (VerificationError, InvalidInput) as exc:
        _give_up(ctx, package_id, body, exc)
        return False
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        row = store(uow).get_incoming(package_id, lock=True)
        package = evidence.store(uow).get(package_id)
        if row is None or package is None or row.status != "fetching":
            return False
        row.status, row.error, row.updated_at = "received", "", now
        package.state = "received"
        for event in (CustodyEvent.received, CustodyEvent.verified):
            custody.record(ctx, uow, event, object_digest=package.digest, actor_role=custody.NODE_ROLE,
                           ref=package_id, at=now)
        uow.audit(id=ctx.new_id(), at=now, actor_id=None, action="evidence.received", object_type="evidence_package",
                  object_id=package_id, details={"digest": package.digest, "peer": peer_party})
        uow.commit()
    log.info("evidence package %s received from %s and verified", package_id, peer_party)
    return True


def _signer_authority(tags: dict[str, bytes]) -> str:
    return ManifestSignature.parse(tags[SIGNATURE_NAME]).authority


def _try_later(ctx: Context, package_id: str, body: EvidenceBody, exc: Error) -> None:
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        row = store(uow).get_incoming(package_id, lock=True)
        if row is None or row.status != "fetching":
            return
        row.attempts += 1
        row.error, row.updated_at = f"{exc.__class__.__name__}: {exc.message}"[:500], now
        attempts = row.attempts
        row.next_attempt_at = now + dt.timedelta(seconds=min(2 ** attempts, 300))
        uow.commit()
    log.info("fetching evidence package %s failed (attempt %d): %s", package_id, attempts, exc.message)
    if attempts >= FETCH_ATTEMPTS:
        _give_up(ctx, package_id, body, exc)


def _give_up(ctx: Context, package_id: str, body: EvidenceBody, exc: Error) -> None:
    """Refuse the package: its bytes are deleted, its rows say why; nothing is marked received."""
    blobs, partial = ctx.blob_store(), uploads.staging(ctx)
    for number in range(len(body.payload)):
        partial.discard(pkg.payload_key(package_id, number))
    pkg.discard(package_id, len(body.payload), blobs)
    now, reason = ctx.clock.now(), f"{exc.__class__.__name__}: {exc.message}"[:500]
    with ctx.unit_of_work() as uow:
        row = store(uow).get_incoming(package_id, lock=True)
        package = evidence.store(uow).get(package_id)
        if row is None or package is None:
            return
        row.status, row.error, row.updated_at = "failed", reason, now
        package.state = "failed"
        uow.audit(id=ctx.new_id(), at=now, actor_id=None, action="evidence.refused", object_type="evidence_package",
                  object_id=package_id, details={"digest": package.digest, "error": reason})
        uow.commit()
    log.warning("evidence package %s refused: %s", package_id, reason)


def incoming_status(ctx: Context, principal: Principal, package_id: str) -> dict[str, Any]:
    """The download state of a package a peer sent (for the CLI and the API)."""
    view = evidence.get(ctx, principal, package_id)
    with ctx.reading() as uow:
        row = store(uow).get_incoming(package_id)
        if row is None:
            raise NotFound(f"package {package_id} did not come from a peer")
        return {"package": view.id, "digest": view.digest, "state": view.state, "peer": row.peer_party,
                "status": row.status, "attempts": row.attempts, "error": row.error}


# --- A: the court folder of a received package -----------------------------------------------

def export_received(ctx: Context, principal: Principal, package_id: str, out: Path, *,
                    progress: Progress | None = None) -> evidence.ExportView:
    """The court folder of a package received from a peer. `hcx verify` anchors a folder on the
    node that signed the bag, so here that is the sender: keys/descriptor.json is its signed
    descriptor, custody/ its log's entries about the package, proved to the latest checkpoint of
    its log this node cosigned (asked of the sender now; if it cannot be reached, the entries and
    checkpoint its message carried, with a warning); this node's own entries (received, verified,
    exported) go to custody/peer/ with this log's key, proved to a checkpoint the sender cosigned."""
    view = evidence.get(ctx, principal, package_id)
    if view.state != "received":
        raise Conflict(f"package {package_id} is {view.state}, not received")
    blobs = ctx.blob_store()
    with ctx.reading() as uow:
        row = store(uow).get_incoming(package_id)
        assert row is not None
        body, party = EvidenceBody.model_validate(row.body), row.peer_party
        peer = uow.get_peer(party)
        if peer is None:
            raise NotFound(f"{party} is no longer a pinned peer")
        sender_key = peer.node_key
        identities = evidence.all_age_identities(ctx, uow, principal.authority_id)
    sender = _sender_descriptor(body, sender_key, party)
    tags = pkg.read_tags(package_id, blobs, view.digest)
    signature = ManifestSignature.parse(tags[SIGNATURE_NAME])
    described = sender.authority(signature.authority)
    log_key = Ed25519NoteVerifier(custody.origin(party), VerifyKey(sender_key))
    with evidence.folder_in_place(out) as partial:
        # the bag first, then custody "exported", then the proofs that include it (as evidence.export)
        files = write_bag(partial, tags, payload=lambda number, digest, dst: pkg.open_payload(
            package_id, number, digest, blobs=blobs, identities=identities, dst=dst, progress=progress))
        now = evidence.record_exported(ctx, principal, view)
        sides = custody_exchange.both_sides(ctx, package_id, view.digest, party)
        warnings = list(sides.warnings)
        if sides.peer is not None:
            sender_checkpoint, sender_proofs = sides.peer.checkpoint, sides.peer.proofs
        else:
            sender_checkpoint, sender_proofs = _message_custody(ctx, body, log_key)
            warnings.append(f"{party}'s custody entries are the ones its message carried when it sent the package, "
                            f"proved to its checkpoint of that time, which this node did not cosign; entries "
                            f"{party} recorded afterwards (such as 'sent') are not in this folder")
        sealed_at = min((CustodyEntry.parse(p.extra[SALT_SIZE:]).at for p in sender_proofs if p.extra), default=None)
        own = sides.own
        write_records(partial, ExportInput(
            package_id=package_id, case_ref=view.case_ref, party=sender.party,
            authority_name=described.name if described else signature.authority, digest=view.digest, tags=tags,
            sealed_at=sealed_at or view.created_at, exported_at=now, checkpoint=sender_checkpoint,
            log_vkey=log_key.vkey(), witness_vkeys=[custody.cosigner_vkey(ctx)],
            proofs=[(p.index, p.format()) for p in sender_proofs], descriptor=body.descriptor,
            tool_version=__version__,
            peer=PeerRecords(own.log_vkey, own.checkpoint, [(p.index, p.format()) for p in own.proofs]),
            warnings=warnings), files)
    size = Checkpoint.parse(parse_note(sender_checkpoint).text).size
    return evidence.ExportView(package_id, out, view.payload_files, view.payload_bytes,
                               len(sender_proofs) + len(own.proofs), size, federation.node_fingerprint(ctx),
                               tuple(warnings))


def _message_custody(ctx: Context, body: EvidenceBody, log_key: Ed25519NoteVerifier
                     ) -> tuple[str, tuple[TlogProof, ...]]:
    """The sender's entries as its message carried them (checked on receipt), the checkpoint
    keeping only the signatures an export's verifier can check: the sender's, and ours."""
    ours = CosignatureVerifier.from_vkey(custody.cosigner_vkey(ctx))
    note = custody_exchange.only_signatures(parse_note(body.custody.checkpoint),
                                            [(log_key.name, log_key.key_id), (ours.name, ours.key_id)])
    text = note.format()
    proofs = (TlogProof.parse(t) for t in body.custody.proofs)
    return text, tuple(TlogProof(p.index, p.proof, text, p.extra) for p in proofs)

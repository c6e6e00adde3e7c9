"""The evidence return flow between two nodes in one process, through their real ASGI apps, on
every database backend: VNM asks, AUS uploads, seals for VNM's request and sends; VNM downloads
with the capabilities, checks and exports; `hcx verify` passes on the export. Then the bad
inputs: each refused with a clear reason, nothing half-written. (Real processes:
tests/system/test_evidence_flow.py.)"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hcx.api import create_app
from hcx.config import Settings
from hcx.crypto.age import AgeRecipient, encrypt
from hcx.crypto.keys import SigningKey
from hcx.domain.lifecycle import Step
from hcx.errors import PeerProtocolError
from hcx.evidence import package as pkg
from hcx.evidence.signature import SIGNATURE_NAME, sign_manifest
from hcx.evidence.verify import verify_folder
from hcx.ledger.entry import SALT_SIZE, CustodyEntry
from hcx.ledger.proof import TlogProof
from hcx.rules import load_rules
from hcx.rules.schema import AuthorityKind, Role
from hcx.services import accounts, delivery, evidence, evidence_exchange, federation, requests, uploads, witness
from hcx.services.context import Context, Policy
from hcx.storage.blobs import FileBlobStore
from hcx.storage.db import make_engine, migrate
from hcx.storage.unit_of_work import Database
from tests.conftest import PG_URL, FixedClock
from tests.integration.test_federation_flow import AppTransport, mla

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
DATA = os.urandom(3 << 20) + b"tail"


class FetchingTransport(AppTransport):
    """AppTransport plus ranged blob GETs and witnessing, through the peer's ASGI app."""

    @contextmanager
    def fetch_range(self, url: str, *, headers: dict[str, str], offset: int) -> Iterator[Iterator[bytes]]:
        base = url.split("/federation/")[0]
        response = self._client(base).get(url, headers=headers | ({"Range": f"bytes={offset}-"} if offset else {}))
        if response.status_code != (206 if offset else 200):
            raise PeerProtocolError(f"{url}: HTTP {response.status_code}")
        yield iter([response.content[i:i + (1 << 20)] for i in range(0, len(response.content), 1 << 20)])

    def witness(self, url: str, signed: dict[str, Any]) -> Any:
        return self._client(url).post("/federation/witness", json=signed).json()

    def send_cosignature(self, url: str, signed: dict[str, Any]) -> Any:
        return self._client(url).post("/federation/witness/cosignature", json=signed).json()


@contextmanager
def databases() -> Iterator[Iterator[Database]]:
    """Fresh databases on PostgreSQL, one schema each (dropped at the end)."""
    assert PG_URL
    admin, schemas, engines = make_engine(PG_URL), [], []

    def make() -> Iterator[Database]:
        while True:
            schema = f"hcx_flow_{uuid.uuid4().hex[:8]}"
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            schemas.append(schema)
            engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
            engines.append(engine)
            migrate(engine)
            yield Database(engine)

    try:
        yield make()
    finally:
        for engine in engines:
            engine.dispose()
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Node:
    def __init__(self, party: str, database: Database, tmp: Path, clock: FixedClock,
                 transport: FetchingTransport) -> None:
        self.url = f"http://{party.lower()}.test"
        self.ctx = Context(unit_of_work=database.unit_of_work, read_unit_of_work=database.read_unit_of_work,
                           rules=load_rules(), clock=clock, policy=Policy(), key_passphrase=b"test",
                           transport=transport, blobs=FileBlobStore(tmp / party / "blobs"))
        accounts.init_node(self.ctx, party=party, name=party)
        federation.set_url(self.ctx, self.url)
        central = accounts.add_authority(self.ctx, None, name=f"{party} central", kind=AuthorityKind.central_authority)
        for name, role in (("officer", Role.officer), ("supervisor", Role.supervisor), ("auditor", Role.auditor)):
            accounts.add_user(self.ctx, None, username=f"{party.lower()}-{name}", password="correct horse battery",
                              role=role, authority_id=central.id)
        self.officer = accounts.principal_for(self.ctx, f"{party.lower()}-officer")
        self.supervisor = accounts.principal_for(self.ctx, f"{party.lower()}-supervisor")
        self.auditor = accounts.principal_for(self.ctx, f"{party.lower()}-auditor")
        self.client = create_app(Settings(data_dir=tmp / party), context=self.ctx)
        from tests.asgi import SyncAsgiClient

        transport.clients[self.url] = SyncAsgiClient(self.client, base_url=self.url)


@dataclasses.dataclass
class Pair:
    vnm: Node  # requests the evidence (A)
    aus: Node  # executes the request and returns the evidence (B)
    request_id: str  # VNM's outgoing request
    incoming_id: str  # the same request at AUS
    clock: FixedClock


@pytest.fixture(params=BACKENDS)
def pair(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[Pair]:
    transport = FetchingTransport()
    with (databases() if request.param == "postgresql" else _sqlite(tmp_path)) as made:
        vnm = Node("VNM", next(made), tmp_path, clock, transport)
        aus = Node("AUS", next(made), tmp_path, clock, transport)
        evidence.age_identity(vnm.ctx, vnm.officer.authority_id)  # VNM can receive evidence
        federation.add_peer(vnm.ctx, None, url=aus.url, expected_fingerprint=federation.node_fingerprint(aus.ctx))
        federation.add_peer(aus.ctx, None, url=vnm.url, expected_fingerprint=federation.node_fingerprint(vnm.ctx))
        rid = requests.create(vnm.ctx, vnm.officer, mla()).id
        requests.transition(vnm.ctx, vnm.officer, rid, Step(action="submit"))
        requests.transition(vnm.ctx, vnm.supervisor, rid, Step(action="approve"))
        assert delivery.deliver_due(vnm.ctx) == 1
        [incoming] = requests.list_requests(aus.ctx, aus.officer)
        yield Pair(vnm, aus, rid, incoming.id, clock)


@contextmanager
def _sqlite(tmp: Path) -> Iterator[Iterator[Database]]:
    engines = []

    def make() -> Iterator[Database]:
        for n in range(2):
            engine = make_engine(f"sqlite:///{tmp / f'node{n}.db'}")
            engines.append(engine)
            migrate(engine)
            yield Database(engine)

    try:
        yield make()
    finally:
        for engine in engines:
            engine.dispose()


def upload(node: Node, data: bytes = DATA, name: str = "image.dd") -> str:
    who = node.officer
    created = uploads.create(node.ctx, who, file_name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    step = 1 << 20
    for offset in range(0, len(data), step):
        uploads.append(node.ctx, who, created.id, offset, data[offset:offset + step])
    return uploads.complete(node.ctx, who, created.id).id


def sealed(pair: Pair, data: bytes = DATA) -> evidence.PackageView:
    return evidence_exchange.seal_uploads(pair.aus.ctx, pair.aus.officer, [upload(pair.aus, data)], case_ref="C-1",
                                          request_id=pair.incoming_id)


def inbox_of(node: Node) -> list[dict[str, Any]]:
    return [m for m in delivery.list_inbox(node.ctx) if m["type"] == evidence_exchange.KIND]


def custody_events(node: Node, package_id: str) -> list[str]:
    return [CustodyEntry.parse(e.entry).event.value for e in evidence_exchange.custody.entries_for(node.ctx, package_id)
            if e.entry is not None]


def nothing_recorded(node: Node, package_id: str) -> None:
    with node.ctx.reading() as uow:
        assert evidence.store(uow).get(package_id) is None
        assert evidence_exchange.store(uow).get_incoming(package_id) is None
    assert custody_events(node, package_id) == []
    assert not (node.ctx.blob_store().size(pkg.tag_key(package_id, pkg.TAGMANIFEST)))


def test_evidence_returns_to_the_requesting_node_and_verifies_offline(pair: Pair, tmp_path: Path) -> None:
    vnm, aus = pair.vnm, pair.aus
    view = sealed(pair)
    assert view.state == "sealed" and view.request_id == pair.incoming_id and len(view.recipients) == 2
    sent = evidence_exchange.send(aus.ctx, aus.officer, view.id)
    assert custody_events(aus, view.id) == ["sealed", "sent"]
    assert evidence.get(aus.ctx, aus.officer, view.id).state == "sent"

    assert delivery.deliver_due(aus.ctx) == 1
    [message] = inbox_of(vnm)
    assert message["status"] == "applied", message
    incoming = evidence.get(vnm.ctx, vnm.officer, view.id)
    assert (incoming.state, incoming.digest, incoming.request_id) == ("incoming", sent.digest, pair.request_id)
    assert custody_events(vnm, view.id) == []  # nothing is received before the bytes are checked

    assert evidence_exchange.fetch_due(vnm.ctx) == 1
    assert evidence.get(vnm.ctx, vnm.officer, view.id).state == "received"
    assert custody_events(vnm, view.id) == ["received", "verified"]
    assert evidence_exchange.fetch_due(vnm.ctx) == 0

    witness.exchange(vnm.ctx, "AUS")
    witness.exchange(aus.ctx, "VNM")
    exported = evidence.export(vnm.ctx, vnm.auditor, view.id, tmp_path / "court")
    assert (tmp_path / "court" / "bag" / "data" / "image.dd").read_bytes() == DATA
    report = verify_folder(tmp_path / "court")
    assert report.ok, [c for c in report.checks if not c.ok]
    trusted = " ".join(what for what, _ in report.trusted)
    assert "node key of AUS" in trusted and "the other side's log hcx/VNM" in trusted
    peer = sorted((tmp_path / "court" / "custody" / "peer").glob("*.tlog-proof"))
    events = [CustodyEntry.parse(TlogProof.parse(p.read_text()).extra[SALT_SIZE:]).event.value  # type: ignore[index]
              for p in peer]
    assert events == ["received", "verified", "exported"]
    assert exported.custody_entries == 4


def test_a_payload_whose_digest_does_not_match_is_refused_and_deleted(pair: Pair) -> None:
    vnm, aus = pair.vnm, pair.aus
    view = sealed(pair)
    # other bytes, validly encrypted to the same recipients: only the manifest's digest can tell
    recipients = [AgeRecipient.parse(r) for r in view.recipients]
    with aus.ctx.blob_store().writer(pkg.payload_key(view.id, 0)) as out:
        encrypt(io.BytesIO(b"not the evidence"), out, recipients)
    evidence_exchange.send(aus.ctx, aus.officer, view.id)
    delivery.deliver_due(aus.ctx)
    assert evidence_exchange.fetch_due(vnm.ctx) == 0
    status = evidence_exchange.incoming_status(vnm.ctx, vnm.officer, view.id)
    assert status["status"] == "failed" and "not the" in status["error"] and "manifest" in status["error"]
    assert evidence.get(vnm.ctx, vnm.officer, view.id).state == "failed"
    assert custody_events(vnm, view.id) == []
    assert vnm.ctx.blob_store().size(pkg.payload_key(view.id, 0)) is None


def test_a_forged_tag_manifest_signature_is_refused(pair: Pair) -> None:
    vnm, aus = pair.vnm, pair.aus
    view = sealed(pair)
    blobs = aus.ctx.blob_store()
    tags = pkg.read_tags(view.id, blobs, view.digest)
    with blobs.writer(pkg.tag_key(view.id, SIGNATURE_NAME)) as out:  # same names, a key AUS never published
        out.write(sign_manifest(tags[pkg.TAGMANIFEST], party="AUS", authority=aus.officer.authority_id,
                                key=SigningKey.generate(), at=view.created_at).format())
    evidence_exchange.send(aus.ctx, aus.officer, view.id)
    delivery.deliver_due(aus.ctx)
    [message] = inbox_of(vnm)
    assert message["status"] == "rejected" and "is not a signing key of AUS" in message["error"]
    nothing_recorded(vnm, view.id)


def test_a_capability_granted_to_another_party_is_refused_by_the_sender(pair: Pair) -> None:
    vnm, aus = pair.vnm, pair.aus
    view = sealed(pair)
    evidence_exchange.send(aus.ctx, aus.officer, view.id)
    with aus.ctx.unit_of_work() as uow:  # as if AUS had granted the blob to France, not to VNM
        uow.session.execute(text("UPDATE blob_capabilities SET peer_party = 'FRA'"))  # type: ignore[attr-defined]
        uow.commit()
    delivery.deliver_due(aus.ctx)
    for _ in range(evidence_exchange.FETCH_ATTEMPTS):
        assert evidence_exchange.fetch_due(vnm.ctx) == 0
        pair.clock.advance(minutes=10)
    status = evidence_exchange.incoming_status(vnm.ctx, vnm.officer, view.id)
    assert status["status"] == "failed" and "HTTP 400" in status["error"], status  # the opaque refusal
    assert status["attempts"] == evidence_exchange.FETCH_ATTEMPTS
    assert custody_events(vnm, view.id) == []
    assert vnm.ctx.blob_store().size(pkg.payload_key(view.id, 0)) is None


def test_a_message_referencing_an_unknown_package_is_refused(pair: Pair) -> None:
    vnm, aus = pair.vnm, pair.aus
    view = sealed(pair)
    prepared = evidence_exchange.prepare(aus.ctx, aus.officer, view.id)
    with aus.ctx.unit_of_work() as uow:
        record = uow.get_request(pair.incoming_id, authority_id=aus.officer.authority_id)
        assert record is not None
        body = evidence_exchange.body_for(aus.ctx, uow, prepared, record)
        body.package.digest = "sha256:" + hashlib.sha256(b"another package").hexdigest()
        evidence_exchange.queue(aus.ctx, uow, record, body.model_dump(mode="json"))
        uow.commit()
    delivery.deliver_due(aus.ctx)
    [message] = inbox_of(vnm)
    assert message["status"] == "rejected" and "references package sha256:" in message["error"], message
    nothing_recorded(vnm, view.id)


def test_only_sealers_send_and_only_sealed_packages_leave(pair: Pair) -> None:
    from hcx.errors import Conflict, PolicyDenied

    aus = pair.aus
    view = sealed(pair)
    with pytest.raises(PolicyDenied):
        evidence_exchange.send(aus.ctx, aus.auditor, view.id)
    evidence_exchange.send(aus.ctx, aus.officer, view.id)
    with pytest.raises(Conflict, match="only a sealed package"):
        evidence_exchange.send(aus.ctx, aus.officer, view.id)



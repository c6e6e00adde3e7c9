"""The evidence return flow between two nodes in one process, through their real ASGI apps, on
every database backend: VNM asks, AUS uploads, seals for VNM's request and sends; VNM downloads
with the capabilities, checks and exports; `hcx verify` passes on the export. Then the bad
inputs: each refused with a clear reason, nothing half-written. (Real processes:
tests/system/test_evidence_flow.py.)"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from hcx.api import create_app
from hcx.config import Settings
from hcx.crypto.age import AgeRecipient, encrypt
from hcx.crypto.envelope import sign_document
from hcx.crypto.keys import SigningKey
from hcx.domain.lifecycle import Step
from hcx.errors import Error, InvalidSignature, NotFound, PeerProtocolError, PolicyDenied
from hcx.evidence import package as pkg
from hcx.evidence.signature import SIGNATURE_NAME, sign_manifest
from hcx.evidence.verify import verify_folder
from hcx.ledger.entry import SALT_SIZE, CustodyEntry
from hcx.ledger.proof import TlogProof
from hcx.rules import load_rules
from hcx.rules.schema import AuthorityKind, Role
from hcx.services import (
    accounts,
    custody_exchange,
    delivery,
    evidence,
    evidence_exchange,
    federation,
    requests,
    uploads,
    witness,
)
from hcx.services.context import Context, Policy
from hcx.storage.blobs import FileBlobStore
from hcx.storage.db import migrate
from hcx.storage.unit_of_work import Database
from tests.conftest import BACKENDS, FixedClock, empty_engines
from tests.integration.test_federation_flow import AppTransport, mla

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

    def custody(self, url: str, signed: dict[str, Any]) -> Any:
        response = self._client(url).post("/federation/witness/custody", json=signed)
        if response.status_code != 200:  # as HttpTransport
            raise PeerProtocolError(f"{url}: HTTP {response.status_code}")
        return response.json()


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
    with empty_engines(request.param, tmp_path) as engines:
        for engine in engines:
            migrate(engine)
        vnm = Node("VNM", Database(engines[0]), tmp_path, clock, transport)
        aus = Node("AUS", Database(engines[1]), tmp_path, clock, transport)
        evidence.age_identity(vnm.ctx, vnm.officer.authority_id)  # VNM can receive evidence
        federation.add_peer(vnm.ctx, None, url=aus.url, expected_fingerprint=federation.node_fingerprint(aus.ctx))
        federation.add_peer(aus.ctx, None, url=vnm.url, expected_fingerprint=federation.node_fingerprint(vnm.ctx))
        rid = requests.create(vnm.ctx, vnm.officer, mla()).id
        requests.transition(vnm.ctx, vnm.officer, rid, Step(action="submit"))
        requests.transition(vnm.ctx, vnm.supervisor, rid, Step(action="approve"))
        assert delivery.deliver_due(vnm.ctx) == 1
        [incoming] = requests.list_requests(aus.ctx, aus.officer)
        yield Pair(vnm, aus, rid, incoming.id, clock)


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
    # AUS's entries were asked of AUS at export: "sent" too, proved to the checkpoint VNM cosigned
    assert entry_events(tmp_path / "court" / "custody" / "entries") == ["sealed", "sent"]
    assert exported.custody_entries == 5 and exported.warnings == () and report.warnings == []
    assert cosigners(tmp_path / "court" / "custody" / "checkpoint.txt") == ["hcx/AUS", "hcx/VNM"]
    assert cosigners(tmp_path / "court" / "custody" / "peer" / "checkpoint.txt") == ["hcx/VNM", "hcx/AUS"]

    # and AUS's export of its own package holds VNM's entries, proved to VNM's checkpoint AUS cosigned
    mine = evidence.export(aus.ctx, aus.auditor, view.id, tmp_path / "sender")
    report = verify_folder(tmp_path / "sender")
    assert report.ok, [c for c in report.checks if not c.ok]
    assert mine.warnings == () and report.warnings == []
    assert entry_events(tmp_path / "sender" / "custody" / "entries") == ["sealed", "sent", "exported"]
    assert entry_events(tmp_path / "sender" / "custody" / "peer") == ["received", "verified", "exported"]
    assert cosigners(tmp_path / "sender" / "custody" / "checkpoint.txt") == ["hcx/AUS", "hcx/VNM"]
    assert cosigners(tmp_path / "sender" / "custody" / "peer" / "checkpoint.txt") == ["hcx/VNM", "hcx/AUS"]
    assert "hcx/VNM" in (tmp_path / "sender" / "report.html").read_text()


def entry_events(folder: Path) -> list[str]:
    return [CustodyEntry.parse(TlogProof.parse(p.read_text()).extra[SALT_SIZE:]).event.value  # type: ignore[index]
            for p in sorted(folder.glob("*.tlog-proof"))]


def cosigners(checkpoint: Path) -> list[str]:
    """The names on a checkpoint's signature lines, in order (the log's own first)."""
    return [line.split()[1] for line in checkpoint.read_text().split("\n\n", 1)[1].splitlines()]


def exchanged(pair: Pair) -> evidence.PackageView:
    """A package AUS sent and VNM received, both logs witnessed since."""
    view = sealed(pair)
    evidence_exchange.send(pair.aus.ctx, pair.aus.officer, view.id)
    assert delivery.deliver_due(pair.aus.ctx) == 1
    assert evidence_exchange.fetch_due(pair.vnm.ctx) == 1
    witness.exchange(pair.vnm.ctx, "AUS")
    return view


def _flip(path: Path, line: int, column: int) -> None:
    lines = path.read_text().split("\n")
    text = lines[line - 1]
    lines[line - 1] = text[:column] + ("A" if text[column] != "A" else "B") + text[column + 1:]
    path.write_text("\n".join(lines))


def test_tampering_with_either_sides_custody_fails_verify_and_names_the_file(pair: Pair, tmp_path: Path) -> None:
    view = exchanged(pair)
    evidence.export(pair.vnm.ctx, pair.vnm.auditor, view.id, tmp_path / "court")
    assert verify_folder(tmp_path / "court").ok
    peer_proof = sorted((tmp_path / "court" / "custody" / "peer").glob("*.tlog-proof"))[0].relative_to(
        tmp_path / "court")
    checkpoint_lines = (tmp_path / "court" / "custody" / "checkpoint.txt").read_text().count("\n")
    cases = {  # (file, line, column): the file verify must name
        "a peer proof's hash": (str(peer_proof), -1, 10),
        "a peer proof's entry": (str(peer_proof), 2, 20),
        "the peer checkpoint's root": ("custody/peer/checkpoint.txt", 3, 5),
        "the peer checkpoint's cosignature": ("custody/peer/checkpoint.txt", 6, 40),
        "the peer checkpoint's cosignature key ID": ("custody/peer/checkpoint.txt", 6, 12),
        "the checkpoint's cosignature": ("custody/checkpoint.txt", checkpoint_lines, 40),
        "the checkpoint's cosignature key ID": ("custody/checkpoint.txt", checkpoint_lines, 12),
    }
    for what, (relative, line, column) in cases.items():
        copy = tmp_path / what.replace(" ", "-").replace("'", "")
        shutil.copytree(tmp_path / "court", copy)
        target = copy / relative
        if line < 0:
            line = target.read_text().count("\n") + line + 1
        _flip(target, line, column)
        report = verify_folder(copy)
        failed = [c for c in report.checks if not c.ok]
        assert not report.ok and failed, what
        assert any(c.where.startswith(relative) for c in failed), (what, failed)


def test_an_unreachable_sender_at_export_leaves_a_warning_not_a_silent_downgrade(pair: Pair, tmp_path: Path) -> None:
    vnm, aus = pair.vnm, pair.aus
    view = exchanged(pair)
    cast(FetchingTransport, vnm.ctx.transport).down.add(aus.url)
    exported = evidence.export(vnm.ctx, vnm.auditor, view.id, tmp_path / "court")
    said = " ".join(exported.warnings)
    assert "witnessing with AUS at export failed" in said and "the ones its message carried" in said
    assert "no cosignature of AUS" in said  # VNM's "exported" is in a checkpoint AUS has not seen
    assert "Warnings" in (tmp_path / "court" / "report.html").read_text()
    report = verify_folder(tmp_path / "court")
    assert report.ok, [c for c in report.checks if not c.ok]
    assert entry_events(tmp_path / "court" / "custody" / "entries") == ["sealed"]  # what the message carried
    warned = dict(report.warnings)
    assert "not cosigned by hcx/VNM" in warned["custody/checkpoint.txt"]
    assert "not cosigned by hcx/AUS" in warned["custody/peer/checkpoint.txt"]
    noted = " ".join(what for where, what in report.warnings if where.startswith("custody/WARNINGS.txt:"))
    assert "the ones its message carried" in noted  # the exporter's own words, repeated by verify

    # AUS, with VNM down, exports its own package: no entry of VNM's, and it says so
    cast(FetchingTransport, aus.ctx.transport).down.add(vnm.url)
    mine = evidence.export(aus.ctx, aus.auditor, view.id, tmp_path / "sender")
    assert any("VNM's custody entries could not be fetched" in w for w in mine.warnings), mine.warnings
    report = verify_folder(tmp_path / "sender")
    assert report.ok and list((tmp_path / "sender" / "custody" / "peer").iterdir()) == [
        tmp_path / "sender" / "custody" / "peer" / "README.txt"]
    warned = dict(report.warnings)
    assert "holds none of its custody entries" in warned["custody/peer/"]
    assert "cosigned by no witness" in warned["custody/checkpoint.txt"]  # VNM never saw AUS's "exported"


def _custody_request(ctx: Context, package_id: str, digest: str, *, size: int = 1, key: SigningKey | None = None,
                     sender: str = "VNM") -> bytes:
    document = {"from": sender, "to": "AUS", "at": ctx.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "package": package_id, "digest": digest, "size": size}
    if key is None:
        signed = witness._sign(ctx, "custody-request", document)
    else:
        signed = sign_document("custody-request", document, key)
    return json.dumps(signed).encode()


def test_custody_requests_are_refused_unless_about_a_package_exchanged_with_the_asker(pair: Pair) -> None:
    vnm, aus = pair.vnm, pair.aus
    view = exchanged(pair)
    with vnm.ctx.reading() as uow:
        seen = uow.ledger.latest_peer_checkpoint("AUS")  # the checkpoint of AUS's log VNM cosigned
        assert seen is not None
        size = seen.size
    answer = custody_exchange.answer(aus.ctx, _custody_request(vnm.ctx, view.id, view.digest, size=size))
    assert answer["document"]["to"] == "VNM" and len(answer["document"]["proofs"]) == 2

    other = sealed(pair, b"another seizure")  # for the same request, never sent: none of VNM's business
    for package_id, digest in ((other.id, other.digest), (view.id, other.digest)):
        with pytest.raises(PolicyDenied, match="not one exchanged with it"):
            custody_exchange.answer(aus.ctx, _custody_request(vnm.ctx, package_id, digest, size=size))
    with pytest.raises(InvalidSignature):  # signed by a key VNM's node never had
        custody_exchange.answer(aus.ctx, _custody_request(vnm.ctx, view.id, view.digest, key=SigningKey.generate()))
    with pytest.raises(Error, match="FRA"):  # a party AUS never pinned
        custody_exchange.answer(aus.ctx, _custody_request(vnm.ctx, view.id, view.digest, key=SigningKey.generate(),
                                                          sender="FRA"))
    with pytest.raises(NotFound, match="never signed"):
        custody_exchange.answer(aus.ctx, _custody_request(vnm.ctx, view.id, view.digest, size=10**6))

    # over HTTP the peer gets one opaque refusal, and the asking side a clear error
    client = cast(FetchingTransport, vnm.ctx.transport)._client(aus.url)
    response = client.post("/federation/witness/custody",
                           content=_custody_request(vnm.ctx, other.id, other.digest, size=size))
    assert response.status_code == 400 and "FRA" not in response.text and other.id not in response.text
    with pytest.raises(PeerProtocolError, match="HTTP 400"):
        custody_exchange.fetch(vnm.ctx, "AUS", other.id, other.digest)
    assert len(custody_exchange.fetch(vnm.ctx, "AUS", view.id, view.digest).proofs) == 2


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




def test_the_asking_side_checks_every_proof_and_the_checkpoint_before_it_keeps_them(
        pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vnm, aus = pair.vnm, pair.aus
    other = sealed(pair, b"another seizure")  # its "sealed" entry is in the checkpoint VNM cosigns
    view = exchanged(pair)
    transport = cast(FetchingTransport, vnm.ctx.transport)
    honest = transport.custody

    def answering(change: Any) -> None:
        """AUS's real answer, changed and signed again with AUS's node key (a lying peer)."""
        def custody(url: str, signed: dict[str, Any]) -> Any:
            document = dict(honest(url, signed)["document"])
            change(document)
            return witness._sign(aus.ctx, "custody-answer", document)
        monkeypatch.setattr(transport, "custody", custody)

    def another_package(document: dict[str, Any]) -> None:
        size = TlogProof.parse(document["proofs"][0]).checkpoint.split("\n")[1]
        entry = evidence_exchange.custody.entries_for(aus.ctx, other.id)[0]  # its "sealed"
        document["proofs"][0] = evidence_exchange.custody.prove_inclusion(aus.ctx, entry.index, int(size)).format()

    answering(another_package)
    with pytest.raises(PeerProtocolError, match=rf"custody proof 1: it is about {other.id}"):
        custody_exchange.fetch(vnm.ctx, "AUS", view.id, view.digest)

    def another_checkpoint(document: dict[str, Any]) -> None:
        document["checkpoint"] = evidence_exchange.custody.checkpoint(aus.ctx)  # AUS's latest, a larger tree

    with aus.ctx.unit_of_work() as uow:  # AUS's log grows past the checkpoint VNM cosigned
        evidence_exchange.custody.record(aus.ctx, uow, "opened", object_digest=other.digest, actor_role="node",
                                         ref=other.id)
        uow.commit()
    answering(another_checkpoint)
    with pytest.raises(PeerProtocolError, match="not the one of size"):
        custody_exchange.fetch(vnm.ctx, "AUS", view.id, view.digest)

    answering(another_package)  # at export, the refusal is a warning and the message's proofs are used
    exported = evidence.export(vnm.ctx, vnm.auditor, view.id, tmp_path / "court")
    assert any(f"it is about {other.id}" in w for w in exported.warnings), exported.warnings
    assert entry_events(tmp_path / "court" / "custody" / "entries") == ["sealed"]
    assert verify_folder(tmp_path / "court").ok


@pytest.fixture
def court(pair: Pair, tmp_path: Path) -> Path:
    """VNM's export of a package AUS sent, with both sides' custody (made once per test)."""
    view = exchanged(pair)
    evidence.export(pair.vnm.ctx, pair.vnm.auditor, view.id, tmp_path / "court")
    return tmp_path / "court"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_byte_flipped_anywhere_in_either_sides_custody_is_caught(court: Path,
                                                                   tmp_path_factory: pytest.TempPathFactory,
                                                                   data: st.DataObject) -> None:
    copy = tmp_path_factory.mktemp("tampered") / "court"
    shutil.copytree(court, copy)
    files = sorted(p for p in (copy / "custody").rglob("*") if p.is_file() and p.name != "README.txt")
    target = data.draw(st.sampled_from(files), label="file")
    offset = data.draw(st.integers(0, target.stat().st_size - 1), label="offset")
    raw = bytearray(target.read_bytes())
    raw[offset] ^= data.draw(st.integers(1, 255), label="xor mask")
    target.write_bytes(bytes(raw))
    report = verify_folder(copy)
    failed = [f"{c.name}: {c.where}: {c.detail}" for c in report.checks if not c.ok]
    assert not report.ok
    assert any(target.relative_to(copy).as_posix() in f for f in failed), failed

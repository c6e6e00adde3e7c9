"""Two nodes in one process, talking through their real ASGI apps: the whole message flow,
quickly. (tests/e2e runs the same flow between real `hcx serve` processes.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hcx.api import create_app
from hcx.config import Settings
from hcx.domain.lifecycle import Step
from hcx.errors import PeerProtocolError, PolicyDenied, VerificationError
from hcx.rules import load_rules
from hcx.rules.schema import AuthorityKind, Role
from hcx.services import accounts, delivery, federation, requests
from hcx.services.context import Context, Policy, Principal
from hcx.services.requests import NewRequest
from hcx.storage.db import make_engine, migrate
from hcx.storage.unit_of_work import Database
from tests.asgi import SyncAsgiClient
from tests.conftest import EXAMPLES, FixedClock


class AppTransport:
    """Routes peer calls to the other node's FastAPI app (a real ASGI round trip, no sockets)."""

    def __init__(self) -> None:
        self.clients: dict[str, SyncAsgiClient] = {}
        self.down: set[str] = set()

    def _client(self, url: str) -> SyncAsgiClient:
        from hcx.errors import PeerUnreachable

        base = url.rstrip("/")
        if base in self.down or base not in self.clients:
            raise PeerUnreachable(f"{url}: connection refused")
        return self.clients[base]

    def fetch_descriptor(self, url: str) -> Any:
        return self._client(url).get("/federation/descriptor").json()

    def close(self) -> None:
        pass

    def deliver(self, url: str, wire: bytes) -> Any:
        response = self._client(url).post("/federation/inbox", content=wire)
        if response.status_code != 200:
            raise PeerProtocolError(f"HTTP {response.status_code}")
        return response.json()

    def deliver_batch(self, url: str, wires: list[bytes]) -> list[Any]:
        response = self._client(url).post("/federation/inbox/batch", content=b"\n".join(wires))
        if response.status_code != 200:
            raise PeerProtocolError(f"HTTP {response.status_code}")
        results: list[Any] = response.json()["results"]
        return results


class PeerNode:
    def __init__(self, party: str, tmp: Path, clock: FixedClock, transport: AppTransport,
                 database: Database | None = None) -> None:
        if database is None:
            engine = make_engine(f"sqlite:///{tmp / party}.db")
            migrate(engine)
            database = Database(engine)
        self.url = f"http://{party.lower()}.test"
        self.ctx = Context(unit_of_work=database.unit_of_work, read_unit_of_work=database.read_unit_of_work,
                           rules=load_rules(),
                           clock=clock, policy=Policy(), key_passphrase=b"test", transport=transport)
        accounts.init_node(self.ctx, party=party, name=party)
        federation.set_url(self.ctx, self.url)
        central = accounts.add_authority(self.ctx, None, name=f"{party} central", kind=AuthorityKind.central_authority)
        for name, role in (("officer", Role.officer), ("supervisor", Role.supervisor)):
            accounts.add_user(self.ctx, None, username=f"{party.lower()}-{name}", password="correct horse battery",
                              role=role, authority_id=central.id)
        self.officer = accounts.principal_for(self.ctx, f"{party.lower()}-officer")
        self.supervisor = accounts.principal_for(self.ctx, f"{party.lower()}-supervisor")
        self.client = SyncAsgiClient(create_app(Settings(data_dir=tmp), context=self.ctx))
        transport.clients[self.url] = self.client

    def deliver(self) -> int:
        return delivery.deliver_due(self.ctx)

    def only_request(self, who: Principal | None = None) -> Any:
        found = requests.list_requests(self.ctx, who or self.officer)
        assert len(found) == 1
        return requests.show(self.ctx, who or self.officer, found[0].id)


@pytest.fixture
def pair(tmp_path: Path, clock: FixedClock) -> tuple[PeerNode, PeerNode]:
    transport = AppTransport()
    vnm, aus = PeerNode("VNM", tmp_path, clock, transport), PeerNode("AUS", tmp_path, clock, transport)
    federation.add_peer(vnm.ctx, None, url=aus.url, expected_fingerprint=federation.node_fingerprint(aus.ctx))
    federation.add_peer(aus.ctx, None, url=vnm.url, expected_fingerprint=federation.node_fingerprint(vnm.ctx))
    return vnm, aus


def mla() -> NewRequest:
    document = json.loads((EXAMPLES / "mutual_legal_assistance.json").read_text(encoding="utf-8"))
    return NewRequest.model_validate({"draft": document})


def approved_mla(node: PeerNode) -> str:
    """An MLA request created, submitted and approved on `node` (its submission queued for the peer)."""
    rid = requests.create(node.ctx, node.officer, mla()).id
    requests.transition(node.ctx, node.officer, rid, Step(action="submit"))
    requests.transition(node.ctx, node.supervisor, rid, Step(action="approve"))
    return rid


def test_a_request_travels_and_both_sides_agree_on_every_state(pair: tuple[PeerNode, PeerNode]) -> None:
    vnm, aus = pair
    rid = requests.create(vnm.ctx, vnm.officer, mla()).id
    requests.transition(vnm.ctx, vnm.officer, rid, Step(action="submit"))
    assert vnm.deliver() == 0  # awaiting approval: nothing leaves
    requests.transition(vnm.ctx, vnm.supervisor, rid, Step(action="approve"))
    assert vnm.deliver() == 1
    incoming = aus.only_request()
    assert (incoming.direction, incoming.state, incoming.requesting_party) == ("incoming", "submitted", "VNM")
    assert incoming.document == requests.show(vnm.ctx, vnm.officer, rid).document

    steps: list[tuple[PeerNode, Step]] = [
        (aus, Step(action="acknowledge")),
        (aus, Step(action="request_information", message="Which accounts?")),
        (vnm, Step(action="provide_information", message="Accounts 1 and 2.")),
        (aus, Step(action="accept")),
        (aus, Step(action="execute", summary="Records sent.")),
    ]
    for node, step in steps:
        target = incoming.id if node is aus else rid
        requests.transition(node.ctx, node.officer, target, step)
        assert node.deliver() == 1
        assert aus.only_request().state == vnm.only_request().state
    assert vnm.only_request().state == "executed"
    assert [e.action for e in aus.only_request().events] == [
        "register", "acknowledge", "request_information", "provide_information", "accept", "execute"]
    for node in (vnm, aus):
        sent = delivery.list_outbox(node.ctx)
        assert sent and all(m["status"] == "delivered" and m["receipt"]["hcx"] == "receipt/1" for m in sent)
    assert len(delivery.list_outbox(vnm.ctx)) == 2 and len(delivery.list_outbox(aus.ctx)) == 4


def test_steps_of_a_peer_cannot_be_recorded_by_hand(pair: tuple[PeerNode, PeerNode]) -> None:
    vnm, _aus = pair
    rid = approved_mla(vnm)
    with pytest.raises(PolicyDenied, match="uses hcx"):
        requests.transition(vnm.ctx, vnm.officer, rid, Step(action="acknowledge", record_counterpart=True))


def test_a_peer_that_is_down_gets_everything_once_it_is_back(pair: tuple[PeerNode, PeerNode],
                                                             clock: FixedClock) -> None:
    vnm, aus = pair
    transport = vnm.ctx.transport
    assert isinstance(transport, AppTransport)
    transport.down.add(aus.url)
    for _ in range(5):
        approved_mla(vnm)
    assert vnm.deliver() == 0
    pending = delivery.list_outbox(vnm.ctx, status="pending")
    assert len(pending) == 5 and all(m["attempts"] == 1 and "unreachable" in m["last_error"].lower()
                                     for m in pending)
    transport.down.clear()
    clock.advance(seconds=5)
    assert vnm.deliver() == 5
    assert len(requests.list_requests(aus.ctx, aus.officer)) == 5


def test_a_message_not_delivered_in_time_is_parked_and_can_be_retried(pair: tuple[PeerNode, PeerNode],
                                                                      clock: FixedClock) -> None:
    vnm, aus = pair
    transport = vnm.ctx.transport
    assert isinstance(transport, AppTransport)
    transport.down.add(aus.url)
    approved_mla(vnm)
    vnm.deliver()
    clock.advance(hours=73)
    vnm.deliver()
    [parked] = delivery.list_outbox(vnm.ctx, status="parked")
    transport.down.clear()
    assert vnm.deliver() == 0
    delivery.retry(vnm.ctx, None, parked["id"])
    assert vnm.deliver() == 1


def test_pinning_needs_the_right_fingerprint_and_refresh_needs_the_pinned_key(pair: tuple[PeerNode, PeerNode],
                                                                             tmp_path: Path, clock: FixedClock
                                                                             ) -> None:
    vnm, aus = pair
    transport = vnm.ctx.transport
    assert isinstance(transport, AppTransport)
    other = PeerNode("FRA", tmp_path, clock, transport)
    with pytest.raises(VerificationError, match="not pinned"):
        federation.add_peer(vnm.ctx, None, url=other.url, expected_fingerprint=federation.node_fingerprint(aus.ctx))
    # an impostor answers at AUS's address: its descriptor is not signed by the pinned key
    transport.clients[aus.url] = other.client
    with pytest.raises(Exception) as raised:
        federation.refresh_peer(vnm.ctx, "AUS")
    assert isinstance(raised.value, VerificationError | PeerProtocolError)


def test_rotated_keys_are_used_and_the_revoked_ones_refused(pair: tuple[PeerNode, PeerNode]) -> None:
    vnm, aus = pair
    [authority] = accounts.list_authorities(vnm.ctx)
    stale_wire = _wire_signed_now(vnm, aus)
    revoked = federation.rotate_authority_keys(vnm.ctx, None, authority.id)
    assert len(revoked) == 2
    federation.refresh_peer(aus.ctx, "VNM")
    assert aus.client.post("/federation/inbox", content=stale_wire).status_code == 400  # old key: refused
    approved_mla(vnm)
    assert vnm.deliver() == 1  # new keys: accepted


def test_a_refresh_never_goes_back_to_an_older_descriptor(pair: tuple[PeerNode, PeerNode]) -> None:
    vnm, aus = pair
    [authority] = accounts.list_authorities(vnm.ctx)
    old = vnm.client.get("/federation/descriptor").json()
    federation.rotate_authority_keys(vnm.ctx, None, authority.id)
    federation.refresh_peer(aus.ctx, "VNM")
    transport = aus.ctx.transport
    assert isinstance(transport, AppTransport)

    class Stale:
        def get(self, url: str) -> Any:
            class Response:
                def json(self) -> Any:
                    return old
            return Response()

    transport.clients[vnm.url] = Stale()  # type: ignore[assignment]
    with pytest.raises(PeerProtocolError, match="older"):
        federation.refresh_peer(aus.ctx, "VNM")


def _wire_signed_now(sender: PeerNode, receiver: PeerNode) -> bytes:
    """A valid message from `sender` to `receiver`, sealed with the sender's current keys."""
    from hcx.crypto.envelope import seal
    from hcx.crypto.keys import EncryptionKey, b64d
    from hcx.services.messaging import utc

    [mine] = accounts.list_authorities(sender.ctx)
    with receiver.ctx.unit_of_work() as uow:
        [theirs] = uow.list_authorities()
        their_id = theirs.id
    descriptor = receiver.client.get("/federation/descriptor").json()["document"]
    key = next(a for a in descriptor["authorities"] if a["id"] == their_id)["encryption_keys"][-1]["key"]
    envelope = {"v": 1, "id": sender.ctx.new_id(), "type": "request.event",
                "from": {"party": "VNM", "authority": mine.id}, "to": {"party": "AUS", "authority": their_id},
                "created": utc(sender.ctx.clock.now()), "in_reply_to": None, "request_ref": "x",
                "body": {"seq": 1, "action": "withdraw", "details": {"reasons": "r"}}}
    with sender.ctx.unit_of_work() as uow:
        signer = federation.signing_key(sender.ctx, uow, mine.id)
    return seal(envelope, signer=signer, recipient=EncryptionKey.from_bytes(b64d(key))).wire


def _sent(vnm: PeerNode, aus: PeerNode) -> tuple[str, str]:
    rid = approved_mla(vnm)
    vnm.deliver()
    newest = requests.list_requests(aus.ctx, aus.officer)[0]  # most recently changed first
    return rid, newest.id


def test_postponement_refusal_and_withdrawal_travel_with_their_reasons(pair: tuple[PeerNode, PeerNode]) -> None:
    import datetime as dt

    vnm, aus = pair
    rid, incoming = _sent(vnm, aus)
    until = (aus.ctx.clock.now() + dt.timedelta(days=10)).date()
    for step in (Step(action="accept"), Step(action="postpone", until=until, reasons="Ongoing operation."),
                 Step(action="resume"),
                 Step(action="refuse", grounds=["essential_interests"], reasons="Security.")):
        requests.transition(aus.ctx, aus.supervisor, incoming, step)
        aus.deliver()
    mine = requests.show(vnm.ctx, vnm.officer, rid)
    assert mine.state == "refused"
    assert mine.events[-1].details == {"grounds": ["essential_interests"], "reasons": "Security.", "peer": "AUS"}
    assert any(e.action == "postpone" and e.details["until"] == until.isoformat() for e in mine.events)

    rid2, incoming2 = _sent(vnm, aus)
    requests.transition(vnm.ctx, vnm.officer, rid2, Step(action="withdraw", reasons="Suspect arrested."))
    vnm.deliver()
    assert requests.show(aus.ctx, aus.officer, incoming2).state == "withdrawn"


def test_a_step_that_the_state_no_longer_allows_is_stored_but_not_applied(pair: tuple[PeerNode, PeerNode]) -> None:
    vnm, aus = pair
    rid, incoming = _sent(vnm, aus)
    requests.transition(vnm.ctx, vnm.officer, rid, Step(action="withdraw", reasons="No longer needed."))
    requests.transition(aus.ctx, aus.officer, incoming, Step(action="accept"))  # crosses the withdrawal
    vnm.deliver()
    aus.deliver()
    assert requests.show(vnm.ctx, vnm.officer, rid).state == "withdrawn"
    [received] = [m for m in delivery.list_inbox(vnm.ctx) if m["type"] == "request.event"]
    assert received["status"] == "rejected" and "withdrawn" in received["error"]
    assert all(m["status"] == "delivered" for m in delivery.list_outbox(aus.ctx))  # receipted all the same


def test_a_request_drafted_before_the_peer_was_pinned_is_addressed_when_sent(tmp_path: Path, clock: FixedClock
                                                                              ) -> None:
    transport = AppTransport()
    vnm, aus = PeerNode("VNM", tmp_path, clock, transport), PeerNode("AUS", tmp_path, clock, transport)
    rid = requests.create(vnm.ctx, vnm.officer, mla()).id  # AUS is not a peer yet
    federation.add_peer(vnm.ctx, None, url=aus.url, expected_fingerprint=federation.node_fingerprint(aus.ctx))
    federation.add_peer(aus.ctx, None, url=vnm.url, expected_fingerprint=federation.node_fingerprint(vnm.ctx))
    requests.transition(vnm.ctx, vnm.officer, rid, Step(action="submit"))
    requests.transition(vnm.ctx, vnm.supervisor, rid, Step(action="approve"))
    assert vnm.deliver() == 1
    assert aus.only_request().state == "submitted"

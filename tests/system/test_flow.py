"""A request travels between two real `hcx serve` processes, driven over each node's HTTP API as
its users would, and both sides agree on every state and hold a signed receipt for every message."""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
import pytest

from hcx.cli.demo import Client, example
from hcx.crypto.envelope import verify_document, verify_receipt
from hcx.crypto.keys import VerifyKey, b64d, fingerprint
from hcx.domain.descriptor import Descriptor
from hcx.errors import InvalidSignature
from hcx.services import federation
from tests.system.conftest import Cluster, SystemNode, all_delivered, outbox, pin, signed_in, wait_for


def state_of(client: Client, request_id: str) -> str:
    response = client.http.get(f"/requests/{request_id}")
    assert response.status_code == 200, response.text
    return str(response.json()["state"])


def only_incoming(client: Client) -> dict[str, Any] | None:
    found = client.http.get("/requests", params={"direction": "incoming"}).json()
    assert len(found) <= 1
    return dict(found[0]) if found else None


def test_a_request_is_acknowledged_questioned_answered_accepted_and_executed(cluster: Cluster) -> None:
    vnm, aus = cluster.node("VNM"), cluster.node("AUS")
    for node in (vnm, aus):
        node.start()
    pin([vnm, aus])
    with signed_in((vnm, "officer"), (vnm, "supervisor"), (aus, "officer")) as (officer, supervisor, foreign):
        exchange(officer, supervisor, foreign)

    # both hold a signed receipt for every message they sent: VNM 2 (submission, information), AUS 4
    for node, expected in ((vnm, 2), (aus, 4)):
        sent = wait_for(partial(all_delivered, node), timeout=30, what=f"{node.party}'s outbox to be delivered")
        assert len(sent) == expected
        assert all(m.receipt and m.receipt["hcx"] == "receipt/1" for m in sent)
    verify_one_receipt(vnm, aus)


def exchange(officer: Client, supervisor: Client, foreign: Client) -> None:

    rid = officer.call("POST", "/requests", 201, "draft", json={"draft": example("mutual_legal_assistance")})["id"]
    officer.step(rid, "submit")
    supervisor.step(rid, "approve")
    incoming = wait_for(lambda: only_incoming(foreign), timeout=30, what="the request to reach AUS")
    assert (incoming["requesting_party"], incoming["requested_party"]) == ("VNM", "AUS")
    wait_for(lambda: state_of(officer, rid) == incoming["state"] == "submitted", timeout=30,
             what="both sides to agree the request is submitted")
    iid = incoming["id"]

    for actor, target, action, extra, state in [
        (foreign, iid, "acknowledge", {}, "acknowledged"),
        (foreign, iid, "request_information", {"message": "Please list the accounts."}, "information_requested"),
        (officer, rid, "provide_information", {"message": "Accounts 1 and 2 of the annex."}, "acknowledged"),
        (foreign, iid, "accept", {}, "accepted"),
        (foreign, iid, "execute", {"summary": "Certified records sent."}, "executed"),
    ]:
        assert actor.step(target, action, **extra)["state"] == state
        wait_for(lambda: state_of(officer, rid) == state_of(foreign, iid) == state, timeout=30,  # noqa: B023
                 what=f"both sides to agree on {state} after {action}")

    events = foreign.http.get(f"/requests/{iid}").json()["events"]
    assert [e["action"] for e in events] == [
        "register", "acknowledge", "request_information", "provide_information", "accept", "execute"]


def verify_one_receipt(vnm: SystemNode, aus: SystemNode) -> None:
    # verify one receipt ourselves, with the keys of AUS's descriptor fetched from AUS and checked
    # against the node key whose fingerprint AUS gave out of band
    with httpx.Client(timeout=10) as http:
        signed = http.get(f"{aus.url}/federation/descriptor").json()
    node_key = VerifyKey.from_bytes(b64d(signed["document"]["node_key"]["key"]))
    assert fingerprint(node_key.raw) == federation.node_fingerprint(aus.ctx)
    descriptor = Descriptor.model_validate(verify_document("descriptor", signed, node_key))

    def aus_key(party: str, authority: str, kid: str) -> VerifyKey:
        assert party == "AUS"
        described = descriptor.authority(authority)
        key = described.signing_key(kid) if described else None
        assert key is not None, f"AUS publishes no key {authority}/{kid}"
        return VerifyKey.from_bytes(b64d(key.key))

    message = outbox(vnm)[0]
    assert message.receipt is not None
    receipt = verify_receipt(message.receipt, verify_key_for=aus_key, message_id=message.id,
                             envelope_digest=message.digest)
    assert (receipt.by.party, receipt.message_id) == ("AUS", message.id)
    forged = message.receipt | {"received_at": "2020-01-01T00:00:00Z"}
    with pytest.raises(InvalidSignature):
        verify_receipt(forged, verify_key_for=aus_key, message_id=message.id, envelope_digest=message.digest)

"""Hostile inputs posted to a real node's inbox. Each is refused with one opaque answer (the same
for every case), stores nothing, and leaves a line naming the reason in the node's log."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from hcx.crypto import envelope as envelope_format
from hcx.crypto.canonical import canonical
from hcx.crypto.envelope import MAX_WIRE_BYTES, seal
from hcx.crypto.keys import EncryptionKey, SigningKey, b64d, b64e
from hcx.domain.descriptor import Descriptor
from hcx.services import federation
from hcx.services.messaging import utc
from tests.system.conftest import (
    Cluster,
    SystemNode,
    inbox,
    incoming_exchanges,
    outbox,
    pin,
    seed_preservations,
    wait_for,
)

REFUSAL = {"error": {"code": "refused", "message": "message refused", "details": []}}


@dataclass
class Network:
    vnm: SystemNode  # A: pinned by AUS
    aus: SystemNode  # B: the node under attack
    mar: SystemNode  # C: has pinned AUS, AUS has not pinned it (never served)
    http: httpx.Client


@pytest.fixture(scope="module")
def net(module_cluster: Cluster) -> Iterator[Network]:
    vnm, aus, mar = module_cluster.node("VNM"), module_cluster.node("AUS"), module_cluster.node("MAR")
    vnm.start()
    aus.start()
    pin([vnm, aus])
    federation.add_peer(mar.ctx, None, url=aus.url, expected_fingerprint=federation.node_fingerprint(aus.ctx))
    with httpx.Client(timeout=30) as http:
        yield Network(vnm, aus, mar, http)


def forge(sender: SystemNode, *, to_party: str = "AUS", created: dt.datetime | None = None,
          to_authority: str | None = None, signer: SigningKey | None = None) -> bytes:
    """A sealed `request.event` from the sender's central authority to the peer's, built by hand.
    With `signer`, the envelope is signed by that key but names the sender authority's key."""
    ctx = sender.ctx
    with ctx.unit_of_work() as uow:
        peer = uow.get_peer(to_party)
        assert peer is not None
        descriptor = Descriptor.model_validate(peer.descriptor)
        own = next(a.id for a in uow.list_authorities() if a.kind == "central_authority")
        real = federation.signing_key(ctx, uow, own)
    recipient = descriptor.authority_for("central_authority")
    assert recipient is not None
    described = recipient.encryption_key()
    assert described is not None
    key = EncryptionKey.from_bytes(b64d(described.key))
    sender_party = {"party": sender.party, "authority": own}
    to = {"party": to_party, "authority": to_authority or recipient.id}
    envelope: dict[str, Any] = {
        "v": 1, "id": ctx.new_id(), "type": "request.event",
        "from": sender_party, "to": to,
        "created": utc(created or dt.datetime.now(dt.UTC)), "in_reply_to": None, "request_ref": ctx.new_id(),
        "body": {"seq": 2, "action": "acknowledge", "details": {}},
    }
    if signer is None:
        return seal(envelope, signer=real, recipient=key).wire
    # seal() names the signer's own kid; an impostor names the real one (what seal() does, by hand)
    raw = canonical(envelope)
    signature = signer.sign(envelope_format._SIGNATURE_PREFIX + raw)
    header = {"hcx": envelope_format.ENVELOPE_FORMAT, "id": envelope["id"],
              "from": {**sender_party, "kid": real.public.kid},
              "to": {**to, "kid": key.kid}, "suite": envelope_format.SUITE}
    return envelope_format._encrypt(header, signature + raw, key)


def stored(node: SystemNode) -> tuple[int, int]:
    return len(inbox(node)), len(incoming_exchanges(node))


def assert_refused(net: Network, wire: bytes, reason: str) -> None:
    """One opaque refusal, nothing stored, the reason in the receiver's log."""
    before, offset = stored(net.aus), net.aus.log_size()
    response = net.http.post(f"{net.aus.url}/federation/inbox", content=wire,
                             headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (400, REFUSAL)
    assert stored(net.aus) == before
    wait_for(lambda: reason in net.aus.log_since(offset), timeout=10, what=f"the log line {reason!r}")


def test_a_well_formed_message_is_accepted_and_stored_once(net: Network) -> None:
    """The control: what the other tests break is a message the node takes."""
    before = len(inbox(net.aus))
    wire = forge(net.vnm)
    first = net.http.post(f"{net.aus.url}/federation/inbox", content=wire)
    assert first.status_code == 200 and first.json()["hcx"] == "receipt/1"
    assert len(inbox(net.aus)) == before + 1


def test_unknown_sender(net: Network) -> None:
    assert_refused(net, forge(net.mar), "MAR is not a pinned peer")


def test_bad_signature(net: Network) -> None:
    assert_refused(net, forge(net.vnm, signer=SigningKey.generate()),
                   "InvalidSignature: the Ed25519 signature does not verify")


def test_a_message_for_another_authority(net: Network) -> None:
    assert_refused(net, forge(net.vnm, to_authority="01J0000000000000000000FAKE"),
                   "is addressed to AUS/01J0000000000000000000FAKE, not to this node")


def test_tampered_ciphertext(net: Network) -> None:
    message = json.loads(forge(net.vnm))
    ct = bytearray(b64d(message["ct"]))
    ct[len(ct) // 2] ^= 0x01
    assert_refused(net, canonical(message | {"ct": b64e(bytes(ct))}),
                   "DecryptionError: the message does not decrypt")


def test_a_replay_older_than_the_window_is_refused(net: Network) -> None:
    window = dt.timedelta(hours=168, seconds=300)  # replay_window_hours + clock_skew_seconds (defaults)
    old = dt.datetime.now(dt.UTC) - window - dt.timedelta(hours=1)
    assert_refused(net, forge(net.vnm, created=old), "too old")


def test_a_delivered_message_sent_again_gets_the_same_receipt_and_stores_nothing(net: Network) -> None:
    [rid] = seed_preservations(net.vnm, 1)
    sent = wait_for(lambda: next((m for m in outbox(net.vnm) if m.request_id == rid and m.status == "delivered"),
                                 None), timeout=30, what="the message to be delivered")
    before = stored(net.aus)
    again = net.http.post(f"{net.aus.url}/federation/inbox", content=sent.wire)
    assert (again.status_code, again.json()) == (200, sent.receipt)
    assert stored(net.aus) == before


def test_an_expired_descriptor_of_the_sender(net: Network) -> None:
    ctx = net.aus.ctx
    with ctx.unit_of_work() as uow:
        peer = uow.get_peer("VNM")
        assert peer is not None
        kept = peer.expires_at
        peer.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        uow.commit()
    try:
        assert_refused(net, forge(net.vnm), "the descriptor of VNM expired")
    finally:
        with ctx.unit_of_work() as uow:
            peer = uow.get_peer("VNM")
            assert peer is not None
            peer.expires_at = kept
            uow.commit()


def test_pinning_with_a_wrong_fingerprint_is_refused_by_the_cli(net: Network) -> None:
    wrong = federation.node_fingerprint(net.aus.ctx)  # AUS's, given for VNM's address
    done = subprocess.run(
        [sys.executable, "-m", "hcx.cli.main", "--data-dir", str(net.mar.data_dir), "peer", "add", net.vnm.url,
         "--fingerprint", wrong],
        capture_output=True, timeout=60, check=False, env=_cli_env())
    assert done.returncode == 8, done.stderr.decode()  # VerificationError
    assert b"not pinned" in done.stderr
    with net.mar.ctx.unit_of_work() as uow:
        assert [p.party for p in uow.list_peers()] == ["AUS"]


def test_an_unknown_format_version(net: Network) -> None:
    message: dict[str, Any] = json.loads(forge(net.vnm))
    assert_refused(net, canonical(message | {"hcx": "envelope/2"}), "unknown format version 'envelope/2'")


def test_an_oversized_body(net: Network) -> None:
    assert_refused(net, b"{" + b" " * MAX_WIRE_BYTES + b"}", f"refused a message over {MAX_WIRE_BYTES} bytes")


def _cli_env() -> dict[str, str]:
    import os

    return os.environ | {"HCX_ENV": "dev"}

"""Receipts (`receipt/1`) and signed documents (`<kind>/1`)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hcx.crypto.canonical import canonical
from hcx.crypto.envelope import sign_document, sign_receipt, verify_document, verify_receipt
from hcx.crypto.keys import VerifyKey, b64d, b64e
from hcx.errors import InvalidInput, InvalidSignature, NotFound
from tests.unit.crypto.conftest import Parties

MESSAGE_ID = "01JDB6Z8Q9M5W7X3K2N4P6R8T0"
DIGEST = "sha256:" + "ab" * 32


def receipt(parties: Parties, **changes: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "message_id": MESSAGE_ID,
        "envelope_digest": DIGEST,
        "received_at": "2026-11-23T09:00:01.250Z",
        "by_party": "VNM",
        "by_authority": "central-authority",
        "signer": parties.sender,
    }
    return sign_receipt(**{**arguments, **changes})


def verify(parties: Parties, signed: object, **changes: Any) -> Any:
    arguments: dict[str, Any] = {"message_id": MESSAGE_ID, "envelope_digest": DIGEST}
    return verify_receipt(signed, verify_key_for=parties.directory.verify_key_for, **{**arguments, **changes})


def test_receipt_round_trip(parties: Parties) -> None:
    signed = receipt(parties)
    assert set(signed) == {"hcx", "message_id", "envelope_digest", "received_at", "by", "sig"}
    assert signed["hcx"] == "receipt/1"
    assert signed["by"] == {"party": "VNM", "authority": "central-authority", "kid": parties.sender.public.kid}
    model = verify(parties, signed)
    assert model.message_id == MESSAGE_ID and model.envelope_digest == DIGEST
    unsigned = {k: v for k, v in signed.items() if k != "sig"}
    parties.sender.public.verify(b64d(signed["sig"]), b"hcx receipt/1\n" + canonical(unsigned))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("message_id",), "01JDB6Z8Q9M5W7X3K2N4P6R8T1"),
        (("envelope_digest",), "sha256:" + "cd" * 32),
        (("received_at",), "2026-11-23T09:00:02Z"),
        (("by", "authority"), "police"),
    ],
    ids=["message-id", "digest", "received-at", "by-authority"],
)
def test_tampered_receipt(parties: Parties, path: tuple[str, ...], value: str) -> None:
    signed = copy.deepcopy(receipt(parties))
    target = signed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(InvalidSignature):  # the lookup knows the key under any authority
        verify_receipt(signed, verify_key_for=lambda *_: parties.sender.public,
                       message_id=signed["message_id"], envelope_digest=signed["envelope_digest"])


def test_receipt_for_another_message(parties: Parties) -> None:
    with pytest.raises(InvalidSignature, match="message"):
        verify(parties, receipt(parties), message_id="01JDB6Z8Q9M5W7X3K2N4P6R8T1")
    with pytest.raises(InvalidSignature, match="digest"):
        verify(parties, receipt(parties), envelope_digest="sha256:" + "cd" * 32)


def test_receipt_signed_by_another_key(parties: Parties) -> None:
    signed = receipt(parties)
    signed["sig"] = b64e(parties.other_signer.sign(b"hcx receipt/1\n" + canonical({k: v for k, v in signed.items() if k != "sig"})))
    with pytest.raises(InvalidSignature):
        verify(parties, signed)


def test_receipt_lookup_returning_another_key(parties: Parties) -> None:
    def lookup(party: str, authority: str, kid: str) -> VerifyKey:
        return parties.other_signer.public

    with pytest.raises(InvalidSignature, match="another kid"):
        verify_receipt(receipt(parties), verify_key_for=lookup, message_id=MESSAGE_ID, envelope_digest=DIGEST)


def test_receipt_from_an_unknown_signer(parties: Parties) -> None:
    with pytest.raises(NotFound):
        verify(parties, receipt(parties, signer=parties.other_signer))


@pytest.mark.parametrize(
    "change",
    [{"extra": 1}, {"sig": None}, {"by": {"party": "VNM", "authority": "x"}}, {"received_at": "yesterday"}, {"sig": "!!"}],
    ids=["extra-key", "sig-null", "by-without-kid", "bad-time", "sig-not-base64"],
)
def test_malformed_receipt(parties: Parties, change: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        verify(parties, {**receipt(parties), **change})


@pytest.mark.parametrize("signed", [None, [], "receipt", {"hcx": "receipt/2"}], ids=["none", "list", "str", "version"])
def test_receipt_not_an_object_or_unknown_version(parties: Parties, signed: object) -> None:
    with pytest.raises(InvalidInput):
        verify(parties, signed)


@pytest.mark.parametrize(
    "change",
    [
        {"message_id": "x"},
        {"envelope_digest": "sha256:AB"},
        {"envelope_digest": "md5:" + "ab" * 16},
        {"received_at": "2026-11-23 09:00:00"},
        {"by_party": "Viet Nam"},
        {"by_authority": ""},
    ],
    ids=["message-id", "digest-short", "digest-md5", "time", "party", "authority"],
)
def test_sign_receipt_refuses_bad_fields(parties: Parties, change: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        receipt(parties, **change)


DESCRIPTOR: dict[str, Any] = {
    "party": "VNM",
    "endpoints": {"inbox": "https://hcx.example.vn/inbox"},
    "languages": ["vi", "en", "fr"],
    "name": "Bộ Công an",
}


def test_document_round_trip(parties: Parties) -> None:
    signed = sign_document("descriptor", DESCRIPTOR, parties.sender)
    assert signed["hcx"] == "descriptor/1" and signed["kid"] == parties.sender.public.kid
    assert verify_document("descriptor", signed, parties.sender.public) == DESCRIPTOR


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["document"].update(name="Another"),
        lambda d: d["document"]["languages"].append("ar"),
        lambda d: d.update(sig=b64e(bytes(64))),
    ],
    ids=["field", "nested", "zero-sig"],
)
def test_tampered_document(parties: Parties, tamper: Any) -> None:
    signed = copy.deepcopy(sign_document("descriptor", DESCRIPTOR, parties.sender))
    tamper(signed)
    with pytest.raises(InvalidSignature):
        verify_document("descriptor", signed, parties.sender.public)


def test_document_signed_by_another_key(parties: Parties) -> None:
    signed = sign_document("descriptor", DESCRIPTOR, parties.other_signer)
    with pytest.raises(InvalidSignature, match="signed by key"):
        verify_document("descriptor", signed, parties.sender.public)
    signed["kid"] = parties.sender.public.kid
    with pytest.raises(InvalidSignature):
        verify_document("descriptor", signed, parties.sender.public)


def test_document_of_another_kind(parties: Parties) -> None:
    signed = sign_document("descriptor", DESCRIPTOR, parties.sender)
    with pytest.raises(InvalidInput, match="unknown format version"):
        verify_document("checkpoint", signed, parties.sender.public)
    signed["hcx"] = "checkpoint/1"  # a relabelled document fails its signature: the kind is signed
    with pytest.raises(InvalidSignature):
        verify_document("checkpoint", signed, parties.sender.public)


@pytest.mark.parametrize("kind", ["envelope", "receipt", "Descriptor", "", "a b", "x/1", "a" * 33])
def test_reserved_or_bad_kinds(parties: Parties, kind: str) -> None:
    with pytest.raises(InvalidInput):
        sign_document(kind, DESCRIPTOR, parties.sender)
    with pytest.raises(InvalidInput):
        verify_document(kind, {"hcx": f"{kind}/1"}, parties.sender.public)


@pytest.mark.parametrize(
    "signed",
    [None, [1], {"hcx": "descriptor/1"}, {"hcx": "descriptor/1", "document": [], "kid": "a" * 16, "sig": ""}],
    ids=["none", "list", "missing-keys", "document-list"],
)
def test_malformed_document(parties: Parties, signed: object) -> None:
    with pytest.raises(InvalidInput):
        verify_document("descriptor", signed, parties.sender.public)


@pytest.mark.parametrize("document", [[1], {"x": float("nan")}, {"x": b"bytes"}], ids=["list", "nan", "bytes"])
def test_sign_document_refuses_non_json(parties: Parties, document: Any) -> None:
    with pytest.raises(InvalidInput):
        sign_document("descriptor", document, parties.sender)

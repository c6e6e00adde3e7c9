"""seal/open: round trips in any script, and every tamper raises its own error class."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hcx.crypto import envelope as env
from hcx.crypto.canonical import canonical
from hcx.crypto.keys import VerifyKey, b64d, b64e
from hcx.errors import DecryptionError, Error, InvalidInput, InvalidSignature, NotFound
from tests.unit.crypto.conftest import Parties, make_envelope

SCRIPTS = [
    "طلب المساعدة القانونية المتبادلة",  # Arabic
    "司法协助请求",  # Chinese
    "Yêu cầu tương trợ tư pháp",  # Vietnamese
    "🔐📨✅ 👩🏽‍⚖️",  # emoji, with a ZWJ sequence and a skin-tone modifier
    "Ελληνικά кириллица עברית हिन्दी",
]

json_text = st.one_of(st.sampled_from(SCRIPTS), st.text(st.characters(exclude_categories=["Cs"]), max_size=40))
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    json_text,
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=20,
)
json_body = st.dictionaries(json_text, json_value, max_size=6)


def seal(parties: Parties, **changes: Any) -> env.Sealed:
    return env.seal(make_envelope(**changes), signer=parties.sender, recipient=parties.recipient.public)


def open_(parties: Parties, wire: bytes, **kwargs: Any) -> env.Opened:
    return env.open_(
        wire,
        decryption_key_for=parties.directory.decryption_key_for,
        verify_key_for=parties.directory.verify_key_for,
        **kwargs,
    )


def header_of(wire: bytes) -> dict[str, Any]:
    obj = json.loads(wire)
    assert isinstance(obj, dict)
    return obj


def rewrap(header: dict[str, Any], plaintext: bytes, parties: Parties, recipient: Any = None) -> bytes:
    """Encrypt an arbitrary plaintext under a header, as an attacker who knows the recipient's
    public key can (HPKE base mode does not authenticate the sender)."""
    clear = {k: v for k, v in header.items() if k != "ct"}
    return env._encrypt(clear, plaintext, recipient or parties.recipient.public)


# ---- round trips ---------------------------------------------------------------------------


def test_round_trip(parties: Parties) -> None:
    sealed = seal(parties)
    opened = open_(parties, sealed.wire)
    assert opened.envelope.model_dump(by_alias=True) == make_envelope()
    assert opened.raw_envelope == canonical(make_envelope())
    assert opened.digest == sealed.digest == "sha256:" + hashlib.sha256(opened.raw_envelope).hexdigest()
    assert sealed.id == opened.envelope.id == opened.header.id
    parties.sender.public.verify(opened.signature, b"hcx envelope/1 signature\n" + opened.raw_envelope)


def test_wire_is_canonical_and_names_the_keys(parties: Parties) -> None:
    sealed = seal(parties)
    header = header_of(sealed.wire)
    assert canonical(header) == sealed.wire
    assert set(header) == {"hcx", "id", "from", "to", "suite", "ct"}
    assert header["hcx"] == "envelope/1"
    assert header["suite"] == "MLKEM768-X25519/HKDF-SHA256/AES-256-GCM"
    assert header["from"] == {"party": "VNM", "authority": "central-authority", "kid": parties.sender.public.kid}
    assert header["to"] == {"party": "AUS", "authority": "attorney-general", "kid": parties.recipient.public.kid}
    assert "Preservation" not in sealed.wire.decode()


def test_sealing_twice_gives_different_ciphertexts(parties: Parties) -> None:
    first, second = seal(parties), seal(parties)
    assert first.wire != second.wire
    assert first.digest == second.digest


@settings(max_examples=60, deadline=None)
@given(body=json_body, reply=st.booleans())
def test_round_trip_any_body(parties: Parties, body: dict[str, Any], reply: bool) -> None:
    changes: dict[str, Any] = {"body": body, "in_reply_to": "01JDB6Z8Q9M5W7X3K2N4P6R8T1" if reply else None}
    opened = open_(parties, seal(parties, **changes).wire)
    assert opened.raw_envelope == canonical(make_envelope(**changes))
    assert canonical(opened.envelope.body) == canonical(body)


# ---- seal refuses bad envelopes ------------------------------------------------------------

BAD_ENVELOPES: dict[str, dict[str, Any]] = {
    "v-2": {"v": 2},
    "v-true": {"v": True},
    "v-float": {"v": 1.0},
    "id-lowercase": {"id": "01jdb6z8q9m5w7x3k2n4p6r8t0"},
    "id-short": {"id": "01JDB6Z8Q9M5W7X3K2N4P6R8T"},
    "id-letter-u": {"id": "01JDB6Z8Q9M5W7X3K2N4P6R8TU"},
    "id-overflow": {"id": "81JDB6Z8Q9M5W7X3K2N4P6R8T0"},
    "type-one-word": {"type": "request"},
    "type-upper": {"type": "Request.Submitted"},
    "party-alpha-2": {"from": {"party": "VN", "authority": "central-authority"}},
    "party-lower": {"to": {"party": "aus", "authority": "attorney-general"}},
    "authority-empty": {"from": {"party": "VNM", "authority": ""}},
    "authority-long": {"from": {"party": "VNM", "authority": "a" * 65}},
    "party-extra-key": {"to": {"party": "AUS", "authority": "ag", "kid": "x"}},
    "created-offset": {"created": "2026-11-23T09:00:00+00:00"},
    "created-no-zone": {"created": "2026-11-23T09:00:00"},
    "created-impossible": {"created": "2026-02-30T09:00:00Z"},
    "in-reply-to-bad": {"in_reply_to": "not-a-ulid"},
    "request-ref-empty": {"request_ref": ""},
    "body-list": {"body": [1, 2]},
    "body-int-key": {"body": {1: "x"}},
    "extra-key": {"priority": "high"},
}


@pytest.mark.parametrize("changes", BAD_ENVELOPES.values(), ids=BAD_ENVELOPES.keys())
def test_seal_refuses_bad_envelopes(parties: Parties, changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as info:
        seal(parties, **changes)
    assert info.value.details


@pytest.mark.parametrize("missing", ["in_reply_to", "request_ref", "body", "from"])
def test_seal_refuses_missing_fields(parties: Parties, missing: str) -> None:
    envelope = make_envelope()
    del envelope[missing]
    with pytest.raises(InvalidInput):
        env.seal(envelope, signer=parties.sender, recipient=parties.recipient.public)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), b"bytes", 2**53, {"a", "set"}])
def test_seal_refuses_non_json_bodies(parties: Parties, value: object) -> None:
    with pytest.raises(InvalidInput):
        seal(parties, body={"x": value})


def test_seal_refuses_what_receivers_would_refuse(parties: Parties) -> None:
    with pytest.raises(InvalidInput, match="at most"):
        seal(parties, body={"x": "a" * env.MAX_WIRE_BYTES})


# ---- open refuses tampered or malformed wires ----------------------------------------------


@pytest.mark.parametrize("where", [0, 1119, 1120, -17, -1], ids=["enc-first", "enc-last", "aead-first", "tag-first", "tag-last"])
def test_flipped_ciphertext_byte(parties: Parties, where: int) -> None:
    header = header_of(seal(parties).wire)
    ct = bytearray(b64d(header["ct"]))
    ct[where] ^= 0x01
    header["ct"] = b64e(bytes(ct))
    with pytest.raises(DecryptionError):
        open_(parties, canonical(header))


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_flipped_ciphertext_bit(parties: Parties, data: st.DataObject) -> None:
    header = header_of(seal(parties).wire)
    ct = bytearray(b64d(header["ct"]))
    ct[data.draw(st.integers(0, len(ct) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    header["ct"] = b64e(bytes(ct))
    with pytest.raises(DecryptionError):
        open_(parties, canonical(header))


def test_truncated_ciphertext(parties: Parties) -> None:
    header = header_of(seal(parties).wire)
    header["ct"] = b64e(b64d(header["ct"])[:-1])
    with pytest.raises(DecryptionError):
        open_(parties, canonical(header))


def test_truncated_wire(parties: Parties) -> None:
    with pytest.raises(InvalidInput, match="not JSON"):
        open_(parties, seal(parties).wire[:-10])


def test_header_id_swapped(parties: Parties) -> None:
    header = header_of(seal(parties).wire)
    header["id"] = "01JDB6Z8Q9M5W7X3K2N4P6R8T9"
    with pytest.raises(DecryptionError):
        open_(parties, canonical(header))


def test_header_from_swapped(parties: Parties) -> None:
    header = header_of(seal(parties).wire)
    header["from"] = {"party": "THA", "authority": "central-authority", "kid": parties.other_signer.public.kid}
    with pytest.raises(DecryptionError):
        open_(parties, canonical(header))


def test_header_to_swapped(parties: Parties) -> None:
    """Redirected to another authority of the recipient party (whose key the node also holds)."""
    header = header_of(seal(parties).wire)
    header["to"] = {"party": "AUS", "authority": "federal-police", "kid": parties.other_recipient.public.kid}
    with pytest.raises(DecryptionError):
        open_(parties, canonical(header))


def test_reencrypted_under_another_header(parties: Parties) -> None:
    """A recipient forwards the sender's signed envelope to a third authority, re-encrypted
    under a header naming it: the signed `to` inside E gives it away."""
    sealed = seal(parties)
    plaintext = parties.sender.sign(b"hcx envelope/1 signature\n" + canonical(make_envelope())) + canonical(make_envelope())
    header = header_of(sealed.wire)
    header["to"] = {"party": "AUS", "authority": "federal-police", "kid": parties.other_recipient.public.kid}
    wire = rewrap(header, plaintext, parties, parties.other_recipient.public)
    with pytest.raises(InvalidSignature, match="header does not match the signed envelope"):
        open_(parties, wire)


@pytest.mark.parametrize("field", ["id", "from"])
def test_header_disagrees_with_signed_envelope(parties: Parties, field: str) -> None:
    raw = canonical(make_envelope())
    header = header_of(seal(parties).wire)
    if field == "id":
        header["id"] = "01JDB6Z8Q9M5W7X3K2N4P6R8T9"
    else:  # the same key, also registered for another authority of the sender's party
        header["from"] = {**header["from"], "authority": "police"}
    wire = rewrap(header, parties.sender.sign(b"hcx envelope/1 signature\n" + raw) + raw, parties)
    with pytest.raises(InvalidSignature, match="header does not match"):
        env.open_(wire, decryption_key_for=parties.directory.decryption_key_for, verify_key_for=lambda *_: parties.sender.public)


def test_signature_by_another_key(parties: Parties) -> None:
    raw = canonical(make_envelope())
    forged = parties.other_signer.sign(b"hcx envelope/1 signature\n" + raw) + raw
    with pytest.raises(InvalidSignature):
        open_(parties, rewrap(header_of(seal(parties).wire), forged, parties))


def test_signature_without_domain_separation(parties: Parties) -> None:
    raw = canonical(make_envelope())
    wire = rewrap(header_of(seal(parties).wire), parties.sender.sign(raw) + raw, parties)
    with pytest.raises(InvalidSignature):
        open_(parties, wire)


def test_plaintext_too_short_for_a_signature(parties: Parties) -> None:
    with pytest.raises(InvalidSignature, match="too short"):
        open_(parties, rewrap(header_of(seal(parties).wire), b"x" * 63, parties))


def test_signed_envelope_must_be_canonical(parties: Parties) -> None:
    raw = json.dumps(make_envelope(), indent=1).encode()
    wire = rewrap(header_of(seal(parties).wire), parties.sender.sign(b"hcx envelope/1 signature\n" + raw) + raw, parties)
    with pytest.raises(InvalidInput, match="canonical"):
        open_(parties, wire)


@pytest.mark.parametrize("raw", [canonical(make_envelope(v=2)), b"[1]", b"\xff"], ids=["v2", "array", "not-utf8"])
def test_signed_envelope_must_be_valid(parties: Parties, raw: bytes) -> None:
    wire = rewrap(header_of(seal(parties).wire), parties.sender.sign(b"hcx envelope/1 signature\n" + raw) + raw, parties)
    with pytest.raises(InvalidInput):
        open_(parties, wire)


def test_unknown_recipient_kid_propagates_the_lookup_error(parties: Parties) -> None:
    header = header_of(seal(parties).wire)
    header["to"]["kid"] = "aaaaaaaaaaaaaaaa"
    with pytest.raises(NotFound):
        open_(parties, canonical(header))


def test_unknown_sender_propagates_the_lookup_error(parties: Parties) -> None:
    header = header_of(seal(parties).wire)
    header["from"]["kid"] = parties.other_signer.public.kid
    with pytest.raises(NotFound):
        open_(parties, canonical(header))


def test_lookup_returning_a_key_with_another_kid(parties: Parties) -> None:
    def wrong_key(party: str, authority: str, kid: str) -> VerifyKey:
        return parties.other_signer.public

    with pytest.raises(InvalidSignature, match="another kid"):
        env.open_(seal(parties).wire, decryption_key_for=parties.directory.decryption_key_for, verify_key_for=wrong_key)


@pytest.mark.parametrize("version", ["envelope/2", "envelope/0", "receipt/1", None, 1])
def test_unknown_format_version(parties: Parties, version: object) -> None:
    header = header_of(seal(parties).wire)
    header["hcx"] = version
    with pytest.raises(InvalidInput, match="unknown format version"):
        open_(parties, canonical(header))


def test_missing_format_version(parties: Parties) -> None:
    header = header_of(seal(parties).wire)
    del header["hcx"]
    with pytest.raises(InvalidInput, match="unknown format version"):
        open_(parties, canonical(header))


def test_unknown_suite(parties: Parties) -> None:
    header = header_of(seal(parties).wire)
    header["suite"] = "X25519/HKDF-SHA256/AES-128-GCM"
    with pytest.raises(InvalidInput, match="unknown suite"):
        open_(parties, canonical(header))


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"ct": None},
        {"id": 5},
        {"from": {"party": "VNM", "authority": "central-authority"}},
        {"to": {"party": "AUS", "authority": "attorney-general", "kid": "NOT-A-KID-AT-ALL"}},
    ],
    ids=["extra-key", "ct-null", "id-int", "from-without-kid", "bad-kid"],
)
def test_malformed_header(parties: Parties, change: dict[str, Any]) -> None:
    header = {**header_of(seal(parties).wire), **change}
    with pytest.raises(InvalidInput, match="header is malformed"):
        open_(parties, canonical(header))


def test_missing_header_key(parties: Parties) -> None:
    header = header_of(seal(parties).wire)
    del header["ct"]
    with pytest.raises(InvalidInput):
        open_(parties, canonical(header))


@pytest.mark.parametrize("ct", ["not base64!", "AAA=", "A", "AB"], ids=["chars", "padded", "length", "stray-bits"])
def test_bad_base64_ciphertext(parties: Parties, ct: str) -> None:
    header = header_of(seal(parties).wire)
    header["ct"] = ct
    with pytest.raises(InvalidInput, match="base64url"):
        open_(parties, canonical(header))


@pytest.mark.parametrize(
    "wire",
    [b"", b"not json", b"\xff\xfe", b"[]", b'"envelope/1"', b"NaN", b'{"hcx": "envelope/1", "hcx": "envelope/1"}', b"[" * 100_000],
    ids=["empty", "text", "not-utf8", "array", "string", "nan", "duplicate-key", "deep"],
)
def test_non_json_or_non_object_wire(parties: Parties, wire: bytes) -> None:
    with pytest.raises(InvalidInput):
        open_(parties, wire)


def test_oversized_wire(parties: Parties) -> None:
    sealed = seal(parties)
    assert open_(parties, sealed.wire, max_bytes=len(sealed.wire))
    with pytest.raises(InvalidInput, match="limit"):
        open_(parties, sealed.wire, max_bytes=len(sealed.wire) - 1)


def test_every_failure_is_an_hcx_error(parties: Parties) -> None:
    for wire in (b"x", seal(parties).wire.replace(b'"ct":"', b'"ct":"A')):
        with pytest.raises(Error):
            open_(parties, wire)

"""Envelopes (format `envelope/1`), receipts (`receipt/1`) and signed documents (`<kind>/1`).

The layout is written down in docs/envelope.md. In short: the envelope E is RFC 8785 JSON,
signed with Ed25519 over b"hcx envelope/1 signature\\n" + E; signature || E is encrypted with
HPKE (MLKEM768-X25519 / HKDF-SHA256 / AES-256-GCM) to the recipient authority, with the clear
wire header bound in as HPKE `info`. A new layout means a new version string; receivers refuse
versions they do not know.

`open_` checks in a fixed order and raises at the first failure:
size → JSON → version → header shape → suite → key lookups → HPKE → signature → E's shape →
E agrees with the header. Only then is anything in E trusted.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from hcx.crypto import _primitives as p
from hcx.crypto.canonical import canonical, parse_canonical, parse_json
from hcx.crypto.keys import DecryptionKey, EncryptionKey, SigningKey, VerifyKey, b64d, b64e
from hcx.errors import InvalidInput, InvalidSignature

__all__ = [
    "ENVELOPE_FORMAT",
    "MAX_WIRE_BYTES",
    "RECEIPT_FORMAT",
    "SUITE",
    "Envelope",
    "KeyedParty",
    "Opened",
    "Party",
    "Receipt",
    "Sealed",
    "WireHeader",
    "digest_of",
    "open_",
    "seal",
    "sign_document",
    "sign_receipt",
    "verify_document",
    "verify_receipt",
]

ENVELOPE_FORMAT: Final = "envelope/1"
RECEIPT_FORMAT: Final = "receipt/1"
SUITE: Final = p.HPKE_SUITE_NAME
MAX_WIRE_BYTES: Final = 4_194_304

_INFO_PREFIX: Final = b"hcx envelope/1\n"
_SIGNATURE_PREFIX: Final = b"hcx envelope/1 signature\n"
_RECEIPT_PREFIX: Final = b"hcx receipt/1\n"
_SIGNATURE_SIZE: Final = p.ED25519_SIGNATURE_SIZE
_KIND = re.compile(r"[a-z][a-z0-9-]{0,31}")
_RESERVED_KINDS: Final = frozenset({"envelope", "receipt"})

KeyLookup = Callable[[str, str, str], VerifyKey]
DecryptionKeyLookup = Callable[[str, str, str], DecryptionKey]


def _utc_timestamp(value: str) -> str:
    try:
        dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("not a valid date and time") from exc
    return value


Ulid = Annotated[str, Field(pattern=r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
Kid = Annotated[str, Field(pattern=r"^[a-z2-7]{16}$")]
Timestamp = Annotated[
    str,
    Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"),
    AfterValidator(_utc_timestamp),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=False)


class Party(_Strict):
    party: str = Field(pattern=r"^[A-Z]{3}$")
    authority: str = Field(min_length=1, max_length=64)


class KeyedParty(Party):
    kid: Kid


class Envelope(_Strict):
    """The signed envelope E. `from` is a Python keyword: read it as `envelope.from_`."""

    v: Annotated[int, Field(ge=1, le=1)]
    id: Ulid
    type: str = Field(pattern=r"^[a-z]+(\.[a-z_]+)+$", max_length=64)
    from_: Party = Field(alias="from")
    to: Party
    created: Timestamp
    in_reply_to: Ulid | None
    request_ref: str | None = Field(min_length=1, max_length=128)
    body: dict[str, Any]


class WireHeader(_Strict):
    """The clear part of the wire message (everything but the ciphertext is HPKE `info`)."""

    hcx: str
    id: Ulid
    from_: KeyedParty = Field(alias="from")
    to: KeyedParty
    suite: str
    ct: str


class _ReceiptFields(_Strict):
    hcx: str
    message_id: Ulid
    envelope_digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    received_at: Timestamp
    by: KeyedParty


class Receipt(_ReceiptFields):
    sig: str


class _SignedDocument(_Strict):
    hcx: str
    document: dict[str, Any]
    kid: Kid
    sig: str


@dataclass(frozen=True, slots=True)
class Sealed:
    id: str
    wire: bytes  # canonical JSON: the HTTP body to POST
    digest: str  # "sha256:" + hex SHA-256 of E


@dataclass(frozen=True, slots=True)
class Opened:
    envelope: Envelope
    header: WireHeader
    digest: str
    raw_envelope: bytes  # E, exactly as signed
    signature: bytes  # the sender's Ed25519 signature over b"hcx envelope/1 signature\n" + E


_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], data: object, what: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [f"{'.'.join(str(part) for part in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()]
        raise InvalidInput(f"{what} is malformed", details=details) from exc


def _object(data: object, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInput(f"{what} is not a JSON object")
    return data


def _check_version(obj: dict[str, Any], expected: str) -> None:
    found = obj.get("hcx")
    if found != expected:
        raise InvalidInput(f"unknown format version {found!r}: expected {expected!r}")


def digest_of(raw_envelope: bytes) -> str:
    """The envelope digest that receipts refer to: "sha256:" + hex SHA-256 of E."""
    return "sha256:" + p.sha256(raw_envelope).hex()


def _info(header: dict[str, Any]) -> bytes:
    return _INFO_PREFIX + canonical({k: v for k, v in header.items() if k != "ct"})


def _encrypt(header: dict[str, Any], plaintext: bytes, recipient: EncryptionKey) -> bytes:
    """The wire bytes for `header` (without "ct") and a plaintext: signature || E."""
    ct = recipient._encrypt(plaintext, _info(header))
    return canonical({**header, "ct": b64e(ct)})


def seal(envelope: dict[str, Any], *, signer: SigningKey, recipient: EncryptionKey) -> Sealed:
    """Validate, sign and encrypt an envelope for one recipient authority."""
    model = _validate(Envelope, envelope, "the envelope")
    raw = canonical(model.model_dump(by_alias=True))
    signature = signer.sign(_SIGNATURE_PREFIX + raw)
    header = {
        "hcx": ENVELOPE_FORMAT,
        "id": model.id,
        "from": {**model.from_.model_dump(), "kid": signer.public.kid},
        "to": {**model.to.model_dump(), "kid": recipient.kid},
        "suite": SUITE,
    }
    wire = _encrypt(header, signature + raw, recipient)
    if len(wire) > MAX_WIRE_BYTES:
        raise InvalidInput(f"the sealed envelope is {len(wire)} bytes; receivers accept at most {MAX_WIRE_BYTES}")
    return Sealed(id=model.id, wire=wire, digest=digest_of(raw))


def _parse_signed_envelope(raw: bytes) -> Envelope:
    try:
        obj = parse_canonical(raw)
    except InvalidInput as exc:
        raise InvalidInput(f"the signed envelope: {exc.message}") from exc
    return _validate(Envelope, obj, "the signed envelope")


def open_(
    wire: bytes,
    *,
    decryption_key_for: DecryptionKeyLookup,
    verify_key_for: KeyLookup,
    max_bytes: int = MAX_WIRE_BYTES,
) -> Opened:
    """Check and open a wire message addressed to us. Raises InvalidInput, DecryptionError or
    InvalidSignature (see the module docstring for the order), or whatever the lookups raise
    for an unknown sender or recipient."""
    if len(wire) > max_bytes:
        raise InvalidInput(f"the message is {len(wire)} bytes; the limit is {max_bytes}")
    obj = _object(parse_json(wire), "the message")
    _check_version(obj, ENVELOPE_FORMAT)
    header = _validate(WireHeader, obj, "the envelope header")
    if header.suite != SUITE:
        raise InvalidInput(f"unknown suite {header.suite!r}: expected {SUITE!r}")
    ciphertext = b64d(header.ct)

    decryption_key = decryption_key_for(header.to.party, header.to.authority, header.to.kid)
    verify_key = verify_key_for(header.from_.party, header.from_.authority, header.from_.kid)
    if verify_key.kid != header.from_.kid:
        raise InvalidSignature("the sender's key lookup returned a key with another kid")

    plaintext = decryption_key._decrypt(ciphertext, _info(obj))
    if len(plaintext) < _SIGNATURE_SIZE:
        raise InvalidSignature("the decrypted message is too short to hold a signature")
    signature, raw = plaintext[:_SIGNATURE_SIZE], plaintext[_SIGNATURE_SIZE:]
    verify_key.verify(signature, _SIGNATURE_PREFIX + raw)

    envelope = _parse_signed_envelope(raw)
    signed_header = (envelope.id, envelope.from_, envelope.to)
    clear_header = (
        header.id,
        Party(party=header.from_.party, authority=header.from_.authority),
        Party(party=header.to.party, authority=header.to.authority),
    )
    if signed_header != clear_header:
        raise InvalidSignature("the header does not match the signed envelope (id, from or to)")
    return Opened(envelope=envelope, header=header, digest=digest_of(raw), raw_envelope=raw, signature=signature)


def sign_receipt(
    *,
    message_id: str,
    envelope_digest: str,
    received_at: str,
    by_party: str,
    by_authority: str,
    signer: SigningKey,
) -> dict[str, Any]:
    """A signed statement that `by` received the envelope `envelope_digest` at `received_at`."""
    unsigned: dict[str, Any] = {
        "hcx": RECEIPT_FORMAT,
        "message_id": message_id,
        "envelope_digest": envelope_digest,
        "received_at": received_at,
        "by": {"party": by_party, "authority": by_authority, "kid": signer.public.kid},
    }
    _validate(_ReceiptFields, unsigned, "the receipt")
    return {**unsigned, "sig": b64e(signer.sign(_RECEIPT_PREFIX + canonical(unsigned)))}


def verify_receipt(
    receipt: object,
    *,
    verify_key_for: KeyLookup,
    message_id: str,
    envelope_digest: str,
) -> Receipt:
    """Check a receipt's shape and signature, and that it is for this message and envelope."""
    obj = _object(receipt, "the receipt")
    _check_version(obj, RECEIPT_FORMAT)
    model = _validate(Receipt, obj, "the receipt")
    signature = b64d(model.sig)
    key = verify_key_for(model.by.party, model.by.authority, model.by.kid)
    if key.kid != model.by.kid:
        raise InvalidSignature("the receipt signer's key lookup returned a key with another kid")
    key.verify(signature, _RECEIPT_PREFIX + canonical({k: v for k, v in obj.items() if k != "sig"}))
    if model.message_id != message_id:
        raise InvalidSignature(f"the receipt is for message {model.message_id}, not {message_id}")
    if model.envelope_digest != envelope_digest:
        raise InvalidSignature("the receipt is for another envelope digest than the one sent")
    return model


def _check_kind(kind: str) -> None:
    if not _KIND.fullmatch(kind) or kind in _RESERVED_KINDS:
        raise InvalidInput(f"{kind!r} is not a document kind (lowercase, not 'envelope' or 'receipt')")


def _document_message(kind: str, document: dict[str, Any]) -> bytes:
    return f"hcx {kind}/1\n".encode() + canonical(document)


def sign_document(kind: str, document: dict[str, Any], signer: SigningKey) -> dict[str, Any]:
    """Wrap and sign a JSON object, e.g. the node descriptor (`kind="descriptor"`)."""
    _check_kind(kind)
    if not isinstance(document, dict):
        raise InvalidInput("a signed document is a JSON object")
    signature = signer.sign(_document_message(kind, document))
    return {"hcx": f"{kind}/1", "document": document, "kid": signer.public.kid, "sig": b64e(signature)}


def verify_document(kind: str, signed: object, key: VerifyKey) -> dict[str, Any]:
    """Return the document if `signed` is a `kind` document signed by `key`; raise otherwise."""
    _check_kind(kind)
    obj = _object(signed, "the signed document")
    _check_version(obj, f"{kind}/1")
    model = _validate(_SignedDocument, obj, "the signed document")
    signature = b64d(model.sig)
    if model.kid != key.kid:
        raise InvalidSignature(f"the document is signed by key {model.kid}, not {key.kid}")
    key.verify(signature, _document_message(kind, model.document))
    return model.document

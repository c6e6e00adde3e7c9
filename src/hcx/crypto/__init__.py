"""Crypto that is hard to misuse: keys, RFC 8785 canonical JSON, envelopes, receipts and signed
documents. Only `_primitives` touches `cryptography.hazmat`; everything else calls it."""

from hcx.crypto.canonical import canonical
from hcx.crypto.envelope import (
    Envelope,
    Opened,
    Receipt,
    Sealed,
    open_,
    seal,
    sign_document,
    sign_receipt,
    verify_document,
    verify_receipt,
)
from hcx.crypto.keys import (
    DecryptionKey,
    EncryptionKey,
    SigningKey,
    Vault,
    VerifyKey,
    b64d,
    b64e,
    fingerprint,
    parse_fingerprint,
)

__all__ = [
    "DecryptionKey",
    "EncryptionKey",
    "Envelope",
    "Opened",
    "Receipt",
    "Sealed",
    "SigningKey",
    "Vault",
    "VerifyKey",
    "b64d",
    "b64e",
    "canonical",
    "fingerprint",
    "open_",
    "parse_fingerprint",
    "seal",
    "sign_document",
    "sign_receipt",
    "verify_document",
    "verify_receipt",
]

"""Crypto that is hard to misuse: keys, RFC 8785 canonical JSON, envelopes, receipts, signed
documents and the age file format for evidence. Only `_primitives` touches `cryptography.hazmat`;
everything else calls it."""

from hcx.crypto.age import AgeIdentity, AgeRecipient, DecryptResult, EncryptResult, decrypt, encrypt
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
    "AgeIdentity",
    "AgeRecipient",
    "DecryptResult",
    "DecryptionKey",
    "EncryptResult",
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
    "decrypt",
    "encrypt",
    "fingerprint",
    "open_",
    "parse_fingerprint",
    "seal",
    "sign_document",
    "sign_receipt",
    "verify_document",
    "verify_receipt",
]

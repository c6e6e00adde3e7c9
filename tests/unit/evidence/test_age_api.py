"""The API the evidence code uses from hcx.crypto.age (kept by whichever implementation is merged)."""

from __future__ import annotations

import hashlib
import io

import pytest

from hcx.crypto.age import AgeIdentity, AgeRecipient, decrypt, encrypt
from hcx.errors import DecryptionError, InvalidInput


def test_round_trip_to_two_recipients_with_digests_on_the_side() -> None:
    first, second = AgeIdentity.generate(), AgeIdentity.generate()
    plaintext = bytes(range(256)) * 1000
    sealed = io.BytesIO()
    result = encrypt(io.BytesIO(plaintext), sealed, [first.recipient, AgeRecipient.parse(str(second.recipient))])
    assert (result.size, result.sha256) == (len(plaintext), hashlib.sha256(plaintext).digest())
    for identity in (first, AgeIdentity.parse(second.secret_text())):
        out = io.BytesIO()
        opened = decrypt(io.BytesIO(sealed.getvalue()), out, [identity])
        assert out.getvalue() == plaintext and opened.sha256 == result.sha256
    assert str(first.recipient) not in repr(first) or "SECRET" not in repr(first)


def test_wrong_identity_and_tampering_are_decryption_errors() -> None:
    identity = AgeIdentity.generate()
    sealed = io.BytesIO()
    encrypt(io.BytesIO(b"evidence" * 10000), sealed, [identity.recipient])
    with pytest.raises(DecryptionError):
        decrypt(io.BytesIO(sealed.getvalue()), io.BytesIO(), [AgeIdentity.generate()])
    tampered = bytearray(sealed.getvalue())
    tampered[-100] ^= 1
    with pytest.raises(DecryptionError):
        decrypt(io.BytesIO(bytes(tampered)), io.BytesIO(), [identity])


def test_bad_keys_are_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        AgeRecipient.parse("age1notakey")
    with pytest.raises(InvalidInput):
        AgeIdentity.parse("AGE-SECRET-KEY-1NOPE")

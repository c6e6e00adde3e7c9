"""The primitives module: the narrow waist between hcx and pyca/cryptography."""

from __future__ import annotations

import pickle

import pytest

from hcx.crypto import _primitives as p
from hcx.errors import DecryptionError, InvalidInput, InvalidSignature


def test_hybrid_round_trip_and_sizes() -> None:
    key = p.HybridPrivate.generate()
    assert len(key.public.raw) == p.HYBRID_PUBLIC_SIZE == 1216
    assert len(key.private_bytes()) == p.HYBRID_PRIVATE_SIZE == 96
    ct = key.public.encrypt(b"secret", b"info")
    assert len(ct) == 1120 + len(b"secret") + 16  # enc (ML-KEM ct 1088 + X25519 32) || AEAD ct || tag
    assert key.decrypt(ct, b"info") == b"secret"
    with pytest.raises(DecryptionError):
        key.decrypt(ct, b"other info")
    with pytest.raises(DecryptionError):
        p.HybridPrivate.generate().decrypt(ct, b"info")
    with pytest.raises(DecryptionError):
        key.decrypt(b"", b"info")


def test_hybrid_key_from_private_bytes() -> None:
    key = p.HybridPrivate.generate()
    again = p.HybridPrivate(key.private_bytes())
    assert again.public.raw == key.public.raw
    assert again.decrypt(key.public.encrypt(b"m", b""), b"") == b"m"


def test_ed25519_refuses_bad_public_keys() -> None:
    with pytest.raises(InvalidInput):
        p.ed25519_verify(b"\x00" * 31, b"\x00" * 64, b"")
    with pytest.raises(InvalidSignature):
        p.ed25519_verify(b"\x00" * 32, b"\x00" * 64, b"")


def test_x25519_rfc7748_section_6_1() -> None:
    alice = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bob_public = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    assert p.x25519_shared_secret(alice, bob_public).hex() == shared
    with pytest.raises(InvalidInput):
        p.x25519_shared_secret(alice[:31], bob_public)
    with pytest.raises(InvalidInput):
        p.x25519_shared_secret(alice, b"\x00" * 32)


def test_random_bytes_and_sha256() -> None:
    assert len(p.random_bytes(32)) == 32 and p.random_bytes(32) != p.random_bytes(32)
    assert p.sha256(b"abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_hkdf_sha256_rfc5869_case_1() -> None:
    okm = p.hkdf_sha256(b"\x0b" * 22, salt=bytes(range(13)), info=bytes(range(0xF0, 0xFA)), length=42)
    assert okm.hex() == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"


def test_hmac_sha256_rfc4231_case_2() -> None:
    mac = p.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert mac.hex() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    p.hmac_sha256_verify(b"Jefe", b"what do ya want for nothing?", mac)
    with pytest.raises(InvalidSignature):
        p.hmac_sha256_verify(b"Jefe", b"what do ya want for nothing!", mac)


def test_x25519_public_is_the_basepoint_multiple() -> None:
    alice, bob = p.random_bytes(32), p.random_bytes(32)
    assert p.x25519_shared_secret(alice, p.x25519_public(bob)) == p.x25519_shared_secret(bob, p.x25519_public(alice))
    with pytest.raises(InvalidInput):
        p.x25519_public(b"\x01" * 31)


def test_chacha20_poly1305_key() -> None:
    key = p.ChaCha20Poly1305Key(p.random_bytes(32))
    nonce, plaintext = bytes(12), b"chunk" * 100
    sealed = key.encrypt(nonce, plaintext)
    assert len(sealed) == len(plaintext) + p.CHACHA20_POLY1305_TAG_SIZE
    out = bytearray(len(sealed))
    key.encrypt_into(nonce, memoryview(plaintext), memoryview(out))
    assert bytes(out) == sealed and key.decrypt(nonce, sealed) == plaintext
    opened = bytearray(len(plaintext))
    key.decrypt_into(nonce, memoryview(sealed), memoryview(opened))
    assert bytes(opened) == plaintext
    with pytest.raises(DecryptionError):
        key.decrypt(b"\x01" + bytes(11), sealed)
    with pytest.raises(DecryptionError):
        key.decrypt_into(nonce, memoryview(sealed[:-1] + bytes([sealed[-1] ^ 1])), memoryview(opened))
    with pytest.raises(InvalidInput):
        p.ChaCha20Poly1305Key(bytes(16))
    assert repr(key) == "ChaCha20Poly1305Key()"
    with pytest.raises(TypeError):
        pickle.dumps(key)

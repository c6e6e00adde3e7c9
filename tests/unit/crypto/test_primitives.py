"""The primitives module: the narrow waist between hcx and pyca/cryptography."""

from __future__ import annotations

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

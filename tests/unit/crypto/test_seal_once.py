"""`seal_once` / `open_once`: ChaCha20-Poly1305 under a key made for one message (the match
protocol's point attachments)."""

from __future__ import annotations

import pytest

from hcx.crypto import _primitives as p
from hcx.errors import DecryptionError, InvalidInput


def test_a_fresh_key_each_time_and_the_associated_data_bound_in() -> None:
    plaintext = bytes(range(256)) * 10
    key, sealed = p.seal_once(plaintext, b"message 1")
    other_key, other = p.seal_once(plaintext, b"message 1")
    assert len(key) == 32 and key != other_key and sealed != other  # never one key for two messages
    assert len(sealed) == len(plaintext) + p.CHACHA20_POLY1305_TAG_SIZE
    assert p.open_once(key, sealed, b"message 1") == plaintext
    for wrong in ((key, sealed, b"message 2"), (other_key, sealed, b"message 1"), (key, other, b"message 1"),
                  (key, sealed[:-1] + bytes([sealed[-1] ^ 1]), b"message 1"),
                  (key, bytes([sealed[0] ^ 1]) + sealed[1:], b"message 1"), (key, sealed[:-1], b"message 1")):
        with pytest.raises(DecryptionError):
            p.open_once(*wrong)
    with pytest.raises(InvalidInput, match="32 bytes, not 16"):
        p.open_once(key[:16], sealed, b"message 1")


def test_the_empty_plaintext_is_just_a_tag() -> None:
    key, sealed = p.seal_once(b"", b"")
    assert len(sealed) == p.CHACHA20_POLY1305_TAG_SIZE and p.open_once(key, sealed, b"") == b""

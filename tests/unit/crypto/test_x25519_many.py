"""The batched X25519 of the private set intersection (`_primitives.x25519_exchange_many`) gives,
point by point, what pyca's public API gives."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from hcx.crypto import _primitives as p
from hcx.crypto import psi
from hcx.errors import InvalidInput


def test_the_batch_is_the_public_api_point_by_point() -> None:
    rng = random.Random(5)
    scalar = rng.randbytes(32)
    points = psi.hash_to_points("S", [rng.randbytes(12) for _ in range(40)]) + rng.randbytes(32 * 20)  # and twist points
    key = x25519.X25519PrivateKey.from_private_bytes(scalar)
    expected = b"".join(key.exchange(x25519.X25519PublicKey.from_public_bytes(points[i:i + 32]))
                        for i in range(0, len(points), 32))
    assert p.x25519_exchange_many(scalar, points) == expected
    assert p.x25519_exchange_many(scalar, b"") == b""


def test_a_low_order_point_is_refused_by_the_batch() -> None:
    with pytest.raises(InvalidInput, match="low order"):
        p.x25519_exchange_many(bytes(range(32)), psi.hash_to_point("S", b"x") + bytes(32))

"""`psi.intersect`, the initiator's last step, against the plain dict it replaced: on random lists,
on points that share a prefix (the first 8 bytes, or all but the first byte's bits, which the sort
key drops), and on lists that repeat a point."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from hcx.crypto import psi


def plain(mine: bytes, theirs: bytes) -> list[tuple[int, int]]:
    """The reference: a dict from each of their points to its (last) position."""
    where = {theirs[j:j + 32]: j // 32 for j in range(0, len(theirs), 32)}
    return [(i // 32, where[mine[i:i + 32]]) for i in range(0, len(mine), 32) if mine[i:i + 32] in where]


def variants(seed: bytes) -> list[bytes]:
    """A point and points that collide with it in part: the same first 8 bytes, the same first word
    but for the low bits of its first byte, the same but for the last byte."""
    return [seed, seed[:8] + bytes(32 - 8 - 1) + b"\x01", bytes([seed[0] ^ 1]) + seed[1:],
            bytes([seed[0] ^ 0x80]) + seed[1:], seed[:31] + bytes([seed[31] ^ 0xFF])]


POOL = [v for seed in (bytes(range(32)), bytes([0xAB]) * 32, bytes(32)) for v in variants(seed)]
points = st.one_of(st.sampled_from(POOL), st.binary(min_size=32, max_size=32))


@settings(max_examples=300, deadline=None)
@given(st.lists(points, max_size=30), st.lists(points, max_size=30))
def test_intersect_is_the_plain_dict(mine: list[bytes], theirs: list[bytes]) -> None:
    x, y = b"".join(mine), b"".join(theirs)
    assert psi.intersect(x, y) == plain(x, y)


def test_a_large_intersection_with_planted_collisions() -> None:
    rng = random.Random(3)
    common = [rng.randbytes(32) for _ in range(3000)]
    mine = common + [rng.randbytes(32) for _ in range(17000)]
    theirs = [rng.randbytes(32) for _ in range(15000)] + common
    for seed in rng.sample(common, 50) + rng.sample(mine[3000:], 50):  # near misses on their side
        theirs += variants(seed)[1:]
    theirs += rng.sample(common, 20)  # repeated points: the later position wins
    rng.shuffle(mine)
    rng.shuffle(theirs)
    x, y = b"".join(mine), b"".join(theirs)
    pairs = psi.intersect(x, y)
    assert pairs == plain(x, y)
    assert len(pairs) == 3000 and [i for i, _ in pairs] == sorted(i for i, _ in pairs)


def test_empty_lists_intersect_to_nothing() -> None:
    point = bytes(range(32))
    assert psi.intersect(b"", point) == psi.intersect(point, b"") == psi.intersect(b"", b"") == []
    assert psi.intersect(point, point) == [(0, 0)]

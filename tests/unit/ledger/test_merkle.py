"""Merkle maths, by property: for every size up to ~300 and every index, generated proofs verify,
and any single bit flipped in a proof, a root or an index makes verification raise."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hcx.errors import InclusionProofError, InvalidInput
from hcx.ledger.frontier import Frontier
from hcx.ledger.merkle import (
    EMPTY_ROOT,
    FetchSubtrees,
    Subtree,
    consistency_proof,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    perfect_subtrees,
    root,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 300


def leaves(size: int) -> list[bytes]:
    return [leaf_hash(b"entry %d" % i) for i in range(size)]


def reference_root(hashes: Sequence[bytes]) -> bytes:
    """MTH exactly as RFC 9162 §2.1.1 defines it, recursively: the oracle for everything else."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return node_hash(reference_root(hashes[:k]), reference_root(hashes[k:]))


def store(hashes: Sequence[bytes]) -> tuple[FetchSubtrees, list[int]]:
    nodes = {(s.level, s.index): s.hash for s in Frontier().extend(hashes)}
    calls: list[int] = []

    def fetch(wanted: Sequence[Subtree]) -> list[bytes]:
        calls.append(len(wanted))
        return [nodes[(s.level, s.index)] for s in wanted]

    return fetch, calls


ALL = leaves(MAX_SIZE)
FETCH, CALLS = store(ALL)


def flip(data: bytes, bit: int) -> bytes:
    bit %= len(data) * 8
    return data[: bit // 8] + bytes([data[bit // 8] ^ (1 << bit % 8)]) + data[bit // 8 + 1 :]


@given(st.integers(0, MAX_SIZE))
def test_roots_match_the_rfc_definition(size: int) -> None:
    expected = reference_root(ALL[:size])
    assert root(size, FETCH) == expected
    assert Frontier.of(ALL[:size]).root() == expected


@settings(max_examples=40, deadline=None)
@given(st.integers(1, MAX_SIZE))
def test_every_inclusion_proof_verifies_with_one_fetch(size: int) -> None:
    expected = reference_root(ALL[:size])
    for index in range(size):
        CALLS.clear()
        proof = inclusion_proof(index, size, FETCH)
        assert len(CALLS) <= 1 and len(proof) <= size.bit_length()
        verify_inclusion(index, size, ALL[index], proof, expected)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_flipped_bit_breaks_an_inclusion_proof(data: st.DataObject) -> None:
    size = data.draw(st.integers(2, MAX_SIZE))
    index = data.draw(st.integers(0, size - 1))
    proof, expected = inclusion_proof(index, size, FETCH), reference_root(ALL[:size])
    bit = data.draw(st.integers(0, 255))
    target = data.draw(st.sampled_from(["proof", "root", "leaf", "index"]))
    with pytest.raises(InclusionProofError):
        if target == "proof":
            position = data.draw(st.integers(0, len(proof) - 1))
            proof[position] = flip(proof[position], bit)
            verify_inclusion(index, size, ALL[index], proof, expected)
        elif target == "root":
            verify_inclusion(index, size, ALL[index], proof, flip(expected, bit))
        elif target == "leaf":
            verify_inclusion(index, size, flip(ALL[index], bit), proof, expected)
        else:
            verify_inclusion(index ^ (1 << bit % size.bit_length()), size, ALL[index], proof, expected)


def _shape(index: int, size: int) -> list[bool]:
    """For each proof node, whether it lies left of the leaf: what the verifier's path depends on."""
    return [end <= index for _, end in inclusion_ranges(index, size)]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_flipped_size_bit_breaks_an_inclusion_proof_unless_the_path_is_the_same(data: st.DataObject) -> None:
    """RFC 9162 binds the size to the root through the signed checkpoint, not through the proof:
    sizes whose paths to `index` have the same shape accept the same proof (e.g. leaf 0 in trees
    of 5 and 7 leaves). Any other flip must raise."""
    size = data.draw(st.integers(1, MAX_SIZE))
    index = data.draw(st.integers(0, size - 1))
    flipped = size ^ (1 << data.draw(st.integers(0, MAX_SIZE.bit_length())))
    proof, expected = inclusion_proof(index, size, FETCH), reference_root(ALL[:size])
    if index < flipped and _shape(index, flipped) == _shape(index, size):
        verify_inclusion(index, flipped, ALL[index], proof, expected)
    else:
        with pytest.raises(InclusionProofError):
            verify_inclusion(index, flipped, ALL[index], proof, expected)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, MAX_SIZE))
def test_every_consistency_proof_verifies(new_size: int) -> None:
    new_root = reference_root(ALL[:new_size])
    for old_size in range(1, new_size + 1):
        proof = consistency_proof(old_size, new_size, FETCH)
        verify_consistency(old_size, new_size, reference_root(ALL[:old_size]), new_root, proof)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_flipped_bit_breaks_a_consistency_proof(data: st.DataObject) -> None:
    new_size = data.draw(st.integers(2, MAX_SIZE))
    old_size = data.draw(st.integers(1, new_size - 1))
    proof = consistency_proof(old_size, new_size, FETCH)
    old_root, new_root = reference_root(ALL[:old_size]), reference_root(ALL[:new_size])
    bit = data.draw(st.integers(0, 255))
    target = data.draw(st.sampled_from(["proof", "old root", "new root"]))
    with pytest.raises(InclusionProofError):
        if target == "proof":
            position = data.draw(st.integers(0, len(proof) - 1))
            proof[position] = flip(proof[position], bit)
            verify_consistency(old_size, new_size, old_root, new_root, proof)
        elif target == "old root":
            verify_consistency(old_size, new_size, flip(old_root, bit), new_root, proof)
        else:
            verify_consistency(old_size, new_size, old_root, flip(new_root, bit), proof)


@given(st.integers(1, MAX_SIZE), st.integers(1, MAX_SIZE))
def test_a_consistency_proof_against_another_log_fails(old_size: int, extra: int) -> None:
    other = [leaf_hash(b"other %d" % i) for i in range(old_size)] + ALL[old_size : old_size + extra]
    other_fetch, _ = store(other)
    new_size = old_size + extra
    if new_size > len(other):
        return
    with pytest.raises(InclusionProofError):
        verify_consistency(old_size, new_size, reference_root(ALL[:old_size]), reference_root(other),
                           consistency_proof(old_size, new_size, other_fetch))


@pytest.mark.parametrize(("start", "end", "expected"), [
    (0, 0, []), (0, 1, [(0, 0)]), (0, 6, [(2, 0), (1, 2)]), (8, 15, [(2, 2), (1, 6), (0, 14)]), (0, 8, [(3, 0)]),
])
def test_perfect_subtrees(start: int, end: int, expected: list[tuple[int, int]]) -> None:
    assert perfect_subtrees(start, end) == [Subtree(level, index) for level, index in expected]


def test_proofs_outside_the_tree_are_refused() -> None:
    with pytest.raises(InclusionProofError, match="not in a tree of size 3"):
        inclusion_proof(3, 3, FETCH)
    with pytest.raises(InclusionProofError):
        consistency_proof(0, 3, FETCH)
    with pytest.raises(InclusionProofError, match="does not shrink"):
        verify_consistency(4, 3, ALL[0], ALL[0], [])


def test_a_store_that_answers_short_is_caught() -> None:
    with pytest.raises(InclusionProofError, match="returned 0 subtree hashes"):
        inclusion_proof(0, 8, lambda wanted: [])


def test_frontier_round_trips_and_rejects_a_wrong_shape() -> None:
    frontier = Frontier.of(ALL[:13])
    again = Frontier.from_bytes(13, frontier.to_bytes())
    assert again.root() == frontier.root() and again.subtrees() == perfect_subtrees(0, 13)
    assert again.append(ALL[13]) == Frontier.of(ALL[:13]).append(ALL[13])
    with pytest.raises(InvalidInput):
        Frontier.from_bytes(12, frontier.to_bytes())
    with pytest.raises(InvalidInput):
        Frontier(1, [b"short"])
    with pytest.raises(InvalidInput):
        Frontier().append(hashlib.sha256(b"").digest()[:31])

"""RFC 9162 (§2.1) / RFC 6962 Merkle tree hashes and proofs, over SHA-256.

    leaf hash  = SHA-256(0x00 || data)        node hash = SHA-256(0x01 || left || right)

Proofs are generated from *perfect subtrees* — [start, start + 2**level) with start a multiple of
2**level — because that is what a store can keep for every level and answer by key. Every node of
an RFC 9162 proof is the root of a range [a, b) whose perfect decomposition (the binary digits of
b - a, largest first) folds right to left into that root. So a proof is planned first (pure
arithmetic), its O(log n) perfect subtrees fetched in ONE call (one indexed query, one round trip
to PostgreSQL), then folded.

Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 and raises InclusionProofError naming the
first thing that failed; it never returns False. Beyond the RFC it refuses, as the reference
verifier of the transparency-dev vectors does: hashes that are not 32 bytes, an index outside the
tree, a consistency proof from the empty tree, and a non-empty proof between equal sizes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from hcx.errors import InclusionProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "FetchSubtrees",
    "Subtree",
    "consistency_proof",
    "consistency_ranges",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "perfect_subtrees",
    "range_roots",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


@dataclass(frozen=True, slots=True)
class Subtree:
    """The perfect subtree of leaves [index * 2**level, (index + 1) * 2**level)."""

    level: int
    index: int

    @property
    def start(self) -> int:
        return self.index << self.level

    @property
    def end(self) -> int:
        return (self.index + 1) << self.level


FetchSubtrees = Callable[[Sequence[Subtree]], Sequence[bytes]]
"""Returns the hashes of the given perfect subtrees, in order (a store answers in one query)."""


def _split(size: int) -> int:
    """The largest power of two strictly smaller than size (size >= 2): RFC 9162's k."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_subtrees(start: int, end: int) -> list[Subtree]:
    """The perfect subtrees that make up [start, end), largest first, as the RFC 9162 tree splits
    them. `start` must be a multiple of a power of two >= end - start (true of every proof node)."""
    result: list[Subtree] = []
    position = start
    for level in range((end - start).bit_length() - 1, -1, -1):
        if (end - start) >> level & 1:
            assert position % (1 << level) == 0, "range is not aligned as a Merkle subtree"
            result.append(Subtree(level, position >> level))
            position += 1 << level
    return result


def _fold(hashes: Sequence[bytes]) -> bytes:
    """The root of a range from the hashes of its perfect subtrees (largest first)."""
    value = hashes[-1]
    for left in reversed(hashes[:-1]):
        value = node_hash(left, value)
    return value


def range_roots(ranges: Sequence[tuple[int, int]], fetch: FetchSubtrees) -> list[bytes]:
    """The root hash of each range [a, b), with one call to `fetch` for all of them."""
    plans = [perfect_subtrees(a, b) for a, b in ranges]
    wanted = [subtree for plan in plans for subtree in plan]
    hashes = list(fetch(wanted)) if wanted else []
    if len(hashes) != len(wanted):
        raise InclusionProofError(f"the store returned {len(hashes)} subtree hashes for {len(wanted)} asked")
    roots: list[bytes] = []
    offset = 0
    for plan in plans:
        roots.append(_fold(hashes[offset : offset + len(plan)]))
        offset += len(plan)
    return roots


def root(size: int, fetch: FetchSubtrees) -> bytes:
    """MTH of the first `size` leaves."""
    if size < 0:
        raise ValueError("a tree size is never negative")
    return range_roots([(0, size)], fetch)[0] if size else EMPTY_ROOT


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose roots form PATH(index, D[0:size]), from the leaf's sibling up (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise InclusionProofError(f"leaf {index} is not in a tree of size {size}")
    top_down: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            top_down.append((start + k, end))
            end = start + k
        else:
            top_down.append((start, start + k))
            start += k
    return top_down[::-1]


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The ranges whose roots form PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1)."""
    if not 0 < old_size <= new_size:
        raise InclusionProofError(f"no consistency proof from size {old_size} to size {new_size}")
    top_down: list[tuple[int, int]] = []
    start, end, m, whole_old_tree = 0, new_size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            top_down.append((start + k, end))
            end = start + k
        else:
            top_down.append((start, start + k))
            start, m, whole_old_tree = start + k, m - k, False
    if not whole_old_tree:
        top_down.append((start, end))
    return top_down[::-1]


def inclusion_proof(index: int, size: int, fetch: FetchSubtrees) -> list[bytes]:
    return range_roots(inclusion_ranges(index, size), fetch)


def consistency_proof(old_size: int, new_size: int, fetch: FetchSubtrees) -> list[bytes]:
    return range_roots(consistency_ranges(old_size, new_size), fetch)


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise InclusionProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes) -> None:
    """Raise InclusionProofError unless `proof` shows leaf hash `leaf` at `index` under `expected_root`."""
    _check_hash(leaf, "the leaf hash")
    _check_hash(expected_root, "the root hash")
    for position, element in enumerate(proof):
        _check_hash(element, f"proof element {position}")
    if not 0 <= index < size:
        raise InclusionProofError(f"leaf {index} is not in a tree of size {size}")
    fn, sn, value = index, size - 1, leaf
    for element in proof:
        if sn == 0:
            raise InclusionProofError(f"the inclusion proof has more elements than a tree of size {size} needs")
        if fn & 1 or fn == sn:
            value = node_hash(element, value)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            value = node_hash(value, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InclusionProofError(f"the inclusion proof is too short for leaf {index} in a tree of size {size}")
    if value != expected_root:
        raise InclusionProofError(f"the inclusion proof for leaf {index} does not lead to the root of size {size}")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """Raise InclusionProofError unless `proof` shows the tree `old_root` of `old_size` leaves is a
    prefix of the tree `new_root` of `new_size` leaves."""
    if old_size <= 0:
        raise InclusionProofError("a consistency proof from an empty tree proves nothing")
    if new_size < old_size:
        raise InclusionProofError(f"a tree does not shrink: size {new_size} after size {old_size}")
    if old_size == new_size:
        if proof:
            raise InclusionProofError("a consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise InclusionProofError(f"two different roots for the same size {old_size}")
        return  # like the reference verifier, equal sizes compare the roots as given, whatever their length
    _check_hash(old_root, "the old root")
    _check_hash(new_root, "the new root")
    for position, element in enumerate(proof):
        _check_hash(element, f"proof element {position}")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # the old tree is a perfect subtree: its root starts the path
        path.insert(0, old_root)
    if not path:
        raise InclusionProofError("the consistency proof is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    old_value = new_value = path[0]
    for element in path[1:]:
        if sn == 0:
            raise InclusionProofError("the consistency proof has more elements than it needs")
        if fn & 1 or fn == sn:
            old_value, new_value = node_hash(element, old_value), node_hash(element, new_value)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            new_value = node_hash(new_value, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InclusionProofError(f"the consistency proof is too short for sizes {old_size} → {new_size}")
    if old_value != old_root:
        raise InclusionProofError(f"the consistency proof does not lead to the old root of size {old_size}")
    if new_value != new_root:
        raise InclusionProofError(f"the consistency proof does not lead to the new root of size {new_size}")

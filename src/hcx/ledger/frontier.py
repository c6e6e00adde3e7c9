"""The frontier of a growing Merkle tree: the roots of its rightmost perfect subtrees.

A tree of n leaves is, by the binary digits of n, a row of perfect subtrees, largest first. Those
roots are all an append needs: adding a leaf merges equal-sized neighbours (a binary carry), and
each merge is a new perfect subtree a store keeps. So an append costs O(1) amortised hashes and
writes, and the frontier itself (at most 64 hashes) is all the state a writer must hold; it is
rebuilt from the store with one query (`perfect_subtrees(0, n)`) or kept beside the tree size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hcx.errors import InvalidInput
from hcx.ledger.merkle import EMPTY_ROOT, HASH_SIZE, Subtree, node_hash, perfect_subtrees

__all__ = ["Frontier", "StoredSubtree"]


@dataclass(frozen=True, slots=True)
class StoredSubtree:
    """A perfect subtree and its hash, as written to a store."""

    level: int
    index: int
    hash: bytes


@dataclass
class Frontier:
    """The rightmost perfect subtrees of a tree of `size` leaves; `hashes` largest first."""

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.size < 0 or len(self.hashes) != self.size.bit_count():
            raise InvalidInput(f"a frontier of size {self.size} has {self.size.bit_count()} hashes, "
                               f"not {len(self.hashes)}")
        if any(len(h) != HASH_SIZE for h in self.hashes):
            raise InvalidInput("a frontier hash is not 32 bytes")

    def subtrees(self) -> list[Subtree]:
        return perfect_subtrees(0, self.size)

    def append(self, leaf: bytes) -> list[StoredSubtree]:
        """Add one leaf hash; return every perfect subtree it completes, the leaf itself first."""
        if len(leaf) != HASH_SIZE:
            raise InvalidInput("a leaf hash is 32 bytes")
        created = [StoredSubtree(0, self.size, leaf)]
        value, level, index = leaf, 0, self.size
        while index & 1:  # a carry: the left neighbour of the same size is complete, merge them
            value = node_hash(self.hashes.pop(), value)
            level, index = level + 1, index >> 1
            created.append(StoredSubtree(level, index, value))
        self.hashes.append(value)
        self.size += 1
        return created

    def extend(self, leaves: Iterable[bytes]) -> list[StoredSubtree]:
        created: list[StoredSubtree] = []
        for leaf in leaves:
            created.extend(self.append(leaf))
        return created

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        value = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            value = node_hash(left, value)
        return value

    def to_bytes(self) -> bytes:
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        if len(data) != HASH_SIZE * size.bit_count():
            raise InvalidInput(f"a stored frontier of size {size} is {HASH_SIZE * size.bit_count()} bytes, "
                               f"not {len(data)}")
        return cls(size, [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)])

    @classmethod
    def of(cls, leaves: Sequence[bytes]) -> Frontier:
        """The frontier of a whole list of leaf hashes (the MTH of `leaves` is its root)."""
        frontier = cls()
        frontier.extend(leaves)
        return frontier

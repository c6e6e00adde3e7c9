"""RFC 9162 Merkle proofs against transparency-dev/merkle's vectors (conformance/SOURCES.md §2).

Every inclusion and consistency vector: `wantErr: false` must verify, `wantErr: true` must raise
InclusionProofError. The tree-hash roots of sizes 0..8 come from the same section. Vectors whose
proofs are valid are also regenerated from the base tree and must come out identical.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import pytest

from hcx.errors import InclusionProofError
from hcx.ledger.frontier import Frontier
from hcx.ledger.merkle import (
    Subtree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from tests.conftest import CONFORMANCE

VECTORS = CONFORMANCE / "merkle" / "testdata"

BASE_TREE_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _cases(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert files, f"no {kind} vectors under {VECTORS}"
    return [pytest.param(json.loads(f.read_text()), id=str(f.relative_to(VECTORS / kind))) for f in files]


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b64(h) for h in case["proof"] or []]


def _store(leaves: Sequence[bytes]) -> Any:
    """An in-memory subtree store: what storage/ledger.py keeps in SQL."""
    nodes = {(s.level, s.index): s.hash for s in Frontier().extend(leaves)}
    return lambda wanted: [nodes[(s.level, s.index)] for s in wanted]


BASE_LEAVES = [leaf_hash(bytes.fromhex(x)) for x in BASE_TREE_INPUTS]


@pytest.mark.parametrize("case", _cases("inclusion"))
def test_inclusion_vector(case: dict[str, Any]) -> None:
    def check() -> None:
        verify_inclusion(case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), _proof(case), _b64(case["root"]))

    if case["wantErr"]:
        with pytest.raises(InclusionProofError):
            check()
    else:
        check()


@pytest.mark.parametrize("case", _cases("consistency"))
def test_consistency_vector(case: dict[str, Any]) -> None:
    def check() -> None:
        verify_consistency(case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), _proof(case))

    if case["wantErr"]:
        with pytest.raises(InclusionProofError):
            check()
    else:
        check()


def test_vector_counts_match_sources() -> None:
    inclusion = [c.values[0]["wantErr"] for c in _cases("inclusion")]
    consistency = [c.values[0]["wantErr"] for c in _cases("consistency")]
    assert (inclusion.count(False), inclusion.count(True)) == (6, 92)
    assert (consistency.count(False), consistency.count(True)) == (6, 92)


@pytest.mark.parametrize("size", range(9))
def test_tree_hash_of_base_tree(size: int) -> None:
    leaves = BASE_LEAVES[:size]
    assert root(size, _store(leaves)).hex() == ROOTS[size]
    assert Frontier.of(leaves).root().hex() == ROOTS[size]


def _on_base_tree(case: dict[str, Any], size_key: str) -> bool:
    return not case["wantErr"] and case[size_key] <= 8 and case.get("root", case.get("root2")) == \
        base64.b64encode(bytes.fromhex(ROOTS[case[size_key]])).decode()


@pytest.mark.parametrize("case", [c for c in _cases("inclusion") if _on_base_tree(c.values[0], "treeSize")])
def test_generated_inclusion_proof_equals_vector(case: dict[str, Any]) -> None:
    assert inclusion_proof(case["leafIdx"], case["treeSize"], _store(BASE_LEAVES)) == _proof(case)


@pytest.mark.parametrize("case", [c for c in _cases("consistency") if _on_base_tree(c.values[0], "size2")])
def test_generated_consistency_proof_equals_vector(case: dict[str, Any]) -> None:
    proof = consistency_proof(case["size1"], case["size2"], _store(BASE_LEAVES)) if case["size1"] else []
    assert proof == _proof(case)


def test_subtree_addresses() -> None:
    assert (Subtree(3, 2).start, Subtree(3, 2).end) == (16, 24)

"""Wycheproof (C2SP/wycheproof @ dac1dd4, Apache-2.0): Ed25519 verify and X25519 vectors.

Source and format: shared/conformance/SOURCES.md §8. Every case runs: `valid` must give the
expected result, `invalid` must fail with an hcx error, `acceptable` may do either.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hcx.crypto import _primitives
from hcx.crypto.keys import VerifyKey
from hcx.errors import Error, InvalidInput, InvalidSignature
from tests.conftest import CONFORMANCE

VECTORS = CONFORMANCE / "wycheproof" / "testvectors_v1"


def cases(name: str, schema: str) -> list[Any]:
    data = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    assert data["schema"] == schema
    params = [
        pytest.param(group, test, id=f"tc{test['tcId']}-{test['result']}-{'-'.join(test['flags']) or 'none'}")
        for group in data["testGroups"]
        for test in group["tests"]
    ]
    assert len(params) == data["numberOfTests"]
    return params


@pytest.mark.parametrize(("group", "test"), cases("ed25519_test.json", "eddsa_verify_schema_v1.json"))
def test_ed25519_verify(group: dict[str, Any], test: dict[str, Any]) -> None:
    assert group["publicKey"]["curve"] == "edwards25519"
    message, signature = bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"])
    if test["result"] == "valid":
        VerifyKey.from_bytes(bytes.fromhex(group["publicKey"]["pk"])).verify(signature, message)
        return
    assert test["result"] == "invalid"
    with pytest.raises((InvalidSignature, InvalidInput)):
        VerifyKey.from_bytes(bytes.fromhex(group["publicKey"]["pk"])).verify(signature, message)


@pytest.mark.parametrize(("group", "test"), cases("x25519_test.json", "xdh_comp_schema_v1.json"))
def test_x25519(group: dict[str, Any], test: dict[str, Any]) -> None:
    assert group["curve"] == "curve25519"
    private, public = bytes.fromhex(test["private"]), bytes.fromhex(test["public"])
    if test["result"] == "valid":
        assert _primitives.x25519_shared_secret(private, public).hex() == test["shared"]
    elif test["result"] == "acceptable":
        try:
            shared = _primitives.x25519_shared_secret(private, public)
        except InvalidInput:
            assert test["shared"] == "00" * 32, "only the all-zero shared secret may be refused"
        else:
            assert shared.hex() == test["shared"]
    else:
        assert test["result"] == "invalid"
        with pytest.raises(Error):
            _primitives.x25519_shared_secret(private, public)

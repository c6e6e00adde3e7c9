"""Our envelope/1 vectors (tests/vectors/envelope, made by scripts/gen_envelope_vectors.py).

Each file names its test-only keys by seed. Positive vectors pin the canonical envelope, the
(deterministic) Ed25519 signature, the digest and the HPKE info, and their stored ciphertext must
open to that envelope; negative vectors must fail with the error class they name, exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hcx.errors
from hcx.crypto import envelope as env
from hcx.crypto.canonical import canonical
from hcx.crypto.keys import DecryptionKey, SigningKey, VerifyKey, b64d, b64e
from hcx.errors import NotFound

ROOT = Path(__file__).resolve().parents[3]
VECTORS = sorted((ROOT / "tests" / "vectors" / "envelope").glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def keys_of(vector: dict[str, Any]) -> tuple[SigningKey, DecryptionKey]:
    sender = SigningKey.from_seed(bytes.fromhex(vector["keys"]["sender"]["signing_seed"]))
    recipient = DecryptionKey.from_seed(bytes.fromhex(vector["keys"]["recipient"]["decryption_seed"]))
    assert b64e(sender.public.raw) == vector["keys"]["sender"]["verify_key"]
    assert sender.public.kid == vector["keys"]["sender"]["kid"]
    assert sender.public.fingerprint == vector["keys"]["sender"]["fingerprint"]
    assert b64e(recipient.public.raw) == vector["keys"]["recipient"]["encryption_key"]
    assert recipient.public.kid == vector["keys"]["recipient"]["kid"]
    assert recipient.public.fingerprint == vector["keys"]["recipient"]["fingerprint"]
    return sender, recipient


def open_vector(vector: dict[str, Any]) -> env.Opened:
    sender, recipient = keys_of(vector)

    def decryption_key_for(party: str, authority: str, kid: str) -> DecryptionKey:
        if (party, kid) != ("AUS", recipient.public.kid):
            raise NotFound("no such recipient key")
        return recipient

    def verify_key_for(party: str, authority: str, kid: str) -> VerifyKey:
        if (party, authority, kid) != ("VNM", "central-authority", sender.public.kid):
            raise NotFound("no such sender key")
        return sender.public

    return env.open_(vector["wire"].encode(), decryption_key_for=decryption_key_for, verify_key_for=verify_key_for)


def test_the_vectors_are_there() -> None:
    vectors = [load(path) for path in VECTORS]
    assert sum(v["expect"] == "ok" for v in vectors) >= 2
    assert {v["error"] for v in vectors if v["expect"] == "error"} == {"DecryptionError", "InvalidInput", "InvalidSignature"}
    assert all(v["warning"].startswith("TEST VECTOR") for v in vectors)
    assert all(path.stem == load(path)["name"] for path in VECTORS)


@pytest.mark.parametrize("path", [p for p in VECTORS if load(p)["expect"] == "ok"], ids=lambda p: p.stem)
def test_positive_vector(path: Path) -> None:
    vector = load(path)
    sender, recipient = keys_of(vector)
    raw = vector["canonical_envelope"].encode()
    assert canonical(vector["envelope"]) == raw
    assert vector["signed_message"].encode() == b"hcx envelope/1 signature\n" + raw
    assert sender.sign(vector["signed_message"].encode()) == b64d(vector["signature"])  # RFC 8032 is deterministic
    assert vector["digest"] == env.digest_of(raw)
    header = json.loads(vector["wire"])
    assert vector["info"].encode() == b"hcx envelope/1\n" + canonical({k: v for k, v in header.items() if k != "ct"})

    opened = open_vector(vector)
    assert opened.raw_envelope == raw
    assert opened.signature == b64d(vector["signature"])
    assert opened.digest == vector["digest"]
    assert opened.envelope.model_dump(by_alias=True) == vector["envelope"]

    resealed = env.seal(vector["envelope"], signer=sender, recipient=recipient.public)
    assert resealed.digest == vector["digest"]
    assert {k: v for k, v in json.loads(resealed.wire).items() if k != "ct"} == {
        k: v for k, v in header.items() if k != "ct"
    }


@pytest.mark.parametrize("path", [p for p in VECTORS if load(p)["expect"] == "error"], ids=lambda p: p.stem)
def test_negative_vector(path: Path) -> None:
    vector = load(path)
    error = getattr(hcx.errors, vector["error"])
    with pytest.raises(error) as info:
        open_vector(vector)
    assert type(info.value) is error


def test_generator_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_envelope_vectors.py"), "--check"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr

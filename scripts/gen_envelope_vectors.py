#!/usr/bin/env python3
"""Generate the envelope/1 test vectors in tests/vectors/envelope/.

Usage (from the repository root):
    .venv/bin/python scripts/gen_envelope_vectors.py           # (re)write the files
    .venv/bin/python scripts/gen_envelope_vectors.py --check   # exit 1 if a file is not up to date

TEST VECTORS ONLY. The keys are derived from public seeds written in each file (SHAKE-256 of a
label); they protect nothing and must never be used outside tests.

Everything is deterministic except the HPKE ciphertexts (HPKE encryption is randomised). A
stored ciphertext is kept as long as it still decrypts, under the vector's header, to the
expected plaintext; only then is a fresh one made. So the script is idempotent, `--check` is
meaningful, and a change to the format or the keys shows up as a diff.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hcx.crypto import envelope as env
from hcx.crypto.canonical import canonical
from hcx.crypto.keys import DecryptionKey, SigningKey, b64d, b64e
from hcx.errors import DecryptionError

OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "envelope"
WARNING = "TEST VECTOR: the keys are derived from the public seeds below; never use them outside tests."
SIGNATURE_PREFIX = b"hcx envelope/1 signature\n"
INFO_PREFIX = b"hcx envelope/1\n"


def seed(label: str, size: int) -> bytes:
    return hashlib.shake_256(f"hcx envelope/1 test vector: {label}".encode()).digest(size)


SENDER_SEED = seed("sender signing key", 32)
RECIPIENT_SEED = seed("recipient decryption key", 96)
MALLORY_SEED = seed("mallory signing key", 32)
SENDER = SigningKey.from_seed(SENDER_SEED)
RECIPIENT = DecryptionKey.from_seed(RECIPIENT_SEED)
MALLORY = SigningKey.from_seed(MALLORY_SEED)

KEYS = {
    "sender": {
        "party": "VNM",
        "authority": "central-authority",
        "signing_seed": SENDER_SEED.hex(),
        "verify_key": b64e(SENDER.public.raw),
        "kid": SENDER.public.kid,
        "fingerprint": SENDER.public.fingerprint,
    },
    "recipient": {
        "party": "AUS",
        "authority": "attorney-general",
        "decryption_seed": RECIPIENT_SEED.hex(),
        "encryption_key": b64e(RECIPIENT.public.raw),
        "kid": RECIPIENT.public.kid,
        "fingerprint": RECIPIENT.public.fingerprint,
    },
}

BASIC: dict[str, Any] = {
    "v": 1,
    "id": "01JDB6Z8Q9M5W7X3K2N4P6R8T0",
    "type": "request.submitted",
    "from": {"party": "VNM", "authority": "central-authority"},
    "to": {"party": "AUS", "authority": "attorney-general"},
    "created": "2026-11-23T09:00:00Z",
    "in_reply_to": None,
    "request_ref": "VNM-2026-0001",
    "body": {"kind": "preservation", "article": 42, "accounts": ["user@example.org"], "urgent": True},
}

MULTISCRIPT: dict[str, Any] = {
    "v": 1,
    "id": "01JDB7A2C4E6G8J0K2M4P6R8T0",
    "type": "request.acknowledged",
    "from": {"party": "VNM", "authority": "central-authority"},
    "to": {"party": "AUS", "authority": "attorney-general"},
    "created": "2026-11-23T10:15:30.5Z",
    "in_reply_to": "01JDB6Z8Q9M5W7X3K2N4P6R8T0",
    "request_ref": None,
    "body": {
        "ar": "تم استلام الطلب",
        "zh": "已收到请求",
        "vi": "Đã nhận được yêu cầu",
        "emoji": "📨✅👩🏽‍⚖️",
        "numbers": [0, -1, 1.5, 1e21, 2**53 - 1, 0.1],
        "nested": {"\u20ac": None, "b": [], "a": {}},
    },
}


def header_for(envelope: dict[str, Any], **changes: Any) -> dict[str, Any]:
    header = {
        "hcx": "envelope/1",
        "id": envelope["id"],
        "from": {**envelope["from"], "kid": SENDER.public.kid},
        "to": {**envelope["to"], "kid": RECIPIENT.public.kid},
        "suite": env.SUITE,
    }
    header.update(changes)
    return header


def ciphertext(header: dict[str, Any], plaintext: bytes, stored: str | None) -> str:
    """The stored ciphertext if it still decrypts to `plaintext` under `header`; else a new one."""
    info = INFO_PREFIX + canonical(header)
    if stored is not None:
        try:
            if RECIPIENT._decrypt(b64d(stored), info) == plaintext:
                return stored
        except (DecryptionError, ValueError):
            pass
    return b64e(RECIPIENT.public._encrypt(plaintext, info))


def signed_plaintext(envelope: dict[str, Any], signer: SigningKey = SENDER) -> bytes:
    raw = canonical(envelope)
    return signer.sign(SIGNATURE_PREFIX + raw) + raw


def stored_ct(existing: dict[str, Any] | None) -> str | None:
    if existing is None:
        return None
    try:
        ct = json.loads(existing["wire"])["ct"]
    except (KeyError, TypeError, ValueError):
        return None
    return ct if isinstance(ct, str) else None


def wire(header: dict[str, Any], ct: str) -> str:
    return canonical({**header, "ct": ct}).decode()


def positive(name: str, description: str, envelope: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    raw = canonical(envelope)
    signature = SENDER.sign(SIGNATURE_PREFIX + raw)
    header = header_for(envelope)
    return {
        "name": name,
        "description": description,
        "warning": WARNING,
        "keys": KEYS,
        "expect": "ok",
        "envelope": envelope,
        "canonical_envelope": raw.decode(),
        "signed_message": (SIGNATURE_PREFIX + raw).decode(),
        "signature": b64e(signature),
        "digest": "sha256:" + hashlib.sha256(raw).hexdigest(),
        "info": (INFO_PREFIX + canonical(header)).decode(),
        "wire": wire(header, ciphertext(header, signature + raw, stored_ct(existing))),
    }


def negative(name: str, description: str, error: str, wire_text: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "warning": WARNING,
        "keys": KEYS,
        "expect": "error",
        "error": error,
        "wire": wire_text,
    }


def edit_wire(base: str, edit: Callable[[dict[str, Any]], None]) -> str:
    obj = json.loads(base)
    edit(obj)
    return canonical(obj).decode()


def flip_last_byte(obj: dict[str, Any]) -> None:
    ct = bytearray(b64d(obj["ct"]))
    ct[-1] ^= 0x01
    obj["ct"] = b64e(bytes(ct))


def build(existing: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    vectors: dict[str, dict[str, Any]] = {}

    def add(vector: dict[str, Any]) -> None:
        vectors[vector["name"]] = vector

    add(positive("basic", "A request, ASCII body.", BASIC, existing.get("basic")))
    add(positive("multiscript", "A reply whose body mixes Arabic, Chinese, Vietnamese, emoji and numbers.",
                 MULTISCRIPT, existing.get("multiscript")))
    base = vectors["basic"]["wire"]

    add(negative("tampered-ciphertext", "The last byte of the ciphertext (the AEAD tag) flipped.",
                 "DecryptionError", edit_wire(base, flip_last_byte)))
    add(negative("truncated-ciphertext", "The ciphertext is one byte short.", "DecryptionError",
                 edit_wire(base, lambda o: o.update(ct=b64e(b64d(o["ct"])[:-1])))))
    add(negative("header-id-changed", "The clear header's id changed: the HPKE info no longer matches.",
                 "DecryptionError", edit_wire(base, lambda o: o.update(id="01JDB6Z8Q9M5W7X3K2N4P6R8T9"))))
    add(negative("unknown-version", "A format version this node does not know.", "InvalidInput",
                 edit_wire(base, lambda o: o.update(hcx="envelope/2"))))
    add(negative("unknown-suite", "An HPKE suite this node does not know.", "InvalidInput",
                 edit_wire(base, lambda o: o.update(suite="X25519/HKDF-SHA256/AES-128-GCM"))))
    add(negative("not-json", "A body that is not JSON.", "InvalidInput", "hello"))

    forged_header = header_for(BASIC)
    prior = stored_ct(existing.get("wrong-signer"))
    add(negative("wrong-signer", "Correctly encrypted, but the envelope is signed by a key other than the one "
                 "the header names (seed in `mallory_seed`).", "InvalidSignature",
                 wire(forged_header, ciphertext(forged_header, signed_plaintext(BASIC, MALLORY), prior))))
    vectors["wrong-signer"]["mallory_seed"] = MALLORY_SEED.hex()

    redirected = header_for(BASIC, to={"party": "AUS", "authority": "federal-police", "kid": RECIPIENT.public.kid})
    prior = stored_ct(existing.get("header-mismatch"))
    add(negative("header-mismatch", "The sender's signed envelope re-encrypted under a header naming another "
                 "authority: the signature is good, but the header does not match the signed envelope.",
                 "InvalidSignature", wire(redirected, ciphertext(redirected, signed_plaintext(BASIC), prior))))
    return vectors


def render(vector: dict[str, Any]) -> str:
    return json.dumps(vector, indent=2, ensure_ascii=False) + "\n"


def read_existing() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(OUTPUT.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        found[path.stem] = data
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the files are not up to date")
    args = parser.parse_args(argv)

    existing = read_existing()
    vectors = build(existing)
    stale = sorted(set(existing) - set(vectors))
    differing = [name for name, vector in vectors.items()
                 if not (OUTPUT / f"{name}.json").exists()
                 or (OUTPUT / f"{name}.json").read_text(encoding="utf-8") != render(vector)]
    if args.check:
        for name in differing:
            print(f"out of date: tests/vectors/envelope/{name}.json", file=sys.stderr)
        for name in stale:
            print(f"not generated by this script: tests/vectors/envelope/{name}.json", file=sys.stderr)
        return 1 if differing or stale else 0
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for name in differing:
        (OUTPUT / f"{name}.json").write_text(render(vectors[name]), encoding="utf-8")
        print(f"wrote tests/vectors/envelope/{name}.json")
    for name in stale:
        print(f"warning: tests/vectors/envelope/{name}.json is not generated by this script", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The crypto layer's rules, checked on the source: one module imports cryptography, and nothing
else in hcx.crypto reads the clock or the OS's randomness."""

from __future__ import annotations

from tests.architecture import CLOCK_OR_RANDOMNESS, SRC, imported_modules

PRIMITIVES = SRC / "crypto" / "_primitives.py"
ALLOWED_IN_CRYPTO = {"__future__", "base64", "collections", "dataclasses", "datetime", "hashlib", "json", "re",
                     "typing", "pydantic", "rfc8785", "hcx",
                     "bech32m", "concurrent", "threading", "queue", "hmac", "gmpy2", "numpy"}  # age: Bech32 keys, its threads; psi.py: its secret order, batches, Legendre symbols, intersection


def test_only_primitives_imports_cryptography() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path != PRIMITIVES and any(name.split(".")[0] == "cryptography" for name in imported_modules(path))
    ]
    assert offenders == []
    assert "cryptography.hazmat.primitives" in imported_modules(PRIMITIVES)


def test_crypto_modules_import_only_what_the_layer_allows() -> None:
    for path in (SRC / "crypto").glob("*.py"):
        if path == PRIMITIVES:
            continue
        for name in imported_modules(path):
            assert name.split(".")[0] in ALLOWED_IN_CRYPTO, f"{path.name} imports {name}"
            if name.startswith("hcx"):
                assert name == "hcx.errors" or name.startswith("hcx.crypto"), f"{path.name} imports {name}"


def test_no_clock_or_randomness_outside_primitives() -> None:
    for path in (SRC / "crypto").glob("*.py"):
        if path == PRIMITIVES:
            continue
        text = path.read_text(encoding="utf-8")
        for call in CLOCK_OR_RANDOMNESS:
            assert call not in text, f"{path.name} calls {call}"

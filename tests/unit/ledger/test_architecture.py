"""The ledger is pure: it imports the stdlib, hcx.errors, hcx.crypto and itself, and reads no
clock, environment or randomness (import-linter checks the packages; this checks the calls)."""

from __future__ import annotations

from tests.architecture import CLOCK_OR_RANDOMNESS, SRC, imported_modules

LEDGER = SRC / "ledger"
STDLIB = {"__future__", "base64", "binascii", "collections", "dataclasses", "datetime", "enum", "hashlib", "re",
          "struct", "typing"}


def test_ledger_imports_only_the_core() -> None:
    for path in LEDGER.glob("*.py"):
        for name in imported_modules(path):
            allowed = name.split(".")[0] in STDLIB or name == "hcx.errors" or name.startswith(("hcx.crypto.", "hcx.ledger"))
            assert allowed and name != "hcx.crypto._primitives", f"{path.name} imports {name}"


def test_ledger_reads_no_clock_or_randomness() -> None:
    for path in LEDGER.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for call in (*CLOCK_OR_RANDOMNESS, "os.environ", "getenv"):
            assert call not in text, f"{path.name} calls {call}"

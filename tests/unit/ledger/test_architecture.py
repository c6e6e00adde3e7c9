"""The ledger is pure: it imports the stdlib, hcx.errors, hcx.crypto and itself, and reads no
clock, environment or randomness (import-linter checks the packages; this checks the calls)."""

from __future__ import annotations

import ast
from pathlib import Path

LEDGER = Path(__file__).resolve().parents[3] / "src" / "hcx" / "ledger"
STDLIB = {"__future__", "base64", "binascii", "collections", "dataclasses", "datetime", "enum", "hashlib", "re",
          "struct", "typing"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_ledger_imports_only_the_core() -> None:
    for path in LEDGER.glob("*.py"):
        for name in imported_modules(path):
            allowed = name.split(".")[0] in STDLIB or name == "hcx.errors" or name.startswith(("hcx.crypto.", "hcx.ledger"))
            assert allowed and name != "hcx.crypto._primitives", f"{path.name} imports {name}"


def test_ledger_reads_no_clock_or_randomness() -> None:
    for path in LEDGER.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for call in (".now(", ".utcnow(", ".today(", "time.time(", "urandom(", "secrets.", "random.", "os.environ", "getenv"):
            assert call not in text, f"{path.name} calls {call}"

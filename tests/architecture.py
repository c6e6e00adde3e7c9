"""Checks on the source itself, shared by the layers' architecture tests."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "hcx"
CLOCK_OR_RANDOMNESS = (".now(", ".utcnow(", ".today(", "time.time(", "urandom(", "secrets.", "random.")


def imported_modules(path: Path) -> set[str]:
    """The absolute modules a file imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names

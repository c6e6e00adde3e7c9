"""Evidence packages are pure: no storage, services or interfaces (import-linter checks the
packages), and no clock or randomness of their own: time comes in as an argument."""

from __future__ import annotations

from tests.architecture import CLOCK_OR_RANDOMNESS, SRC, imported_modules

EVIDENCE = SRC / "evidence"
FORBIDDEN = ("hcx.services", "hcx.storage", "hcx.api", "hcx.cli", "hcx.config", "hcx.federation", "hcx.wiring",
             "sqlalchemy", "typer", "rich", "httpx", "fastapi")


def test_evidence_imports_no_outer_layer() -> None:
    for path in EVIDENCE.glob("*.py"):
        for name in imported_modules(path):
            assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"
            assert name != "hcx.crypto._primitives", f"{path.name} imports the primitives"


def test_evidence_reads_no_clock_or_randomness() -> None:
    for path in EVIDENCE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for call in (*CLOCK_OR_RANDOMNESS, "os.environ", "getenv"):
            assert call not in text, f"{path.name} calls {call}"

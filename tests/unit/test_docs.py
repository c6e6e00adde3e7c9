"""The docs are checked by code: every setting is documented."""

from __future__ import annotations

from pathlib import Path

from hcx.config import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`HCX_{name.upper()}`" in text, name


def test_every_table_row_belongs_to_a_table() -> None:
    """A table row after prose (or a blank line) is no table row: Markdown shows it as text."""
    broken = []
    for path in sorted(DOCS.glob("*.md")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if not line.startswith("|"):
                continue
            before = lines[number - 1] if number else ""
            after = lines[number + 1] if number + 1 < len(lines) else ""
            starts_a_table = after.replace(" ", "").startswith("|---")
            if not before.startswith("|") and not starts_a_table:
                broken.append(f"{path.name}:{number + 1}")
    assert broken == []

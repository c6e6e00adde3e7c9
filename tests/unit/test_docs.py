"""The docs are checked by code: every setting is documented."""

from __future__ import annotations

from pathlib import Path

from hcx.config import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`HCX_{name.upper()}`" in text, name

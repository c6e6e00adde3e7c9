"""`hcx evidence upload/download` as a shell runs them, on their error paths (the transfers
themselves run between real processes in tests/system/test_transfer.py)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import ENV, Hcx


def test_upload_needs_a_token_and_a_reachable_node(tmp_path: Path) -> None:
    hcx = Hcx(tmp_path / "none", ENV | {"HCX_TOKEN": None, "HCX_NODE_URL": None})
    (tmp_path / "f.bin").write_bytes(b"x" * 10)
    result = hcx("evidence", "upload", str(tmp_path / "f.bin"))
    assert result.exit_code == 7 and "an API token is needed" in result.stderr
    result = hcx("evidence", "upload", str(tmp_path / "f.bin"), "--token", "hcx_x", "--node", "http://127.0.0.1:9")
    assert result.exit_code == 9 and "did not answer" in result.stderr
    assert not (tmp_path / "none").exists()  # the officer's machine needs no node


def test_download_refuses_a_file_that_is_no_capability(tmp_path: Path) -> None:
    hcx = Hcx(tmp_path / "none", ENV)
    (tmp_path / "cap.json").write_text('{"url": "http://x"}')
    result = hcx("evidence", "download", str(tmp_path / "cap.json"))
    assert result.exit_code == 3 and "is not a capability" in result.stderr

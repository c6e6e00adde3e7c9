"""`hcx evidence upload/download` as a shell runs them, on their error paths (the transfers
themselves run between real processes in tests/system/test_transfer.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

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


class _Refusing(BaseHTTPRequestHandler):
    """A node that refuses every call, remembering the Authorization header it was sent."""

    seen: ClassVar[list[str]]

    def do_POST(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        body = json.dumps({"error": {"code": "unauthenticated", "message": "unknown token"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_node() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Refusing", (_Refusing,), {"seen": seen}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_token_comes_from_stdin_and_never_from_argv(tmp_path: Path,
                                                        refusing_node: tuple[str, list[str]]) -> None:
    url, seen = refusing_node
    hcx = Hcx(tmp_path / "none", ENV | {"HCX_TOKEN": None, "HCX_NODE_URL": url})
    (tmp_path / "f.bin").write_bytes(b"x" * 10)
    result = hcx("evidence", "upload", str(tmp_path / "f.bin"), "--token-stdin", input="hcx_from_stdin\n")
    assert result.exit_code == 7 and "unknown token" in result.stderr and "warning" not in result.stderr
    result = hcx("evidence", "send", "P1", "--token-stdin", input="hcx_for_send\n")
    assert result.exit_code == 7
    assert seen == ["Bearer hcx_from_stdin", "Bearer hcx_for_send"]
    result = hcx("evidence", "upload", str(tmp_path / "f.bin"), "--token-stdin", input="")
    assert result.exit_code == 7 and "an API token is needed" in result.stderr
    result = hcx("evidence", "upload", str(tmp_path / "f.bin"), "--token", "hcx_a", "--token-stdin", input="hcx_b\n")
    assert result.exit_code == 3 and "not both" in result.stderr
    assert len(seen) == 2  # neither of the last two reached the node


def test_a_token_on_argv_still_works_with_a_warning(tmp_path: Path, refusing_node: tuple[str, list[str]]) -> None:
    url, seen = refusing_node
    hcx = Hcx(tmp_path / "none", ENV | {"HCX_TOKEN": None, "HCX_NODE_URL": url})
    result = hcx("evidence", "incoming", "P1", "--token", "hcx_on_argv")
    assert result.exit_code == 7 and "visible to other users" in result.stderr
    hcx = Hcx(tmp_path / "none", ENV | {"HCX_TOKEN": "hcx_in_env", "HCX_NODE_URL": url})
    result = hcx("evidence", "incoming", "P1")
    assert result.exit_code == 7 and "warning" not in result.stderr
    assert seen == ["Bearer hcx_on_argv", "Bearer hcx_in_env"]


def test_a_usage_error_is_a_message_and_exit_code_2(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"x")
    result = Hcx(tmp_path / "none", ENV)("evidence", "upload", str(tmp_path / "f.bin"), "--chunk-bytes", "10")
    assert result.exit_code == 2 and "Invalid value for '--chunk-bytes'" in result.stderr
    assert "Traceback" not in result.stderr

"""`hcx serve` as a real process on loopback: init, a user, a token, then HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port

HCX = [sys.executable, "-m", "hcx.cli.main"]
ENV = os.environ | {"HCX_KEY_PASSPHRASE": "a test passphrase, not a secret"}


def hcx(data_dir: Path, *args: str, stdin: str = "") -> str:
    done = subprocess.run([*HCX, "--data-dir", str(data_dir), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=True, env=ENV)
    return done.stdout


@contextmanager
def served(node: Path, log_path: Path) -> Iterator[str]:
    """`hcx serve` of `node` on a free loopback port, once it answers: its URL. Stopped afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        server = subprocess.Popen([*HCX, "--data-dir", str(node), "serve", "--port", str(port)],
                                  stdout=log, stderr=subprocess.STDOUT, env=ENV)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{url}/api/v1/health", timeout=2)
                    break
                except httpx.TransportError:
                    assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()
                    time.sleep(0.1)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=10)


def test_a_served_node_answers_over_http(tmp_path: Path) -> None:
    node = tmp_path / "node"
    hcx(node, "init", "--party", "VNM")
    hcx(node, "authority", "add", "Central Authority", "--kind", "central_authority")
    hcx(node, "user", "add", "olga", "--role", "officer", "--authority", "Central Authority", "--password-stdin",
        stdin="correct horse battery\n")
    token = hcx(node, "token", "create", "--user", "olga").strip().splitlines()[-1]
    with served(node, tmp_path / "serve.log") as url:
        base = f"{url}/api/v1"
        health = httpx.get(f"{base}/health", timeout=5)
        assert health.json()["party"] == "VNM"
        me = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert me.status_code == 200 and me.json()["username"] == "olga"
        assert httpx.get(f"{base}/me", timeout=5).status_code == 401


def test_a_node_does_not_serve_from_another_nodes_blob_store(tmp_path: Path) -> None:
    """Its evidence would have no rows in the other node's database, which would sweep it as orphaned."""
    node = tmp_path / "node"
    hcx(node, "init", "--party", "VNM")
    owner = node / "blobs" / "sweep-owner"
    owner.parent.mkdir(parents=True, exist_ok=True)
    owner.write_text("AUS 2026-01-01T00:00:00+00:00")
    done = subprocess.run([*HCX, "--data-dir", str(node), "serve", "--port", str(free_port())], capture_output=True,
                          text=True, timeout=60, env=ENV)
    assert done.returncode != 0 and "another node" in done.stdout + done.stderr
    owner.unlink()
    port = free_port()
    server = subprocess.Popen([*HCX, "--data-dir", str(node), "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    try:  # an unmarked store is marked as this node's before it serves
        deadline = time.monotonic() + 30
        while not owner.exists() and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert owner.read_text().startswith("VNM ")
    finally:
        server.terminate()
        server.wait(timeout=10)

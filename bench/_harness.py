"""What the benches that run real `hcx serve` processes share (not a bench itself)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # no hcx import at run time: federation.py's baseline server imports this module
    from hcx.cli.demo import DemoNode


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_file(path: Path, size: int) -> None:
    """`size` random bytes (whole MiB) at `path`: incompressible, like disk images."""
    with path.open("wb") as out:
        for _ in range(size >> 20):
            out.write(os.urandom(1 << 20))


def peak_mb(pid: int) -> float:
    """The peak resident memory (VmHWM) of a running process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stop(nodes: Iterable[DemoNode]) -> None:
    """End the nodes' serve processes, one after the other."""
    for node in nodes:
        if node.process is not None:
            node.process.terminate()
            node.process.wait(timeout=15)

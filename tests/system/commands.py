"""`hcx` commands as processes of their own, and the bytes they stage: what the transfer and
evidence-flow tests kill at a random point and resume."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.system.conftest import wait_for

MIB = 1 << 20


def random_file(path: Path, size: int) -> str:
    """Write `size` random bytes to `path`; their SHA-256 (hex)."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(MIB, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


def staged(directory: Path) -> int:
    """Bytes staged (not yet promoted) anywhere under a partial directory of a blob store (0 if none yet)."""
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) if directory.exists() else 0


def hcx(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start an hcx command with `env` added to this process's environment; its output goes to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "hcx.cli.main", *args], stdout=out,
                                stderr=subprocess.STDOUT, env=os.environ | env)


def kill_when_staged(process: subprocess.Popen[bytes], directory: Path, threshold: int, *, timeout: float) -> int:
    """SIGKILL `process` once `threshold` bytes are staged under `directory`; returns how many were."""
    wait_for(lambda: staged(directory) >= threshold or process.poll() is not None, timeout=timeout,
             what=f"{threshold} bytes to be staged", every=0.002)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=15)
    assert process.returncode == -signal.SIGKILL, "the command ended before it could be killed"
    return staged(directory)

"""How fast do evidence bytes move, and in how much memory?

Two real nodes (VNM, AUS) run as `hcx serve` processes on loopback (the demo harness).
- upload: `hcx evidence upload FILE` (a separate process, the node's default 8 MiB chunks) to VNM:
  hashing on the client, chunks over HTTP, fsync per chunk, the node's digest check and rename.
- download: VNM grants AUS a capability for the uploaded blob; `hcx evidence download` on AUS
  fetches it over HTTP (node-key signed GETs), staging with fsync every 4 MiB, then checks it.
- baseline, in the same run: `sha256sum FILE` then `cp FILE` on the same disk (one hash and one
  copy, the least work either transfer must do).
Peak memory: VmHWM of the VNM serve process (it served both transfers) and `ru_maxrss` of each
command process.

Targets: each transfer at most 4x the baseline's time; every process under 150 MB whatever the
file size. The last line printed is one line of JSON with the figures and the targets.

    python bench/transfer.py --quick     # 256 MiB, under a minute
    python bench/transfer.py             # 1 GiB
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import free_port, peak_mb, stop, write_file
from argon2 import PasswordHasher

from hcx.cli import demo
from hcx.crypto import _primitives
from hcx.services import accounts, blob_transfer, uploads
from hcx.wiring import build_context

TARGET_RATIO = 4.0
TARGET_PEAK_MB = 150.0


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Seconds, and the peak memory (MB) of the command's process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{command[:4]} failed with {process.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="256 MiB instead of 1 GiB")
    args = parser.parse_args()
    size = (256 if args.quick else 1024) << 20
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    _primitives.SCRYPT_LOG2_N = 14  # keys of throwaway nodes: the cheapest cost a key file may name

    with tempfile.TemporaryDirectory(prefix="hcx-bench-transfer-") as tmp:
        base = Path(tmp)
        nodes = [demo.DemoNode(party, free_port(), base / party.lower()) for party in ("VNM", "AUS")]
        for node in nodes:
            demo.initialise(node)
            demo.start(node, base)
        try:
            for node in nodes:
                demo.wait_healthy(node)
            demo.pin_all(nodes)
            vnm, aus = nodes
            source = base / "evidence.bin"
            write_file(source, size)

            baseline = timed(["sha256sum", str(source)])[0] + timed(["cp", str(source), str(base / "copy.bin")])[0]
            (base / "copy.bin").unlink()

            client = demo.Client(vnm, "officer")
            token = str(client.http.headers["Authorization"]).split()[1]
            client.http.close()
            env = os.environ | {"HCX_TOKEN": token, "HCX_NODE_URL": vnm.url, "HCX_ENV": "dev"}
            cli = [sys.executable, "-m", "hcx.cli.main"]
            upload_s, upload_mb = timed([*cli, "evidence", "upload", str(source)], env)

            ctx = build_context(vnm.settings())
            officer = accounts.principal_for(ctx, vnm.user("officer"))
            [done] = uploads.find(ctx, officer, status="complete")
            with ctx.unit_of_work() as uow:
                capability = blob_transfer.grant_capability(ctx, uow, f"uploads/{done.id}", "AUS",
                                                            dt.timedelta(hours=1))
                uow.commit()
            (base / "capability.json").write_text(capability.model_dump_json())
            download_s, download_mb = timed([*cli, "--data-dir", str(aus.data_dir), "evidence", "download",
                                str(base / "capability.json")], env)

            server_peak = peak_mb(vnm.process.pid) if vnm.process else float("nan")
        finally:
            stop(nodes)
        shutil.rmtree(base, ignore_errors=True)

    mib = size / (1 << 20)
    print(f"file: {mib:.0f} MiB (the box is shared: compare ratios, not seconds)")
    print(f"baseline sha256sum + cp: {baseline:.2f} s ({mib / baseline:.0f} MiB/s)")
    print(f"hcx evidence upload:     {upload_s:.2f} s ({mib / upload_s:.0f} MiB/s), {upload_s / baseline:.2f}x baseline")
    print(f"hcx evidence download:   {download_s:.2f} s ({mib / download_s:.0f} MiB/s), "
          f"{download_s / baseline:.2f}x baseline")
    print(f"peak memory: serve {server_peak:.0f} MB, upload command {upload_mb:.0f} MB, "
          f"download command {download_mb:.0f} MB")
    print(json.dumps({
        "bench": "transfer", "mib": mib, "baseline_s": round(baseline, 3), "upload_s": round(upload_s, 3),
        "download_s": round(download_s, 3), "upload_ratio": round(upload_s / baseline, 2),
        "download_ratio": round(download_s / baseline, 2), "serve_peak_mb": round(server_peak, 1),
        "upload_peak_mb": round(upload_mb, 1), "download_peak_mb": round(download_mb, 1), "target_ratio_max": TARGET_RATIO,
        "target_peak_mb_max": TARGET_PEAK_MB}))


if __name__ == "__main__":
    main()

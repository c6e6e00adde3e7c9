"""How long does returning evidence take, stage by stage, between two real nodes?

The scenario of tests/system/test_evidence_flow.py without the kills: two `hcx serve` processes
(VNM asks, AUS executes) on loopback; VNM's request reaches AUS; then, timed:
- upload:   `hcx evidence upload FILE` to AUS (client hashing, chunks, the node's digest check)
- seal:     `hcx evidence seal-upload` (the upload read once: SHA-256 + age encryption to VNM's
            authority and AUS's archive key, tag files, signature, custody "sealed")
- send:     `hcx evidence send` (custody proofs, one capability per blob — hashing the encrypted
            blob —, the message and custody "sent")
- download: until VNM's node holds the whole encrypted payload (delivery, then ranged GETs)
- verify:   until VNM marks it received (decrypt + SHA-256 of every payload file, signature)
- export:   `hcx evidence export` on VNM (decrypted bag, proofs, report)
- hcx verify: `hcx verify` on the export (offline: bag digests, signature, both custody logs)
Each is printed as a ratio to `sha256sum FILE` measured in the same run (best of two; the least
work any stage that reads every byte must do). The CLI stages include starting Python (~1 s). The box is shared: compare ratios, not seconds.

    python bench/evidence_flow.py --quick    # 128 MiB
    python bench/evidence_flow.py            # 1 GiB
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import free_port, peak_mb, stop, write_file
from argon2 import PasswordHasher

from hcx.cli import demo
from hcx.crypto import _primitives
from hcx.evidence import package as pkg
from hcx.services import accounts, evidence, uploads
from hcx.wiring import build_context

TARGET_RATIO = 6.0  # each stage that reads every byte at most 6x one sha256sum of the file


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        raise SystemExit(f"{command[3:6]} failed with {result.returncode}: {result.stdout[-2000:]}{result.stderr[-2000:]}")
    return time.perf_counter() - start, result.stdout


def wait(condition: Any, timeout: float = 1800) -> float:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.02)
    return time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="128 MiB instead of 1 GiB")
    args = parser.parse_args()
    size = (128 if args.quick else 1024) << 20
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    _primitives.SCRYPT_LOG2_N = 14  # keys of throwaway nodes: the cheapest cost a key file may name
    os.environ["HCX_WORKER_INTERVAL_SECONDS"] = "0.05"  # the serve processes inherit it
    os.environ["HCX_WITNESS_INTERVAL_SECONDS"] = "1"
    stages: dict[str, float] = {}

    with tempfile.TemporaryDirectory(prefix="hcx-bench-evidence-flow-") as tmp:
        base = Path(tmp)
        vnm, aus = nodes = [demo.DemoNode(party, free_port(), base / party.lower()) for party in ("VNM", "AUS")]
        for node in nodes:
            demo.initialise(node)
        vnm_ctx, aus_ctx = build_context(vnm.settings()), build_context(aus.settings())
        vnm_officer = accounts.principal_for(vnm_ctx, vnm.user("officer"))
        evidence.age_identity(vnm_ctx, vnm_officer.authority_id)
        for node in nodes:
            demo.start(node, base)
        try:
            for node in nodes:
                demo.wait_healthy(node)
            demo.pin_all(nodes)
            source = base / "evidence.bin"
            write_file(source, size)
            dev = os.environ | {"HCX_ENV": "dev"}
            # best of two: the first read may still come from disk rather than the page cache
            baseline = min(timed(["sha256sum", str(source)], dev)[0] for _ in range(2))

            officer, supervisor = demo.Client(vnm, "officer"), demo.Client(vnm, "supervisor")
            rid = officer.call("POST", "/requests", 201, "draft",
                               json={"draft": demo.example("mutual_legal_assistance")})["id"]
            officer.step(rid, "submit")
            supervisor.step(rid, "approve")
            foreign = demo.Client(aus, "officer")
            wait(lambda: foreign.http.get("/requests", params={"direction": "incoming"}).json(), 60)
            iid = foreign.http.get("/requests", params={"direction": "incoming"}).json()[0]["id"]
            token = str(foreign.http.headers["Authorization"]).split()[1]
            for client in (officer, supervisor, foreign):
                client.http.close()

            api = dev | {"HCX_TOKEN": token, "HCX_NODE_URL": aus.url}
            cli = [sys.executable, "-m", "hcx.cli.main"]
            stages["upload"], _ = timed([*cli, "evidence", "upload", str(source), "--json"], api)
            [done] = uploads.find(aus_ctx, accounts.principal_for(aus_ctx, aus.user("officer")), status="complete")
            stages["seal"], out = timed([*cli, "evidence", "seal-upload", done.id, "--case", "BENCH-1",
                                         "--request", iid, "--json"], api)
            package_id = json.loads(out)["id"]
            stages["send"], _ = timed([*cli, "evidence", "send", package_id, "--json"], api)

            started = time.perf_counter()
            blobs = vnm_ctx.blob_store()
            downloaded = wait(lambda: blobs.size(pkg.payload_key(package_id, 0)) is not None)
            stages["download"] = downloaded - started

            def received() -> bool:
                with vnm_ctx.reading() as uow:
                    row = evidence.store(uow).get(package_id)
                    if row is not None and row.state == "failed":
                        raise SystemExit("VNM refused the package")
                    return row is not None and row.state == "received"

            stages["verify"] = wait(received) - downloaded
            court = base / "court"
            stages["export"], _ = timed([*cli, "--data-dir", str(vnm.data_dir), "evidence", "export", package_id,
                                         "--out", str(court), "--user", vnm.user("officer")], dev)
            stages["hcx verify"], _ = timed([*cli, "verify", str(court)], dev)
            peaks = {n.party: peak_mb(n.process.pid) for n in nodes if n.process is not None}
        finally:
            stop(nodes)
            for ctx in (vnm_ctx, aus_ctx):
                if ctx.transport is not None:
                    ctx.transport.close()
        shutil.rmtree(base, ignore_errors=True)

    mib = size / (1 << 20)
    print(f"file: {mib:.0f} MiB (the box is shared: compare ratios, not seconds)")
    print(f"baseline sha256sum: {baseline:.2f} s ({mib / baseline:.0f} MiB/s)")
    for name, seconds in stages.items():
        print(f"{name:>11}: {seconds:7.2f} s  {seconds / baseline:5.2f}x sha256sum")
    total = sum(stages.values())
    print(f"{'total':>11}: {total:7.2f} s  {total / baseline:5.2f}x sha256sum")
    print(f"peak memory of the serve processes: {', '.join(f'{p} {mb:.0f} MB' for p, mb in peaks.items())}")
    print(json.dumps({
        "bench": "evidence_flow", "mib": mib, "sha256sum_s": round(baseline, 3),
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "ratios": {k: round(v / baseline, 2) for k, v in stages.items()},
        "total_s": round(total, 3), "serve_peak_mb": {p: round(mb, 1) for p, mb in peaks.items()},
        "target_ratio_max": TARGET_RATIO}))


if __name__ == "__main__":
    main()

"""Issue 4's central flow between two real `hcx serve` processes: VNM asks AUS for evidence; AUS's
officer uploads a file with `hcx evidence upload` (SIGKILLed at a random point and resumed), seals
it for VNM's request and sends it; VNM's node downloads it (SIGKILLed midway, restarted: it
resumes), verifies and exports it; `hcx verify` passes on the export; the custody entries are in
both logs and both nodes' latest checkpoints carry the other's cosignature.

The file size is HCX_TEST_EVIDENCE_BYTES (default 48 MiB); bench/evidence_flow.py runs the same
scenario at 1 GiB with timings."""

from __future__ import annotations

import hashlib
import json
import os
import random
from functools import partial
from pathlib import Path

import pytest

from hcx.cli.demo import Client, example
from hcx.ledger.entry import SALT_SIZE, CustodyEntry
from hcx.ledger.proof import TlogProof
from hcx.services import accounts, custody, evidence, uploads
from tests.system.commands import MIB, hcx, kill_when_staged, random_file, staged
from tests.system.conftest import Cluster, SystemNode, pin, signed_in, wait_for
from tests.system.test_witness import cosigned_by

SIZE = int(os.environ.get("HCX_TEST_EVIDENCE_BYTES", str(48 << 20)))


def run(*args: str, env: dict[str, str], log: Path) -> str:
    """An hcx command to its end; its output (the command must succeed)."""
    before = log.stat().st_size if log.exists() else 0
    process = hcx(*args, env=env, log=log)
    output = log.read_bytes()[before:].decode("utf-8", "replace")
    assert process.wait(timeout=600) == 0, output
    return log.read_bytes()[before:].decode("utf-8", "replace")


def events(node: SystemNode, package_id: str) -> list[str]:
    return [CustodyEntry.parse(e.entry).event.value for e in custody.entries_for(node.ctx, package_id)
            if e.entry is not None]


def package_state(node: SystemNode, package_id: str) -> str | None:
    with node.ctx.reading() as uow:
        row = evidence.store(uow).get(package_id)
        return row.state if row is not None else None


def only_incoming(client: Client) -> str | None:
    found = client.http.get("/requests", params={"direction": "incoming"}).json()
    return str(found[0]["id"]) if found else None


def both_cosigned(vnm: SystemNode, aus: SystemNode) -> bool:
    return cosigned_by(vnm, aus) is not None and cosigned_by(aus, vnm) is not None


def test_evidence_returns_between_real_nodes_through_kills(cluster: Cluster, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCX_WITNESS_INTERVAL_SECONDS", "0.2")
    download_stop = random.randrange(4 * MIB, max(5 * MIB, SIZE // 2))  # AUS's proxy holds the rest back
    vnm, aus = cluster.node("VNM"), cluster.node("AUS", hold_blobs_after=download_stop)
    proxy = cluster.proxy_of(aus)
    log = tmp_path / "commands.log"
    dev = {"HCX_ENV": "dev"}
    run("--data-dir", str(vnm.data_dir), "evidence", "recipient", "--user", vnm.user("officer"), env=dev, log=log)
    for node in (vnm, aus):
        node.start()
    pin([vnm, aus])

    # VNM asks
    with signed_in((vnm, "officer"), (vnm, "supervisor"), (aus, "officer")) as (officer, supervisor, foreign):
        rid = officer.call("POST", "/requests", 201, "draft", json={"draft": example("mutual_legal_assistance")})["id"]
        officer.step(rid, "submit")
        supervisor.step(rid, "approve")
        iid = wait_for(lambda: only_incoming(foreign), timeout=30, what="the request to reach AUS")
        token = str(foreign.http.headers["Authorization"]).split()[1]

    # AUS's officer uploads; the upload is killed at a random point and resumed
    sha256 = random_file(tmp_path / "image.dd", SIZE)
    api = {"HCX_TOKEN": token, "HCX_NODE_URL": aus.url}
    command = ["evidence", "upload", str(tmp_path / "image.dd"), "--chunk-bytes", str(MIB)]
    threshold = random.randrange(2 * MIB, SIZE - 2 * MIB)
    killed_at = kill_when_staged(hcx(*command, env=api, log=log), aus.data_dir / "blobs" / ".partial" / "uploads",
                                 threshold, timeout=300)
    assert threshold <= killed_at < SIZE
    assert "resuming upload" in run(*command, "--resume", env=api, log=log)
    aus_officer = accounts.principal_for(aus.ctx, aus.user("officer"))
    [upload] = uploads.find(aus.ctx, aus_officer, sha256=sha256)
    assert upload.status == "complete"

    # sealed for VNM's request, and sent
    sealed = json.loads(run("evidence", "seal-upload", upload.id, "--case", "VNM-2026-17", "--request", iid,
                            "--json", env=api, log=log))
    package_id = sealed["id"]
    assert sealed["state"] == "sealed" and len(sealed["recipients"]) == 2
    sent = json.loads(run("evidence", "send", package_id, "--json", env=api, log=log))
    assert sent["digest"] == sealed["digest"] and sent["files"] == 1

    # VNM's node downloads; it is killed midway (the proxy holds the rest back) and restarted, and resumes
    partial_dir = vnm.data_dir / "blobs" / ".partial" / "packages"
    wait_for(proxy.blobs_held.is_set, timeout=300, what="VNM to download part of the package")
    vnm.kill()
    resumed_from = staged(partial_dir)
    assert package_state(vnm, package_id) == "incoming"
    assert 0 < resumed_from <= download_stop
    proxy.release()
    vnm.start()
    wait_for(lambda: package_state(vnm, package_id) == "received", timeout=300, what="VNM to receive the package")
    with aus.ctx.reading() as uow:  # every range served to VNM is in AUS's audit trail
        firsts = [a.details["first"] for a in uow.list_audit(limit=1000) if a.action == "blob.serve"]
    assert resumed_from in firsts, (resumed_from, firsts)  # a ranged resume from the staged bytes, not a restart

    # exported on VNM; `hcx verify` passes offline and names both logs
    out = tmp_path / "court"
    run("--data-dir", str(vnm.data_dir), "evidence", "export", package_id, "--out", str(out),
        "--user", vnm.user("officer"), env=dev, log=log)
    with (out / "bag" / "data" / "image.dd").open("rb") as exported:
        assert hashlib.file_digest(exported, "sha256").hexdigest() == sha256
    verified = run("verify", str(out), env=dev, log=log)
    assert "VERIFIED" in verified and "hcx/AUS" in verified and "hcx/VNM" in verified, verified
    assert "warning" not in verified, verified
    # both sides' entries, each proved to a checkpoint the other side cosigned (asked of AUS at export)
    assert folder_events(out) == (["sealed", "sent"], ["received", "verified", "exported"])

    # custody in both logs, and both latest checkpoints cosigned by the other side
    assert events(aus, package_id) == ["sealed", "sent"]
    assert events(vnm, package_id) == ["received", "verified", "exported"]
    wait_for(partial(both_cosigned, vnm, aus), timeout=60, what="both checkpoints to carry the other's cosignature")

    # AUS exports its own package: VNM's entries are in it, fetched from VNM, cosigned by AUS
    theirs = tmp_path / "sender"
    run("--data-dir", str(aus.data_dir), "evidence", "export", package_id, "--out", str(theirs),
        "--user", aus.user("officer"), env=dev, log=log)
    verified = run("verify", str(theirs), env=dev, log=log)
    assert "VERIFIED" in verified and "warning" not in verified, verified
    assert folder_events(theirs) == (["sealed", "sent", "exported"], ["received", "verified", "exported"])


def folder_events(folder: Path) -> tuple[list[str], list[str]]:
    """The events of an export's custody entries: its node's, and the other side's (custody/peer/)."""
    def of(directory: Path) -> list[str]:
        return [CustodyEntry.parse(TlogProof.parse(p.read_text()).extra[SALT_SIZE:]).event.value  # type: ignore[index]
                for p in sorted(directory.glob("*.tlog-proof"))]

    return of(folder / "custody" / "entries"), of(folder / "custody" / "peer")

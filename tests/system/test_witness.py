"""Witnessing between two real `hcx serve` processes: after messages are exchanged, each node's
latest checkpoint carries the other's cosignature; then VNM's log is forked on purpose and AUS's
admin sees the alarm through the API and `hcx log alarms`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from functools import partial

import pytest

from hcx.ledger.checkpoint import CosignatureVerifier
from hcx.ledger.entry import CustodyEvent
from hcx.ledger.note import parse_note
from hcx.services import custody
from tests.system.conftest import Cluster, SystemNode, all_delivered, pin, seed_preservations, signed_in, wait_for


def record(node: SystemNode, count: int, tag: str) -> None:
    """Custody entries written into the node's own database (messaging records none yet)."""
    with node.ctx.unit_of_work() as uow:
        for n in range(count):
            digest = "sha256:" + hashlib.sha256(f"{tag} {n}".encode()).hexdigest()
            custody.record(node.ctx, uow, CustodyEvent.received, object_digest=digest, actor_role="officer",
                           ref=f"{tag}-{n}")
        uow.commit()


def cosigned_by(node: SystemNode, peer: SystemNode) -> int | None:
    """The size of `node`'s latest checkpoint if it covers its whole log and carries a valid
    cosignature by `peer`'s node key; else None."""
    with node.ctx.reading() as uow:
        size, latest = uow.ledger.size(), uow.ledger.latest_checkpoint()
        lines = [c.line for c in uow.ledger.cosignatures(latest.size)] if latest else []
    if latest is None or latest.size != size:
        return None
    note = parse_note(latest.note + "".join(lines))
    witnessed = CosignatureVerifier.from_vkey(custody.cosigner_vkey(peer.ctx)).cosignatures(note)
    return latest.size if witnessed else None


def fork_log(node: SystemNode, count: int) -> None:
    """Rewrite the stopped node's log with other entries, under the same key: a fork."""
    with contextlib.closing(sqlite3.connect(node.data_dir / "node.db")) as db, db:
        for table in ("ledger_cosignatures", "ledger_checkpoints", "ledger_nodes", "ledger_entries", "ledger_head"):
            db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
    record(node, count, "forged")


def alarms_cli(node: SystemNode) -> list[dict[str, str]]:
    result = subprocess.run(
        [sys.executable, "-m", "hcx.cli.main", "--data-dir", str(node.data_dir), "log", "alarms", "--json"],
        capture_output=True, text=True, check=True, env=os.environ | {"HCX_ENV": "dev"}, timeout=60)
    return list(json.loads(result.stdout))


def test_nodes_cosign_each_other_and_a_forked_log_raises_an_alarm(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCX_WITNESS_INTERVAL_SECONDS", "0.2")
    vnm, aus = cluster.node("VNM"), cluster.node("AUS")
    record(vnm, 5, "vnm")
    record(aus, 3, "aus")
    for node in (vnm, aus):
        node.start()
    pin([vnm, aus])

    seed_preservations(vnm, 3)
    wait_for(partial(all_delivered, vnm), timeout=30, what="VNM's messages to be delivered")
    assert wait_for(lambda: cosigned_by(vnm, aus), timeout=30, what="AUS to cosign VNM's checkpoint") == 5
    assert wait_for(lambda: cosigned_by(aus, vnm), timeout=30, what="VNM to cosign AUS's checkpoint") == 3

    record(aus, 4, "aus-more")  # AUS's log grows: its worker asks VNM to witness it
    assert wait_for(lambda: cosigned_by(aus, vnm), timeout=30, what="VNM to cosign AUS's grown log") == 7
    assert cosigned_by(vnm, aus) == 5

    # VNM's log is rewritten behind its back and the node restarted on it: AUS refuses the fork
    vnm.stop()
    fork_log(vnm, 9)
    offset = aus.log_size()
    vnm.start()
    with signed_in((aus, "admin")) as (admin,):
        shown = wait_for(lambda: admin.http.get("/log/alarms").json(), timeout=30, what="AUS's alarm")
        assert [(a["party"], a["kind"]) for a in shown] == [("VNM", "fork")]
        assert "\n5\n" in shown[0]["previous_note"] and "\n9\n" in shown[0]["offered_note"]
        witnesses = admin.http.get("/log/witnesses").json()
        assert [(w["party"], w["we_cosigned_size"], w["alarms"]) for w in witnesses] == [("VNM", 5, 1)]
    assert "custody log fork of VNM" in aus.log_since(offset)
    assert cosigned_by(vnm, aus) is None  # no cosignature for the forked log
    assert [(a["party"], a["kind"]) for a in alarms_cli(aus)] == [("VNM", "fork")]  # one, though VNM retries

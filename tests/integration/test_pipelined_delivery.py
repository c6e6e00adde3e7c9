"""Two delivery rounds in flight at once (the worker's lanes): batches of one exchange may reach
the receiver concurrently and in swapped order. The receiver (on each backend) must still apply
every step once, in order: whichever batch stores first, the other sees it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hcx.domain.lifecycle import Step
from hcx.services import delivery, federation, messaging, requests
from hcx.storage.unit_of_work import Database
from tests.conftest import FixedClock
from tests.integration.test_federation_flow import AppTransport, PeerNode, approved_mla

HOLD_SECONDS = 0.3  # how long the first batch keeps its transaction open before storing


@pytest.fixture
def pair_on(database: Database, tmp_path: Path, clock: FixedClock) -> tuple[PeerNode, PeerNode]:
    """VNM on SQLite, AUS (the receiver) on the `database` fixture: SQLite, and PostgreSQL too."""
    transport = AppTransport()
    vnm, aus = PeerNode("VNM", tmp_path, clock, transport), PeerNode("AUS", tmp_path, clock, transport, database)
    federation.add_peer(vnm.ctx, None, url=aus.url, expected_fingerprint=federation.node_fingerprint(aus.ctx))
    federation.add_peer(aus.ctx, None, url=vnm.url, expected_fingerprint=federation.node_fingerprint(vnm.ctx))
    return vnm, aus


@pytest.mark.parametrize("first", ["submission", "withdrawal"])
def test_two_concurrent_batches_of_one_exchange_in_swapped_order_apply_each_step_once(
        pair_on: tuple[PeerNode, PeerNode], monkeypatch: pytest.MonkeyPatch, first: str) -> None:
    vnm, aus = pair_on
    rid = approved_mla(vnm)
    requests.transition(vnm.ctx, vnm.officer, rid, Step(action="withdraw", reasons="No longer needed."))
    submission, withdrawal = sorted(delivery.claim(vnm.ctx), key=lambda m: m.id)
    wires = {"submission": submission.wire, "withdrawal": withdrawal.wire}
    held = {"submission": submission.digest, "withdrawal": withdrawal.digest}[first]

    # the batch named `first` opens its transaction, looks up its exchange, and then lingers while
    # the other batch arrives: the other must not store its message on a view older than the first
    entered = threading.Event()
    original = messaging._Batch.__init__

    def lingering(self: Any, ctx: Any, uow: Any, opened: Any) -> None:
        original(self, ctx, uow, opened)
        if any(o.digest == held for o in opened):
            entered.set()
            time.sleep(HOLD_SECONDS)

    monkeypatch.setattr(messaging._Batch, "__init__", lingering)
    results: dict[str, Any] = {}

    def receive(name: str) -> None:
        results[name] = messaging.receive_many(aus.ctx, [wires[name]])

    threads = {name: threading.Thread(target=receive, args=(name,)) for name in wires}
    threads[first].start()
    assert entered.wait(10)
    other = next(name for name in wires if name != first)
    threads[other].start()
    for thread in threads.values():
        thread.join(30)
    assert all(isinstance(r, dict) for answers in results.values() for r in answers), results

    incoming = aus.only_request()
    assert incoming.state == "withdrawn"
    assert [e.action for e in incoming.events] == ["register", "withdraw"]
    assert {m["id"]: m["status"] for m in delivery.list_inbox(aus.ctx)} == {
        submission.id: "applied", withdrawal.id: "applied"}
    # delivered again (a lease ran out): the same receipts, nothing applied twice
    again = messaging.receive_many(aus.ctx, [withdrawal.wire, submission.wire])
    assert again == [results["withdrawal"][0], results["submission"][0]]
    assert [e.action for e in aus.only_request().events] == ["register", "withdraw"]


"""The delivery worker: delivers due outbox messages until it is told to stop.

Several delivery lanes run at once (`LANES`): while one waits for a peer's answer, the next claims
and posts, so the sender's work and the receiver's overlap. Leases keep the lanes' claims apart,
and the receiver keeps a step that overtakes an earlier one waiting (docs/federation.md). The
calling thread does the housekeeping beside them: refreshing stale peer descriptors, witnessing
and, once a day, sweeping orphaned evidence bytes; none of it holds up a delivery. One more thread
downloads the evidence packages peers sent (services/evidence_exchange.py): a large one takes a
while."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from hcx.errors import Error
from hcx.services import blob_sweep, delivery, evidence_exchange, federation, witness
from hcx.services.context import Context

log = logging.getLogger(__name__)
REFRESH_EVERY_SECONDS = 60.0  # how often stale peer descriptors are looked at
SWEEP_EVERY_SECONDS = 24 * 3600.0  # how often orphaned evidence bytes are swept (services/blob_sweep.py)
LANES = 2  # delivery rounds in flight at once


class DeliveryWorker:
    def __init__(self, ctx: Context, *, interval: float, lanes: int = LANES) -> None:
        self.ctx = ctx
        self.interval = interval
        self._stop = threading.Event()
        self._wakes = [threading.Event() for _ in range(max(1, lanes))]
        self._thread: threading.Thread | None = None
        self._fetcher: threading.Thread | None = None

    def run(self) -> None:
        """Deliver on every lane and keep house in this thread, until stopped."""
        self._open_vault()
        self._fetcher = threading.Thread(target=self._fetch_evidence, name="hcx-evidence-fetch", daemon=True)
        self._fetcher.start()
        lanes = [threading.Thread(target=self._deliver, args=(wake,), name=f"hcx-delivery-{i}", daemon=True)
                 for i, wake in enumerate(self._wakes)]
        for lane in lanes:
            lane.start()
        try:
            self._keep_house()
        finally:
            self._stop.set()
            self.wake()
            for lane in lanes:
                lane.join(timeout=10)

    def _open_vault(self) -> None:
        """Stretch the key passphrase now (about a second of scrypt), not at the first signature,
        which may come inside a write transaction that would hold the other writers that long."""
        try:
            with self.ctx.reading() as uow:
                federation.vault(self.ctx, uow)
        except Error as exc:
            log.warning("the key vault could not be opened yet: %s", exc.message)

    def _repeat(self, what: str, step: Callable[[], bool], idle: Callable[[], object]) -> None:
        """Run `step` until stopped, logging its failures and going on; `idle()` whenever it found
        nothing to do (or failed)."""
        while not self._stop.is_set():
            try:
                busy = step()
            except Error as exc:
                log.warning("%s failed: %s", what, exc.message)
                busy = False
            except Exception:
                log.exception("%s crashed; continuing", what)
                busy = False
            if not busy:
                idle()

    def _deliver(self, wake: threading.Event) -> None:
        """One lane: a full batch is followed at once by the next one."""
        def wait() -> None:
            wake.wait(self.interval)  # a message queued by this process wakes it at once
            wake.clear()

        self._repeat("delivery round", lambda: delivery.deliver_due(self.ctx) > 0, wait)

    def _keep_house(self) -> None:
        next_refresh = next_sweep = 0.0

        def step() -> bool:
            nonlocal next_refresh, next_sweep
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + REFRESH_EVERY_SECONDS
                federation.refresh_due_peers(self.ctx)
            witness.exchange_due(self.ctx)  # peers cosign our checkpoint once it grew (docs/witness.md)
            if self.ctx.blobs is not None and time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + SWEEP_EVERY_SECONDS
                self._sweep()
            return False

        self._repeat("housekeeping", step, lambda: self._stop.wait(self.interval))

    def _sweep(self) -> None:
        """Bytes a killed process left behind (mid-seal, mid-upload, mid-fetch), a day old or more."""
        report = blob_sweep.sweep(self.ctx)
        if report.removed:
            log.info("swept %s orphaned evidence item(s), %s bytes", len(report.removed), report.removed_bytes)

    def wake(self) -> None:
        for wake in self._wakes:
            wake.set()

    def _fetch_evidence(self) -> None:
        """Evidence packages peers sent, downloaded beside delivery (a large one takes a while)."""
        self._repeat("evidence fetch round", lambda: evidence_exchange.fetch_due(self.ctx) > 0,
                     lambda: self._stop.wait(self.interval))

    def start(self) -> None:
        self.ctx.outbox_listeners.append(self.wake)
        self._thread = threading.Thread(target=self.run, name="hcx-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._fetcher is not None:
            self._fetcher.join(timeout=10)

"""The delivery worker: a loop that delivers due outbox messages until it is told to stop."""

from __future__ import annotations

import logging
import threading
import time

from hcx.errors import Error
from hcx.services import delivery, evidence_exchange, federation, witness
from hcx.services.context import Context

log = logging.getLogger(__name__)
REFRESH_EVERY_SECONDS = 60.0  # how often stale peer descriptors are looked at


class DeliveryWorker:
    def __init__(self, ctx: Context, *, interval: float) -> None:
        self.ctx = ctx
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._fetcher: threading.Thread | None = None

    def run(self) -> None:
        """Deliver until stopped; a full batch is followed at once by the next one."""
        self._fetcher = threading.Thread(target=self._fetch_evidence, name="hcx-evidence-fetch", daemon=True)
        self._fetcher.start()
        next_refresh = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + REFRESH_EVERY_SECONDS
                    federation.refresh_due_peers(self.ctx)
                busy = delivery.deliver_due(self.ctx) > 0
                witness.exchange_due(self.ctx)  # peers cosign our checkpoint once it grew (docs/witness.md)
            except Error as exc:
                log.warning("delivery round failed: %s", exc.message)
                busy = False
            except Exception:
                log.exception("delivery round crashed; continuing")
                busy = False
            if not busy:
                self._wake.wait(self.interval)  # a message queued by this process wakes it at once
                self._wake.clear()

    def _fetch_evidence(self) -> None:
        """Evidence packages peers sent, downloaded beside delivery (a large one takes a while)."""
        while not self._stop.is_set():
            try:
                busy = evidence_exchange.fetch_due(self.ctx) > 0
            except Error as exc:
                log.warning("evidence fetch round failed: %s", exc.message)
                busy = False
            except Exception:
                log.exception("evidence fetch round crashed; continuing")
                busy = False
            if not busy:
                self._stop.wait(self.interval)

    def start(self) -> None:
        self.ctx.outbox_listeners.append(self._wake.set)
        self._thread = threading.Thread(target=self.run, name="hcx-delivery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._fetcher is not None:
            self._fetcher.join(timeout=10)

"""How fast do two real nodes exchange messages, against a plain FastAPI + SQLite endpoint?

Two nodes (VNM → AUS) run as real `hcx serve` processes on loopback (the demo harness). A message
costs: state change + sign + encrypt + commit on the sender, the worker's claim, the HTTP POST,
decrypt + verify + store + signed receipt on the receiver, the receipt's verification and commit on
the sender.

- single: one message at a time (an expedited preservation request drafted and submitted through
  the sender's API, as a user does, so the sender's own worker is woken; then waited for); latency = the outbox row's created_at → delivered_at (queue → receipt), and also from just before
  the submission (which seals the message) to delivered_at.
- batch: N messages queued while the sender is stopped, then the sender is started; throughput =
  N / (the sender records the last receipt − the receiver stores the first message); the gaps
  between consecutive arrivals at the receiver are the per-message service time. (The sender
  records the receipts of a delivery round, up to 50 messages, in one transaction, so its
  delivered_at is per round, not per message.)
- baseline, in the same run: a plain FastAPI app (uvicorn process on loopback) whose one POST
  endpoint inserts one row into SQLite (WAL, synchronous=FULL, like ours), driven by the same
  number of sequential httpx POSTs of a body the size of our messages.

Also printed, not targets: the CPU time the receiving node spends per message in the batch (less
what it spends idle, measured for a second before), and the baseline server's per request (from
/proc, Linux only). Other work on shared cores stretches the
wall-clock rates, much less these.

Targets: our batch rate at least half the baseline's; single-message p99 (queue → receipt) under
50 ms. The last line printed is one line of JSON with the figures and the targets.

    python bench/federation.py --quick     # 200 messages, under a minute
    python bench/federation.py             # 1000 messages
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _harness import free_port
from fastapi import FastAPI, Request

TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
WORKER_INTERVAL = "0.5"  # the default: a message queued through the API wakes the worker at once, it need not poll


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summary(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {"p50_ms": round(statistics.median(ms), 2), "p99_ms": round(percentile(ms, 0.99), 2),
            "max_ms": round(max(ms), 2)}


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far (Linux /proc; None elsewhere). Unlike the
    rates, it hardly moves when other work shares the cores."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ms_per(pid: int, before: float | None, count: int) -> float | None:
    after = cpu_seconds(pid)
    return None if before is None or after is None else round((after - before) * 1000 / count, 2)


def wait(condition: Any, timeout: float, what: str, every: float = 0.001) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"timed out waiting for {what}")


# --- the baseline: a plain endpoint that stores one row --------------------------------------------

def serve_baseline(port: int, database: str) -> None:
    import uvicorn

    connection = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY, body BLOB, received_at TEXT)")
    lock = threading.Lock()
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/inbox")
    async def inbox(request: Request) -> dict[str, int]:
        body = await request.body()
        with lock:
            connection.execute("BEGIN")
            cursor = connection.execute("INSERT INTO inbox (body, received_at) VALUES (?, ?)",
                                        (body, dt.datetime.now(dt.UTC).isoformat()))
            connection.execute("COMMIT")
        return {"id": int(cursor.lastrowid or 0)}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def run_baseline(base: Path, count: int, body: bytes) -> dict[str, Any]:
    import subprocess

    import httpx

    port = free_port()
    with (base / "baseline.log").open("ab") as log:
        process = subprocess.Popen([sys.executable, __file__, "--serve-baseline", str(port),
                                    str(base / "baseline.db")], stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            def healthy() -> bool:
                try:
                    return http.get("/health").status_code == 200
                except httpx.TransportError:
                    return False

            wait(healthy, 30, "the baseline server", every=0.05)
            for _ in range(20):  # warm up
                http.post("/inbox", content=body)
            latencies = []
            server_cpu = cpu_seconds(process.pid)
            start = time.perf_counter()
            for _ in range(count):
                one = time.perf_counter()
                response = http.post("/inbox", content=body)
                latencies.append(time.perf_counter() - one)
                assert response.status_code == 200
            elapsed = time.perf_counter() - start
            server_cpu_ms = cpu_ms_per(process.pid, server_cpu, count)
        return {"messages": count, "per_second": round(count / elapsed, 1), **summary(latencies),
                "server_cpu_ms_per_request": server_cpu_ms}
    finally:
        process.terminate()
        process.wait(timeout=15)


# --- our two nodes ---------------------------------------------------------------------------------

def run_nodes(base: Path, *, single: int, batch: int) -> tuple[dict[str, Any], dict[str, Any], int]:
    from hcx.cli import demo
    from hcx.cli.demo import Client, DemoNode, example
    from hcx.domain.lifecycle import Step
    from hcx.services import accounts, requests
    from hcx.services.requests import NewRequest
    from hcx.wiring import build_context

    os.environ.update({"HCX_WORKER_INTERVAL_SECONDS": WORKER_INTERVAL, "HCX_RETRY_MAX_SECONDS": "1"})
    vnm, aus = DemoNode("VNM", free_port(), base / "vnm"), DemoNode("AUS", free_port(), base / "aus")
    print("initialising two nodes ...", flush=True)
    for node in (vnm, aus):
        demo.initialise(node)
    try:
        for node in (vnm, aus):
            demo.start(node, base)
        for node in (vnm, aus):
            demo.wait_healthy(node)
        demo.pin_all([vnm, aus])
        ctx, receiver = build_context(vnm.settings()), build_context(aus.settings())
        contact = accounts.principal_for(ctx, vnm.user("contact"))
        draft = NewRequest.model_validate({"draft": example("expedited_preservation")})

        def queued(rid: str) -> str:
            with ctx.reading() as uow:  # reads never take the write lock the node's worker needs
                return next(m.id for m in uow.list_outbox(limit=50) if m.request_id == rid)

        def submit() -> str:
            """In this process, straight into VNM's database (for the batch, while VNM is stopped)."""
            rid = requests.create(ctx, contact, draft).id
            requests.transition(ctx, contact, rid, Step(action="submit"))
            return queued(rid)

        api = Client(vnm, "contact")

        def submit_over_api() -> str:
            """As a user does: through VNM's API, so VNM's own worker is woken by the queued message."""
            created = api.http.post("/requests", json={"draft": example("expedited_preservation")})
            assert created.status_code == 201, created.text
            rid = created.json()["id"]
            submitted = api.http.post(f"/requests/{rid}/transitions", json={"action": "submit"})
            assert submitted.status_code == 200, submitted.text
            return queued(rid)

        def delivered(message_id: str) -> tuple[dt.datetime, dt.datetime] | None:
            with ctx.reading() as uow:
                message = uow.get_outbox(message_id)
                if message is None or message.status != "delivered" or message.delivered_at is None:
                    return None
                return message.created_at, message.delivered_at

        # warm up: both serve processes decrypt their keys on first use
        for _ in range(3):
            warm = submit_over_api()
            wait(lambda m=warm: delivered(m), 60, "the warm-up message", every=0.002)

        print(f"single: {single} messages, one at a time ...", flush=True)
        queue_to_receipt, submit_to_receipt = [], []
        for _ in range(single):
            before = dt.datetime.now(dt.UTC)
            sent = submit_over_api()
            created, done = wait(lambda m=sent: delivered(m), 30, "a message to be delivered", every=0.002)
            queue_to_receipt.append((done - created).total_seconds())
            submit_to_receipt.append((done - before).total_seconds())
        single_figures = {"messages": single, "queue_to_receipt": summary(queue_to_receipt),
                          "submit_to_receipt": summary(submit_to_receipt)}

        print(f"batch: {batch} messages queued while the sender is stopped ...", flush=True)
        assert vnm.process is not None
        vnm.process.terminate()
        vnm.process.wait(timeout=15)
        ids = [submit() for _ in range(batch)]
        assert aus.process is not None
        idle_from, idle_cpu = time.monotonic(), cpu_seconds(aus.process.pid)
        time.sleep(1.0)  # what the receiver spends idle (its own worker polls): subtracted below
        receiver_cpu, idle_until = cpu_seconds(aus.process.pid), time.monotonic()
        idle_rate = (receiver_cpu - idle_cpu) / (idle_until - idle_from) if receiver_cpu and idle_cpu else 0.0
        demo.start(vnm, base)
        with ctx.reading() as uow:
            wire_size = len(uow.get_outbox(ids[0]).wire)  # type: ignore[union-attr]

        def all_delivered() -> list[dt.datetime] | None:
            with ctx.reading() as uow:  # a writing poll would hold the sender's write lock against its lanes
                found = [uow.get_outbox(i) for i in ids]
                times = [m.delivered_at for m in found if m is not None and m.status == "delivered"]
                return [t for t in times if t is not None] if len(times) == batch else None

        receipts = sorted(wait(all_delivered, 600, "the batch to be delivered", every=0.2))
        idle = idle_rate * (time.monotonic() - idle_until)
        receiver_cpu_ms = cpu_ms_per(aus.process.pid, receiver_cpu + idle if receiver_cpu else None, batch)
        with receiver.reading() as uow:
            found = [uow.get_inbox(i) for i in ids]
            arrivals = sorted(m.received_at for m in found if m is not None)
        assert len(arrivals) == batch, "the receiver does not hold every message"
        # from the first message stored by the receiver to the last receipt recorded by the sender
        span = (receipts[-1] - arrivals[0]).total_seconds()
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(arrivals)]
        batch_figures = {"messages": batch, "per_second": round(batch / span, 1), "seconds": round(span, 3),
                         "between_arrivals": summary(gaps), "receiver_cpu_ms_per_message": receiver_cpu_ms}
        return single_figures, batch_figures, wire_size
    finally:
        for node in (vnm, aus):
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in (vnm, aus):
            if node.process is not None:
                node.process.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 messages (under a minute)")
    parser.add_argument("--messages", type=int, help="batch size (default 1000, 200 with --quick)")
    parser.add_argument("--single", type=int, help="messages sent one at a time (default 200, 50 with --quick)")
    args = parser.parse_args()
    batch = args.messages or (200 if args.quick else 1000)
    single = args.single or (50 if args.quick else 200)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hcx-bench-") as tmp:
        base = Path(tmp)
        single_figures, batch_figures, wire_size = run_nodes(base, single=single, batch=batch)
        print(f"baseline: {batch} sequential POSTs of {wire_size} bytes to a plain FastAPI + SQLite endpoint ...",
              flush=True)
        baseline = run_baseline(base, batch, b"x" * wire_size)

    ratio = batch_figures["per_second"] / baseline["per_second"]
    p99 = single_figures["queue_to_receipt"]["p99_ms"]
    ratio_met, p99_met = ratio >= TARGET_RATIO, p99 < TARGET_P99_MS
    print()
    print(f"ours, batch of {batch}:   {batch_figures['per_second']:8.1f} messages/s "
          f"(between arrivals p50 {batch_figures['between_arrivals']['p50_ms']} ms, "
          f"p99 {batch_figures['between_arrivals']['p99_ms']} ms)")
    print(f"ours, one at a time ({single}): queue → receipt p50 {single_figures['queue_to_receipt']['p50_ms']} ms, "
          f"p99 {p99} ms; submit → receipt p50 {single_figures['submit_to_receipt']['p50_ms']} ms, "
          f"p99 {single_figures['submit_to_receipt']['p99_ms']} ms (idle worker polls every {WORKER_INTERVAL} s)")
    print(f"baseline ({batch} POSTs): {baseline['per_second']:8.1f} requests/s "
          f"(p50 {baseline['p50_ms']} ms, p99 {baseline['p99_ms']} ms)")
    ours_cpu, base_cpu = batch_figures["receiver_cpu_ms_per_message"], baseline["server_cpu_ms_per_request"]
    if ours_cpu and base_cpu:
        print(f"CPU per message: receiving node {ours_cpu} ms, baseline server {base_cpu} ms per request "
              f"(not a target; steadier than the rates when the cores are shared)")
    print(f"ratio ours/baseline: {ratio:.2f} (target ≥ {TARGET_RATIO}: {'met' if ratio_met else 'NOT met'})")
    print(f"single-message p99: {p99} ms (target < {TARGET_P99_MS} ms: {'met' if p99_met else 'NOT met'})")
    print(json.dumps({
        "bench": "federation", "quick": args.quick, "wire_bytes": wire_size,
        "batch": batch_figures, "single": single_figures, "baseline": baseline,
        "ratio": round(ratio, 3),
        "targets": {"ratio_min": TARGET_RATIO, "ratio_met": ratio_met,
                    "single_p99_ms_max": TARGET_P99_MS, "single_p99_met": p99_met},
        "seconds": round(time.monotonic() - started, 1),
    }))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-baseline":
        serve_baseline(int(sys.argv[2]), sys.argv[3])
    else:
        with contextlib.suppress(KeyboardInterrupt):
            main()

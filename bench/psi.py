"""How close does matching between two real nodes come to the floor set by its public-key work?

DH-PSI over X25519 (docs/matching.md) costs 2·(|X| + |Y|) X25519 exchanges: A blinds X, B
re-blinds it and blinds Y, A re-blinds B's Y. The floor is that count divided by the per-core rate
of the raw pyca X25519 exchange (a received u-coordinate's bytes in, the shared secret's bytes
out, one process, best of three, measured first in this run), divided by the number of cores.
Then the real thing: a VNM node (this process, its own worker processes, talking HTTP) matches N
indicators against an AUS node's N (a real `hcx serve` process), 10 % in common: hashing to the
curve, both sides' exponentiations on every core, chunks in signed and encrypted envelopes over
HTTP, every chunk committed for resumption, the results recorded on both sides.

Target: total time ≤ 1.2 × the floor. The box is shared: the wall-clock ratio is inflated while others
work, so the CPU time of both nodes' processes (all of them, workers included) is reported too,
against the CPU time the exchanges alone take at the measured rate: that ratio does not depend on
what else runs on the box, and bounds the wall-clock ratio an idle box would give.

    python bench/psi.py --quick   # 20k against 20k
    python bench/psi.py           # 1M against 1M (about two minutes, plus loading)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 1.2
WARM_UP = 5_000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def x25519_rate(samples: int) -> tuple[float, float]:
    """X25519 exchanges per second on one core, the operation the protocol is made of: pyca's
    exchange from a u-coordinate's bytes (parsed, as every received point must be) to the result's
    bytes; and, for comparison, `exchange` alone on keys parsed beforehand. Best of three each, in
    CPU time: the time slices other processes on a shared box take do not count against it."""
    from cryptography.hazmat.primitives.asymmetric import x25519

    from hcx.crypto import psi

    points = psi.blind(psi.new_scalar(), "rate", [i.to_bytes(4, "big") for i in range(samples)])
    raw = [points[i:i + 32] for i in range(0, len(points), 32)]
    key = x25519.X25519PrivateKey.from_private_bytes(psi.new_scalar())
    exchange, public = key.exchange, x25519.X25519PublicKey.from_public_bytes
    parsed = [public(u) for u in raw]
    best_bytes = best_parsed = 0.0
    for _ in range(3):
        start = time.process_time()
        for u in raw:
            exchange(public(u))
        best_bytes = max(best_bytes, samples / (time.process_time() - start))
        start = time.process_time()
        for peer in parsed:
            exchange(peer)
        best_parsed = max(best_parsed, samples / (time.process_time() - start))
    return best_bytes, best_parsed


def cpu_by_process(pid: int) -> dict[int, tuple[float, int]]:
    """User + system CPU seconds of a process and of all its live descendants (Linux /proc), with
    each one's depth below `pid` (0: itself, 1: a child ...)."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[float, int]] = {}
    todo = [(pid, 0)]
    while todo:
        current, depth = todo.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            found[current] = ((int(stat[11]) + int(stat[12])) / tick, depth)
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [(int(child), depth + 1) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def cpu_spent(before: dict[int, tuple[float, int]], after: dict[int, tuple[float, int]],
              roles: dict[int, str]) -> dict[str, float]:
    """CPU seconds spent between two snapshots, per role: a process named in `roles`, or its
    descendants ("<role> workers")."""
    parents = {child: int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[1])
               for child in after if Path(f"/proc/{child}/stat").exists()}
    spent: dict[str, float] = {}
    for pid, (cpu, _) in after.items():
        role, up = roles.get(pid), pid
        while role is None and up in parents:
            up = parents[up]
            role = f"{roles[up]} workers" if up in roles else None
        name = role or "other"
        spent[name] = round(spent.get(name, 0.0) + cpu - before.get(pid, (0.0, 0))[0], 2)
    return spent


def x25519_pool_rate(pool: object, cores: int, samples: int) -> float:
    """Exchanges per second of `cores` worker processes together: the per-core rate times the
    cores, as the machine gives them right now (it is shared, so this is measured, not assumed)."""
    from hcx.crypto import psi

    points = psi.blind(psi.new_scalar(), "rate", [i.to_bytes(4, "big") for i in range(samples)])
    start = time.perf_counter()
    psi.exponentiate(psi.new_scalar(), points * cores, executor=pool, parts=cores)  # type: ignore[arg-type]
    return samples * cores / (time.perf_counter() - start)


def value(i: int) -> str:
    return hashlib.md5(str(i).encode()).hexdigest()  # noqa: S324 - an md5-kind indicator value


def load(settings: object, principal_name: str, values: range, case: str) -> None:
    """Postings straight into the index (the import path is benchmarked elsewhere), all shareable."""
    import datetime as dt

    from hcx.services import accounts, matching
    from hcx.wiring import build_context

    ctx = build_context(settings)  # type: ignore[arg-type]
    principal = accounts.principal_for(ctx, principal_name)
    now = dt.datetime.now(dt.UTC)
    batch = 100_000
    for start in range(values.start, values.stop, batch):
        with ctx.unit_of_work() as uow:
            rows = []
            for i in range(start, min(start + batch, values.stop)):
                v = value(i)
                rows.append({"key": hashlib.sha256(v.encode()).digest()[:16], "kind": "md5", "value": v,
                             "case_ref": case, "authority_id": principal.authority_id, "first_seen": now, "tlp": ""})
            uow.indicators.add_postings(rows)  # type: ignore[attr-defined]
            uow.commit()
    matching.mark_shareable(ctx, principal, case)
    if ctx.transport is not None:
        ctx.transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20k against 20k")
    parser.add_argument("-n", type=int, help="indicators per node (default 1,000,000; --quick 20,000)")
    args = parser.parse_args()
    n = args.n or (20_000 if args.quick else 1_000_000)
    cores = os.cpu_count() or 1
    overlap = n // 10

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from hcx.cli import demo
    from hcx.cli.demo import DemoNode
    from hcx.services import accounts, matching
    from hcx.wiring import build_context

    pool = ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("spawn"))
    x25519_pool_rate(pool, cores, 2_000)  # start the workers
    rate, rate_parsed = x25519_rate(20_000)
    rates = [x25519_pool_rate(pool, cores, 20_000)]
    operations = 2 * (n + n)
    print(f"X25519: {rate:,.0f} exchanges/s on one core from bytes ({rate_parsed:,.0f}/s on parsed keys); "
          f"{rates[0]:,.0f}/s on {cores} worker processes now (the box is shared); {operations:,} exchanges to do")

    with tempfile.TemporaryDirectory(prefix="hcx-bench-psi-") as tmp:
        base = Path(tmp)
        vnm, aus = DemoNode("VNM", free_port(), base / "vnm"), DemoNode("AUS", free_port(), base / "aus")
        limits = {"HCX_MATCH_MAX_SET": str(2 * n), "HCX_MATCH_ITEMS_PER_DAY": str(4 * n + 4 * WARM_UP),
                  "HCX_MATCH_SESSIONS_PER_HOUR": "10"}
        os.environ.update(limits)
        for node in (vnm, aus):
            demo.initialise(node)
        try:
            for node in (vnm, aus):  # pinning reads each node's descriptor from its server
                demo.start(node, base)
                demo.wait_healthy(node)
            demo.pin_all([vnm, aus])
            ctx = build_context(vnm.settings())
            principal = accounts.principal_for(ctx, vnm.user("officer"))
            # A warm-up session starts both nodes' worker processes, as a running node has them.
            load(vnm.settings(), vnm.user("officer"), range(10**9, 10**9 + WARM_UP), "warm-up")
            load(aus.settings(), aus.user("officer"), range(10**9, 10**9 + WARM_UP), "warm-up")
            started = time.perf_counter()
            warm = matching.run(ctx, principal, "AUS")
            print(f"warm-up: {WARM_UP:,} against {WARM_UP:,} in {time.perf_counter() - started:.1f} s "
                  f"(starts the worker processes)")
            assert warm.matches == WARM_UP
            matching.unmark_shareable(ctx, principal, "warm-up")
            peer_ctx = build_context(aus.settings())
            matching.unmark_shareable(peer_ctx, accounts.principal_for(peer_ctx, aus.user("officer")), "warm-up")
            started = time.perf_counter()  # both nodes loaded at once, one process each
            loading = [pool.submit(load, vnm.settings(), vnm.user("officer"), range(0, n), "V-1"),
                       pool.submit(load, aus.settings(), aus.user("officer"), range(n - overlap, 2 * n - overlap), "A-1")]
            for loaded in loading:
                loaded.result()
            print(f"loaded {n:,} shareable indicators into each node in {time.perf_counter() - started:.1f} s")
            before = cpu_by_process(os.getpid())  # both servers are our children: their workers count too
            started = time.perf_counter()
            summary = matching.run(ctx, principal, "AUS")
            total = time.perf_counter() - started
            after = cpu_by_process(os.getpid())
            cpu = sum(c for c, _ in after.values()) - sum(c for c, _ in before.values())
            assert vnm.process is not None and aus.process is not None
            roles = {os.getpid(): "initiator", aus.process.pid: "responder", vnm.process.pid: "initiator's server"}
            spent = cpu_spent(before, after, roles)
            if ctx.transport is not None:
                ctx.transport.close()
            match_pool = ctx.cache.get("match pool")  # ended here, not by the interpreter's exit hooks
            if isinstance(match_pool, ProcessPoolExecutor):
                match_pool.shutdown()
        finally:
            for node in (vnm, aus):
                if node.process is not None:
                    node.process.terminate()
                    node.process.wait(timeout=30)
    rates.append(x25519_pool_rate(pool, cores, 20_000))  # the load may have changed: measured again
    pool.shutdown()
    floor = operations / (rate * cores)
    exchanges_cpu = operations / rate
    print(f"floor: {floor:.1f} s = {operations:,} exchanges at {rate:,.0f}/s per core on {cores} cores "
          f"(at the rate {cores} processes get on the shared box now, {operations / min(rates):.1f} s)")
    assert summary.matches == overlap, f"found {summary.matches}, expected {overlap}"
    ratio, cpu_ratio = total / floor, cpu / exchanges_cpu
    items = 2 * n / total
    print(f"matched {n:,} against {n:,} ({summary.matches:,} in common) in {total:.1f} s: {items:,.0f} items/s, "
          f"{ratio:.2f} × the floor (target ≤ {TARGET_RATIO}); CPU time of both nodes {cpu:.1f} s, "
          f"{cpu_ratio:.2f} × the {exchanges_cpu:.1f} s the exchanges take; load average {os.getloadavg()[0]:.1f}")
    print("CPU seconds by process: " + ", ".join(f"{role} {seconds:.1f}" for role, seconds in sorted(spent.items())))
    print(json.dumps({"bench": "psi", "n": n, "cores": cores, "x25519_per_core": round(rate),
                      "x25519_per_core_parsed_keys": round(rate_parsed), "x25519_all_cores_now": round(min(rates)),
                      "public_key_operations": operations, "floor_s": round(floor, 2), "total_s": round(total, 2),
                      "items_per_s": round(items), "matches": summary.matches, "ratio_to_floor": round(ratio, 3),
                      "cpu_s": round(cpu, 2), "cpu_ratio_to_exchanges": round(cpu_ratio, 3),
                      "cpu_s_by_process": spent,
                      "load_average": round(os.getloadavg()[0], 1), "target_ratio": TARGET_RATIO,
                      "met": ratio <= TARGET_RATIO}))

if __name__ == "__main__":
    sys.exit(main())

"""How fast is the custody log: batched appends up to N entries, and inclusion proofs at N?

Appends go through the real path — `services.custody.record_many` (canonical entry, 32-byte salt,
commitment, leaf hash) into `storage.ledger` on SQLite in WAL mode with synchronous=FULL and
BEGIN IMMEDIATE, exactly as hcx's engine opens it — one commit per batch. Proofs are timed two
ways at the final size: the store's proof (one indexed query for the O(log n) subtrees, then the
fold) and the service's full c2sp.org/tlog-proof (checkpoint, entry and proof reads, formatting).
Every timed proof is then verified against the signed root.

Baseline, in the same run, on the same leaf data: pymerkle 7's SqliteTree (an independent RFC 6962
implementation; also the oracle for the root). pymerkle is NOT a dependency of hcx: install it into
the venv for the bench only (`.venv/bin/pip install pymerkle`); without it the comparison is skipped.

Ends with one line of JSON: figures, ratios and the targets (>= 10,000 appends/s batched,
proof p99 < 1 ms).

    .venv/bin/python bench/ledger.py --quick          # 100k entries, well under a minute
    .venv/bin/python bench/ledger.py                  # 1M entries
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hcx.ledger import merkle
from hcx.ledger.checkpoint import Checkpoint
from hcx.ledger.entry import CustodyEntry, CustodyEvent
from hcx.ledger.note import Ed25519NoteVerifier
from hcx.ledger.proof import verify_tlog_proof
from hcx.rules import load_rules
from hcx.services import accounts, custody
from hcx.services.context import Context, SystemClock
from hcx.storage.db import make_engine, migrate
from hcx.storage.ledger import SqlLedgerStore
from hcx.storage.ledger_models import LedgerEntry
from hcx.storage.unit_of_work import Database

TARGET_APPENDS_PER_S = 10_000
TARGET_PROOF_P99_MS = 1.0
EVENTS = list(CustodyEvent)


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)]


def entries(start: int, count: int, at: dt.datetime) -> list[CustodyEntry]:
    return [CustodyEntry(EVENTS[i % len(EVENTS)], "sha256:" + hashlib.sha256(b"object %d" % i).hexdigest(),
                         "officer", at, f"PKG-{i // 16}") for i in range(start, start + count)]


def bench_appends(ctx: Context, total: int, batch: int) -> dict[str, float]:
    at = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    rates: list[float] = []
    started = time.perf_counter()
    for start in range(0, total, batch):
        count = min(batch, total - start)
        t0 = time.perf_counter()
        with ctx.unit_of_work() as uow:
            custody.record_many(ctx, uow, entries(start, count, at))
            uow.commit()
        rates.append(count / (time.perf_counter() - t0))
    elapsed = time.perf_counter() - started
    tail = rates[-max(1, len(rates) // 10):]
    return {"appends_per_s": total / elapsed, "appends_per_s_last_10pct": statistics.median(tail),
            "append_seconds": elapsed}


def bench_proofs(ctx: Context, database: Database, size: int, samples: int) -> dict[str, Any]:
    rng = random.Random(9162)
    note = custody.checkpoint(ctx)
    vkey = Ed25519NoteVerifier.from_vkey(custody.log_vkey(ctx))
    indices = [rng.randrange(size) for _ in range(samples)]
    store_ms: list[float] = []
    with database.engine.connect() as connection, Session(bind=connection) as session:
        store = SqlLedgerStore(session)
        root = merkle.root(size, store.subtree_hashes)
        for index in indices:
            t0 = time.perf_counter()
            proof = merkle.inclusion_proof(index, size, store.subtree_hashes)
            store_ms.append((time.perf_counter() - t0) * 1000)
            leaf = store.subtree_hashes([merkle.Subtree(0, index)])[0]
            merkle.verify_inclusion(index, size, leaf, proof, root)
    service_ms: list[float] = []
    for index in indices[: max(1, samples // 4)]:
        t0 = time.perf_counter()
        tlog_proof = custody.prove_inclusion(ctx, index)
        service_ms.append((time.perf_counter() - t0) * 1000)
        assert tlog_proof.extra is not None
        leaf = merkle.leaf_hash(hashlib.sha256(tlog_proof.extra).digest())
        verify_tlog_proof(tlog_proof, leaf, log=[vkey])
    assert Checkpoint.parse(note.split("\n\n")[0] + "\n").root == root
    return {"proof_p50_ms": statistics.median(store_ms), "proof_p99_ms": p99(store_ms),
            "prove_service_p99_ms": p99(service_ms), "root": root.hex()}


def bench_pymerkle(database: Database, workdir: Path, size: int, samples: int, our_root: str) -> dict[str, Any]:
    try:
        from pymerkle import SqliteTree  # type: ignore[import-untyped]
    except ImportError:
        return {"pymerkle": "not installed (bench-only: .venv/bin/pip install pymerkle); comparison skipped"}
    with database.engine.connect() as connection:  # the same leaf data: each commitment SHA-256(salt || entry)
        rows = connection.execute(select(LedgerEntry.salt, LedgerEntry.entry).order_by(LedgerEntry.index))
        data = [hashlib.sha256(bytes(salt or b"") + bytes(entry or b"")).digest() for salt, entry in rows]
    tree = SqliteTree(str(workdir / "pymerkle.db"))
    t0 = time.perf_counter()
    tree.append_entries(data)
    append_seconds = time.perf_counter() - t0
    same_root = tree.get_root(size).hex() == our_root
    rng = random.Random(6962)
    proof_ms = []
    for _ in range(samples):
        index = rng.randrange(size)
        t0 = time.perf_counter()
        tree.prove_inclusion(index + 1, size)  # pymerkle counts leaves from 1
        proof_ms.append((time.perf_counter() - t0) * 1000)
    tree.close()
    return {"pymerkle_appends_per_s": size / append_seconds, "pymerkle_proof_p99_ms": p99(proof_ms),
            "pymerkle_proof_samples": samples, "pymerkle_same_root": same_root}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 entries")
    parser.add_argument("--batch", type=int, default=1_000, help="entries per transaction")
    parser.add_argument("--proofs", type=int, default=2_000, help="proof samples")
    parser.add_argument("--baseline-proofs", type=int, default=None, help="pymerkle proof samples (slow: O(n))")
    args = parser.parse_args()
    total = 100_000 if args.quick else args.entries
    baseline_proofs = args.baseline_proofs or (20 if args.quick else 5)

    with tempfile.TemporaryDirectory(prefix="hcx-bench-ledger-") as tmp:
        workdir = Path(tmp)
        engine = make_engine(f"sqlite:///{workdir / 'node.db'}")
        migrate(engine)
        database = Database(engine)
        ctx = Context(unit_of_work=database.unit_of_work, rules=load_rules(), clock=SystemClock(),
                      key_passphrase=b"bench passphrase")
        accounts.init_node(ctx, party="VNM", name="bench")

        appends = bench_appends(ctx, total, args.batch)
        print(f"appends: {appends['appends_per_s']:,.0f}/s overall, {appends['appends_per_s_last_10pct']:,.0f}/s "
              f"over the last 10% (batches of {args.batch}, WAL + synchronous=FULL), {total:,} entries")
        proofs = bench_proofs(ctx, database, total, args.proofs)
        print(f"proofs at {total:,}: p50 {proofs['proof_p50_ms']:.3f} ms, p99 {proofs['proof_p99_ms']:.3f} ms "
              f"(store); full tlog-proof p99 {proofs['prove_service_p99_ms']:.3f} ms")
        baseline = bench_pymerkle(database, workdir, total, baseline_proofs, proofs["root"])
        if "pymerkle_appends_per_s" in baseline:
            print(f"pymerkle 7 SqliteTree: {baseline['pymerkle_appends_per_s']:,.0f} appends/s, proof p99 "
                  f"{baseline['pymerkle_proof_p99_ms']:.1f} ms ({baseline_proofs} samples), same root: "
                  f"{baseline['pymerkle_same_root']}")
            baseline["append_ratio_vs_pymerkle"] = appends["appends_per_s"] / baseline["pymerkle_appends_per_s"]
            baseline["proof_speedup_vs_pymerkle"] = baseline["pymerkle_proof_p99_ms"] / proofs["proof_p99_ms"]
        else:
            print(baseline["pymerkle"])
        engine.dispose()

    figures: dict[str, Any] = {"bench": "ledger", "entries": total, "batch": args.batch, **appends, **proofs,
                               **baseline, "target_appends_per_s": TARGET_APPENDS_PER_S,
                               "target_proof_p99_ms": TARGET_PROOF_P99_MS}
    figures["meets_targets"] = (appends["appends_per_s"] >= TARGET_APPENDS_PER_S
                                and proofs["proof_p99_ms"] < TARGET_PROOF_P99_MS)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()

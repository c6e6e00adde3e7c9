"""The correlation index at scale: import, point lookups, incremental links, the full cross-country
link report and the index's size — against DuckDB on the same data, measured in the same run.

Data (deterministic, numpy): N indicators over C cases and 50 countries (a case's country is fixed);
90 % of the postings carry a value of their own, 9.9 % one of N/50 values shared by ~5 random cases
(so mostly across countries), 0.1 % one of 20 hot values (generic: in far more than 50 cases). Kinds
are a fraud-report mix of phone numbers, IBANs, domains, e-mail addresses, IPv4, Ethereum addresses
and SHA-256 hashes, written as people write them (spaces, upper case, mixed-case wallets).

Import = normalise + key (worker processes, `hcx.services.indicator_bulk.normalise_many`) + write the
postings into the real schema (`SqlIndicatorStore.load_postings`, index built after the rows, or kept
during the load: both are measured on a sample and the faster is used). Point lookups and the batched
incremental lookups go through the store (SQLAlchemy) with the raw sqlite3 lookup as the floor; the
full report is `SqlIndicatorStore.cross_country_keys`, which reads the per-key summary kept at import
(`indicator_shared_keys`: its upkeep is inside the import's time), with the recomputation from every
posting (GROUP BY key HAVING min(country) <> max(country)) timed beside it; the summary's size counts in
the index's.
DuckDB gets the same (key, country, case) rows from numpy arrays.

    .venv/bin/python bench/indicators.py --quick        (200 k indicators, < 1 min on an idle box)
    .venv/bin/python bench/indicators.py                (10 M over 1 M cases; ~10 min and ~4 GB of disk)

Ends with one line of JSON holding every figure and the targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import duckdb
import numpy as np
from sqlalchemy import text

from hcx.indicators import normalise
from hcx.services.indicator_bulk import normalise_many, workers_default
from hcx.storage.db import make_engine, migrate
from hcx.storage.unit_of_work import Database

TARGETS = {"import_per_s": 100_000, "lookup_p99_ms": 1.0, "report_vs_duckdb_best": 1.0, "index_bytes": 1 << 30}
COUNTRIES = ["VNM", "DEU", "FRA", "GBR", "USA", "THA", "PHL", "IDN", "MYS", "SGP", "KHM", "LAO", "CHN", "JPN", "KOR",
             "IND", "PAK", "BGD", "NGA", "GHA", "KEN", "ZAF", "EGY", "MAR", "TUN", "BRA", "ARG", "CHL", "COL", "MEX",
             "PER", "CAN", "AUS", "NZL", "ESP", "ITA", "PRT", "NLD", "BEL", "POL", "ROU", "UKR", "TUR", "ARE", "SAU",
             "QAT", "ISR", "SWE", "NOR", "FIN"]
KINDS = ["phone", "iban", "domain", "email", "ipv4", "eth", "sha256"]
KIND_WEIGHTS = [0.25, 0.15, 0.15, 0.10, 0.15, 0.05, 0.15]
MAX_CASES = 50
AUTHORITY = "01JBENCHAUTHORITY000000000"
CARD_KEY, INDEX_KEY = bytes(range(32)), bytes(range(32, 64))


# --- data ----------------------------------------------------------------------------------------

def _iban(number: int) -> str:
    bban = f"37040044{number:010d}"
    check = 98 - int(bban + "131400") % 97  # D=13, E=14, check digits 00
    return f"de{check:02d} {bban[:4]} {bban[4:8]} {bban[8:12]} {bban[12:16]} {bban[16:]}"


def raw_value(kind: str, number: int) -> str:
    """A value of `kind`, numbered, written with the noise people add."""
    if kind == "phone":
        return f"+44 (0)20 {7 + number // 10_000_000}{number % 10_000_000:07d}"  # London 020 7…/8…
    if kind == "iban":
        return _iban(number)
    if kind == "domain":
        return f"Shop-{number}.Example-{number % 97}.COM"
    if kind == "email":
        return f"Pay.{number}@Mail{number % 1000}.com"
    if kind == "ipv4":
        return f"11.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"
    if kind == "eth":
        return f"0x{number:040x}"
    return f"{number:064X}"


def generate(n: int, cases: int, seed: int) -> tuple[list[tuple[str | None, str, str | None]], np.ndarray]:
    """(kind, raw value, region) per posting and the posting's case number; each (value, case) once."""
    rng = np.random.default_rng(seed)
    case = rng.integers(0, cases, n, dtype=np.int64)
    draw = rng.random(n)
    shared_pool, hot_pool = max(1, n // 50), 20
    value = np.arange(n, dtype=np.int64) + hot_pool + shared_pool  # unique
    shared = (draw >= 0.9) & (draw < 0.999)
    value[shared] = hot_pool + rng.integers(0, shared_pool, int(shared.sum()))
    hot = draw >= 0.999
    value[hot] = rng.integers(0, hot_pool, int(hot.sum()))
    # one posting per (value, case): drop repeats (a re-import changes nothing anyway)
    order = np.lexsort((case, value))
    keep = np.ones(n, dtype=bool)
    keep[order[1:]] = (value[order[1:]] != value[order[:-1]]) | (case[order[1:]] != case[order[:-1]])
    value, case = value[keep], case[keep]
    kind_of_value = np.searchsorted(np.cumsum(KIND_WEIGHTS), (value * 2654435761 % 1000) / 1000.0, side="right")
    kind_of_value = np.minimum(kind_of_value, len(KINDS) - 1)
    items = [(KINDS[k], raw_value(KINDS[k], int(v)), None) for k, v in zip(kind_of_value.tolist(), value.tolist(),
                                                                           strict=True)]
    return items, case


# --- helpers ---------------------------------------------------------------------------------------

def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ceiling(rates: dict[str, float], workers: int) -> float:
    """The import rate normalisation alone allows: the kind mix's harmonic mean of the one-core
    library rates, times the worker processes."""
    seconds_per_value = sum(weight / rates[kind] for kind, weight in zip(KINDS, KIND_WEIGHTS, strict=True)
                            if kind in rates)
    return workers / seconds_per_value if seconds_per_value else 0.0


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def library_rates(items: list[tuple[str | None, str, str | None]]) -> dict[str, float]:
    """Single-core normalise rate per kind, on a sample, in CPU time (the box is shared: wall time
    would count the other users' turns): the library limit behind the import rate."""
    rates = {}
    for kind in KINDS:
        sample = [raw for k, raw, _ in items if k == kind][:3000]
        if not sample:
            continue
        for value in sample[:200]:  # warm: the first value of a kind loads its tables (PSL, phone metadata)
            normalise(kind, value, default_region=None, card_key=CARD_KEY)
        start = time.thread_time()
        for value in sample:
            normalise(kind, value, default_region=None, card_key=CARD_KEY)
        elapsed = time.thread_time() - start
        rates[kind] = round(len(sample) / elapsed)
    return rates


# --- the run ---------------------------------------------------------------------------------------

POSTING_COLUMNS = ("key", "kind", "value", "case_ref", "country")


class Normalised:
    """Normalise and key every value in worker processes, yielding posting rows (tuples of
    `POSTING_COLUMNS`) as they come (the store writes one batch while the workers normalise the
    next); keeps the keys and case numbers."""

    def __init__(self, items: list[tuple[str | None, str, str | None]], case: np.ndarray, workers: int) -> None:
        self.items, self.case, self.workers = items, case, workers
        self.keys: list[bytes] = []
        self.cases: list[int] = []
        self.rejected = 0

    def rows(self) -> Iterator[tuple[bytes, str, str, str, str]]:
        position = 0
        for batch in normalise_many(self.items, card_key=CARD_KEY, index_key=INDEX_KEY, workers=self.workers):
            numbers: list[int] = self.case[position : position + len(batch.keys)].tolist()
            position += len(numbers)
            keys, kinds, values = batch.keys, batch.kinds, batch.values
            if batch.reasons:  # keep the accepted items only
                self.rejected += len(batch.reasons)
                kept = [i for i in range(len(numbers)) if i not in batch.reasons]
                keys, kinds, values = [keys[i] for i in kept], [kinds[i] for i in kept], [values[i] for i in kept]
                numbers = [numbers[i] for i in kept]
            accepted = cast(list[bytes], keys)
            self.keys.extend(accepted)
            self.cases.extend(numbers)
            yield from zip(accepted, kinds, values, [f"C{number}" for number in numbers],
                           [COUNTRIES[number % len(COUNTRIES)] for number in numbers], strict=True)


def write(db_path: Path, rows: Iterable[tuple[Any, ...]], build_index_after: bool) -> tuple[float, int, Database]:
    """A fresh migrated database with one authority; the rows loaded through the store."""
    engine = make_engine(f"sqlite:///{db_path}")
    migrate(engine)
    database = Database(engine)
    with database.unit_of_work() as uow:
        uow.session.execute(text(
            "INSERT INTO authorities (id, party, name, kind, created_at) VALUES (:id, 'VNM', 'Bench', "
            "'law_enforcement', '2026-01-01 00:00:00')"), {"id": AUTHORITY})
        uow.commit()
    now = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
    start = time.perf_counter()
    with database.unit_of_work() as uow:
        written = uow.indicators.load_postings(
            rows, columns=POSTING_COLUMNS, constants={"authority_id": AUTHORITY, "first_seen": now, "tlp": ""},
            build_index_after=build_index_after)
        uow.commit()
    return time.perf_counter() - start, written, database


def lookups(database: Database, db_path: Path, keys: list[bytes], samples: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed + 1)
    picks = [keys[i] for i in rng.integers(0, len(keys), samples)]
    through_store: list[float] = []
    cpu: list[float] = []  # the thread's CPU time: what is left when the shared box preempts us
    with database.read_unit_of_work() as uow:
        store = uow.indicators
        for key in picks:
            t0, c0 = time.perf_counter(), time.thread_time()
            store.postings_for_keys(authority_id=AUTHORITY, keys=[key])
            through_store.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
        batch = picks[:4000]
        cpu_start = time.thread_time()
        batched_s, _ = timed(lambda: store.postings_for_keys(authority_id=AUTHORITY, keys=batch))
        batched_cpu_s = time.thread_time() - cpu_start
    raw: list[float] = []
    raw_cpu: list[float] = []
    connection = sqlite3.connect(db_path)
    query = ("SELECT key, case_ref, country, origin FROM indicator_postings WHERE key = ? AND authority_id = ?")
    for key in picks:
        t0, c0 = time.perf_counter(), time.thread_time()
        connection.execute(query, (key, AUTHORITY)).fetchall()
        raw.append(time.perf_counter() - t0)
        raw_cpu.append(time.thread_time() - c0)
    marks = ", ".join("?" for _ in range(400))
    in_query = ("SELECT key, case_ref, country, origin FROM indicator_postings "  # noqa: S608 - placeholders only
                f"WHERE key IN ({marks}) AND authority_id = ?")
    start = time.perf_counter()
    for first in range(0, len(batch) - 399, 400):
        connection.execute(in_query, (*batch[first : first + 400], AUTHORITY)).fetchall()
    raw_batched_s = time.perf_counter() - start
    connection.close()
    return {"cpu_p99_ms": percentile(cpu, 0.99) * 1e3, "raw_cpu_mean_us": sum(raw_cpu) / len(raw_cpu) * 1e6,
            "incremental_cpu_us_per_indicator": batched_cpu_s / len(batch) * 1e6,
            "raw_incremental_us_per_indicator": raw_batched_s / (len(batch) // 400 * 400) * 1e6, "p50_ms": percentile(through_store, 0.5) * 1e3, "p99_ms": percentile(through_store, 0.99) * 1e3,
            "raw_p50_ms": percentile(raw, 0.5) * 1e3, "raw_p99_ms": percentile(raw, 0.99) * 1e3,
            "incremental_us_per_indicator": batched_s / len(batch) * 1e6}


def report(database: Database) -> tuple[float, int, float, float, float, int]:
    """The report from the summary (best of 3: it is short), and the recomputation from the postings
    (which must agree); wall and CPU seconds. Then what `hcx indicators report` reads on top: the
    postings (kind, value, country, case) of the cross-border keys."""
    runs = []
    with database.read_unit_of_work() as uow:
        postings_s, postings = timed(lambda: uow.indicators.cross_country_postings(authority_id=AUTHORITY,
                                                                                   max_cases=MAX_CASES))
        for _ in range(3):
            elapsed, keys = timed(lambda: uow.indicators.cross_country_keys(authority_id=AUTHORITY,
                                                                            max_cases=MAX_CASES))
            runs.append(elapsed)
        cpu_start = time.thread_time()
        recomputed_s, recomputed = timed(lambda: uow.indicators.cross_country_keys_recomputed(
            authority_id=AUTHORITY, max_cases=MAX_CASES))
        recomputed_cpu_s = time.thread_time() - cpu_start
    assert keys == recomputed, "the summary differs from the recomputation"
    return min(runs), len(keys), recomputed_s, recomputed_cpu_s, postings_s, len(postings)


def summary_upkeep(database: Database, keys: list[bytes], seed: int) -> dict[str, float]:
    """What keeping the summary costs: rebuilding it whole (the end of a bulk load, inside the import's
    time above) and recomputing the rows of 4,000 keys (what an incremental import adds per posting
    written: after its look-up of the same keys, as `import_file` does), in CPU time; rolled back."""
    rng = np.random.default_rng(seed + 3)
    picks = [keys[i] for i in rng.integers(0, len(keys), 4000)]
    with database.unit_of_work() as uow:
        cpu_start = time.thread_time()
        rebuild_s, _ = timed(lambda: uow.indicators.rebuild_shared_keys(authority_id=AUTHORITY))
        rebuild_cpu_s = time.thread_time() - cpu_start
        uow.indicators.postings_for_keys(authority_id=AUTHORITY, keys=picks)  # the import's look-up
        cpu_start = time.thread_time()
        refresh_s, _ = timed(lambda: uow.indicators.refresh_shared_keys(authority_id=AUTHORITY, keys=picks))
        refresh_cpu_s = time.thread_time() - cpu_start
    return {"rebuild_s": rebuild_s, "rebuild_cpu_s": rebuild_cpu_s,
            "refresh_us_per_key": refresh_s / len(picks) * 1e6, "refresh_cpu_us_per_key": refresh_cpu_s / len(picks) * 1e6}


def sizes(db_path: Path) -> dict[str, int]:
    connection = sqlite3.connect(db_path)
    by_name = dict(connection.execute("SELECT name, sum(pgsize) FROM dbstat WHERE name IN "
                                      "('indicator_postings', 'uq_indicator_postings', 'indicator_shared_keys', "
                                      "'ix_indicator_shared_keys_report') GROUP BY name").fetchall())
    connection.close()
    summary = int(by_name.get("indicator_shared_keys", 0)) + int(by_name.get("ix_indicator_shared_keys_report", 0))
    return {"table_bytes": int(by_name.get("indicator_postings", 0)), "summary_bytes": summary,
            "index_bytes": int(by_name.get("uq_indicator_postings", 0)) + summary,
            "file_bytes": db_path.stat().st_size + sum(p.stat().st_size for p in db_path.parent.glob("*-wal"))}


def duckdb_baseline(keys: list[bytes], cases: np.ndarray, samples: int, seed: int) -> dict[str, Any]:
    pairs = np.frombuffer(b"".join(keys), dtype="<u8").reshape(-1, 2)
    con = duckdb.connect()
    con.register("src", {"k1": pairs[:, 0].copy(), "k2": pairs[:, 1].copy(),
                         "country": (cases % len(COUNTRIES)).astype(np.int16), "case_no": cases.astype(np.int32)})
    load_s, _ = timed(lambda: con.execute("CREATE TABLE p AS SELECT * FROM src"))
    queries = {
        "min_max": "SELECT k1, k2, count(*) FROM p GROUP BY k1, k2 "  # noqa: S608 - our constant
                   f"HAVING min(country) <> max(country) AND count(*) <= {MAX_CASES}",
        "count_distinct": "SELECT k1, k2, count(*) FROM p GROUP BY k1, k2 "  # noqa: S608 - our constant
                          f"HAVING count(DISTINCT country) > 1 AND count(*) <= {MAX_CASES}",
    }
    times: dict[str, float] = {}
    found = 0
    for name, sql in queries.items():
        best = min(timed(lambda q=sql: con.execute(q).fetchall())[0] for _ in range(2))
        times[name] = best
        found = len(con.execute(sql).fetchall())
    rng = np.random.default_rng(seed + 2)
    point: list[float] = []
    for i in rng.integers(0, len(pairs), min(samples, 200)):
        t0 = time.perf_counter()
        con.execute("SELECT case_no, country FROM p WHERE k1 = ? AND k2 = ?",
                    [int(pairs[i, 0]), int(pairs[i, 1])]).fetchall()
        point.append(time.perf_counter() - t0)
    con.close()
    return {"load_s": load_s, "report_s": times, "best_report_s": min(times.values()), "links": found,
            "lookup_p50_ms": percentile(point, 0.5) * 1e3, "lookup_p99_ms": percentile(point, 0.99) * 1e3}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 k indicators over 20 k cases (< 1 minute)")
    parser.add_argument("-n", type=int, default=10_000_000, help="indicators")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=workers_default())
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="where the SQLite file goes (default: a temp dir)")
    args = parser.parse_args(argv)
    n, cases = (200_000, 20_000) if args.quick else (args.n, args.cases)
    samples = 2_000 if args.quick else 10_000

    elapsed, (items, case) = timed(lambda: generate(n, cases, args.seed))
    print(f"data: {len(items):,} postings over {cases:,} cases and {len(COUNTRIES)} countries, "
          f"generated in {elapsed:.1f} s", flush=True)
    rates = library_rates(items)
    print("normalise, per CPU-second of one core, per kind (values/s): " + ", ".join(f"{k} {v:,}" for k, v in rates.items()))

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        # index kept during the load vs built after: on a sample (normalised apart), then the faster
        sample_size = min(len(items), 100_000)
        sample = list(Normalised(items[:sample_size], case[:sample_size], args.workers).rows())
        choice: dict[str, float] = {}
        for after in (False, True):
            path = Path(tmp) / f"choice-{after}.db"
            choice["built_after" if after else "kept"], _, scratch = write(path, sample, after)
            scratch.engine.dispose()
            path.unlink()
        del sample
        # a sample's index fits in the cache, the full one does not: the sample can only favour keeping
        # it, so the full load builds it after unless the sample is the whole load
        build_after = choice["built_after"] <= choice["kept"] or sample_size < len(items)
        print(f"writing {sample_size:,} postings: index kept {choice['kept']:.2f} s, built after "
              f"{choice['built_after']:.2f} s → the full load {'builds it after' if build_after else 'keeps it'}",
              flush=True)

        db_path = Path(tmp) / "index.db"
        built = Normalised(items, case, args.workers)
        cpu_before = os.times()
        total_s, postings, database = write(db_path, built.rows(), build_after)
        cpu_after = os.times()
        cpu_s = sum(cpu_after[i] - cpu_before[i] for i in range(4))  # ours and the workers' (user + system)
        database.engine.dispose()
        del items, built.items
        rate = postings / total_s
        print(f"import: {postings:,} postings in {total_s:.1f} s = {rate:,.0f}/s (normalise+key on "
              f"{args.workers} processes, overlapped with the writes), {built.rejected} rejected; the ceiling "
              f"set by the libraries' one-core rates for this mix × {args.workers} processes: "
              f"{ceiling(rates, args.workers):,.0f}/s; CPU used {cpu_s:.1f} s of the {args.workers * total_s:.1f} s "
              f"the {args.workers} cores had (the rest went to the box's other users) → "
              f"{postings / cpu_s:,.0f} indicators per CPU-second, {postings / cpu_s * args.workers / ceiling(rates, args.workers):.2f} "
              "of the normalisation ceiling per CPU-second", flush=True)
        gc.collect()
        gc.freeze()  # the data set's millions of objects: out of the collector's way while timing lookups
        database = Database(make_engine(f"sqlite:///{db_path}"))
        looked = lookups(database, db_path, built.keys, samples, args.seed)
        print(f"point lookup through the store: p50 {looked['p50_ms']:.3f} ms, p99 {looked['p99_ms']:.3f} ms "
              f"(CPU time p99 {looked['cpu_p99_ms']:.3f} ms: the rest is preemption on the shared box) "
              f"(raw sqlite3: p50 {looked['raw_p50_ms']:.3f} ms, p99 {looked['raw_p99_ms']:.3f} ms); incremental "
              f"match at ingest, IN-batches: {looked['incremental_us_per_indicator']:.1f} µs per indicator (raw sqlite3 "
              f"{looked['raw_incremental_us_per_indicator']:.1f} µs); in CPU time: {looked['incremental_cpu_us_per_indicator']:.1f} "
              f"µs per indicator vs {looked['raw_cpu_mean_us']:.1f} µs for a raw sqlite3 point lookup")
        gc.unfreeze()
        report_s, report_links, recomputed_s, recomputed_cpu_s, postings_s, postings_read = report(database)
        print(f"full cross-country link report (SQLite, from the summary): {report_s:.3f} s, {report_links:,} "
              f"shared values; recomputed from every posting: {recomputed_s:.2f} s ({recomputed_cpu_s:.2f} CPU-s), "
              f"the same keys; with their {postings_read:,} postings (kind, value, country, case: what "
              f"`hcx indicators report` pairs up) {postings_s:.2f} s")
        upkeep = summary_upkeep(database, built.keys, args.seed)
        print(f"summary upkeep: rebuilt whole at the end of the load {upkeep['rebuild_s']:.2f} s "
              f"({upkeep['rebuild_cpu_s']:.2f} CPU-s, {upkeep['rebuild_s'] / total_s:.1%} of the import); per key "
              f"written by an incremental import {upkeep['refresh_us_per_key']:.1f} µs "
              f"({upkeep['refresh_cpu_us_per_key']:.1f} µs CPU)")
        size = sizes(db_path)
        print(f"size: index {size['index_bytes'] / 2**20:,.0f} MiB (of which the summary {size['summary_bytes'] / 2**20:,.1f} "
              f"MiB), postings table {size['table_bytes'] / 2**20:,.0f} "
              f"MiB, file {size['file_bytes'] / 2**20:,.0f} MiB ({size['file_bytes'] / postings:.0f} "
              "bytes per posting)")
        database.engine.dispose()

    duck = duckdb_baseline(built.keys, np.array(built.cases, dtype=np.int64), samples, args.seed)
    print(f"DuckDB (same rows, from numpy): report {duck['best_report_s']:.2f} s (min<>max "
          f"{duck['report_s']['min_max']:.2f} s, count distinct {duck['report_s']['count_distinct']:.2f} s), "
          f"{duck['links']:,} shared values; point lookup p50 {duck['lookup_p50_ms']:.2f} ms, "
          f"p99 {duck['lookup_p99_ms']:.2f} ms")
    ratio = report_s / duck["best_report_s"]
    print(f"ratios: report SQLite / best DuckDB = {ratio:.2f} (target ≤ {TARGETS['report_vs_duckdb_best']}); "
          f"lookup p99 store / DuckDB = {looked['p99_ms'] / duck['lookup_p99_ms']:.3f}; incremental / raw "
          f"point lookup = {looked['incremental_us_per_indicator'] / (looked['raw_p50_ms'] * 1e3):.2f} (goal ≤ 2)")
    # --- cross-node matching (bench/psi.py, branch psi): its 1 M × 1 M figures are added here at merge ---
    figures = {
        "postings": postings, "cases": cases, "countries": len(COUNTRIES), "workers": args.workers,
        "cpus": os.cpu_count(), "import_per_s": round(rate), "import_s": round(total_s, 2),
        "import_cpu_s": round(cpu_s, 2), "import_per_cpu_s": round(postings / cpu_s),
        "import_ceiling_per_s": round(ceiling(rates, args.workers)), "index_built_after": build_after,
        "lookup_p50_ms": round(looked["p50_ms"], 4), "lookup_p99_ms": round(looked["p99_ms"], 4),
        "lookup_cpu_p99_ms": round(looked["cpu_p99_ms"], 4),
        "raw_lookup_p50_ms": round(looked["raw_p50_ms"], 4),
        "incremental_us_per_indicator": round(looked["incremental_us_per_indicator"], 2),
        "raw_incremental_us_per_indicator": round(looked["raw_incremental_us_per_indicator"], 2),
        "incremental_cpu_us_per_indicator": round(looked["incremental_cpu_us_per_indicator"], 2),
        "raw_lookup_cpu_mean_us": round(looked["raw_cpu_mean_us"], 2),
        "report_s": round(report_s, 4), "report_shared_values": report_links,
        "report_postings_s": round(postings_s, 3), "report_postings": postings_read,
        "report_recomputed_s": round(recomputed_s, 3), "report_recomputed_cpu_s": round(recomputed_cpu_s, 3),
        "summary_rebuild_s": round(upkeep["rebuild_s"], 3), "summary_rebuild_cpu_s": round(upkeep["rebuild_cpu_s"], 3),
        "summary_refresh_us_per_key": round(upkeep["refresh_us_per_key"], 2),
        "summary_refresh_cpu_us_per_key": round(upkeep["refresh_cpu_us_per_key"], 2),
        "summary_bytes": size["summary_bytes"],
        "duckdb_best_report_s": round(duck["best_report_s"], 3), "duckdb_lookup_p99_ms": round(duck["lookup_p99_ms"], 3),
        "report_vs_duckdb_best": round(ratio, 3), "index_bytes": size["index_bytes"], "table_bytes": size["table_bytes"],
        "file_bytes": size["file_bytes"], "normalise_rates_one_core": rates,
        "cross_node_match": None,  # bench/psi.py (branch psi): items/s and total time, 1 M × 1 M
        "targets": TARGETS,
        "met": {"import": rate >= TARGETS["import_per_s"], "lookup_p99": looked["p99_ms"] < TARGETS["lookup_p99_ms"],
                "report": ratio <= TARGETS["report_vs_duckdb_best"],
                "index_size": size["index_bytes"] < TARGETS["index_bytes"]},
    }
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

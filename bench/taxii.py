"""How fast does a CERT tool pull an authority's indicators over TAXII, against reading the same
postings straight from the database, in the same run?

Builds a SQLite node with N postings of one authority (a quarter TLP:RED, which TAXII must skip),
then pages through them:
- baseline: `SqlTaxiiStore.postings_page` (the same SQL, no STIX, no TLP check), rows/s;
- service: `services.taxii.objects` (TLP decision, STIX object, filters), served objects/s;
- HTTP: the same pages through the ASGI app (auth, negotiation, JSON), for a few pages;
plus the latency of one page deep in the collection (the paging index at work).
Ends with one line of JSON. `--quick` uses 20,000 postings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import httpx

from hcx.api import create_app
from hcx.config import Settings
from hcx.rules import load_rules
from hcx.rules.schema import AuthorityKind, Role
from hcx.services import accounts, taxii
from hcx.services.context import Context
from hcx.storage.db import make_engine, migrate
from hcx.storage.unit_of_work import Database

TLPS = ["tlp:clear", "tlp:green", "tlp:amber pap:red", "tlp:red"]
PAGE = 1000
TARGET_PAGE_P99_MS = 250.0  # a page of 1,000 objects in a quarter second, on a busy shared box
TARGET_RATIO = 0.1  # STIX + TLP per object costs at most 10x the bare read


class Clock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


def build(directory: Path, count: int) -> tuple[Database, Context, str]:
    engine = make_engine(f"sqlite:///{directory / 'node.db'}")
    migrate(engine)
    database = Database(engine)
    ctx = Context(unit_of_work=database.unit_of_work, read_unit_of_work=database.read_unit_of_work,
                  rules=load_rules(), clock=Clock(), key_passphrase=b"bench passphrase")
    accounts.init_node(ctx, party="VNM", name="Viet Nam")
    police = accounts.add_authority(ctx, None, name="Cyber Police", kind=AuthorityKind.law_enforcement)
    secret = "bench password, not a secret"  # noqa: S105 - a throw-away node
    accounts.add_user(ctx, None, username="ana", password=secret, role=Role.analyst, authority_id=police.id)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = [{"key": os.urandom(16), "kind": "domain", "value": f"shop-{n}.example.com", "case_ref": f"CASE-{n % 997}",
             "authority_id": police.id, "first_seen": start + dt.timedelta(microseconds=n), "tlp": TLPS[n % 4]}
            for n in range(count)]
    with database.unit_of_work() as uow:
        uow.indicators.add_postings(rows)
        uow.commit()
    return database, ctx, police.id


def timed_pages(fetch: object, label: str) -> tuple[float, int, list[float]]:
    """Call fetch(next) until it returns no next token; (seconds, items, per-page seconds)."""
    total, items, pages, token = 0.0, 0, [], None
    while True:
        began = time.perf_counter()
        got, token = fetch(token)  # type: ignore[operator]
        pages.append(time.perf_counter() - began)
        items += got
        if token is None:
            total = sum(pages)
            print(f"{label:>9}: {items:>9,} items in {total:6.2f} s = {items / total:>10,.0f}/s, {len(pages)} pages")
            return total, items, pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20,000 postings")
    parser.add_argument("--postings", type=int, default=200_000)
    args = parser.parse_args()
    count = 20_000 if args.quick else args.postings
    with tempfile.TemporaryDirectory(prefix="hcx-bench-taxii-") as scratch:
        database, ctx, authority_id = build(Path(scratch), count)
        ana = accounts.principal_for(ctx, "ana")
        collection = taxii.collection_id(authority_id)

        def raw(after: tuple[dt.datetime, int] | None) -> tuple[int, tuple[dt.datetime, int] | None]:
            with database.read_unit_of_work() as uow:
                rows = uow.taxii.postings_page(authority_id=authority_id, added_after=None, after=after, limit=PAGE)
                last = (rows[-1].first_seen, rows[-1].id) if rows else None
                return len(rows), last if len(rows) == PAGE else None

        def served(token: str | None) -> tuple[int, str | None]:
            page = taxii.objects(ctx, ana, collection, taxii.Filters(limit=PAGE, next=token))
            return len(page.objects), page.next if page.more else None

        base_s, base_n, _ = timed_pages(raw, "baseline")
        serve_s, serve_n, serve_pages = timed_pages(served, "service")
        assert serve_n == count - count // 4, serve_n  # every TLP:RED posting was left out

        token = accounts.create_token(ctx, None, username="ana", name="bench").token
        app = create_app(Settings(data_dir=Path(scratch)), context=ctx)
        url = f"/taxii2/api/collections/{collection}/objects/"
        headers = {"Authorization": f"Bearer {token}", "Accept": taxii.TAXII_MEDIA_TYPE}

        async def over_http(pages: int) -> tuple[int, float]:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
                began, got, params = time.perf_counter(), 0, {"limit": str(PAGE)}
                for _ in range(pages):
                    body = (await client.get(url, headers=headers, params=params)).json()
                    got += len(body.get("objects", []))
                    if not body["more"]:
                        break
                    params = {"limit": str(PAGE), "next": body["next"]}
                return got, time.perf_counter() - began

        http_n, http_s = anyio.run(over_http, 10)
        print(f"{'http':>9}: {http_n:>9,} items in {http_s:6.2f} s = {http_n / http_s:>10,.0f}/s (10 pages)")
        deep = taxii.Filters(limit=PAGE, added_after=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
                             + dt.timedelta(microseconds=count - 2 * PAGE))
        began = time.perf_counter()
        taxii.objects(ctx, ana, collection, deep)
        deep_ms = (time.perf_counter() - began) * 1000
        database.engine.dispose()
    page_ms = sorted(s * 1000 for s in serve_pages)
    p99 = page_ms[min(len(page_ms) - 1, int(len(page_ms) * 0.99))]
    ratio = (serve_n / serve_s) / (base_n / base_s)
    print(f"service/baseline = {ratio:.2f} (target ≥ {TARGET_RATIO}); page p50 {statistics.median(page_ms):.1f} ms, "
          f"p99 {p99:.1f} ms (target < {TARGET_PAGE_P99_MS:.0f}); a page at the end via added_after {deep_ms:.1f} ms")
    print(json.dumps({"postings": count, "baseline_rows_per_s": round(base_n / base_s),
                      "served_objects_per_s": round(serve_n / serve_s), "http_objects_per_s": round(http_n / http_s),
                      "ratio": round(ratio, 3), "page_p50_ms": round(statistics.median(page_ms), 2),
                      "page_p99_ms": round(p99, 2), "deep_page_ms": round(deep_ms, 2),
                      "targets": {"ratio": TARGET_RATIO, "page_p99_ms": TARGET_PAGE_P99_MS}}))


if __name__ == "__main__":
    main()

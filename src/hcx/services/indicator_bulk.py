"""Bulk imports: normalisation in worker processes, postings written in large batches.

Normalising is the slow step of an import (phonenumbers ≈25 k values/s, schwifty ≈90 k/s on one
core; building-blocks.md §7), and it holds the GIL: a big file is cut into pieces at row boundaries
and each piece is normalised in its own process. The pieces' reports are merged in file order, so
the result is the same report the single-process importer gives (same accepted indicators in
first-seen order, same duplicates, the same rejections with their file line numbers).

    import_csv_parallel(path, name=…, default_region=…, card_key=…, workers=None) -> ImportReport
    normalise_many(items, card_key=…, index_key=…, workers=None) -> Iterator[NormalisedBatch]
        (kind hint, raw value, default region) triples → posting keys, kinds and canonical values, for
        loaders that bring their own case column (bench/indicators.py, national bulk loads)
"""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hcx.errors import InvalidInput
from hcx.indicators.csv_import import import_csv
from hcx.indicators.model import ImportReport, IndicatorKind, Rejection, ReportBuilder, SourceRef
from hcx.indicators.normalise import normaliser

PIECE_BYTES = 4 * 1024 * 1024
ITEMS_PER_TASK = 20_000
TASKS_AHEAD = 4
KEY_BYTES = 16
_LINE = re.compile(r"line (\d+)")


def workers_default() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _pool(workers: int) -> ProcessPoolExecutor:
    # spawn: no copy of a server's threads and locks in the children
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


# --- CSV files ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    end: int
    lines_before: int  # physical lines of the file before `start`


def _pieces(path: Path, piece_bytes: int) -> tuple[bytes, list[_Piece]]:
    """The header line, and the file cut at line ends outside quoted cells (an even number of `"`
    before the cut: CSV escapes a quote as `""`)."""
    pieces: list[_Piece] = []
    with path.open("rb") as stream:
        header = stream.readline()
        start, lines, quotes = 0, 0, 0
        position = 0
        while True:
            block = stream.read(piece_bytes) if position else header + stream.read(piece_bytes)
            if not block:
                break
            position += len(block)
            quotes += block.count(b'"')
            extra = b""
            while quotes % 2 or not (block + extra).endswith(b"\n"):  # carry on to a safe line end
                more = stream.readline()
                if not more:
                    break
                extra += more
                position += len(more)
                quotes += more.count(b'"')
            chunk_lines = (block + extra).count(b"\n")
            pieces.append(_Piece(start, position, lines))
            start, lines = position, lines + chunk_lines
    return header, pieces


def _import_piece(path: str, piece: _Piece, header: bytes, first: bool, name: str, default_region: str | None,
                  card_key: bytes) -> ImportReport:
    import io
    with open(path, "rb") as stream:
        stream.seek(piece.start)
        body = stream.read(piece.end - piece.start)
    data = body if first else header + body
    report = import_csv(io.BytesIO(data), name=name, default_region=default_region, card_key=card_key)
    if first:
        return report
    offset = piece.lines_before - 1  # the piece's line 2 is the file's line lines_before + 1

    def shift(source: SourceRef | None) -> SourceRef | None:
        if source is None:
            return None
        return SourceRef(source.file, _LINE.sub(lambda m: f"line {int(m.group(1)) + offset}", source.locator, 1))

    return ImportReport(
        indicators=tuple(i.with_context(markings=i.markings, source=shift(i.source)) for i in report.indicators),
        rejections=tuple(Rejection(shift(r.source) or r.source, r.reason, r.excerpt) for r in report.rejections),
        duplicates=report.duplicates, skipped=report.skipped)


def merge(reports: Sequence[ImportReport]) -> ImportReport:
    """Reports of consecutive pieces of one file → the report of the file."""
    builder = ReportBuilder()
    duplicates = 0
    skipped: dict[str, int] = {}
    for report in reports:
        for indicator in report.indicators:
            builder.accept(indicator)
        for rejection in report.rejections:
            builder.reject(rejection.source, rejection.reason, rejection.excerpt)
        duplicates += report.duplicates
        for what, count in report.skipped.items():
            skipped[what] = skipped.get(what, 0) + count
    merged = builder.build()
    return ImportReport(merged.indicators, merged.rejections, merged.duplicates + duplicates,
                        dict(sorted(skipped.items())))


def import_csv_parallel(path: Path, *, name: str, default_region: str | None, card_key: bytes,
                        workers: int | None = None, piece_bytes: int | None = None) -> ImportReport:
    """`import_csv` on a big file, its pieces (`PIECE_BYTES` each) normalised in `workers` processes."""
    header, pieces = _pieces(path, piece_bytes or PIECE_BYTES)
    if not header.strip():
        raise InvalidInput(f"{name}: empty CSV file")
    count = workers or workers_default()
    if count == 1 or len(pieces) == 1:
        return merge([_import_piece(str(path), p, header, i == 0, name, default_region, card_key)
                      for i, p in enumerate(pieces)])
    with _pool(count) as pool:
        futures = [pool.submit(_import_piece, str(path), p, header, i == 0, name, default_region, card_key)
                   for i, p in enumerate(pieces)]
        return merge([f.result() for f in futures])


# --- rows that bring their own case ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NormalisedBatch:
    """Per input item, in order: its posting key, kind and canonical value (None for a rejected item),
    and, by position in the batch, why an item was rejected. Plain lists of bytes and strings: they
    cross from the worker processes, where pickling per-item objects would cost more than keying."""

    keys: list[bytes | None]
    kinds: list[str | None]
    values: list[str | None]
    reasons: dict[int, str]


def _normalise_task(items: Sequence[tuple[str | None, str, str | None]], card_key: bytes,
                    index_key: bytes) -> NormalisedBatch:
    count = len(items)
    keys: list[bytes | None] = [None] * count
    kinds: list[str | None] = [None] * count
    values: list[str | None] = [None] * count
    reasons: dict[int, str] = {}
    # one kind (and region) after the other: its normaliser resolved once, and a third faster than a
    # mix (the library's code and tables stay in the CPU caches)
    groups: dict[tuple[str | None, str | None], list[int]] = {}
    for position, (kind_hint, _raw, region) in enumerate(items):
        groups.setdefault((kind_hint, region), []).append(position)
    base = hmac.new(index_key, digestmod=hashlib.sha256)
    names: dict[IndicatorKind, tuple[str, bytes]] = {k: (k.value, k.value.encode() + b"\x00") for k in IndicatorKind}
    for (kind_hint, region), positions in groups.items():
        convert = normaliser(kind_hint, default_region=region, card_key=card_key)
        for position in positions:
            try:
                indicator = convert(items[position][1])
            except InvalidInput as exc:
                reasons[position] = exc.message
                continue
            name, prefix = names[indicator.kind]
            mac = base.copy()  # the index's keyed hash: HMAC-SHA-256(index key, kind ‖ 0x00 ‖ value), truncated
            mac.update(prefix + indicator.value.encode())
            keys[position] = mac.digest()[:KEY_BYTES]
            kinds[position] = name
            values[position] = indicator.value
    return NormalisedBatch(keys, kinds, values, reasons)


def normalise_many(items: Sequence[tuple[str | None, str, str | None]], *, card_key: bytes, index_key: bytes,
                   workers: int | None = None, items_per_task: int = ITEMS_PER_TASK) -> Iterator[NormalisedBatch]:
    """Normalise and key `items` in `workers` processes; batches come back in input order. At most
    `TASKS_AHEAD` tasks per worker are in flight, so results wait in memory only that far ahead of
    a consumer that is slower than the workers (e.g. the database writes)."""
    starts = range(0, len(items), items_per_task)
    count = workers or workers_default()
    if count == 1:
        for start in starts:
            yield _normalise_task(items[start : start + items_per_task], card_key, index_key)
        return
    with _pool(count) as pool:
        pending: deque[Future[NormalisedBatch]] = deque()
        for start in starts:
            pending.append(pool.submit(_normalise_task, items[start : start + items_per_task], card_key, index_key))
            if len(pending) >= count * TASKS_AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

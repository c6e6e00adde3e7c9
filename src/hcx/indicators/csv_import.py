"""CSV import, row by row: memory stays flat whatever the file's size.

Without a mapping the header must name a `type` and a `value` column (any case); an optional
`markings` (or `tlp`) column holds markings separated by `;`, `,` or spaces. An empty type cell
means "detect the kind". `CsvMapping` names other columns, or one type for every row.
Each rejected row is reported with its line number; rows longer than `MAX_LINE_CHARS` are
rejected without being read into memory.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from hcx.errors import InvalidInput
from hcx.indicators.markings import is_stix_marking_id, marking_from_tag
from hcx.indicators.model import ImportReport, ReportBuilder, SourceRef
from hcx.indicators.reading import ValueReader

MAX_LINE_CHARS = 64 * 1024
_SPLIT_MARKINGS = re.compile(r"[;,\s]+")
_UNDECODABLE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True, slots=True)
class CsvMapping:
    """Which columns hold what. Column names are matched case-insensitively."""

    value: str = "value"
    kind: str | None = "type"
    fixed_kind: str | None = None
    markings: str | None = None
    row_id: str | None = None


def import_csv(
    stream: IO[bytes],
    *,
    name: str,
    default_region: str | None,
    card_key: bytes,
    mapping: CsvMapping | None = None,
    max_line_chars: int = MAX_LINE_CHARS,
) -> ImportReport:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        return _read_rows(text, name, mapping or CsvMapping(), ValueReader(default_region, card_key), max_line_chars)
    finally:
        text.detach()  # the caller owns the stream


def _read_rows(text: IO[str], name: str, mapping: CsvMapping, values: ValueReader, max_line_chars: int) -> ImportReport:
    oversized: set[int] = set()
    reader = csv.reader(_bounded_lines(text, max_line_chars, oversized))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput(f"{name}: empty CSV file") from None
    except csv.Error as exc:
        raise InvalidInput(f"{name}: unreadable CSV header: {exc}") from exc
    columns = _Columns.locate(header, mapping, name)
    report = ReportBuilder()
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            report.reject(SourceRef(name, f"line {reader.line_num}"), f"malformed CSV: {exc}")
            continue
        source = SourceRef(name, f"line {reader.line_num}")
        if reader.line_num in oversized:
            report.reject(source, f"row longer than {max_line_chars:,} characters")
            continue
        if not any(cell.strip() for cell in row):
            continue
        columns.read_row(row, source, values, report)
    return report.build()


@dataclass(frozen=True, slots=True)
class _Columns:
    value: int
    kind: int | None
    fixed_kind: str | None
    markings: int | None
    row_id: int | None

    @classmethod
    def locate(cls, header: list[str], mapping: CsvMapping, name: str) -> _Columns:
        positions = {cell.strip().lower(): index for index, cell in enumerate(header)}

        def find(column: str | None, *, required: bool) -> int | None:
            if column is None:
                return None
            index = positions.get(column.strip().lower())
            if index is None and required:
                raise InvalidInput(
                    f"{name}: no {column!r} column in the header {header!r}; give a column mapping "
                    "or use a header with type,value"
                )
            return index

        value = find(mapping.value, required=True)
        assert value is not None
        kind = None if mapping.fixed_kind else find(mapping.kind, required=True)
        markings = find(mapping.markings, required=True) if mapping.markings else find("markings", required=False)
        if markings is None and mapping.markings is None:
            markings = find("tlp", required=False)
        return cls(value, kind, mapping.fixed_kind, markings, find(mapping.row_id, required=True))

    def read_row(self, row: list[str], source: SourceRef, values: ValueReader, report: ReportBuilder) -> None:
        if self.row_id is not None and self.row_id < len(row) and row[self.row_id].strip():
            source = SourceRef(source.file, f"{source.locator} (id {row[self.row_id].strip()})")
        if any(_UNDECODABLE.search(cell) for cell in row):
            report.reject(source, "row is not valid UTF-8")
            return
        if self.value >= len(row) or (self.kind is not None and self.kind >= len(row)):
            report.reject(source, f"row has {len(row)} cells; the value or type column is missing")
            return
        kind = self.fixed_kind if self.kind is None else row[self.kind]
        markings: list[str] = []
        if self.markings is not None and self.markings < len(row):
            for token in _SPLIT_MARKINGS.split(row[self.markings].strip()):
                marking = token if is_stix_marking_id(token) else marking_from_tag(token) if token else None
                if token and marking is None:
                    report.reject(source, f"unknown marking {token!r} (expected tlp:…, pap:… or a STIX marking id)")
                    return
                if marking is not None:
                    markings.append(marking)
        values.read(report, kind or None, row[self.value], source=source, markings=markings)


def _bounded_lines(text: IO[str], max_chars: int, oversized: set[int]) -> Iterator[str]:
    """The physical lines of `text`, each cut to `max_chars`; a cut line's number goes to `oversized`
    and it is replaced by an empty line (its rest is read and thrown away in bounded chunks)."""
    number = 0
    while True:
        line = text.readline(max_chars + 1)
        if not line:
            return
        number += 1
        if len(line) > max_chars and not line.endswith(("\n", "\r")):
            oversized.add(number)
            while (rest := text.readline(max_chars)) and not rest.endswith(("\n", "\r")):
                pass
            yield "\n"
            continue
        yield line

"""What an indicator is, where it came from, and what an import produced.

`Indicator` equality is (kind, value, markings): two indicators with the same canonical value are
the same indicator whatever their display text or source. `ImportReport` is built by
`ReportBuilder`, which collapses duplicates (merging their markings) and keeps first-seen order,
so the same file always gives the same report.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class IndicatorKind(enum.StrEnum):
    PHONE = "phone"
    IBAN = "iban"
    BIC = "bic"
    CARD = "card"
    BTC = "btc"
    ETH = "eth"
    LTC = "ltc"
    DOGE = "doge"
    TRX = "trx"
    XRP = "xrp"
    DOMAIN = "domain"
    URL = "url"
    EMAIL = "email"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    CIDR = "cidr"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    HANDLE = "handle"


CRYPTO_KINDS = frozenset(
    {IndicatorKind.BTC, IndicatorKind.ETH, IndicatorKind.LTC, IndicatorKind.DOGE, IndicatorKind.TRX, IndicatorKind.XRP}
)


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a value was read: the file's name and a locator inside it (row, object id)."""

    file: str
    locator: str

    def __str__(self) -> str:
        return f"{self.file}: {self.locator}"


@dataclass(frozen=True, slots=True)
class Indicator:
    """One normalised indicator.

    `value` is the canonical form used for matching (for cards a keyed hash, never the number);
    `display` is safe to show to a person; `markings` are the TLP / handling marking ids and tags
    kept from the source, sorted.
    """

    kind: IndicatorKind
    value: str
    display: str = field(compare=False)
    markings: tuple[str, ...] = ()
    source: SourceRef | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[IndicatorKind, str]:
        """The identity used to collapse duplicates and to correlate."""
        return (self.kind, self.value)

    def with_context(self, *, markings: Iterable[str], source: SourceRef | None) -> Indicator:
        return Indicator(self.kind, self.value, self.display, tuple(sorted(set(markings))), source)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row, object or value that was not imported, and why."""

    source: SourceRef
    reason: str
    excerpt: str = ""

    def __str__(self) -> str:
        shown = f" ({self.excerpt!r})" if self.excerpt else ""
        return f"{self.source}{shown}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ImportReport:
    """The outcome of one import: nothing is dropped without a trace.

    - `indicators`: accepted, duplicates collapsed, in first-seen order;
    - `rejections`: one entry per rejected row / object / value, with its reason;
    - `duplicates`: how many accepted values repeated an earlier one;
    - `skipped`: content that is valid but carries no indicator kind hcx correlates
      (e.g. a STIX `malware` object, a MISP `filename` attribute), counted by its type.
    """

    indicators: tuple[Indicator, ...]
    rejections: tuple[Rejection, ...]
    duplicates: int
    skipped: Mapping[str, int]

    def counts(self) -> dict[str, int]:
        """Accepted indicators per kind, sorted by kind."""
        counted = Counter(indicator.kind.value for indicator in self.indicators)
        return dict(sorted(counted.items()))


class ReportBuilder:
    """Collects the results of one import and turns them into an `ImportReport`."""

    def __init__(self) -> None:
        self._accepted: dict[tuple[IndicatorKind, str], Indicator] = {}
        self._rejections: list[Rejection] = []
        self._skipped: Counter[str] = Counter()
        self._duplicates = 0

    def accept(self, indicator: Indicator) -> None:
        earlier = self._accepted.get(indicator.key)
        if earlier is None:
            self._accepted[indicator.key] = indicator
            return
        self._duplicates += 1
        if not set(indicator.markings) <= set(earlier.markings):
            merged = (*earlier.markings, *indicator.markings)
            self._accepted[indicator.key] = earlier.with_context(markings=merged, source=earlier.source)

    def reject(self, source: SourceRef, reason: str, excerpt: str = "") -> None:
        self._rejections.append(Rejection(source, reason, excerpt))

    def skip(self, what: str) -> None:
        self._skipped[what] += 1

    def build(self) -> ImportReport:
        return ImportReport(
            indicators=tuple(self._accepted.values()),
            rejections=tuple(self._rejections),
            duplicates=self._duplicates,
            skipped=dict(sorted(self._skipped.items())),
        )

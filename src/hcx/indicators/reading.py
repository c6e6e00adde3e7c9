"""The step every importer shares: one raw value → an accepted indicator or a rejection."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hcx.errors import InvalidInput
from hcx.indicators.cleaning import safe_excerpt
from hcx.indicators.model import ReportBuilder, SourceRef
from hcx.indicators.normalise import normalise


@dataclass(frozen=True, slots=True)
class ValueReader:
    """Normalises values for one import: the case's country and the node's card key."""

    default_region: str | None
    card_key: bytes

    def read(
        self, report: ReportBuilder, kind_hint: str | None, raw: str, *, source: SourceRef, markings: Iterable[str]
    ) -> None:
        try:
            indicator = normalise(kind_hint, raw, default_region=self.default_region, card_key=self.card_key)
        except InvalidInput as exc:
            report.reject(source, exc.message, safe_excerpt(raw))
            return
        report.accept(indicator.with_context(markings=markings, source=source))

"""Indicators of fraud and cybercrime: normalisation (pure) and STIX / MISP / CSV import-export.

`normalise(kind_hint, raw, default_region=…, card_key=…)` gives an `Indicator` or raises
`hcx.errors.InvalidInput`; `detect(raw)` guesses a kind. The file formats live in their own
modules (`csv_import`, `misp_import`, `stix_import`, `stix_export`) so that importing the
normalisers does not import `stix2`. Each importer returns an `ImportReport`. See docs/indicators.md.
"""

from hcx.indicators.model import ImportReport, Indicator, IndicatorKind, Rejection, SourceRef
from hcx.indicators.network import registrable_domain
from hcx.indicators.normalise import detect, normalise

__all__ = [
    "ImportReport",
    "Indicator",
    "IndicatorKind",
    "Rejection",
    "SourceRef",
    "detect",
    "normalise",
    "registrable_domain",
]

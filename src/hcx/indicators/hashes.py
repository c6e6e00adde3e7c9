"""File hashes: MD5, SHA-1, SHA-256, as lower-case hex of the right length."""

from __future__ import annotations

import re

from hcx.errors import InvalidInput
from hcx.indicators.model import Indicator, IndicatorKind

HEX_DIGITS = {IndicatorKind.MD5: 32, IndicatorKind.SHA1: 40, IndicatorKind.SHA256: 64}
KIND_BY_LENGTH = {length: kind for kind, length in HEX_DIGITS.items()}
_HEX = re.compile(r"[0-9a-fA-F]+")


def normalise_hash(kind: IndicatorKind, text: str) -> Indicator:
    expected = HEX_DIGITS[kind]
    if not _HEX.fullmatch(text) or len(text) != expected:
        raise InvalidInput(f"not an {kind.value.upper()} hash: expected {expected} hexadecimal digits")
    value = text.lower()
    return Indicator(kind, value, value)


def guess_hash_kind(text: str) -> IndicatorKind | None:
    kind = KIND_BY_LENGTH.get(len(text))
    return kind if kind is not None and _HEX.fullmatch(text) else None

"""Bank identifiers (IBAN, BIC via schwifty) and payment cards (keyed hash, never the number)."""

from __future__ import annotations

import hashlib
import hmac
import re

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from hcx.errors import InvalidInput
from hcx.indicators.model import Indicator, IndicatorKind

MIN_CARD_KEY_BYTES = 16
_CARD_SEPARATORS = re.compile(r"[\s\-.]")
_CARD_DIGITS = re.compile(r"\d{12,19}")
_CARD_HASH_DOMAIN = b"hcx-card-v1\x00"


def normalise_iban(text: str) -> Indicator:
    try:
        iban = IBAN(text)
    except SchwiftyException as exc:
        raise InvalidInput(f"not a valid IBAN: {exc}") from exc
    return Indicator(IndicatorKind.IBAN, iban.compact, iban.formatted)


def normalise_bic(text: str) -> Indicator:
    try:
        bic = BIC(text)
    except SchwiftyException as exc:
        raise InvalidInput(f"not a valid BIC: {exc}") from exc
    compact = bic.compact
    if compact.endswith("XXX"):  # the primary office: DEUTDEFFXXX and DEUTDEFF are one BIC
        compact = compact[:8]
    return Indicator(IndicatorKind.BIC, compact, compact)


def passes_luhn(digits: str) -> bool:
    """The ISO/IEC 7812 check digit (Luhn mod 10)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_digits(text: str) -> str:
    """The card number's digits, or `InvalidInput` (whose message never repeats the number)."""
    digits = _CARD_SEPARATORS.sub("", text)
    if not _CARD_DIGITS.fullmatch(digits):
        raise InvalidInput("a card number has 12 to 19 digits")
    if not passes_luhn(digits):
        raise InvalidInput("card number fails the Luhn check")
    return digits


def card_hash(digits: str, card_key: bytes) -> str:
    """HMAC-SHA-256 of the digits under the node's card key, hex. The number itself is never kept."""
    if len(card_key) < MIN_CARD_KEY_BYTES:
        raise ValueError(f"the card key must have at least {MIN_CARD_KEY_BYTES} bytes")
    return hmac.new(card_key, _CARD_HASH_DOMAIN + digits.encode("ascii"), hashlib.sha256).hexdigest()


def normalise_card(text: str, card_key: bytes) -> Indicator:
    digits = card_digits(text)
    return Indicator(IndicatorKind.CARD, card_hash(digits, card_key), f"card ending {digits[-4:]}")


def card_from_hash(text: str) -> Indicator:
    """A card already reduced to its keyed hash (e.g. re-imported from our own STIX export)."""
    value = text.lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise InvalidInput("a card hash is 64 hexadecimal digits")
    return Indicator(IndicatorKind.CARD, value, f"card (keyed hash {value[:8]}…)")

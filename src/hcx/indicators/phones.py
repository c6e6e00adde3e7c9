"""Phone numbers → E.164, with the case's country as the region for national formats."""

from __future__ import annotations

import phonenumbers

from hcx.errors import InvalidInput
from hcx.indicators.model import Indicator, IndicatorKind

_E164 = phonenumbers.PhoneNumberFormat.E164


def normalise_phone(text: str, default_region: str | None) -> Indicator:
    region = default_region.upper() if default_region else None
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput(f"unknown phone region {default_region!r} (expected an ISO 3166-1 alpha-2 code)")
    if text[:4].lower() == "tel:":
        text = text[4:]
    if region is None and not text.lstrip().startswith("+"):
        raise InvalidInput("a national phone number needs the case's country (default region) or a leading +")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        reason = str(exc).split(") ", 1)[-1]
        raise InvalidInput(f"not a phone number: {reason}") from exc
    # "Valid" (inside a number range the metadata knows), not merely "possible" (a plausible length,
    # which lets "+49 12" through). Ranges newer than the installed phonenumbers are refused: keep
    # the library current.
    if not phonenumbers.is_valid_number(number):
        where = phonenumbers.region_code_for_number(number) or f"+{number.country_code}"
        raise InvalidInput(f"not a valid phone number for {where}")
    e164 = phonenumbers.format_number(number, _E164)
    return Indicator(IndicatorKind.PHONE, e164, e164)  # E.164 is also the clearest display across borders

"""Phone numbers → E.164, with the case's country as the region for national formats."""

from __future__ import annotations

import phonenumbers

from hcx.errors import InvalidInput
from hcx.indicators.model import Indicator, IndicatorKind

_E164 = phonenumbers.PhoneNumberFormat.E164

# Imports mix numbers of many regions: keep every compiled metadata pattern instead of recompiling
# those that fell out of `re`'s bounded cache (the library's documented switch; the patterns come
# from its fixed metadata, so the cache is bounded).
phonenumbers.enable_pattern_cache()


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
    if not is_valid(number):
        where = phonenumbers.region_code_for_number(number) or f"+{number.country_code}"
        raise InvalidInput(f"not a valid phone number for {where}")
    e164 = phonenumbers.format_number(number, _E164)
    return Indicator(IndicatorKind.PHONE, e164, e164)  # E.164 is also the clearest display across borders


def is_valid(number: phonenumbers.PhoneNumber) -> bool:
    """`phonenumbers.is_valid_number`, without matching the number against its first region's
    patterns twice.

    The library finds the number's region (the only region of its calling code; else the first
    region whose leading digits match or, for a region without leading digits, whose number
    patterns match) and then validates the number for that region. When the calling code has one
    region, or its first region has no leading digits and the number is valid there, that first
    region is the one the library would find, so validity for it is the answer. Anything else takes
    the library's own path. Property-tested against `is_valid_number` (tests/unit/indicators)."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(number.country_code or 0, ())
    if len(regions) == 1:
        return bool(phonenumbers.is_valid_number_for_region(number, regions[0]))
    if regions:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(regions[0].upper(), None)
        if (metadata is not None and metadata.leading_digits is None
                and phonenumbers.is_valid_number_for_region(number, regions[0])):
            return True
    return bool(phonenumbers.is_valid_number(number))

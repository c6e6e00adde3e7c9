"""The normalisers' fast paths give exactly what the libraries give, on random inputs.

- phone validity (`phones.is_valid`) against `phonenumbers.is_valid_number`, on numbers near every
  region's example numbers (valid and invalid ones, calling codes shared by several regions);
- IPv4 addresses already in canonical form (`network.normalise_ip`) against `ipaddress`;
- EIP-55 (`wallets.eip55`) against the specification's construction on the library's hexdigest;
- the cleaner's test for defanged text: what it lets pass, no defanging substitution changes.
"""

from __future__ import annotations

import ipaddress

import phonenumbers
import pytest
from Cryptodome.Hash import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from hcx.errors import InvalidInput
from hcx.indicators import IndicatorKind
from hcx.indicators.cleaning import _DEFANGED, _MAYBE_DEFANGED
from hcx.indicators.network import normalise_ip
from hcx.indicators.phones import is_valid, normalise_phone
from hcx.indicators.wallets import eip55

_TYPES = [phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE,
          phonenumbers.PhoneNumberType.TOLL_FREE, phonenumbers.PhoneNumberType.PREMIUM_RATE]
EXAMPLES = sorted(
    {(number.country_code, str(number.national_number), bool(number.italian_leading_zero))
     for region in phonenumbers.SUPPORTED_REGIONS for kind in _TYPES
     if (number := phonenumbers.example_number_for_type(region, kind)) is not None}
    | {(number.country_code, str(number.national_number), False)
       for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
       if (number := phonenumbers.example_number_for_non_geo_entity(code)) is not None})


@st.composite
def phone_numbers(draw: st.DrawFn) -> phonenumbers.PhoneNumber:
    """An example number with some trailing digits redrawn, shortened or lengthened, under its own or
    a random calling code."""
    code, digits, leading_zero = draw(st.sampled_from(EXAMPLES))
    keep = draw(st.integers(0, len(digits)))
    tail = draw(st.text("0123456789", min_size=0, max_size=len(digits) - keep + 2))
    national = (digits[:keep] + tail) or "0"
    if draw(st.booleans()) and draw(st.integers(0, 9)) == 0:
        code = draw(st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)))
    return phonenumbers.PhoneNumber(country_code=code, national_number=int(national),
                                    italian_leading_zero=leading_zero or None)


@settings(max_examples=3000, deadline=None)
@given(phone_numbers())
def test_phone_validity_is_the_librarys(number: phonenumbers.PhoneNumber) -> None:
    assert is_valid(number) == phonenumbers.is_valid_number(number)


def test_phone_validity_on_every_example_and_its_neighbours() -> None:
    checked = valid = 0
    for code, digits, leading_zero in EXAMPLES:
        for national in (digits, digits[:-1], digits + "0", digits[:-1] + str((int(digits[-1]) + 5) % 10)):
            number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national),
                                              italian_leading_zero=leading_zero or None)
            assert is_valid(number) == phonenumbers.is_valid_number(number), number
            checked += 1
            valid += is_valid(number)
    assert checked > 1000 and 0.2 < valid / checked < 0.8  # both answers well represented


@pytest.mark.parametrize(("text", "expected"), [
    ("+44 1481 256789", "+441481256789"),  # Guernsey, under GB's +44
    ("+1 416 555 0123", "+14165550123"),  # Canada, second region of +1
    ("+1 264 235 1234", "+12642351234"),  # Anguilla: +1 with leading digits
    ("+7 700 123 4567", "+77001234567"),  # Kazakhstan under Russia's +7
    ("+358 18 12345", "+3581812345"),  # Åland under Finland's +358
    ("+1 011 555 1234", None),  # no region of +1
    ("+7 300 123 4567", None),  # Russia's leading digits, not its ranges
    ("+599 9 123 4567", None),
])
def test_phone_numbers_of_shared_calling_codes(text: str, expected: str | None) -> None:
    number = phonenumbers.parse(text, None)
    assert phonenumbers.is_valid_number(number) == (expected is not None)
    if expected is None:
        with pytest.raises(InvalidInput, match="not a valid phone number"):
            normalise_phone(text, None)
        return
    assert normalise_phone(text, None).value == expected


def _ip_reference(text: str) -> tuple[IndicatorKind, str] | None:
    """What `normalise_ip` gave before its IPv4 fast path (the library's parse and print)."""
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (IndicatorKind.IPV4 if address.version == 4 else IndicatorKind.IPV6), address.compressed


_octets = st.one_of(st.integers(0, 255).map(str), st.integers(0, 999).map(lambda n: f"{n:03d}"),
                    st.text("0123456789", min_size=0, max_size=4), st.sampled_from(["٣", "１", " 1", "1 ", "+1", "0x1"]))


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.lists(_octets, min_size=1, max_size=6).map(".".join),
                 st.text("0123456789.[]:", max_size=18)))
def test_ipv4_fast_path_is_the_librarys(text: str) -> None:
    if "/" in text:
        return
    expected = _ip_reference(text)
    try:
        indicator = normalise_ip(text)
    except InvalidInput:
        assert expected is None
        return
    assert (indicator.kind, indicator.value) == expected


@settings(max_examples=1000, deadline=None)
@given(st.binary(min_size=20, max_size=20))
def test_eip55_is_the_specifications(address: bytes) -> None:
    lowered = address.hex()
    digest = keccak.new(digest_bits=256, data=lowered.encode("ascii")).hexdigest()
    expected = "0x" + "".join(c.upper() if int(d, 16) >= 8 else c for c, d in zip(lowered, digest, strict=False))
    assert eip55(lowered) == eip55(lowered.upper()) == expected


@settings(max_examples=3000, deadline=None)
@given(st.text("[](){}.:@aAtTdDoOxXhHpPfFs/ 0", max_size=16))
def test_text_not_taken_for_defanged_is_left_alone_by_every_substitution(text: str) -> None:
    if _MAYBE_DEFANGED.search(text):
        return
    for pattern, replacement in _DEFANGED:
        assert pattern.sub(replacement, text) == text

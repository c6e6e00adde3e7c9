"""Table-driven normalisation: every kind, valid and invalid, with national formats, IDN and noise.

External vectors: EIP-55 (eips.ethereum.org/EIPS/eip-55, its test addresses), BIP-173 / BIP-350
(their example addresses), the Bitcoin genesis address, schwifty's documented example IBAN
(DE89 3704 0044 0532 0130 00). Addresses of chains without published vectors are built in the test
with the libraries' encoders, so the checks under test (version byte, checksum) still decide.
"""

from __future__ import annotations

import base58
import bech32m  # type: ignore[import-untyped]
import pytest
from bech32m.codecs import Encoding, bech32_encode, convertbits  # type: ignore[import-untyped]

from hcx.errors import InvalidInput
from hcx.indicators import IndicatorKind, detect, normalise

KEY = bytes(range(32))
HASH160 = bytes(range(20))


def _b58(version: int) -> str:
    return str(base58.b58encode_check(bytes([version]) + HASH160).decode("ascii"))


def _corrupt(address: str) -> str:
    last = address[-1]
    return address[:-1] + ("2" if last != "2" else "3")


DOGE = _b58(0x1E)
LTC = _b58(0x30)
LTC_SEGWIT = bech32m.encode("ltc", 0, HASH160)
TAPROOT_WITH_BECH32_CHECKSUM = bech32_encode("bc", bytes([1]) + convertbits(bytes(32), 8, 5), Encoding.BECH32)

# (kind hint, raw, default region, expected kind, expected canonical value)
VALID = [
    # phones: international and national formats of several countries
    ("phone", "+49 30 1234567", None, "phone", "+49301234567"),
    ("phone", "030 1234567", "DE", "phone", "+49301234567"),
    ("phone", "020 7946 0958", "GB", "phone", "+442079460958"),
    ("phone", "01 23 45 67 89", "FR", "phone", "+33123456789"),
    ("phone", "(201) 555-0123", "US", "phone", "+12015550123"),
    ("phone", "024 3825 3529", "VN", "phone", "+842438253529"),
    ("phone", "03-1234-5678", "JP", "phone", "+81312345678"),
    ("phone", "098765 43210", "IN", "phone", "+919876543210"),
    ("phone", "(11) 91234-5678", "BR", "phone", "+5511912345678"),
    ("phone", "0803 123 4567", "NG", "phone", "+2348031234567"),
    ("phone", "00 44 20 7946 0958", "DE", "phone", "+442079460958"),
    ("phone", "tel:+442079460958", None, "phone", "+442079460958"),
    ("phone", "+４９ ３０ １２３４５６７", None, "phone", "+49301234567"),  # full-width digits
    ("tel", " “030 1234567”. ", "DE", "phone", "+49301234567"),
    # IBAN / BIC
    ("iban", "DE89 3704 0044 0532 0130 00", None, "iban", "DE89370400440532013000"),
    ("iban", "de89370400440532013000", None, "iban", "DE89370400440532013000"),
    ("iban", "GB82 WEST 1234 5698 7654 32", None, "iban", "GB82WEST12345698765432"),
    ("bic", "DEUTDEFFXXX", None, "bic", "DEUTDEFF"),
    ("swift", "deutdeff500", None, "bic", "DEUTDEFF500"),
    # crypto-currency addresses
    ("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", None, "btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
    ("btc", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", None, "btc", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
    ("btc", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", None, "btc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
    (
        "btc",
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        None,
        "btc",
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    ),
    ("eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", None, "eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
    ("eth", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359", None, "eth", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"),
    ("eth", "0XDBF03B407C01E7CD3CBEA99509D93F8DDDC8C6FB", None, "eth", "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"),
    ("erc20", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb", None, "eth", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"),
    ("trx", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", None, "trx", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
    ("xrp", "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh", None, "xrp", "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh"),
    ("doge", DOGE, None, "doge", DOGE),
    ("ltc", LTC, None, "ltc", LTC),
    ("ltc", LTC_SEGWIT.upper(), None, "ltc", LTC_SEGWIT),
    ("wallet", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", None, "trx", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
    # domains, URLs, e-mail
    ("domain", "Example.COM.", None, "domain", "example.com"),
    ("domain", "Пример.РФ", None, "domain", "xn--e1afmkfd.xn--p1ai"),
    ("domain", "münchen.de", None, "domain", "xn--mnchen-3ya.de"),
    ("domain", "例え.jp", None, "domain", "xn--r8jz45g.jp"),
    ("domain", "ไทย.ไทย", None, "domain", "xn--o3cw4h.xn--o3cw4h"),
    ("domain", "ｅｘａｍｐｌｅ.com", None, "domain", "example.com"),
    ("domain", "paypa1[.]banking[.]com", None, "domain", "paypa1.banking.com"),
    ("domain", "evil.blogspot.com", None, "domain", "evil.blogspot.com"),
    ("url", "HXXPS://Example[.]COM:443/a b?q=é#frag", None, "url", "https://example.com/a%20b?q=%C3%A9"),
    ("url", "www.example.com", None, "url", "http://www.example.com/"),
    ("url", "http://пример.рф:8080/путь", None, "url", "http://xn--e1afmkfd.xn--p1ai:8080/%D0%BF%D1%83%D1%82%D1%8C"),
    ("url", "http://[2001:DB8::1]/x", None, "url", "http://[2001:db8::1]/x"),
    ("email", "John.Doe@Example.COM", None, "email", "john.doe@example.com"),
    ("email", "mailto:user@münchen.de?subject=x", None, "email", "user@xn--mnchen-3ya.de"),
    ("email", "scam[at]example[.]com", None, "email", "scam@example.com"),
    # IP and CIDR
    ("ip", "192.0.2.1", None, "ipv4", "192.0.2.1"),
    ("ip", "2001:DB8:0:0::1", None, "ipv6", "2001:db8::1"),
    ("ip", "::ffff:192.0.2.1", None, "ipv4", "192.0.2.1"),
    ("ip", "192.0.2.1/32", None, "ipv4", "192.0.2.1"),
    ("cidr", "223.166.0.0/15", None, "cidr", "223.166.0.0/15"),
    ("cidr", "2001:DB8::/32", None, "cidr", "2001:db8::/32"),
    # file hashes
    ("md5", "D41D8CD98F00B204E9800998ECF8427E", None, "md5", "d41d8cd98f00b204e9800998ecf8427e"),
    ("sha-1", "da39a3ee5e6b4b0d3255bfef95601890afd80709", None, "sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    (
        "hash",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        None,
        "sha256",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
    # handles
    ("telegram", "@Scam_Support", None, "handle", "telegram:scam_support"),
    ("handle", "https://t.me/Scam_Support", None, "handle", "telegram:scam_support"),
    ("handle", "twitter:@Fraudster_1", None, "handle", "x:fraudster_1"),
    ("handle:instagram", "crypto.queen_", None, "handle", "instagram:crypto.queen_"),
    ("handle", "https://www.facebook.com/invest.expert.99/", None, "handle", "facebook:invest.expert.99"),
    ("github", "Octo-Cat", None, "handle", "github:octo-cat"),
]


@pytest.mark.parametrize(("hint", "raw", "region", "kind", "value"), VALID)
def test_valid_values_normalise_to_their_canonical_form(
    hint: str, raw: str, region: str | None, kind: str, value: str
) -> None:
    indicator = normalise(hint, raw, default_region=region, card_key=KEY)
    assert (indicator.kind, indicator.value) == (IndicatorKind(kind), value)
    assert normalise(hint, indicator.value, default_region=region, card_key=KEY).value == value  # idempotent


# (kind hint, raw, default region, words the reason must contain)
INVALID = [
    ("phone", "030 1234567", None, "default region"),
    ("phone", "12", "DE", "not a valid phone number for DE"),
    ("phone", "+44 20 7946", None, "not a valid phone number"),
    ("phone", "020 7946 0958", "DE", "not a valid phone number"),  # a London number dialled as German
    ("phone", "call me", "DE", "not a phone number"),
    ("phone", "030 1234567", "ZZ", "unknown phone region"),
    ("iban", "DE89 3704 0044 0532 0130 01", None, "checksum"),
    ("iban", "XX89370400440532013000", None, "country"),
    ("iban", "DE8937040044", None, "IBAN"),
    ("bic", "PASSWORD", None, "BIC"),
    ("card", "4111 1111 1111 1112", None, "Luhn"),
    ("card", "4111", None, "12 to 19 digits"),
    ("btc", _corrupt("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"), None, "checksum"),
    ("btc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", None, "bech32"),
    ("btc", TAPROOT_WITH_BECH32_CHECKSUM, None, "bech32"),
    ("btc", LTC, None, "version byte"),
    ("eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", None, "EIP-55"),
    ("eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA", None, "40 hexadecimal"),
    ("trx", _corrupt("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"), None, "checksum"),
    ("xrp", "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTi", None, "checksum"),
    ("wallet", "not-an-address", None, "supported chain"),
    ("domain", "domain autuo.xicp.net", None, "not a domain name"),
    ("domain", "localhost", None, "public suffix"),
    ("domain", "例え.テスト", None, "public suffix"),  # a reserved test TLD, not in the PSL
    ("domain", "-bad-.com", None, "not a domain name"),
    ("url", "javascript:alert(1)", None, "scheme"),
    ("url", "http:///nohost", None, "no host"),
    ("email", "@example.com", None, "local-part@domain"),
    ("email", "user@nodot", None, "public suffix"),
    ("ip", "256.1.1.1", None, "IP address"),
    ("ip", "01.2.3.4", None, "IP address"),
    ("cidr", "10.0.0.5/24", None, "host bits"),
    ("ipv4", "2001:db8::1", None, "expected an ipv4"),
    ("md5", "d41d8cd98f00b204e9800998ecf8427", None, "32 hexadecimal"),
    ("sha256", "z" * 64, None, "64 hexadecimal"),
    ("handle", "@someone", None, "platform"),
    ("telegram", "@ab", None, "telegram handle"),
    ("handle:myspace", "tom", None, "unknown handle platform"),
    ("banana", "x", None, "unknown indicator type"),
    ("domain", "  \u200b ", None, "empty"),
    ("url", "x" * 5000, None, "longer than"),
]


@pytest.mark.parametrize(("hint", "raw", "region", "reason"), INVALID)
def test_invalid_values_are_refused_with_a_reason(hint: str, raw: str, region: str | None, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise(hint, raw, default_region=region, card_key=KEY)
    assert reason.lower() in caught.value.message.lower()


DETECTED = [
    ("+44 20 7946 0958", "phone"),
    ("DE89 3704 0044 0532 0130 00", "iban"),
    ("DE89370400440532013001", "iban"),  # detected as an IBAN, then refused for its checksum
    ("DEUTDEFF", "bic"),
    ("4111-1111-1111-1111", "card"),
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "btc"),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "btc"),
    (LTC_SEGWIT, "ltc"),
    (DOGE, "doge"),
    ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "trx"),
    ("rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh", "xrp"),
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "eth"),
    ("hxxp://example[.]com/x", "url"),
    ("https://t.me/scam_support", "handle"),
    ("telegram:@scam_support", "handle"),
    ("user@example.com", "email"),
    ("Пример.РФ", "domain"),
    ("192.0.2.1", "ipv4"),
    ("2001:db8::1", "ipv6"),
    ("10.0.0.0/8", "cidr"),
    ("d41d8cd98f00b204e9800998ecf8427e", "md5"),
    ("da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1"),
]


@pytest.mark.parametrize(("raw", "kind"), DETECTED)
def test_detect_guesses_the_kind(raw: str, kind: str) -> None:
    assert detect(raw) is IndicatorKind(kind)


@pytest.mark.parametrize("raw", ["hello world", "@someone", "12"])
def test_detect_refuses_what_fits_no_kind(raw: str) -> None:
    with pytest.raises(InvalidInput, match="give its type"):
        detect(raw)


def test_untyped_values_are_normalised_by_their_detected_kind() -> None:
    indicator = normalise(None, " <User@Example.com> ", default_region=None, card_key=KEY)
    assert (indicator.kind, indicator.value) == (IndicatorKind.EMAIL, "user@example.com")


def test_a_card_is_kept_only_as_a_keyed_hash() -> None:
    first = normalise("card", "4111 1111 1111 1111", default_region=None, card_key=KEY)
    again = normalise("card", "4111-1111-1111-1111", default_region=None, card_key=KEY)
    other_key = normalise("card", "4111111111111111", default_region=None, card_key=bytes(32))
    assert first == again and first.value != other_key.value
    assert "4111" not in first.value and len(first.value) == 64
    assert first.display == "card ending 1111"


def test_a_card_key_that_is_too_short_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        normalise("card", "4111111111111111", default_region=None, card_key=b"short")


def test_a_refused_card_never_repeats_its_number() -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise("card", "4111 1111 1111 1112", default_region=None, card_key=KEY)
    assert "1111" not in str(caught.value)


def test_idn_domains_are_shown_in_unicode_with_their_a_label() -> None:
    indicator = normalise("domain", "пример.рф", default_region=None, card_key=KEY)
    assert indicator.display == "пример.рф (xn--e1afmkfd.xn--p1ai)"

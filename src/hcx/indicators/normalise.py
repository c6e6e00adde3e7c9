"""One entry point for every kind: `normalise(kind_hint, raw, ...)`, and `detect(raw)`.

`normalise` raises `hcx.errors.InvalidInput` with a reason a person can act on; importers turn
that into a per-row rejection. Type names from STIX, MISP and CSV files map to kinds through
`KIND_ALIASES` (data); a few names ("ip", "hash", "wallet", "handle") leave the exact kind to the
value itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from hcx.errors import InvalidInput
from hcx.indicators import banking, handles, hashes, network, phones, wallets
from hcx.indicators.cleaning import clean
from hcx.indicators.model import CRYPTO_KINDS, Indicator, IndicatorKind


@dataclass(frozen=True, slots=True)
class _Context:
    default_region: str | None
    card_key: bytes


_Normaliser = Callable[[str, _Context], Indicator]
K = IndicatorKind


def _by_kind(kind: IndicatorKind) -> _Normaliser:
    if kind is K.PHONE:
        return lambda text, context: phones.normalise_phone(text, context.default_region)
    if kind is K.IBAN:
        return lambda text, _: banking.normalise_iban(text)
    if kind is K.BIC:
        return lambda text, _: banking.normalise_bic(text)
    if kind is K.CARD:
        return lambda text, context: banking.normalise_card(text, context.card_key)
    if kind in CRYPTO_KINDS:
        return lambda text, _: wallets.normalise_wallet(kind, text)
    if kind is K.DOMAIN:
        return lambda text, _: network.normalise_domain(text)
    if kind is K.URL:
        return lambda text, _: network.normalise_url(text)
    if kind is K.EMAIL:
        return lambda text, _: network.normalise_email(text)
    if kind in (K.IPV4, K.IPV6, K.CIDR):
        return lambda text, _: network.normalise_ip(text, kind)
    if kind in hashes.HEX_DIGITS:
        return lambda text, _: hashes.normalise_hash(kind, text)
    return lambda text, _: handles.normalise_handle(text, None)


def _any_hash(text: str, _: _Context) -> Indicator:
    kind = hashes.guess_hash_kind(text)
    if kind is None:
        raise InvalidInput("not a file hash: expected 32, 40 or 64 hexadecimal digits")
    return hashes.normalise_hash(kind, text)


def _any_wallet(text: str, _: _Context) -> Indicator:
    kind = wallets.guess_wallet_kind(text)
    if kind is None:
        raise InvalidInput("not a crypto-currency address of a supported chain (btc, eth, ltc, doge, trx, xrp)")
    return wallets.normalise_wallet(kind, text)


def _handle_on(platform: str) -> _Normaliser:
    return lambda text, _: handles.normalise_handle(text, platform)


_NORMALISERS: dict[str, _Normaliser] = {kind.value: _by_kind(kind) for kind in IndicatorKind}
_NORMALISERS.update(
    {
        "ip": lambda text, _: network.normalise_ip(text),
        "hash": _any_hash,
        "wallet": _any_wallet,
        "card-hash": lambda text, _: banking.card_from_hash(text),
    }
)
_NORMALISERS.update({alias: _handle_on(platform.name) for platform in handles.PLATFORMS for alias in platform.aliases})

KIND_ALIASES: dict[str, str] = {
    "phone-number": "phone",
    "telephone": "phone",
    "tel": "phone",
    "msisdn": "phone",
    "mobile": "phone",
    "swift": "bic",
    "bic-swift": "bic",
    "cc-number": "card",
    "credit-card": "card",
    "card-number": "card",
    "bitcoin": "btc",
    "ethereum": "eth",
    "erc20": "eth",
    "bep20": "eth",
    "litecoin": "ltc",
    "dogecoin": "doge",
    "tron": "trx",
    "trc20": "trx",
    "usdt-trc20": "trx",
    "ripple": "xrp",
    "crypto": "wallet",
    "cryptocurrency": "wallet",
    "crypto-address": "wallet",
    "wallet-address": "wallet",
    "domain-name": "domain",
    "hostname": "domain",
    "fqdn": "domain",
    "uri": "url",
    "link": "url",
    "email-addr": "email",
    "e-mail": "email",
    "email-address": "email",
    "mail": "email",
    "ip-addr": "ip",
    "ip-address": "ip",
    "ipv4-addr": "ip",
    "ipv6-addr": "ip",
    "ip-src": "ip",
    "ip-dst": "ip",
    "network": "cidr",
    "subnet": "cidr",
    "sha-1": "sha1",
    "sha-256": "sha256",
    "file-hash": "hash",
    "username": "handle",
    "social": "handle",
    "account": "handle",
}


@functools.lru_cache(maxsize=1024)
def resolve_kind_name(name: str) -> _Normaliser:
    """The normaliser for a type name from a file, or `InvalidInput` for an unknown name."""
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    platform = key.removeprefix("handle:") if key.startswith("handle:") else None
    if platform is not None:
        return _handle_on(platform)
    normaliser = _NORMALISERS.get(KIND_ALIASES.get(key, key))
    if normaliser is None:
        raise InvalidInput(f"unknown indicator type {name!r}")
    return normaliser


def is_known_kind_name(name: str) -> bool:
    try:
        resolve_kind_name(name)
    except InvalidInput:
        return False
    return True


def normalise(kind_hint: str | None, raw: str, *, default_region: str | None, card_key: bytes) -> Indicator:
    """`raw` as a canonical indicator of the hinted kind (or of the detected kind if no hint)."""
    text = clean(raw)
    context = _Context(default_region, card_key)
    if kind_hint is None or not kind_hint.strip():
        return _by_kind(_detect_clean(text))(text, context)
    return resolve_kind_name(kind_hint)(text, context)


def normaliser(kind_hint: str | None, *, default_region: str | None, card_key: bytes) -> Callable[[str], Indicator]:
    """`normalise` with the hint, region and card key fixed, for many values at once (bulk imports):
    `normaliser(k, default_region=r, card_key=c)(raw)` gives what `normalise(k, raw, …)` gives, the
    same indicator or the same `InvalidInput` (a value that does not clean fails on that first, as
    in `normalise`), with the kind name resolved once."""
    context = _Context(default_region, card_key)
    if kind_hint is None or not kind_hint.strip():
        return lambda raw: _detected(clean(raw), context)
    try:
        by_name = resolve_kind_name(kind_hint)
    except InvalidInput as exc:
        reason = exc.message

        def unknown(raw: str) -> Indicator:
            clean(raw)
            raise InvalidInput(reason)
        return unknown
    return lambda raw: by_name(clean(raw), context)


def _detected(text: str, context: _Context) -> Indicator:
    return _by_kind(_detect_clean(text))(text, context)


_IBAN_SHAPE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
_BIC_SHAPE = re.compile(r"[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")
_PHONE_SHAPE = re.compile(r"\+?[\d\s()\-./]{6,24}")
_CARD_SHAPE = re.compile(r"\d(?:[\s\-]?\d){11,18}")
_IP_CHARS = re.compile(r"[0-9a-fA-F:./\[\]%]+")


def detect(raw: str) -> IndicatorKind:
    """Guess the kind of an untyped value; `InvalidInput` if it fits no kind."""
    return _detect_clean(clean(raw))


def _detect_clean(text: str) -> IndicatorKind:
    lowered = text.lower()
    prefix, colon, _ = lowered.partition(":")
    if "://" in text or lowered.startswith("www."):
        return K.HANDLE if handles.platform_of_link(text) else K.URL
    if colon and handles.platform_named(prefix) is not None:
        return K.HANDLE
    if lowered.startswith("mailto:") or re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
        return K.EMAIL
    if _IP_CHARS.fullmatch(text) and (ip_kind := _ip_kind(text)) is not None:
        return ip_kind
    hash_kind = hashes.guess_hash_kind(text)
    if hash_kind is not None:
        return hash_kind
    wallet_kind = wallets.guess_wallet_kind(text)
    if wallet_kind is not None:
        return wallet_kind
    if lowered.startswith(("+", "tel:")):
        return K.PHONE
    if _CARD_SHAPE.fullmatch(text) and banking.passes_luhn(re.sub(r"\D", "", text)):
        return K.CARD
    if _IBAN_SHAPE.fullmatch(text.replace(" ", "").upper()):
        return K.IBAN
    if _PHONE_SHAPE.fullmatch(text) and sum(char.isdigit() for char in text) >= 6:
        return K.PHONE
    if _BIC_SHAPE.fullmatch(text):
        return K.BIC
    if "." in text and not any(char.isspace() for char in text):
        return K.DOMAIN
    raise InvalidInput("cannot tell what kind of indicator this is; give its type")


def _ip_kind(text: str) -> IndicatorKind | None:
    try:
        return network.normalise_ip(text).kind
    except InvalidInput:
        return None


__all__ = ["KIND_ALIASES", "detect", "is_known_kind_name", "normalise", "normaliser", "resolve_kind_name"]

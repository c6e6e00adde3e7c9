"""Crypto-currency addresses, checked by their own checksums.

| kind | chain(s)                           | forms accepted                                          |
| ---- | ---------------------------------- | ------------------------------------------------------- |
| btc  | Bitcoin                            | Base58Check P2PKH `1…` / P2SH `3…`; bech32 `bc1q…`, bech32m `bc1p…` |
| ltc  | Litecoin                           | Base58Check `L…` / `M…`; bech32(m) `ltc1…`               |
| doge | Dogecoin                           | Base58Check `D…` / `A…` / `9…`                          |
| trx  | Tron (USDT-TRC20 in most reports)  | Base58Check `T…`                                        |
| xrp  | XRP Ledger                         | Base58Check, Ripple alphabet, `r…`                      |
| eth  | Ethereum and EVM chains (BSC, Polygon, Arbitrum …: one address format) | `0x` + 40 hex; mixed case must pass EIP-55 |

Canonical values: Base58 addresses as written (they are case-sensitive), bech32 in lower case,
Ethereum addresses in their EIP-55 checksummed form. Only main-net forms are accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import base58
import bech32m
from Cryptodome.Hash import keccak

from hcx.errors import InvalidInput
from hcx.indicators.model import Indicator, IndicatorKind


@dataclass(frozen=True, slots=True)
class Base58Chain:
    kind: IndicatorKind
    versions: frozenset[int]
    alphabet: bytes = base58.BITCOIN_ALPHABET


BASE58_CHAINS = (
    Base58Chain(IndicatorKind.BTC, frozenset({0x00, 0x05})),
    Base58Chain(IndicatorKind.LTC, frozenset({0x30, 0x32})),
    Base58Chain(IndicatorKind.DOGE, frozenset({0x1E, 0x16})),
    Base58Chain(IndicatorKind.TRX, frozenset({0x41})),
    Base58Chain(IndicatorKind.XRP, frozenset({0x00}), base58.RIPPLE_ALPHABET),
)
SEGWIT_HRPS = {IndicatorKind.BTC: "bc", IndicatorKind.LTC: "ltc"}

_BASE58_SHAPE = re.compile(r"[1-9A-HJ-NP-Za-km-z]{25,35}")
_RIPPLE_SHAPE = re.compile(r"r[1-9A-HJ-NP-Za-km-z]{24,34}")
_ETH_SHAPE = re.compile(r"0[xX][0-9a-fA-F]{40}")
_BASE58_PAYLOAD_BYTES = 21  # version byte + 20-byte hash


def normalise_wallet(kind: IndicatorKind, text: str) -> Indicator:
    """`text` as an address of `kind`, or `InvalidInput` naming the failed check."""
    if kind is IndicatorKind.ETH:
        return _ethereum(text)
    hrp = SEGWIT_HRPS.get(kind)
    if hrp is not None and text.lower().startswith(hrp + "1"):
        return _segwit(kind, hrp, text)
    chain = next(chain for chain in BASE58_CHAINS if chain.kind is kind)
    address = _base58(chain, text)
    return Indicator(kind, address, address)


def guess_wallet_kind(text: str) -> IndicatorKind | None:
    """The chain whose checksum `text` passes, if any (used by `detect`)."""
    if _ETH_SHAPE.fullmatch(text):
        return IndicatorKind.ETH
    lowered = text.lower()
    for kind, hrp in SEGWIT_HRPS.items():
        if lowered.startswith(hrp + "1"):
            return kind
    if not _BASE58_SHAPE.fullmatch(text):
        return None
    for chain in BASE58_CHAINS:
        try:
            _base58(chain, text)
        except InvalidInput:
            continue
        return chain.kind
    return None


def _base58(chain: Base58Chain, text: str) -> str:
    shape = _RIPPLE_SHAPE if chain.alphabet == base58.RIPPLE_ALPHABET else _BASE58_SHAPE
    if not shape.fullmatch(text):
        raise InvalidInput(f"not a {chain.kind.value} address: wrong length or characters outside Base58")
    try:
        payload = base58.b58decode_check(text, alphabet=chain.alphabet)
    except ValueError as exc:
        raise InvalidInput(f"not a {chain.kind.value} address: Base58Check checksum mismatch") from exc
    if len(payload) != _BASE58_PAYLOAD_BYTES or payload[0] not in chain.versions:
        raise InvalidInput(f"not a {chain.kind.value} address: unexpected version byte or length")
    return text


def _segwit(kind: IndicatorKind, hrp: str, text: str) -> Indicator:
    try:
        bech32m.decode(hrp, text)
    except bech32m.DecodeError as exc:
        raise InvalidInput(f"not a {kind.value} address: bech32/bech32m checksum or structure invalid") from exc
    address = text.lower()
    return Indicator(kind, address, address)


_HIGH_NIBBLE = str.maketrans("0123456789abcdef", "0000000011111111")


def eip55(hex_address: str) -> str:
    """The EIP-55 mixed-case checksum form of a 40-hex-digit address (without 0x): a letter is upper
    case where the Keccak-256 of the lower-case address has a nibble ≥ 8."""
    lowered = hex_address.lower()
    # digest().hex(): the library's hexdigest() formats byte by byte in Python, 2× the whole call
    high = keccak.new(digest_bits=256, data=lowered.encode("ascii")).digest().hex()[:40].translate(_HIGH_NIBBLE)
    return "0x" + "".join([char.upper() if bit == "1" else char for char, bit in zip(lowered, high, strict=True)])


def _ethereum(text: str) -> Indicator:
    if not _ETH_SHAPE.fullmatch(text):
        raise InvalidInput("not an Ethereum address: expected 0x and 40 hexadecimal digits")
    digits = text[2:]
    checksummed = eip55(digits)
    mixed_case = digits != digits.lower() and digits != digits.upper()
    if mixed_case and checksummed[2:] != digits:
        raise InvalidInput("not an Ethereum address: EIP-55 checksum mismatch (mixed case that does not match)")
    return Indicator(IndicatorKind.ETH, checksummed, checksummed)

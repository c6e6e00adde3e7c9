"""How indicator kinds appear in STIX 2.1 (data shared by import and export).

Standard cyber-observables where STIX has one; for kinds it lacks (phones, bank accounts, cards,
wallets) custom `x-hcx-*` observable types, which STIX 2.1 patterns allow. Handles are
`user-account` objects (`account_type` = platform, `account_login` = handle).
"""

from __future__ import annotations

from collections.abc import Mapping

from hcx.indicators.model import IndicatorKind

K = IndicatorKind

# (object type, property path) → kind hint for `normalise`, for `=` comparisons and SCO properties.
PATH_KINDS: Mapping[tuple[str, str], str] = {
    ("ipv4-addr", "value"): "ip",
    ("ipv6-addr", "value"): "ip",
    ("domain-name", "value"): "domain",
    ("url", "value"): "url",
    ("email-addr", "value"): "email",
    ("email-message", "from_ref.value"): "email",
    ("email-message", "sender_ref.value"): "email",
    ("email-message", "to_refs.*.value"): "email",
    ("email-message", "cc_refs.*.value"): "email",
    ("file", "hashes.MD5"): "md5",
    ("file", "hashes.md5"): "md5",
    ("file", "hashes.SHA-1"): "sha1",
    ("file", "hashes.sha1"): "sha1",
    ("file", "hashes.SHA-256"): "sha256",
    ("file", "hashes.sha256"): "sha256",
    ("x-hcx-phone-number", "value"): "phone",
    ("x-hcx-bank-account", "iban"): "iban",
    ("x-hcx-bank-account", "bic"): "bic",
    ("x-hcx-payment-card", "keyed_hash"): "card-hash",
    ("x-hcx-cryptocurrency-wallet", "address"): "wallet",
}
HANDLE_TYPE = "user-account"
HANDLE_PLATFORM_PATH = "account_type"
HANDLE_LOGIN_PATH = "account_login"

# kind → (object type, property path as written in a pattern) for export.
EXPORT_PATHS: Mapping[IndicatorKind, tuple[str, str]] = {
    K.PHONE: ("x-hcx-phone-number", "value"),
    K.IBAN: ("x-hcx-bank-account", "iban"),
    K.BIC: ("x-hcx-bank-account", "bic"),
    K.CARD: ("x-hcx-payment-card", "keyed_hash"),
    K.BTC: ("x-hcx-cryptocurrency-wallet", "address"),
    K.ETH: ("x-hcx-cryptocurrency-wallet", "address"),
    K.LTC: ("x-hcx-cryptocurrency-wallet", "address"),
    K.DOGE: ("x-hcx-cryptocurrency-wallet", "address"),
    K.TRX: ("x-hcx-cryptocurrency-wallet", "address"),
    K.XRP: ("x-hcx-cryptocurrency-wallet", "address"),
    K.DOMAIN: ("domain-name", "value"),
    K.URL: ("url", "value"),
    K.EMAIL: ("email-addr", "value"),
    K.IPV4: ("ipv4-addr", "value"),
    K.IPV6: ("ipv6-addr", "value"),
    K.MD5: ("file", "hashes.MD5"),
    K.SHA1: ("file", "hashes.'SHA-1'"),
    K.SHA256: ("file", "hashes.'SHA-256'"),
}

# Cyber-observable objects whose own properties carry indicators (SCOs in a bundle).
SCO_PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "ipv4-addr": ("value",),
    "ipv6-addr": ("value",),
    "domain-name": ("value",),
    "url": ("value",),
    "email-addr": ("value",),
    "file": ("hashes.MD5", "hashes.SHA-1", "hashes.SHA-256"),
}

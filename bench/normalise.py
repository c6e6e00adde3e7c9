"""How fast is `normalise` per kind, against the bare library call it wraps, in the same run?

building-blocks.md §7 sets the goal: normalisation ≥ 0.5 of the library rate (phonenumbers, schwifty,
tldextract; the others are compared with their own library call too). Prints one line per kind and
one line of JSON with every figure.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import time
from collections.abc import Callable, Sequence

import idna
import phonenumbers
import tldextract
from schwifty import IBAN

from hcx.indicators import normalise
from hcx.indicators.wallets import eip55

KEY = bytes(32)
GOAL = 0.5
EXTRACT = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), include_psl_private_domains=True)

PHONES = ["030 1234567", "+44 20 7946 0958", "(201) 555-0123", "+33 1 23 45 67 89", "+84 24 3825 3529"]
IBANS = ["DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32", "FR14 2004 1010 0505 0001 3M02 606"]
DOMAINS = ["www.example.co.uk", "evil.blogspot.com", "Example.COM", "пример.рф", "shop.example.de"]
ETHS = ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"]
IPS = ["192.0.2.1", "2001:db8::1", "198.51.100.7"]


def _domain_baseline(value: str) -> str:
    return str(EXTRACT(idna.encode(value.lower(), uts46=True).decode()).top_domain_under_public_suffix)


# kind → (values, our call, the library's own call)
CASES: dict[str, tuple[Sequence[str], Callable[[str], object], Callable[[str], object]]] = {
    "phone": (
        PHONES,
        lambda v: normalise("phone", v, default_region="DE", card_key=KEY),
        lambda v: phonenumbers.format_number(phonenumbers.parse(v, "DE"), phonenumbers.PhoneNumberFormat.E164),
    ),
    "iban": (IBANS, lambda v: normalise("iban", v, default_region=None, card_key=KEY), lambda v: IBAN(v).compact),
    "domain": (DOMAINS, lambda v: normalise("domain", v, default_region=None, card_key=KEY), _domain_baseline),
    "eth": (ETHS, lambda v: normalise("eth", v, default_region=None, card_key=KEY), lambda v: eip55(v[2:])),
    "ip": (
        IPS,
        lambda v: normalise("ip", v, default_region=None, card_key=KEY),
        lambda v: ipaddress.ip_address(v).compressed,
    ),
    "detect+phone": (
        ["+44 20 7946 0958"],
        lambda v: normalise(None, v, default_region=None, card_key=KEY),
        lambda v: phonenumbers.format_number(phonenumbers.parse(v, None), phonenumbers.PhoneNumberFormat.E164),
    ),
}


def rate(fn: Callable[[str], object], values: Sequence[str], seconds: float) -> float:
    calls, deadline = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        for value in values:
            fn(value)
        calls += len(values)
    return calls / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--quick", action="store_true", help="0.5 s per measurement")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 0.5
    figures: dict[str, dict[str, float]] = {}
    for kind, (values, ours, library) in CASES.items():
        ours(values[0]), library(values[0])  # warm caches (PSL load, metadata)
        baseline = rate(library, values, args.seconds)
        achieved = rate(ours, values, args.seconds)
        figures[kind] = {
            "per_s": round(achieved),
            "library_per_s": round(baseline),
            "ratio": round(achieved / baseline, 2),
        }
        print(f"{kind:14} {achieved:10,.0f}/s  library {baseline:10,.0f}/s  ratio {achieved / baseline:.2f}")
    print(json.dumps({"bench": "normalise", "goal_ratio": GOAL, "kinds": figures}, sort_keys=True))


if __name__ == "__main__":
    main()

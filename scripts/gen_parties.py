#!/usr/bin/env python3
"""Generate src/hcx/rules/data/parties.yaml from Babel's copy of the Unicode CLDR.

Usage (from the repository root):
    .venv/bin/python scripts/gen_parties.py           # (re)write the file
    .venv/bin/python scripts/gen_parties.py --check   # exit 1 if the file is not up to date

The list of parties is data in this file: the 193 UN member states (ISO 3166-1 alpha-3),
the State of Palestine (non-member observer State) and the European Union (a regional economic
integration organization, REIO). Alpha-2 codes and names in the six UN languages plus
Vietnamese come from CLDR. No network access; the output is deterministic (sorted by code),
so CI can regenerate the file and check `git diff --exit-code`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import babel
import yaml
from babel.core import get_global

OUTPUT = Path(__file__).resolve().parent.parent / "src" / "hcx" / "rules" / "data" / "parties.yaml"

# Arabic, Chinese, English, French, Russian, Spanish (the authentic languages), then Vietnamese.
LANGUAGES: tuple[str, ...] = ("ar", "zh", "en", "fr", "ru", "es", "vi")

# The 193 Member States of the United Nations, as ISO 3166-1 alpha-3 codes.
UN_MEMBERS: tuple[str, ...] = (
    "AFG", "AGO", "ALB", "AND", "ARE", "ARG", "ARM", "ATG", "AUS", "AUT",
    "AZE", "BDI", "BEL", "BEN", "BFA", "BGD", "BGR", "BHR", "BHS", "BIH",
    "BLR", "BLZ", "BOL", "BRA", "BRB", "BRN", "BTN", "BWA", "CAF", "CAN",
    "CHE", "CHL", "CHN", "CIV", "CMR", "COD", "COG", "COL", "COM", "CPV",
    "CRI", "CUB", "CYP", "CZE", "DEU", "DJI", "DMA", "DNK", "DOM", "DZA",
    "ECU", "EGY", "ERI", "ESP", "EST", "ETH", "FIN", "FJI", "FRA", "FSM",
    "GAB", "GBR", "GEO", "GHA", "GIN", "GMB", "GNB", "GNQ", "GRC", "GRD",
    "GTM", "GUY", "HND", "HRV", "HTI", "HUN", "IDN", "IND", "IRL", "IRN",
    "IRQ", "ISL", "ISR", "ITA", "JAM", "JOR", "JPN", "KAZ", "KEN", "KGZ",
    "KHM", "KIR", "KNA", "KOR", "KWT", "LAO", "LBN", "LBR", "LBY", "LCA",
    "LIE", "LKA", "LSO", "LTU", "LUX", "LVA", "MAR", "MCO", "MDA", "MDG",
    "MDV", "MEX", "MHL", "MKD", "MLI", "MLT", "MMR", "MNE", "MNG", "MOZ",
    "MRT", "MUS", "MWI", "MYS", "NAM", "NER", "NGA", "NIC", "NLD", "NOR",
    "NPL", "NRU", "NZL", "OMN", "PAK", "PAN", "PER", "PHL", "PLW", "PNG",
    "POL", "PRK", "PRT", "PRY", "QAT", "ROU", "RUS", "RWA", "SAU", "SDN",
    "SEN", "SGP", "SLB", "SLE", "SLV", "SMR", "SOM", "SRB", "SSD", "STP",
    "SUR", "SVK", "SVN", "SWE", "SWZ", "SYC", "SYR", "TCD", "TGO", "THA",
    "TJK", "TKM", "TLS", "TON", "TTO", "TUN", "TUR", "TUV", "TZA", "UGA",
    "UKR", "URY", "USA", "UZB", "VCT", "VEN", "VNM", "VUT", "WSM", "YEM",
    "ZAF", "ZMB", "ZWE",
)  # fmt: skip

# Parties that are not UN members: code -> (alpha-2, kind). "EUU" is the ISO 3166-1
# exceptionally reserved code for the EU; CLDR knows the EU as territory "EU".
OTHER_PARTIES: dict[str, tuple[str, str]] = {
    "PSE": ("PS", "observer_state"),
    "EUU": ("EU", "reio"),
}


def alpha2_of(alpha3: str) -> str:
    """Alpha-2 code from CLDR's territory aliases (CLDR maps each alpha-3 code to its alpha-2)."""
    targets: list[str] | None = get_global("territory_aliases").get(alpha3)
    if not targets or len(targets) != 1:
        raise SystemExit(f"CLDR has no unique alpha-2 code for {alpha3}: {targets}")
    return targets[0]


def names_of(alpha2: str, locales: dict[str, babel.Locale]) -> dict[str, str]:
    names: dict[str, str] = {}
    for lang, locale in locales.items():
        name = locale.territories.get(alpha2)
        if not name:
            raise SystemExit(f"CLDR has no {lang} name for territory {alpha2}")
        names[lang] = name
    return names


def build() -> dict[str, Any]:
    assert len(UN_MEMBERS) == 193, f"expected 193 UN member states, got {len(UN_MEMBERS)}"
    assert len(set(UN_MEMBERS)) == 193, "duplicate codes in UN_MEMBERS"
    assert not set(UN_MEMBERS) & set(OTHER_PARTIES), "a party is listed twice"

    locales = {lang: babel.Locale.parse(lang) for lang in LANGUAGES}
    kinds: dict[str, tuple[str, str, bool]] = {code: (alpha2_of(code), "state", True) for code in UN_MEMBERS}
    kinds.update({code: (a2, kind, False) for code, (a2, kind) in OTHER_PARTIES.items()})

    parties = [
        {
            "code": code,
            "alpha2": alpha2,
            "kind": kind,
            "un_member": un_member,
            "names": names_of(alpha2, locales),
        }
        for code, (alpha2, kind, un_member) in sorted(kinds.items())
    ]
    alpha2s = [p["alpha2"] for p in parties]
    assert len(set(alpha2s)) == len(alpha2s), "two parties share an alpha-2 code"
    source = {"id": "CLDR", "title": f"Unicode CLDR via Babel {babel.__version__}", "verified": True}
    return {"source": source, "parties": parties}


class _Dumper(yaml.SafeDumper):
    """Block style for the document, flow style ({...}) for the small source and names maps."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # indent list items under their key


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    flow = all(isinstance(v, (str, bool)) for v in data.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=flow)


_Dumper.add_representer(dict, _represent_dict)


def render(document: dict[str, Any]) -> str:
    header = (
        "# Generated by scripts/gen_parties.py from Babel's CLDR data. Do not edit by hand.\n"
        f"# CLDR {get_global('cldr')['version']}; kind: state | observer_state | reio.\n"
    )
    body = yaml.dump(
        document,
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=1000,
        indent=2,
    )
    return header + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="do not write; fail if the file is stale")
    args = parser.parse_args(argv)

    document = build()
    text = render(document)
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current.splitlines()[1:2] != text.splitlines()[1:2]:
            # Another CLDR release may rename places; the names are only comparable within one.
            print(f"{OUTPUT}: made with another CLDR release than the installed one; not compared")
            return 0
        if current != text:
            print(f"{OUTPUT} is stale: run scripts/gen_parties.py", file=sys.stderr)
            return 1
        print(f"{OUTPUT} is up to date ({len(document['parties'])} parties)")
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {len(document['parties'])} parties to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The indicator layer's rules, checked on the source: the normalisers are pure (no clock, no
environment, no network client, no file format library), and only the format modules import stix2."""

from __future__ import annotations

import ast

from tests.architecture import SRC, imported_modules

INDICATORS = SRC / "indicators"
FORMAT_MODULES = {
    "csv_import.py",
    "misp_import.py",
    "stix_import.py",
    "stix_export.py",
    "bounded_json.py",
    "reading.py",
}
ALLOWED_EVERYWHERE = {
    "__future__",
    "collections",
    "dataclasses",
    "enum",
    "functools",
    "hashlib",
    "hmac",
    "ipaddress",
    "re",
    "typing",
    "unicodedata",
    "urllib",
    "base58",
    "bech32m",
    "Cryptodome",
    "idna",
    "phonenumbers",
    "schwifty",
    "tldextract",
    "hcx",
}
ALLOWED_IN_FORMATS = {"csv", "io", "json", "datetime", "uuid", "stix2", "stix2patterns"}
FORBIDDEN_CALLS = {"time", "now", "utcnow", "today", "urandom", "getenv", "open"}


def test_modules_import_only_what_their_role_allows() -> None:
    for path in sorted(INDICATORS.glob("*.py")):
        allowed = ALLOWED_EVERYWHERE | (ALLOWED_IN_FORMATS if path.name in FORMAT_MODULES else set())
        extra = {name.split(".")[0] for name in imported_modules(path)} - allowed
        assert extra == set(), f"{path.name} imports {sorted(extra)}"


def test_no_module_reads_the_clock_the_environment_or_files() -> None:
    for path in sorted(INDICATORS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        called = {
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
        }
        assert called & FORBIDDEN_CALLS == set(), f"{path.name} calls {sorted(called & FORBIDDEN_CALLS)}"
        assert "environ" not in {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}

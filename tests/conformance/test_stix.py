"""STIX 2.1 bundles from oasis-open/cti-stix2-json-schemas @ 3bf9e69 and oasis-open/cti-documentation
@ 4924547 (BSD-3-Clause). Source and format: shared/conformance/SOURCES.md §4.

Upstream has no expected-result files: every file passes `stix2_validator`, so every file must
import without error. The indicator counts per kind below were read off the files by hand (the
patterns are listed in each file); poisonivy's `'domain autuo.xicp.net'` is the one malformed value.
Each import is exported again and must import back to the same set.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from hcx.indicators.markings import TLP1_IDS
from hcx.indicators.stix_export import export_stix
from hcx.indicators.stix_import import import_stix
from tests.conftest import CONFORMANCE

STIX = CONFORMANCE / "stix"
KEY = bytes(32)

# file name → (accepted indicators per kind, rejected values)
EXPECTED: dict[str, tuple[dict[str, int], int]] = {
    "defining-campaigns-threat-actors-intrusion-sets.json": ({}, 0),
    "identifying-a-threat-actor-profile.json": ({}, 0),
    "indicator-for-malicious-url.json": ({"url": 1}, 0),
    "malware-indicator-for-file-hash.json": ({"sha256": 1}, 0),
    "sighting-of-an-indicator.json": ({"url": 1}, 0),
    "sighting-of-observed-data.json": ({"md5": 1, "sha1": 1}, 0),  # the file SCO's hashes
    "threat-actor-leveraging-attack-patterns-and-malware.json": ({}, 0),
    "using-granular-markings.json": ({}, 0),  # its only pattern is a MATCHES regex
    "using-marking-definitions.json": ({"ipv4": 1}, 0),
    "indicator-for-c2-ip-address.json": ({"ipv4": 1}, 0),
    "indicator-to-campaign-relationship.json": ({"ipv4": 1}, 0),
    "indicators-for-C2-with-COA.json": ({"ipv4": 1, "sha256": 1}, 0),
    "infrastructure.json": ({"domain": 1, "ipv4": 1}, 0),  # SCOs without spec_version
    "interop-objectmarking-test.json": ({}, 0),  # a lone campaign, not a bundle
    "malicious-email-indicator-with-attachment.json": ({}, 0),  # subject / attachment-name regexes
    "apt1.json": ({"cidr": 4, "domain": 3, "md5": 3}, 0),
    "poisonivy.json": ({"domain": 24, "ipv4": 18}, 1),
}
FILES = sorted(STIX.rglob("*.json"))


def test_every_file_is_covered() -> None:
    assert sorted(path.name for path in FILES) == sorted(EXPECTED)


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_bundle_imports_with_the_expected_counts(path: Path) -> None:
    with path.open("rb") as stream:
        report = import_stix(stream, name=path.name, default_region=None, card_key=KEY)
    counts, rejected = EXPECTED[path.name]
    assert report.counts() == counts
    assert len(report.rejections) == rejected
    with path.open("rb") as stream:
        assert import_stix(stream, name=path.name, default_region=None, card_key=KEY) == report  # re-import: same


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_export_then_import_round_trips(path: Path) -> None:
    with path.open("rb") as stream:
        report = import_stix(stream, name=path.name, default_region=None, card_key=KEY)
    exported = export_stix(report.indicators, created=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    again = import_stix(io.BytesIO(exported.encode()), name="export.json", default_region=None, card_key=KEY)
    assert again.rejections == ()
    assert again.indicators == tuple(sorted(report.indicators, key=lambda indicator: indicator.key))


def test_markings_are_kept() -> None:
    path = STIX / "cti-documentation" / "examples" / "example_json" / "using-marking-definitions.json"
    with path.open("rb") as stream:
        (indicator,) = import_stix(stream, name=path.name, default_region=None, card_key=KEY).indicators
    assert indicator.markings == tuple(
        sorted((TLP1_IDS["tlp:amber"], "marking-definition--d81f86b9-975b-4c0b-875e-810c5ad45a4f"))
    )


def test_poisonivy_names_its_malformed_domain() -> None:
    path = STIX / "cti-stix2-json-schemas" / "examples" / "threat-reports" / "poisonivy.json"
    with path.open("rb") as stream:
        (rejection,) = import_stix(stream, name=path.name, default_region=None, card_key=KEY).rejections
    assert rejection.source.locator == "indicator--4e4c4ad7-4909-456a-b6fa-e24a6f682a40"
    assert rejection.excerpt == "domain autuo.xicp.net"
    assert rejection.reason.startswith("not a domain name")

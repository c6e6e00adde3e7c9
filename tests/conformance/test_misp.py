"""MISP events from MISP/PyMISP @ 99a1c79 (BSD-2-Clause). Source and format:
shared/conformance/SOURCES.md §5.

Every file that is a real event (bare, `{"Event": …}` or `{"response": [ … ]}`) must import
without error, with the indicator counts per kind below (read off the attributes by hand:
`existing_event.json` has 19 domain and 12 ip-dst attributes, one of each repeated). The
non-events (object templates, a galaxy, a bare sighting, `{}`) must be refused whole.
"""

from __future__ import annotations

import pytest

from hcx.errors import InvalidInput
from hcx.indicators.markings import TLP1_IDS
from hcx.indicators.misp_import import import_misp
from tests.conftest import CONFORMANCE

MISP = CONFORMANCE / "misp" / "tests"
KEY = bytes(32)

# path under tests/ → (accepted indicators per kind, duplicates)
EVENTS: dict[str, tuple[dict[str, int], int]] = {
    "57c4445b-c548-4654-af0b-4be3950d210f.json": ({"md5": 1, "sha1": 1, "sha256": 1}, 0),
    "new_misp_event.json": ({}, 0),
    "mispevent_testfiles/attribute.json": ({}, 0),
    "mispevent_testfiles/attribute_del.json": ({}, 0),
    "mispevent_testfiles/def_param.json": ({"domain": 3}, 0),
    "mispevent_testfiles/event.json": ({}, 0),
    "mispevent_testfiles/event_obj_attr_tag.json": ({"url": 1}, 0),
    "mispevent_testfiles/event_obj_def_param.json": ({}, 0),
    "mispevent_testfiles/event_obj_tag.json": ({}, 0),
    "mispevent_testfiles/event_tags.json": ({}, 0),
    "mispevent_testfiles/existing_event.json": ({"domain": 18, "ipv4": 11, "sha1": 37}, 2),
    "mispevent_testfiles/existing_event_edited.json": ({"domain": 18, "ipv4": 11, "sha1": 37}, 2),
    "mispevent_testfiles/malware.json": ({}, 0),  # malware-sample before the server hashed it
    "mispevent_testfiles/malware_exist.json": ({"md5": 1, "sha1": 1, "sha256": 1}, 1),
    "mispevent_testfiles/misp_custom_obj.json": ({}, 0),
    "mispevent_testfiles/proposals.json": ({}, 0),
    "mispevent_testfiles/shadow.json": ({}, 0),
}
NOT_EVENTS = [
    "mispevent_testfiles/galaxy.json",
    "mispevent_testfiles/sighting.json",
    "mispevent_testfiles/simple.json",
    "mispevent_testfiles/overwrite_file/definition.json",
    "mispevent_testfiles/test_object_template/definition.json",
]


def test_every_file_is_covered() -> None:
    found = sorted(str(path.relative_to(MISP)) for path in MISP.rglob("*.json"))
    assert found == sorted([*EVENTS, *NOT_EVENTS])


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_event_imports_with_the_expected_counts(name: str) -> None:
    with (MISP / name).open("rb") as stream:
        report = import_misp(stream, name=name, default_region=None, card_key=KEY)
    counts, duplicates = EVENTS[name]
    assert report.counts() == counts
    assert report.duplicates == duplicates
    assert report.rejections == ()
    with (MISP / name).open("rb") as stream:
        assert import_misp(stream, name=name, default_region=None, card_key=KEY) == report  # re-import: same


@pytest.mark.parametrize("name", NOT_EVENTS)
def test_what_is_not_an_event_is_refused(name: str) -> None:
    with (MISP / name).open("rb") as stream, pytest.raises(InvalidInput, match="MISP event"):
        import_misp(stream, name=name, default_region=None, card_key=KEY)


def test_the_event_tlp_tag_marks_its_indicators() -> None:
    name = "mispevent_testfiles/existing_event.json"
    with (MISP / name).open("rb") as stream:
        report = import_misp(stream, name=name, default_region=None, card_key=KEY)
    assert {indicator.markings for indicator in report.indicators} == {(TLP1_IDS["tlp:white"],)}

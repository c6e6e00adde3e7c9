"""MISP and STIX import of bad input, and STIX export → import round trips (in memory)."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest

from hcx.errors import InvalidInput
from hcx.indicators import ImportReport, Indicator, IndicatorKind, normalise
from hcx.indicators.markings import TLP1_IDS, TLP2_IDS
from hcx.indicators.misp_import import import_misp
from hcx.indicators.stix_export import export_stix
from hcx.indicators.stix_import import import_stix

KEY = bytes(range(32))
CREATED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


class EndlessZeros(io.RawIOBase):
    """A stream as long as a 2 GB (or larger) upload, that counts what was read from it."""

    def __init__(self) -> None:
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        view[:] = b"\x00" * len(view)
        self.consumed += len(view)
        return len(view)


def _misp(document: object) -> ImportReport:
    return import_misp(io.BytesIO(json.dumps(document).encode()), name="event.json", default_region="FR", card_key=KEY)


def _stix(document: object) -> ImportReport:
    return import_stix(io.BytesIO(json.dumps(document).encode()), name="bundle.json", default_region=None, card_key=KEY)


@pytest.mark.parametrize("importer", [import_misp, import_stix])
def test_a_2gb_file_is_refused_after_reading_just_past_the_limit(importer: Any) -> None:
    stream = EndlessZeros()
    with pytest.raises(InvalidInput, match="larger than the 1,048,576-byte limit"):
        importer(stream, name="huge.json", default_region=None, card_key=KEY, max_bytes=1024 * 1024)
    assert stream.consumed <= 1024 * 1024 + 1


@pytest.mark.parametrize("importer", [import_misp, import_stix])
@pytest.mark.parametrize(
    ("data", "reason"), [(b'{"Event": ', "not valid JSON"), (b"\xff\xfe{}", "not UTF-8"), (b"[1, 2]", "not a")]
)
def test_malformed_json_is_refused_with_a_clear_reason(importer: Any, data: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        importer(io.BytesIO(data), name="bad.json", default_region=None, card_key=KEY)


def test_misp_attributes_composites_tags_and_unknown_types() -> None:
    report = _misp(
        {
            "Event": {
                "info": "Investment fraud",
                "Tag": [{"name": "tlp:amber"}, {"name": "PAP:GREEN"}, {"name": "misp-galaxy:x"}],
                "Attribute": [
                    {"uuid": "a1", "type": "phone-number", "value": "06 12 34 56 78"},
                    {"uuid": "a2", "type": "domain|ip", "value": "Exemple.fr|192.0.2.7", "Tag": [{"name": "tlp:red"}]},
                    {"uuid": "a3", "type": "iban", "value": "FR14 2004 1010 0505 0001 3M02 606"},
                    {"uuid": "a4", "type": "btc", "value": "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"},
                    {"uuid": "a5", "type": "cc-number", "value": "4111111111111111"},
                    {"uuid": "a6", "type": "iban", "value": "FR00 0000"},
                    {"uuid": "a7", "type": "comment", "value": "seen on 3 March"},
                    {"uuid": "a8", "type": "url", "value": 12},
                    {"uuid": "a9", "type": "domain", "value": "exemple.fr", "deleted": True},
                    {"uuid": "a10", "type": "phone-number", "value": "+33 6 12 34 56 78"},
                ],
                "Object": [{"name": "bank-account", "Attribute": [{"uuid": "o1", "type": "bic", "value": "BNPAFRPP"}]}],
                "ShadowAttribute": [{"type": "url", "value": "http://x.example"}],
            }
        }
    )
    assert report.counts() == {"bic": 1, "btc": 1, "card": 1, "domain": 1, "iban": 1, "ipv4": 1, "phone": 1}
    assert report.duplicates == 1
    event_markings = {TLP2_IDS["tlp:amber"], "pap:green"}
    by_kind = {indicator.kind: indicator for indicator in report.indicators}
    assert set(by_kind[IndicatorKind.PHONE].markings) == event_markings
    assert set(by_kind[IndicatorKind.DOMAIN].markings) == event_markings | {TLP2_IDS["tlp:red"]}
    assert "4111111111111111" not in repr(report)
    assert [(r.source.locator, r.reason.split(":")[0]) for r in report.rejections] == [
        ("Attribute a6", "not a valid IBAN"),
        ("Attribute a8", "attribute of type 'url' has no text value"),
    ]
    assert report.skipped == {"comment": 1, "deleted attribute": 1, "proposal (url)": 1}


@pytest.mark.parametrize(
    "document", [{}, {"GalaxyCluster": []}, {"response": []}, {"response": {"Event": {}}}, [{"info": "x"}]]
)
def test_what_is_not_a_misp_event_is_refused_whole(document: object) -> None:
    with pytest.raises(InvalidInput):
        _misp(document)


def test_a_misp_api_response_with_several_events() -> None:
    event = {"Event": {"info": "e", "Attribute": [{"type": "email-src", "value": "a@example.com"}]}}
    report = _misp({"response": [event, event]})
    assert report.counts() == {"email": 1} and report.duplicates == 1


def _indicator(pattern: str, **extra: object) -> dict[str, object]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{len(pattern):08d}-0000-4000-8000-000000000000",
        "created": "2020-01-01T00:00:00Z",
        "modified": "2020-01-01T00:00:00Z",
        "valid_from": "2020-01-01T00:00:00Z",
        "pattern": pattern,
        "pattern_type": "stix",
        **extra,
    }


def test_stix_bad_objects_are_rejected_one_by_one() -> None:
    bundle = {
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-000000000000",
        "objects": [
            _indicator("[domain-name:value = 'example.com']", object_marking_refs=[TLP1_IDS["tlp:green"]]),
            _indicator("[domain-name:value = 'example.com']"),  # the same object twice: collapsed
            _indicator("[url:value = 'not a url' OR x-unknown:thing = 'a']"),
            _indicator("[ipv4-addr:value = "),
            {"type": "indicator", "id": "indicator--11111111-0000-4000-8000-000000000000"},  # missing properties
            "not an object",
            {
                "type": "x-custom-thing",
                "id": "x-custom-thing--22222222-0000-4000-8000-000000000000",
                "spec_version": "2.1",
            },
        ],
    }
    report = _stix(bundle)
    assert [(i.kind, i.value, i.markings) for i in report.indicators] == [
        (IndicatorKind.DOMAIN, "example.com", (TLP1_IDS["tlp:green"],))
    ]
    reasons = [r.reason for r in report.rejections]
    assert len(reasons) == 4
    assert reasons[0].startswith("not a URL")
    assert reasons[1].startswith("unparsable STIX pattern") or reasons[1].startswith("invalid STIX object")
    assert reasons[2].startswith("invalid STIX object")
    assert reasons[3] == "not a JSON object"
    assert report.skipped == {"duplicate object": 1, "pattern path x-unknown:thing": 1, "x-custom-thing": 1}


def _everything() -> list[Indicator]:
    raw = [
        ("phone", "+84 24 3825 3529"),
        ("iban", "GB82 WEST 1234 5698 7654 32"),
        ("bic", "DEUTDEFF"),
        ("card", "4111 1111 1111 1111"),
        ("btc", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"),
        ("eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
        ("trx", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
        ("xrp", "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh"),
        ("domain", "пример.рф"),
        ("url", "https://example.com/it's?a=b\\c"),
        ("email", "user@example.com"),
        ("ipv4", "192.0.2.1"),
        ("ipv6", "2001:db8::1"),
        ("cidr", "2001:db8::/32"),
        ("cidr", "198.51.100.0/24"),
        ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
        ("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("telegram", "@scam_support"),
        ("x", "@fraud_1"),
    ]
    markings = [(), (TLP2_IDS["tlp:amber"],), (TLP2_IDS["tlp:red"], "pap:amber")]
    return [
        normalise(kind, value, default_region=None, card_key=KEY).with_context(markings=markings[n % 3], source=None)
        for n, (kind, value) in enumerate(raw)
    ]


def test_stix_export_imports_back_to_the_same_set() -> None:
    indicators = _everything()
    assert {indicator.kind for indicator in indicators} == set(IndicatorKind) - {IndicatorKind.LTC, IndicatorKind.DOGE}
    exported = export_stix(indicators, created=CREATED)
    report = import_stix(io.BytesIO(exported.encode()), name="export.json", default_region=None, card_key=KEY)
    assert report.rejections == ()
    assert set(report.indicators) == set(indicators)  # kind, value and markings
    assert export_stix(reversed(indicators), created=CREATED) == exported  # deterministic


def test_the_export_never_carries_a_card_number_or_its_last_digits() -> None:
    card = normalise("card", "4111 1111 1111 1111", default_region=None, card_key=KEY)
    exported = export_stix([card], created=CREATED)
    assert "4111" not in exported and "1111" not in exported.replace(card.value, "")


def test_export_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        export_stix([], created=dt.datetime(2026, 1, 1))

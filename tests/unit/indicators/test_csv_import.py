"""CSV import: plain type,value files, column mappings, and every kind of bad row."""

from __future__ import annotations

import io

import pytest

from hcx.errors import InvalidInput
from hcx.indicators import ImportReport, IndicatorKind
from hcx.indicators.csv_import import CsvMapping, import_csv
from hcx.indicators.markings import TLP2_IDS

KEY = bytes(range(32))


def _import(text: str | bytes, mapping: CsvMapping | None = None, **options: int) -> ImportReport:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return import_csv(
        io.BytesIO(data), name="upload.csv", default_region="DE", card_key=KEY, mapping=mapping, **options
    )


def test_a_plain_type_value_file_needs_no_mapping() -> None:
    report = import_csv(
        io.BytesIO(b"Type,Value\nphone,030 1234567\ndomain,Example.com\n,user@example.com\n"),
        name="upload.csv",
        default_region="DE",
        card_key=KEY,
    )
    assert [(i.kind, i.value) for i in report.indicators] == [
        (IndicatorKind.PHONE, "+49301234567"),
        (IndicatorKind.DOMAIN, "example.com"),
        (IndicatorKind.EMAIL, "user@example.com"),  # empty type: detected
    ]
    assert report.indicators[0].source is not None and str(report.indicators[0].source) == "upload.csv: line 2"
    assert report.rejections == () and report.duplicates == 0


def test_a_mapping_names_other_columns_or_one_kind_for_all_rows() -> None:
    text = "ref,IOC,handling\nA1,0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed,tlp:amber pap:red\n"
    report = import_csv(
        io.BytesIO(text.encode()),
        name="x.csv",
        default_region=None,
        card_key=KEY,
        mapping=CsvMapping(value="ioc", kind=None, fixed_kind="eth", markings="handling", row_id="ref"),
    )
    (indicator,) = report.indicators
    assert indicator.value == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    assert indicator.markings == tuple(sorted((TLP2_IDS["tlp:amber"], "pap:red")))
    assert indicator.source is not None and indicator.source.locator == "line 2 (id A1)"


def test_bad_rows_are_reported_one_by_one_and_the_rest_imported() -> None:
    text = (
        "type,value,markings\n"
        "iban,DE89 3704 0044 0532 0130 01,\n"  # bad checksum
        "banana,x,\n"  # unknown type
        "domain,example.com,tlp:purple\n"  # unknown marking
        "domain\n"  # missing cell
        "card,4111 1111 1111 1112,\n"  # Luhn
        "\n"  # blank lines are not rows
        "domain,example.org,tlp:green\n"
        "domain,EXAMPLE.org.,tlp:red\n"  # duplicate: markings merged
    )
    report = _import(text)
    assert [(i.value, len(i.markings)) for i in report.indicators] == [("example.org", 2)]
    assert report.duplicates == 1
    reasons = [(r.source.locator, r.reason) for r in report.rejections]
    assert [locator for locator, _ in reasons] == ["line 2", "line 3", "line 4", "line 5", "line 6"]
    assert "checksum" in reasons[0][1].lower()
    assert "unknown indicator type 'banana'" in reasons[1][1]
    assert "unknown marking 'tlp:purple'" in reasons[2][1]
    assert "missing" in reasons[3][1]
    assert "Luhn" in reasons[4][1]
    assert all("4111" not in r.excerpt and "1112" not in r.reason for r in report.rejections)


def test_values_in_any_script_and_invalid_utf8() -> None:
    text = (
        "type,value\ndomain,пример.рф\nemail,用户@例え.jp\nhandle,telegram:@اسم\n".encode() + b"domain,\xff\xfe.com\n"
    )
    report = _import(text)
    assert [i.value for i in report.indicators] == ["xn--e1afmkfd.xn--p1ai", "用户@xn--r8jz45g.jp"]
    assert [(r.source.locator, r.reason) for r in report.rejections] == [
        ("line 4", "not a valid telegram handle"),
        ("line 5", "row is not valid UTF-8"),
    ]


def test_an_endless_line_is_rejected_without_being_read_into_memory() -> None:
    text = "type,value\ndomain," + "a" * 5000 + ".com\ndomain,example.com\n"
    report = _import(text, max_line_chars=1000)
    assert [i.value for i in report.indicators] == ["example.com"]
    assert [(r.source.locator, r.reason) for r in report.rejections] == [("line 2", "row longer than 1,000 characters")]


def test_malformed_csv_is_reported_per_row() -> None:
    report = _import('type,value\ndomain,"example.com\x00"\ndomain,example.net\n')
    assert [i.value for i in report.indicators] == ["example.net"]
    assert len(report.rejections) == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty CSV"),
        ("kind,ioc\nphone,1\n", "no 'value' column"),
        ("kind,value\nphone,1\n", "no 'type' column"),
        ("type\nphone\n", "no 'value' column"),
    ],
)
def test_a_file_without_usable_header_is_refused_whole(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        _import(text)


def test_a_reimport_gives_the_same_report() -> None:
    text = "type,value\nphone,030 1234567\nphone,+49 30 1234567\nbic,XXXXXXXX\n"
    assert _import(text) == _import(text)


def test_the_callers_stream_stays_open() -> None:
    stream = io.BytesIO(b"type,value\n")
    import_csv(stream, name="x.csv", default_region=None, card_key=KEY)
    assert not stream.closed

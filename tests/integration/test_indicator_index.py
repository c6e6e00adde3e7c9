"""The local correlation index (services/indicators.py, storage/indicator_store.py), on each backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hcx.errors import InvalidInput, PolicyDenied
from hcx.services import accounts, indicators, taxii
from hcx.storage.unit_of_work import Database
from tests.conftest import World
from tests.integration.test_cli import PASSWORD, Hcx, hcx  # noqa: F401 - the `hcx` fixture

PHONE = "+49 30 1234567"
IBAN = "DE89 3704 0044 0532 0130 00"
OTHER_IBAN = "GB82 WEST 1234 5698 7654 32"


def csv_file(tmp_path: Path, name: str, rows: list[tuple[str, ...]], header: str = "type,value") -> Path:
    path = tmp_path / name
    lines = [header, *(",".join(f'"{cell}"' for cell in row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def postings(database: Database) -> int:
    with database.unit_of_work() as uow:
        return int(uow.session.execute(text("SELECT count(*) FROM indicator_postings")).scalar_one())


def test_an_import_posts_each_indicator_once(world: World, database: Database, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "a.csv", [("phone", PHONE), ("iban", IBAN), ("phone", "+49301234567")])
    outcome = indicators.import_file(world.ctx, world.officer, path, case_ref="CASE-1")
    assert (outcome.format, outcome.new, outcome.known) == ("csv", 2, 0)
    assert outcome.report.counts() == {"iban": 1, "phone": 1} and outcome.report.duplicates == 1
    assert postings(database) == 2


def test_a_re_import_changes_nothing(world: World, database: Database, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "a.csv", [("phone", PHONE), ("iban", IBAN)])
    indicators.import_file(world.ctx, world.officer, path, case_ref="CASE-1")
    again = indicators.import_file(world.ctx, world.officer, path, case_ref="CASE-1")
    assert (again.new, again.known) == (0, 2)
    assert postings(database) == 2


def stored_tlp(database: Database, value: str) -> str:
    with database.unit_of_work() as uow:
        return str(uow.session.execute(text("SELECT tlp FROM indicator_postings WHERE value = :v"),
                                       {"v": value}).scalar_one())


def test_a_re_import_can_tighten_a_marking_never_loosen_it(world: World, database: Database, tmp_path: Path) -> None:
    header = "type,value,markings"
    green = csv_file(tmp_path, "green.csv", [("domain", "late.com", "tlp:green;pap:green")], header=header)
    indicators.import_file(world.ctx, world.officer, green, case_ref="CASE-1")
    for _ in range(2):  # the same file again changes nothing, and is not audited as a change
        assert indicators.import_file(world.ctx, world.officer, green, case_ref="CASE-1").known == 1
    red = csv_file(tmp_path, "red.csv", [("domain", "late.com", "tlp:red")], header=header)
    assert indicators.import_file(world.ctx, world.officer, red, case_ref="CASE-1").known == 1
    assert stored_tlp(database, "late.com") == "pap:green tlp:green tlp:red"  # RED governs: strictest wins
    for looser in ("tlp:clear", ""):  # neither a looser marking nor none loosens it
        path = csv_file(tmp_path, "loose.csv", [("domain", "late.com", looser)], header=header)
        indicators.import_file(world.ctx, world.officer, path, case_ref="CASE-1")
        assert stored_tlp(database, "late.com") == "pap:green tlp:green tlp:red"
    audited = [e for e in accounts.list_audit(world.ctx, limit=50) if e.action == "indicators.marking_tightened"]
    assert len(audited) == 1 and audited[0].object_id == "CASE-1"
    assert audited[0].details["tightened"] == 1
    assert audited[0].details["postings"][0]["from"] == "pap:green tlp:green"
    page = taxii.objects(world.ctx, world.officer, taxii.collection_id(world.officer.authority_id), taxii.Filters())
    assert not page.objects  # and TAXII stops serving it


def test_two_cases_sharing_a_phone_and_an_iban_are_one_linked_pair(world: World, tmp_path: Path) -> None:
    indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "a.csv", [("phone", PHONE), ("iban", IBAN),
                                                                                ("iban", OTHER_IBAN)]),
                           case_ref="CASE-1")
    indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "b.csv", [("", "+49 (0)30 123 4567"),
                                                                                ("iban", IBAN.replace(" ", ""))]),
                           case_ref="CASE-2")
    indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "c.csv", [("domain", "evil-shop.com")]),
                           case_ref="CASE-3")
    found = indicators.links(world.ctx, world.officer)
    assert [(link.case_a, link.case_b) for link in found.links] == [("CASE-1", "CASE-2")]
    assert {(s.kind, s.value) for s in found.links[0].indicators} == {("phone", "+49301234567"),
                                                                       ("iban", "DE89370400440532013000")}
    assert found.generic == ()
    hit = indicators.cases_with(world.ctx, world.auditor, "iban", "de89 3704 0044 0532 0130 00")
    assert [c.case_ref for c in hit.cases] == ["CASE-1", "CASE-2"]
    assert indicators.cases_with(world.ctx, world.officer, None, "+49 30 1234567").kind == "phone"


def test_another_authority_sees_nothing(world: World, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "a.csv", [("phone", PHONE)])
    indicators.import_file(world.ctx, world.officer, path, case_ref="CASE-1")
    indicators.import_file(world.ctx, world.officer, path, case_ref="CASE-2")
    assert len(indicators.links(world.ctx, world.officer).links) == 1
    assert indicators.links(world.ctx, world.other_officer).links == ()
    assert indicators.cases_with(world.ctx, world.other_officer, "phone", PHONE).cases == ()
    # the other authority's own case with the same phone links with nothing of the first
    outcome = indicators.import_file(world.ctx, world.other_officer, path, case_ref="CASE-1")
    assert outcome.new == 1
    assert indicators.links(world.ctx, world.other_officer).links == ()
    assert [c.case_ref for c in indicators.cases_with(world.ctx, world.other_officer, "phone", PHONE).cases] == ["CASE-1"]


def test_a_generic_value_is_flagged_not_paired(world: World, tmp_path: Path) -> None:
    hot = csv_file(tmp_path, "hot.csv", [("phone", PHONE)])
    for n in range(4):
        indicators.import_file(world.ctx, world.officer, hot, case_ref=f"CASE-{n}")
    indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "b.csv", [("iban", IBAN)]), case_ref="CASE-0")
    indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "c.csv", [("iban", IBAN)]), case_ref="CASE-1")
    found = indicators.links(world.ctx, world.officer, max_cases=3)
    assert [(g.kind, g.value, g.cases) for g in found.generic] == [("phone", "+49301234567", 4)]
    assert [(link.case_a, link.case_b, [s.kind for s in link.indicators]) for link in found.links] == [
        ("CASE-0", "CASE-1", ["iban"])]
    assert len(indicators.links(world.ctx, world.officer).links) == 6  # under the default cap: all pairs


def test_rejected_rows_are_reported_and_the_rest_imported(world: World, database: Database, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "mixed.csv", [("phone", PHONE), ("iban", "DE00 1234"), ("phone", "+49 12"),
                                            ("domain", "evil-shop.com")])
    outcome = indicators.import_file(world.ctx, world.officer, path, case_ref="CASE-1")
    assert outcome.new == 2 and postings(database) == 2
    assert [r.source.locator for r in outcome.report.rejections] == ["line 3", "line 4"]
    assert all(r.reason for r in outcome.report.rejections)


def test_markings_are_kept_as_tlp_text(world: World, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "m.csv", [("phone", PHONE, "tlp:amber;pap:red")], header="type,value,markings")
    indicators.import_file(world.ctx, world.officer, path, case_ref="CASE-1")
    assert indicators.cases_with(world.ctx, world.officer, "phone", PHONE).cases[0].tlp == "pap:red tlp:amber"


def test_roles_and_inputs(world: World, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "a.csv", [("phone", PHONE)])
    for who in (world.auditor, world.supervisor, world.admin):
        with pytest.raises(PolicyDenied):
            indicators.import_file(world.ctx, who, path, case_ref="CASE-1")
    with pytest.raises(PolicyDenied):
        indicators.links(world.ctx, world.admin)
    with pytest.raises(InvalidInput):
        indicators.import_file(world.ctx, world.officer, path, case_ref="  ")
    with pytest.raises(InvalidInput):
        indicators.import_file(world.ctx, world.officer, tmp_path / "missing.csv", case_ref="CASE-1")
    with pytest.raises(InvalidInput):
        indicators.cases_with(world.ctx, world.officer, "iban", "not an iban")


def test_misp_and_stix_files_are_imported(world: World, tmp_path: Path) -> None:
    misp = tmp_path / "event.json"
    misp.write_text(json.dumps({"Event": {"info": "x", "Attribute": [{"type": "iban", "value": IBAN}]}}), "utf-8")
    stix = tmp_path / "bundle.json"
    stix.write_text('{"type": "bundle", "id": "bundle--0b0e8a5e-8f86-4c41-9f41-2f2e2f1e2b3c", "objects": ['
                    '{"type": "domain-name", "spec_version": "2.1", '
                    '"id": "domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5", "value": "evil-shop.com"}]}',
                    "utf-8")
    assert indicators.import_file(world.ctx, world.officer, misp, case_ref="CASE-1").format == "misp"
    outcome = indicators.import_file(world.ctx, world.officer, stix, case_ref="CASE-1")
    assert (outcome.format, outcome.report.counts()) == ("stix", {"domain": 1})


# --- the command line ------------------------------------------------------------------------

@pytest.fixture
def cli(hcx: Hcx) -> Iterator[Hcx]:  # noqa: F811 - the fixture imported above
    """A node with two authorities and an analyst in each."""
    hcx.ok("init", "--party", "VNM")
    for authority, user in [("Central Authority", "ana"), ("Police", "pete")]:
        hcx.ok("authority", "add", authority, "--kind", "central_authority" if user == "ana" else "law_enforcement")
        hcx.ok("user", "add", user, "--role", "analyst", "--authority", authority, "--password-stdin",
               input=PASSWORD + "\n")
    yield hcx


def test_cli_import_links_and_find(cli: Hcx, tmp_path: Path) -> None:
    a = csv_file(tmp_path, "a.csv", [("phone", PHONE), ("iban", IBAN), ("iban", "DE00 1234")])
    b = csv_file(tmp_path, "b.csv", [("phone", "+49 30 1234567"), ("iban", IBAN), ("iban", IBAN)])
    printed = cli.ok("indicators", "import", str(a), "--case", "CASE-1", "--user", "ana", "--region", "DE").stdout
    assert "2 accepted (2 new, 0 already in the case), 1 rejected" in printed and "line 4" in printed
    report = cli.ok("indicators", "import", str(b), "--case", "CASE-2", "--user", "ana", "--json").json()
    assert report["accepted"] == {"iban": 1, "phone": 1} and report["duplicates"] == 1 and report["new"] == 2
    links = cli.ok("indicators", "links", "--user", "ana", "--json").json()
    assert [(x["case_a"], x["case_b"], len(x["indicators"])) for x in links["links"]] == [("CASE-1", "CASE-2", 2)]
    assert "CASE-1" in cli.ok("indicators", "links", "--user", "ana").stdout
    found = cli.ok("indicators", "find", "DE89370400440532013000", "--user", "ana", "--json").json()
    assert [c["case"] for c in found["cases"]] == ["CASE-1", "CASE-2"] and found["kind"] == "iban"
    assert "CASE-2" in cli.ok("indicators", "find", PHONE, "--kind", "phone", "--user", "ana").stdout
    assert cli.ok("indicators", "links", "--user", "pete", "--json").json()["links"] == []
    assert cli.ok("indicators", "find", IBAN, "--user", "pete", "--json").json()["cases"] == []
    assert cli("indicators", "import", str(a), "--case", "X", "--user", "ana", "--format", "xml").exit_code == 3

"""Correlation at scale and alerts (services/alerts.py, services/indicator_bulk.py, migration 0008), on each
backend: countries on postings, new links found at ingest, alerts and their follow-up drafts, the
cross-country report, parallel CSV normalisation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError

from hcx.api import create_app
from hcx.config import Settings
from hcx.errors import InvalidInput, NotFound, PolicyDenied
from hcx.indicators import normalise
from hcx.indicators.csv_import import import_csv
from hcx.rules.schema import Role
from hcx.services import accounts, alerts, indicators, requests
from hcx.services.indicator_bulk import import_csv_parallel, normalise_many
from hcx.storage.db import alembic_config, migrate
from hcx.storage.unit_of_work import Database
from tests.conftest import World
from tests.integration.test_api import Api
from tests.integration.test_cli import PASSWORD, Hcx, hcx  # noqa: F401 - the `hcx` fixture
from tests.integration.test_indicator_index import IBAN, OTHER_IBAN, PHONE, csv_file

WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def open_alerts(world: World) -> list[alerts.AlertView]:
    return alerts.list_alerts(world.ctx, world.officer)


def test_a_value_newly_shared_by_two_local_cases_alerts_each_case_once(world: World, tmp_path: Path) -> None:
    a = csv_file(tmp_path, "a.csv", [("phone", PHONE), ("iban", IBAN)])
    assert indicators.import_file(world.ctx, world.officer, a, case_ref="CASE-1").links == 0
    assert open_alerts(world) == []
    b = csv_file(tmp_path, "b.csv", [("phone", PHONE), ("iban", OTHER_IBAN)])
    outcome = indicators.import_file(world.ctx, world.officer, b, case_ref="CASE-2")
    assert (outcome.links, outcome.country) == (1, "VNM")
    found = open_alerts(world)
    assert sorted((v.case_ref, v.other_case_ref, v.kind, v.value) for v in found) == [
        ("CASE-1", "CASE-2", "phone", "+49301234567"), ("CASE-2", "CASE-1", "phone", "+49301234567")]
    assert all(not v.abroad and v.offers == () and v.other_country == "VNM" for v in found)
    # a re-import finds nothing new; so does importing a known value into a third case twice
    assert indicators.import_file(world.ctx, world.officer, b, case_ref="CASE-2").links == 0
    assert len(open_alerts(world)) == 2
    # the authority's other users see them; another authority sees none
    assert len(alerts.list_alerts(world.ctx, world.auditor)) == 2
    assert alerts.list_alerts(world.ctx, world.other_officer) == []


def test_generic_values_never_alert(world: World, tmp_path: Path) -> None:
    hot = csv_file(tmp_path, "hot.csv", [("phone", PHONE)])
    for n in range(3):
        indicators.import_file(world.ctx, world.officer, hot, case_ref=f"CASE-{n}", max_cases=2)
    # CASE-0 + CASE-1 made a link (2 cases); the third case makes the value generic: no more alerts
    assert sorted((v.case_ref, v.other_case_ref) for v in open_alerts(world)) == [("CASE-0", "CASE-1"),
                                                                                  ("CASE-1", "CASE-0")]


def test_a_counterparts_case_alerts_the_local_case_and_offers_a_follow_up(world: World, tmp_path: Path) -> None:
    indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "a.csv", [("eth", WALLET), ("phone", PHONE)]),
                           case_ref="VN-7")
    received = csv_file(tmp_path, "from-deu.csv", [("eth", WALLET.lower())])
    outcome = indicators.import_file(world.ctx, world.officer, received, case_ref="BKA-2026-9", country="deu",
                                     origin="Bundeskriminalamt")
    assert (outcome.country, outcome.links, outcome.new) == ("DEU", 1, 1)
    [alert] = open_alerts(world)
    assert (alert.case_ref, alert.other_case_ref, alert.other_country, alert.other_authority, alert.abroad) == (
        "VN-7", "BKA-2026-9", "DEU", "Bundeskriminalamt", True)
    assert alert.offers == ("spontaneous_information", "joint_investigation")
    hit = indicators.cases_with(world.ctx, world.officer, "eth", WALLET)
    assert sorted((c.country, c.case_ref, c.origin) for c in hit.cases) == [
        ("DEU", "BKA-2026-9", "Bundeskriminalamt"), ("VNM", "VN-7", "")]
    # the links name a counterpart's case COUNTRY/REF; the cross-country report has just that pair
    assert [(x.case_a, x.case_b) for x in indicators.links(world.ctx, world.officer).links] == [
        ("DEU/BKA-2026-9", "VN-7")]
    report = indicators.cross_country_links(world.ctx, world.officer)
    assert [(x.case_a, x.case_b, [s.kind for s in x.indicators]) for x in report.links] == [
        ("DEU/BKA-2026-9", "VN-7", ["eth"])]

    view = alerts.open_draft(world.ctx, world.officer, alert.id, type="spontaneous_information")
    assert (view.type, view.requesting_party, view.requested_party, view.state) == (
        "spontaneous_information", "VNM", "DEU", "draft")
    fields = view.document["fields"]
    assert WALLET in fields["information"] and "BKA-2026-9" in fields["information"]
    assert fields["requesting_authority"]["reference"] == "VN-7"
    assert not any(f.severity == "error" for f in view.findings), view.findings
    [done] = alerts.list_alerts(world.ctx, world.officer, open_only=False)
    assert (done.request_id, done.acknowledged_by) == (view.id, world.officer.user_id)
    assert open_alerts(world) == []
    jit = alerts.open_draft(world.ctx, world.officer, alert.id, type="joint_investigation")
    assert jit.document["fields"]["participating_parties"] == ["VNM", "DEU"]
    assert not any(f.severity == "error" for f in jit.findings), jit.findings


@pytest.mark.parametrize(("ours", "elsewhere", "denied"), [
    ("tlp:red", None, "TLP:RED"),
    ("tlp:amber", None, "TLP:AMBER"),  # DEU is not a named recipient
    ("marking-definition--0b1c3a2e-7a4f-4f43-9d0a-6a3f2b0e1c11", None, "unknown marking"),
    ("tlp:green", None, "not a pinned peer"),  # GREEN goes to the community of pinned peers only
    ("", "tlp:red", "TLP:RED"),  # unmarked in the alerted case, but RED in another one of ours
])
def test_a_follow_up_refuses_an_indicator_tlp_keeps_from_the_counterpart(
        world: World, tmp_path: Path, ours: str, elsewhere: str | None, denied: str) -> None:
    header = "type,value,markings"
    indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "a.csv", [("eth", WALLET, ours)], header=header),
                           case_ref="VN-7")
    if elsewhere is not None:
        indicators.import_file(world.ctx, world.officer,
                               csv_file(tmp_path, "b.csv", [("eth", WALLET, elsewhere)], header=header),
                               case_ref="VN-8")
    indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "deu.csv", [("eth", WALLET)]),
                           case_ref="BKA-2026-9", country="DEU", origin="Bundeskriminalamt")
    alert = next(a for a in open_alerts(world) if a.other_country == "DEU")
    for follow_up in alerts.FOLLOW_UPS:
        with pytest.raises(PolicyDenied, match=denied):
            alerts.open_draft(world.ctx, world.officer, alert.id, type=follow_up)
    [still] = [a for a in open_alerts(world) if a.id == alert.id]
    assert still.request_id is None  # nothing was drafted nor acknowledged


def test_a_follow_up_retried_after_a_crash_links_the_same_draft(world: World, tmp_path: Path) -> None:
    indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "a.csv", [("eth", WALLET)]), case_ref="VN-7")
    indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "deu.csv", [("eth", WALLET)]),
                           case_ref="BKA-2026-9", country="DEU", origin="Bundeskriminalamt")
    [alert] = open_alerts(world)
    commits = 0

    def crash_after_the_draft() -> Any:  # the draft's transaction commits, the link's never does
        uow = world.ctx.unit_of_work()
        real = uow.commit

        def commit() -> None:
            nonlocal commits
            commits += 1
            if commits > 1:
                raise OSError("the node crashed")
            real()
        uow.commit = commit  # type: ignore[method-assign]
        return uow

    crashing = dataclasses.replace(world.ctx, unit_of_work=crash_after_the_draft)
    with pytest.raises(OSError, match="crashed"):
        alerts.open_draft(crashing, world.officer, alert.id, type="spontaneous_information")
    [orphan] = requests.list_requests(world.ctx, world.officer)
    assert open_alerts(world) == [alert]  # not linked, not acknowledged
    view = alerts.open_draft(world.ctx, world.officer, alert.id, type="spontaneous_information")
    again = alerts.open_draft(world.ctx, world.officer, alert.id, type="spontaneous_information")
    assert view.id == again.id == orphan.id
    assert [r.id for r in requests.list_requests(world.ctx, world.officer)] == [orphan.id]
    [done] = alerts.list_alerts(world.ctx, world.officer, open_only=False)
    assert done.request_id == orphan.id


def test_local_alerts_offer_no_follow_up_and_roles_are_checked(world: World, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "a.csv", [("iban", IBAN)])
    indicators.import_file(world.ctx, world.officer, path, case_ref="CASE-1")
    indicators.import_file(world.ctx, world.officer, path, case_ref="CASE-2")
    alert = open_alerts(world)[0]
    with pytest.raises(InvalidInput):
        alerts.open_draft(world.ctx, world.officer, alert.id, type="spontaneous_information")
    with pytest.raises(PolicyDenied):
        alerts.acknowledge(world.ctx, world.auditor, alert.id)
    with pytest.raises(PolicyDenied):
        alerts.list_alerts(world.ctx, world.admin)
    with pytest.raises(NotFound):
        alerts.acknowledge(world.ctx, world.other_officer, alert.id)
    accounts.add_user(world.ctx, None, username="anna", password=PASSWORD, role=Role.analyst,
                      authority_id=world.officer.authority_id)
    analyst = accounts.principal_for(world.ctx, "anna")
    assert alerts.acknowledge(world.ctx, analyst, alert.id).acknowledged_by == analyst.user_id
    assert alerts.acknowledge(world.ctx, world.officer, alert.id).acknowledged_by == analyst.user_id  # once
    assert len(open_alerts(world)) == 1
    with pytest.raises(InvalidInput):
        indicators.import_file(world.ctx, world.officer, path, case_ref="X", country="DE")
    with pytest.raises(InvalidInput):
        indicators.import_file(world.ctx, world.officer, path, case_ref="X", origin="Police")  # no --country


def test_same_reference_in_two_countries_is_two_cases(world: World, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "a.csv", [("iban", IBAN)])
    indicators.import_file(world.ctx, world.officer, path, case_ref="2026/1")
    assert indicators.import_file(world.ctx, world.officer, path, case_ref="2026/1", country="FRA").new == 1
    assert [(x.case_a, x.case_b) for x in indicators.links(world.ctx, world.officer).links] == [
        ("2026/1", "FRA/2026/1")]


# --- parallel normalisation ------------------------------------------------------------------

def test_a_big_csv_normalised_in_pieces_gives_the_same_report(tmp_path: Path) -> None:
    rows = ["type,value,markings"]
    for n in range(3000):
        rows.append(f"phone,+49 30 {1000000 + n % 1700},tlp:amber" if n % 3 else f"ipv4,10.0.{n % 250}.{n % 7}")
        if n % 500 == 0:
            rows.append('iban,"DE00 1234",')  # rejected
            rows.append('domain,"multi\nline.example",')  # a quoted line break: never cut inside it
    path = tmp_path / "big.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    key = bytes(32)
    single = import_csv(io.BytesIO(path.read_bytes()), name="big.csv", default_region="DE", card_key=key)
    parallel = import_csv_parallel(path, name="big.csv", default_region="DE", card_key=key, workers=2,
                                   piece_bytes=4096)
    assert parallel.indicators == single.indicators
    assert [i.source for i in parallel.indicators] == [i.source for i in single.indicators]
    assert parallel.rejections == single.rejections and len(single.rejections) == 12
    assert (parallel.duplicates, parallel.skipped) == (single.duplicates, single.skipped)


def test_normalise_many_keys_like_the_index(world: World, tmp_path: Path) -> None:
    indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "a.csv", [("iban", IBAN)]), case_ref="C")
    keys = indicators._keys(world.ctx, create=False)
    assert keys is not None
    items = [("iban", IBAN, None), ("phone", "+49 12", None), (None, "030 1234567", "DE")]
    [batch] = list(normalise_many(items, card_key=keys.card, index_key=keys.index, workers=1))
    assert batch.keys[0] == keys.posting_key("iban", "DE89370400440532013000")
    assert (batch.kinds[2], batch.values[2]) == ("phone", "+49301234567")
    assert batch.keys[2] == keys.posting_key("phone", "+49301234567")
    assert batch.keys[1] is None and batch.values[1] is None and list(batch.reasons) == [1]


def test_normalise_many_gives_what_normalise_gives_in_input_order() -> None:
    card_key, index_key = bytes(range(32)), bytes(range(32, 64))
    items: list[tuple[str | None, str, str | None]] = [
        ("phone", "+44 20 7946 0958", None), ("iban", "DE89 3704 0044 0532 0130 00", None), ("phone", "030 1234567", "DE"),
        ("ipv4", "192.0.2.1", None), ("phone", "+49 12", None), (None, "shop.example.com", None), ("nonsense", "x", None),
        ("nonsense", "  ", None), ("card", "4111 1111 1111 1111", None), ("eth", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359", None),
        ("phone", "030 1234567", "DE"), (None, "+44 20 7946 0958", None)] * 7
    batches = list(normalise_many(items, card_key=card_key, index_key=index_key, workers=2, items_per_task=5))
    assert [len(b.keys) for b in batches] == [5] * 16 + [4]
    keys = [k for b in batches for k in b.keys]
    kinds = [k for b in batches for k in b.kinds]
    values = [v for b in batches for v in b.values]
    reasons = {start * 5 + i: r for start, b in enumerate(batches) for i, r in b.reasons.items()}
    index = indicators._Keys(index_key, card_key)
    for position, (kind, raw, region) in enumerate(items):
        try:
            expected = normalise(kind, raw, default_region=region, card_key=card_key)
        except InvalidInput as exc:
            assert (keys[position], kinds[position], values[position]) == (None, None, None)
            assert reasons[position] == exc.message
            continue
        assert (kinds[position], values[position]) == (expected.kind.value, expected.value)
        assert keys[position] == index.posting_key(expected.kind.value, expected.value)
        assert position not in reasons


# --- migration 0008 --------------------------------------------------------------------------

def test_migration_gives_existing_postings_the_node_party(world: World, database: Database, tmp_path: Path) -> None:
    indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "a.csv", [("iban", IBAN)]), case_ref="C")
    engine = database.engine
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
        connection.execute(text("UPDATE indicator_postings SET case_ref = 'OLD'"))
    migrate(engine)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT case_ref, country, origin FROM indicator_postings")).all()
    assert [tuple(r) for r in rows] == [("OLD", "VNM", "")]


# --- API and CLI -----------------------------------------------------------------------------

@pytest.fixture
def api(world: World, tmp_path: Path) -> Api:
    return Api(create_app(Settings(data_dir=tmp_path), context=world.ctx))


def test_api_lists_acknowledges_and_follows_up(api: Api, world: World, tmp_path: Path) -> None:
    indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "a.csv", [("iban", IBAN)]), case_ref="VN-1")
    indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "b.csv", [("iban", IBAN)]), case_ref="T-1",
                           country="THA", origin="Royal Thai Police")
    olga, xena, aude = api.login("olga"), api.login("xena"), api.login("aude")
    [alert] = api.get("/alerts", user=olga).json()
    assert (alert["case_ref"], alert["other_country"], alert["other_authority"]) == ("VN-1", "THA",
                                                                                     "Royal Thai Police")
    assert set(alert) == {"id", "kind", "value", "case_ref", "other_case_ref", "other_country", "other_authority",
                          "abroad", "created_at", "acknowledged_at", "acknowledged_by", "request_id", "offers"}
    assert alert["offers"] == ["spontaneous_information", "joint_investigation"] and alert["abroad"] is True
    assert api.get("/alerts", user=xena).json() == []
    assert api.post(f"/alerts/{alert['id']}/ack", user=xena).status_code == 404
    assert api.post(f"/alerts/{alert['id']}/ack", user=aude).status_code == 403
    draft = api.post(f"/alerts/{alert['id']}/draft", user=olga, json={"type": "joint_investigation"})
    assert draft.status_code == 201, draft.text
    assert (draft.json()["type"], draft.json()["requested_party"]) == ("joint_investigation", "THA")
    assert api.post(f"/alerts/{alert['id']}/draft", user=olga, json={"type": "mutual_legal_assistance"}
                    ).status_code == 422
    assert api.get("/alerts", user=olga).json() == []
    [done] = api.get("/alerts", user=olga, params={"all": "true"}).json()
    assert done["request_id"] == draft.json()["id"]


@pytest.fixture
def cli(hcx: Hcx) -> Iterator[Hcx]:  # noqa: F811 - the fixture imported above
    hcx.ok("init", "--party", "VNM")
    hcx.ok("authority", "add", "Police", "--kind", "law_enforcement")
    for user, role in [("ana", "analyst"), ("otto", "officer")]:
        hcx.ok("user", "add", user, "--role", role, "--authority", "Police", "--password-stdin", input=PASSWORD + "\n")
    yield hcx


def test_cli_alerts(cli: Hcx, tmp_path: Path) -> None:
    a = csv_file(tmp_path, "a.csv", [("phone", PHONE)])
    cli.ok("indicators", "import", str(a), "--case", "VN-1", "--user", "ana")
    printed = cli.ok("indicators", "import", str(a), "--case", "PH-3", "--country", "PHL", "--origin", "PNP",
                     "--user", "ana").stdout
    assert "1 new link(s)" in printed
    [alert] = cli.ok("alerts", "list", "--user", "ana", "--json").json()
    assert (alert["other_case_ref"], alert["other_country"], alert["abroad"]) == ("PH-3", "PHL", True)
    assert "PH-3" in cli.ok("alerts", "list", "--user", "ana").stdout
    assert "PHL/PH-3" in cli.ok("indicators", "report", "--user", "ana").stdout
    assert cli.ok("indicators", "check", "--user", "ana", "--json").json() == {"differing_keys": 0, "repaired": False}
    drafted = cli.ok("alerts", "draft", alert["id"], "--type", "spontaneous_information", "--user", "otto",
                     "--json").json()
    assert (drafted["type"], drafted["requested_party"]) == ("spontaneous_information", "PHL")
    assert cli.ok("alerts", "list", "--user", "ana", "--json").json() == []
    assert "acknowledged" in cli.ok("alerts", "ack", alert["id"], "--user", "ana").stdout
    assert cli("alerts", "draft", alert["id"], "--type", "nope", "--user", "otto").exit_code == 3


def test_a_bulk_load_builds_the_index_after_and_refuses_repeated_rows(world: World, database: Database) -> None:
    now = world.clock.now()

    columns = ("key", "kind", "value", "case_ref", "country")
    constants = {"authority_id": world.officer.authority_id, "first_seen": now, "tlp": ""}

    def row(key: bytes, case: str, country: str) -> tuple[bytes, str, str, str, str]:
        return (key, "sha256", key.hex(), case, country)

    def load(rows: list[tuple[bytes, str, str, str, str]], *, build_index_after: bool) -> int:
        with database.unit_of_work() as uow:
            written = uow.indicators.load_postings(iter(rows), columns=columns, constants=constants,
                                                   build_index_after=build_index_after)
            uow.commit()
        return written

    shared, alone = bytes(16), bytes([1]) * 16
    assert load([row(shared, "A", "VNM"), row(shared, "B", "DEU"), row(alone, "A", "VNM")],
                build_index_after=True) == 3
    with database.unit_of_work() as uow:
        assert uow.indicators.cross_country_keys(authority_id=world.officer.authority_id, max_cases=50) == [(shared, 2)]
        assert uow.indicators.cross_country_keys(authority_id=world.other_officer.authority_id, max_cases=50) == []
        looked = uow.indicators.postings_for_keys(authority_id=world.officer.authority_id, keys=[shared, alone])
        assert sorted((p.case_ref, p.country) for p in looked) == [("A", "VNM"), ("A", "VNM"), ("B", "DEU")]
        [posting] = uow.indicators.postings_for(authority_id=world.officer.authority_id, key=alone)
        assert (posting.first_seen, posting.tlp, posting.origin, posting.kind) == (now, "", "", "sha256")
    if database.engine.dialect.name == "sqlite":  # the time stamp's text as every other write stores it
        with database.engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT DISTINCT first_seen FROM indicator_postings").scalars().all()
        assert stored == [now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")]
    with pytest.raises(IntegrityError):
        load([row(bytes([2]) * 16, "A", "VNM"), row(alone, "A", "VNM")], build_index_after=True)
    assert postings_count(database) == 3  # the failed load left nothing, and the index is back
    with pytest.raises(IntegrityError):
        load([row(alone, "A", "VNM")], build_index_after=False)
    assert postings_count(database) == 3
    with pytest.raises(ValueError, match="posting columns"), database.unit_of_work() as uow:
        uow.indicators.load_postings([], columns=("key", "id"), build_index_after=False)


def test_per_key_scans_read_the_unique_index(world: World, database: Database) -> None:
    """The report reads the summary's cross-border rows through their index; the links and the
    recomputation read the postings through the unique index (key first, covering) on SQLite, never
    the TAXII feed's index (authority_id first), which costs a table lookup per posting and a sort."""
    if database.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's planner")
    now, authority = world.clock.now(), world.officer.authority_id
    rows = [(bytes([n % 7]) * 16, "sha256", f"{n % 7:064x}", f"C{n}", "VNM" if n % 2 else "DEU") for n in range(60)]
    with database.unit_of_work() as uow:
        uow.indicators.load_postings(iter(rows), columns=("key", "kind", "value", "case_ref", "country"),
                                     constants={"authority_id": authority, "first_seen": now, "tlp": ""},
                                     build_index_after=True)
        uow.commit()
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))

    def plan(sql: str, parameters: Any) -> str:
        with database.engine.connect() as connection:
            return " ".join(row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters))

    event.listen(Engine, "before_cursor_execute", seen)  # the reading engine too
    try:
        with database.read_unit_of_work() as uow:
            assert len(uow.indicators.cross_country_keys(authority_id=authority, max_cases=50)) == 7
            report = statements[-1]
            assert len(uow.indicators.cross_country_keys_recomputed(authority_id=authority, max_cases=50)) == 7
            recomputation = statements[-1]
            uow.indicators.shared_postings(authority_id=authority, max_cases=5)
            uow.indicators.generic_keys(authority_id=authority, max_cases=5)
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert "COVERING INDEX ix_indicator_shared_keys_report" in plan(*report)
    assert "indicator_postings" not in report[0] and "TEMP B-TREE" not in plan(*report)
    assert "COVERING INDEX uq_indicator_postings" in plan(*recomputation)
    for sql, parameters in statements:
        assert "ix_indicator_postings_feed" not in plan(sql, parameters), sql


def postings_count(database: Database) -> int:
    with database.unit_of_work() as uow:
        return int(uow.session.execute(text("SELECT count(*) FROM indicator_postings")).scalar_one())


def test_a_big_file_is_imported_through_the_workers(world: World, database: Database, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(indicators, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr("hcx.services.indicator_bulk.PIECE_BYTES", 64)
    rows = [("ipv4", f"10.0.0.{n}") for n in range(40)] + [("iban", "DE00 1234"), ("ipv4", "10.0.0.1")]
    outcome = indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, "big.csv", rows), case_ref="C-1")
    assert (outcome.new, outcome.report.duplicates) == (40, 1)
    assert [r.source.locator for r in outcome.report.rejections] == ["line 42"]
    assert postings_count(database) == 40

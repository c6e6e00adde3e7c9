"""TLP enforcement on the node (services/sharing.py): destinations, named recipients stored by a
TAXII push, and exports that never carry TLP:RED out of the authority; on each backend."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hcx.errors import PolicyDenied
from hcx.indicators.markings import TLP2_IDS
from hcx.indicators.sharing import Destination, Route
from hcx.indicators.stix_import import import_stix
from hcx.services import accounts, sharing, taxii
from tests.conftest import World
from tests.integration.test_taxii import MARKED, import_rows, indicator


def exported(bundle: str) -> dict[str, set[str]]:
    report = import_stix(io.BytesIO(bundle.encode()), name="export", default_region=None, card_key=b"k" * 32)
    return {i.value: set(i.markings) for i in report.indicators}


def push_named(world: World) -> None:
    """An AMBER indicator named for Australia and for the node's third authority, through TAXII."""
    named = indicator("named-shop.com", x_hcx_case_ref="CASE-1", object_marking_refs=[TLP2_IDS["tlp:amber"]],
                      x_hcx_recipients=["AUS", f"VNM/{world.other_officer.authority_id}"])
    status = taxii.add_objects(world.ctx, world.officer, taxii.collection_id(world.officer.authority_id),
                               {"objects": [named]})
    assert status["success_count"] == 1, status


def test_destinations_are_placed_from_the_owner(world: World) -> None:
    owner = world.officer
    assert sharing.destination(world.ctx, owner, party="VNM", authority_id=owner.authority_id).route is Route.OWN_AUTHORITY
    other = sharing.destination(world.ctx, owner, party="VNM", authority_id=world.other_officer.authority_id)
    assert other.route is Route.NODE_AUTHORITY
    assert sharing.destination(world.ctx, owner, party="VNM", authority_id=owner.authority_id,
                               taxii_client=True).route is Route.TAXII_OWN
    assert sharing.destination(world.ctx, owner, party="VNM", authority_id=world.other_officer.authority_id,
                               taxii_client=True).route is Route.TAXII_OTHER
    foreign = sharing.destination(world.ctx, owner, party="AUS")
    assert (foreign.route, foreign.pinned_peer) == (Route.FOREIGN, False)  # no peer pinned in this world


def test_exports_keep_markings_and_leave_red_home(world: World, tmp_path: Path) -> None:
    import_rows(world, tmp_path, MARKED)
    push_named(world)
    owner = world.officer
    home = sharing.export(world.ctx, owner, to=sharing.destination(world.ctx, owner, party="VNM",
                                                                    authority_id=owner.authority_id))
    assert "red-shop.com" in exported(home.bundle) and home.refused == ()
    australia = Destination(Route.FOREIGN, "AUS", "01AUSPOLICE", pinned_peer=True)
    abroad = sharing.export(world.ctx, owner, to=australia)
    assert set(exported(abroad.bundle)) == {"clear-shop.com", "green-shop.com", "named-shop.com"}
    assert exported(abroad.bundle)["named-shop.com"] == {TLP2_IDS["tlp:amber"]}
    assert {value for _, value, _ in abroad.refused} == {"+49301234567", "DE89370400440532013000", "red-shop.com",
                                                         "secret-shop.com", "boss@evil-shop.com"}
    stranger = sharing.export(world.ctx, owner, to=Destination(Route.FOREIGN, "BRA", None))
    assert set(exported(stranger.bundle)) == {"clear-shop.com"}
    third = sharing.destination(world.ctx, owner, party="VNM", authority_id=world.other_officer.authority_id)
    assert set(exported(sharing.export(world.ctx, owner, to=third).bundle)) == {
        "clear-shop.com", "green-shop.com", "named-shop.com"}
    case_two = sharing.export(world.ctx, owner, to=australia, case_ref="CASE-2")
    assert exported(case_two.bundle) == {} and case_two.exported == 0
    audited = [e for e in accounts.list_audit(world.ctx, limit=20) if e.action == "indicators.exported"]
    assert sorted((e.details["route"], e.details["party"], e.details["exported"]) for e in audited) == [
        ("foreign", "AUS", 0), ("foreign", "AUS", 3), ("foreign", "BRA", 1), ("node-authority", "VNM", 3),
        ("own-authority", "VNM", len(exported(home.bundle)))]


def test_a_value_goes_out_only_if_every_case_lets_it(world: World, tmp_path: Path) -> None:
    import_rows(world, tmp_path, [("domain", "shared-shop.com", "tlp:clear")], case_ref="CASE-1")
    import_rows(world, tmp_path, [("domain", "shared-shop.com", "tlp:red")], case_ref="CASE-2")
    abroad = sharing.export(world.ctx, world.officer, to=Destination(Route.FOREIGN, "AUS", None, pinned_peer=True))
    assert exported(abroad.bundle) == {} and [v for _, v, _ in abroad.refused] == ["shared-shop.com"]
    # an export of the case where it is CLEAR does not carry it out either: RED in CASE-2 keeps it home
    only_case_one = sharing.export(world.ctx, world.officer, to=Destination(Route.FOREIGN, "AUS", None),
                                   case_ref="CASE-1")
    assert exported(only_case_one.bundle) == {} and [v for _, v, _ in only_case_one.refused] == ["shared-shop.com"]


def test_check_decides_each_posting_with_its_named_recipients(world: World, tmp_path: Path) -> None:
    push_named(world)
    import_rows(world, tmp_path, [("domain", "dual-shop.com", "tlp:red")], case_ref="CASE-2")
    items = [("CASE-1", "domain", "named-shop.com", "tlp:amber"), ("CASE-9", "domain", "named-shop.com", "tlp:amber"),
             ("CASE-1", "domain", "x.com", "tlp:red"), ("CASE-1", "domain", "dual-shop.com", "tlp:clear")]
    decisions = sharing.check(world.ctx, world.officer, items, Destination(Route.FOREIGN, "AUS", "01AUSPOLICE"))
    assert [d.allowed for d in decisions] == [True, False, False, False]  # dual-shop.com is RED in CASE-2
    assert "TLP:RED" in decisions[3].reason
    assert all(d.reason for d in decisions)


def test_an_admin_exports_nothing(world: World) -> None:
    with pytest.raises(PolicyDenied):
        sharing.export(world.ctx, world.admin, to=Destination(Route.FOREIGN, "AUS", None))

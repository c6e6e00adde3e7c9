"""TAXII 2.1 at /taxii2, with the real `taxii2-client` over real HTTP (uvicorn on loopback, in this
process, over the `world` database: SQLite, and PostgreSQL when set), plus raw HTTP for headers and
refusals. TLP: RED (and unknown markings) are never served; AMBER goes to the owning authority."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import stix2
import uvicorn
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from hcx.api import create_app
from hcx.config import Settings
from hcx.errors import NotFound
from hcx.indicators.markings import TLP1_IDS, TLP2_IDS
from hcx.indicators.stix_import import import_stix
from hcx.services import accounts, indicators, taxii
from tests.conftest import World, free_port

TAXII = "application/taxii+json;version=2.1"
UNKNOWN_MARKING = "marking-definition--0b1c3a2e-7a4f-4f43-9d0a-6a3f2b0e1c11"
PAP_RED = taxii.handling_marking_id("pap:red")
MARKED = [  # (type, value, markings) of one case; RED and the unknown marking must never be served
    ("domain", "clear-shop.com", "tlp:clear"),
    ("domain", "green-shop.com", "tlp:green"),
    ("phone", "+49 30 1234567", "tlp:amber;pap:red"),
    ("iban", "DE89 3704 0044 0532 0130 00", "tlp:amber+strict"),
    ("domain", "red-shop.com", "tlp:red"),
    ("domain", "secret-shop.com", UNKNOWN_MARKING),
    ("email", "boss@evil-shop.com", ""),
]
SERVED = {"clear-shop.com", "green-shop.com", "+49301234567", "DE89370400440532013000", "boss@evil-shop.com"}


class Node:
    """The app served by uvicorn on a free loopback port, and tokens of the world's users."""

    def __init__(self, world: World, tmp_path: Path) -> None:
        self.world = world
        self.port = free_port()
        app = create_app(Settings(data_dir=tmp_path), context=world.ctx)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    ws="none", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/taxii2/"

    def token(self, username: str) -> str:
        return accounts.create_token(self.world.ctx, None, username=username, name="taxii").token

    def collection_url(self, username: str = "olga") -> str:
        authority = accounts.principal_for(self.world.ctx, username).authority_id
        return f"{self.url}api/collections/{taxii.collection_id(authority)}/"

    def collection(self, username: str = "olga") -> Collection:
        return Collection(self.collection_url(username), user=username, password=self.token(username))


@pytest.fixture
def node(world: World, tmp_path: Path) -> Iterator[Node]:
    served = Node(world, tmp_path)
    served.thread.start()
    deadline = time.monotonic() + 10
    while not served.server.started:
        assert served.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield served
    served.server.should_exit = True
    served.thread.join(timeout=10)


def csv_file(tmp_path: Path, name: str, rows: list[tuple[str, str, str]]) -> Path:
    path = tmp_path / name
    path.write_text("type,value,markings\n" + "".join(f'"{t}","{v}","{m}"\n' for t, v, m in rows), encoding="utf-8")
    return path


def import_rows(world: World, tmp_path: Path, rows: list[tuple[str, str, str]], case_ref: str = "CASE-1") -> None:
    outcome = indicators.import_file(world.ctx, world.officer, csv_file(tmp_path, f"{case_ref}.csv", rows),
                                     case_ref=case_ref)
    assert not outcome.report.rejections, outcome.report.rejections


def values(objects: list[dict[str, Any]]) -> set[str]:
    return {o["pattern"].split(" = '", 1)[1].rstrip("']") for o in objects if " = '" in o["pattern"]}


def raw(node: Node, method: str, path: str, username: str | None = "olga", **kwargs: Any) -> httpx.Response:
    headers = {"Accept": TAXII} | kwargs.pop("headers", {})
    if username is not None:
        headers.setdefault("Authorization", f"Bearer {node.token(username)}")
    return httpx.request(method, path if path.startswith("http") else node.url + path, headers=headers,
                         timeout=30, **kwargs)


def assert_taxii_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII
    body: dict[str, Any] = response.json()
    assert body["title"] and body["http_status"] == str(status) and "description" in body, body
    return body


# --- discovery, API root, collections ------------------------------------------------------------

def test_discovery_api_root_and_collections_through_taxii2_client(node: Node) -> None:
    server = Server(node.url, user="olga", password=node.token("olga"))
    assert server.title == "hcx node VNM"
    assert [root.url for root in server.api_roots] == [f"{node.url}api/"]
    root = server.default
    assert root is not None and root.versions == [TAXII] and root.max_content_length > 0
    [collection] = root.collections
    assert collection.url == node.collection_url()
    assert (collection.can_read, collection.can_write) == (True, True)
    assert collection.media_types == ["application/stix+json;version=2.1"]
    auditor = ApiRoot(f"{node.url}api/", user="aude", password=node.token("aude")).collections[0]
    assert (auditor.id, auditor.can_read, auditor.can_write) == (collection.id, True, False)
    admin = ApiRoot(f"{node.url}api/", user="adam", password=node.token("adam")).collections[0]
    assert (admin.can_read, admin.can_write) == (False, False)
    other = ApiRoot(f"{node.url}api/", user="xena", password=node.token("xena")).collections
    assert [c.id for c in other] != [collection.id] and len(other) == 1


# --- pull ------------------------------------------------------------------------------------------

def test_pull_keeps_markings_and_never_serves_red(node: Node, world: World, tmp_path: Path) -> None:
    import_rows(world, tmp_path, MARKED)
    envelope = node.collection().get_objects()
    assert envelope["more"] is False
    objects = envelope["objects"]
    assert values(objects) == SERVED
    for found in objects:
        stix2.parse(found, allow_custom=True, version="2.1")
        assert found["type"] == "indicator" and found["x_hcx_case_ref"] == "CASE-1"
    refs = {values([o]).pop(): set(o.get("object_marking_refs", [])) for o in objects}
    assert refs["clear-shop.com"] == {TLP2_IDS["tlp:clear"]}
    assert refs["+49301234567"] == {TLP2_IDS["tlp:amber"], PAP_RED}
    assert refs["DE89370400440532013000"] == {TLP2_IDS["tlp:amber+strict"]}
    assert refs["boss@evil-shop.com"] == set()
    assert not any(TLP2_IDS["tlp:red"] in r or TLP1_IDS["tlp:red"] in r or UNKNOWN_MARKING in r for r in refs.values())
    # what was pulled imports back (with the PAP definition hcx names by id) to the same indicators
    bundle = {"type": "bundle", "id": "bundle--6f1d2a35-9d3c-4d0e-8a55-1f3c2b7e9a00",
              "objects": [*taxii._handling_definitions(), *objects]}
    report = import_stix(io.BytesIO(json.dumps(bundle).encode()), name="pulled", default_region=None,
                         card_key=b"k" * 32)
    assert {i.value for i in report.indicators} == SERVED and not report.rejections
    phone = next(i for i in report.indicators if i.value == "+49301234567")
    assert set(phone.markings) == {TLP2_IDS["tlp:amber"], "pap:red"}


def test_red_objects_are_not_found_by_id_nor_in_the_manifest(node: Node, world: World, tmp_path: Path) -> None:
    import_rows(world, tmp_path, MARKED)
    authority = world.officer.authority_id
    red_id = taxii.object_id(authority, "CASE-1", "domain", "red-shop.com")
    green_id = taxii.object_id(authority, "CASE-1", "domain", "green-shop.com")
    collection = node.collection()
    with pytest.raises(requests.HTTPError) as refused:
        collection.get_object(red_id)
    assert refused.value.response.status_code == 404
    assert red_id not in {m["id"] for m in collection.get_manifest()["objects"]}
    assert [o["id"] for o in collection.get_object(green_id)["objects"]] == [green_id]
    versions = collection.object_versions(green_id)
    assert versions["versions"] == [taxii.stamp(world.clock.now())]
    assert collection.get_objects(id=red_id).get("objects", []) == []


def test_pagination_filters_and_date_headers(node: Node, world: World, tmp_path: Path) -> None:
    first = [("domain", f"shop-{n}.com", "tlp:green") for n in range(5)]
    import_rows(world, tmp_path, first, case_ref="CASE-1")
    cut = world.clock.now()
    world.clock.advance(minutes=1)
    import_rows(world, tmp_path, [("domain", f"later-{n}.com", "tlp:clear") for n in range(3)]
                + [("domain", "hidden.com", "tlp:red")], case_ref="CASE-2")
    collection = node.collection()
    pages = list(as_pages(collection.get_objects, per_request=3))
    assert [len(p.get("objects", [])) for p in pages] == [3, 3, 2]
    pulled = [o["id"] for p in pages for o in p.get("objects", [])]
    assert len(set(pulled)) == 8
    manifest = [m for p in as_pages(collection.get_manifest, per_request=3) for m in p.get("objects", [])]
    assert [m["id"] for m in manifest] == pulled
    assert {m["media_type"] for m in manifest} == {"application/stix+json;version=2.1"}
    later = collection.get_objects(added_after=taxii.stamp(cut))["objects"]
    assert values(later) == {f"later-{n}.com" for n in range(3)}
    assert collection.get_objects(type="malware") == {"more": False}
    assert len(collection.get_objects(type=["indicator", "malware"])["objects"]) == 8
    assert collection.get_objects(spec_version="2.0") == {"more": False}
    page = raw(node, "GET", collection.url + "objects/", params={"limit": "2"})
    assert page.status_code == 200 and page.headers["content-type"] == TAXII
    assert page.headers["X-TAXII-Date-Added-First"] == taxii.stamp(cut)
    assert page.headers["X-TAXII-Date-Added-Last"] == taxii.stamp(cut)
    assert page.json()["more"] is True and page.json()["next"]
    assert_taxii_error(raw(node, "GET", collection.url + "objects/", params={"next": "not-a-token"}), 400)
    assert_taxii_error(raw(node, "GET", collection.url + "objects/", params={"added_after": "yesterday"}), 400)


# --- push ------------------------------------------------------------------------------------------

def indicator(value: str, **extra: Any) -> dict[str, Any]:
    stamp = "2026-11-20T08:00:00.000Z"
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}", "created": stamp,
            "modified": stamp, "valid_from": stamp, "pattern_type": "stix",
            "pattern": f"[domain-name:value = '{value}']", **extra}


def test_push_goes_through_the_import_path_to_the_named_case(node: Node, world: World) -> None:
    good = indicator("pushed-shop.com", x_hcx_case_ref="CASE-7",
                     object_marking_refs=[TLP2_IDS["tlp:amber"]], x_hcx_recipients=["aus", "VNM/01ABCDEF"])
    inbox = indicator("inbox-shop.com")
    broken = indicator("x", pattern="[domain-name:value = 'unterminated]")
    unkept = {"type": "malware", "spec_version": "2.1", "id": "malware--6b1f4b1e-4a8e-4b59-9d0e-0d6f7f4c1a10",
              "created": "2026-11-20T08:00:00.000Z", "modified": "2026-11-20T08:00:00.000Z", "name": "x",
              "is_family": False}
    bad_recipient = indicator("third-shop.com", x_hcx_recipients=["Australia"])
    collection = node.collection()
    status = collection.add_objects({"objects": [good, inbox, broken, unkept, bad_recipient]})
    assert (status.status, status.total_count, status.success_count, status.failure_count, status.pending_count) == (
        "complete", 5, 2, 3, 0)
    assert {s["id"] for s in status.successes} == {good["id"], inbox["id"]}
    assert {f["id"] for f in status.failures} == {broken["id"], unkept["id"], bad_recipient["id"]}
    assert all(f["message"] for f in status.failures)
    again = ApiRoot(f"{node.url}api/", user="olga", password=node.token("olga")).get_status(status.id)
    assert (again.status, again.success_count) == ("complete", 2)
    found = indicators.cases_with(world.ctx, world.officer, "domain", "pushed-shop.com")
    assert [(c.case_ref, c.tlp) for c in found.cases] == [("CASE-7", "tlp:amber")]
    assert [c.case_ref for c in indicators.cases_with(world.ctx, world.officer, "domain", "inbox-shop.com").cases] == [
        taxii.DEFAULT_CASE]
    with world.ctx.reading() as uow:
        named = taxii.store(uow).recipients(authority_id=world.officer.authority_id,
                                            items=[("CASE-7", "domain", "pushed-shop.com")])
    assert named == {("CASE-7", "domain", "pushed-shop.com"): {"AUS", "VNM/01ABCDEF"}}
    # a re-push changes nothing; the pushed objects are then served with their markings
    collection.add_objects({"objects": [good, inbox]})
    assert len(indicators.cases_with(world.ctx, world.officer, "domain", "pushed-shop.com").cases) == 1
    served = collection.get_objects()["objects"]
    assert values(served) == {"pushed-shop.com", "inbox-shop.com"}
    assert {o["x_hcx_case_ref"] for o in served} == {"CASE-7", taxii.DEFAULT_CASE}


def test_the_status_of_a_push_is_only_for_its_authority(node: Node) -> None:
    status = node.collection().add_objects({"objects": [indicator("mine.com")]})
    assert_taxii_error(raw(node, "GET", f"api/status/{status.id}/", username="xena"), 404)
    assert raw(node, "GET", f"api/status/{status.id}/", username="aude").status_code == 200


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"objects": "x"}'])
def test_a_malformed_envelope_is_a_bad_request(node: Node, body: bytes) -> None:
    response = raw(node, "POST", node.collection_url() + "objects/", content=body, headers={"Content-Type": TAXII})
    assert_taxii_error(response, 400)


# --- media types -----------------------------------------------------------------------------------

@pytest.mark.parametrize("accept", ["application/json", "application/taxii+json;version=2.0",
                                    "application/stix+json;version=2.1", "text/html", f"{TAXII};q=0, text/html"])
def test_an_unacceptable_accept_header_is_406(node: Node, accept: str) -> None:
    for path in ["", "api/", "api/collections/", node.collection_url() + "objects/"]:
        assert_taxii_error(raw(node, "GET", path, headers={"Accept": accept}), 406)


@pytest.mark.parametrize("accept", ["application/taxii+json", "*/*", f"text/html, {TAXII}"])
def test_acceptable_accept_headers(node: Node, accept: str) -> None:
    response = raw(node, "GET", "api/collections/", headers={"Accept": accept})
    assert response.status_code == 200 and response.headers["content-type"] == TAXII


@pytest.mark.parametrize("content_type", ["application/json", "application/stix+json;version=2.1",
                                          "application/taxii+json;version=2.0", None])
def test_a_push_in_another_media_type_is_415(node: Node, world: World, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = raw(node, "POST", node.collection_url() + "objects/", headers=headers,
                   content=json.dumps({"objects": [indicator("x-shop.com")]}).encode())
    assert_taxii_error(response, 415)
    assert indicators.cases_with(world.ctx, world.officer, "domain", "x-shop.com").cases == ()


def test_taxii2_client_refuses_nothing_of_ours(node: Node, world: World, tmp_path: Path) -> None:
    """taxii2-client checks each answer's Content-Type against its Accept: every endpoint passes."""
    import_rows(world, tmp_path, MARKED[:1])
    collection = node.collection()
    object_id = collection.get_objects()["objects"][0]["id"]
    for call in (collection.refresh, collection.get_manifest, lambda: collection.object_versions(object_id)):
        try:
            call()
        except TAXIIServiceException as exc:  # pragma: no cover - the failure message says what was wrong
            pytest.fail(str(exc))


# --- authentication and scope ----------------------------------------------------------------------

def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def test_every_endpoint_needs_valid_credentials(node: Node, world: World, tmp_path: Path) -> None:
    import_rows(world, tmp_path, MARKED[:1])
    token = node.token("olga")
    collection = node.collection_url()
    object_id = taxii.object_id(world.officer.authority_id, "CASE-1", "domain", "clear-shop.com")
    paths = ["", "api/", "api/collections/", collection, collection + "manifest/", collection + "objects/",
             f"{collection}objects/{object_id}/", f"{collection}objects/{object_id}/versions/", "api/status/x/"]
    for credentials in [None, "Bearer hcx_not-a-token", basic("olga", "hcx_not-a-token"), basic("xena", token),
                        basic("olga", ""), basic("olga", "correct horse battery"), "Basic !!!", f"Digest {token}"]:
        headers = {"Authorization": credentials} if credentials else {}
        for path in paths:
            response = raw(node, "GET", path, username=None, headers=headers)
            assert_taxii_error(response, 401)
            assert "Basic" in response.headers["www-authenticate"]
        push = raw(node, "POST", collection + "objects/", username=None, headers=headers | {"Content-Type": TAXII},
                   content=json.dumps({"objects": [indicator("sneaky.com")]}).encode())
        assert_taxii_error(push, 401)
    for good in [f"Bearer {token}", f"Token {token}", basic("olga", token)]:
        assert raw(node, "GET", collection + "objects/", username=None, headers={"Authorization": good}
                   ).status_code == 200
    world.clock.advance(days=91)
    assert_taxii_error(raw(node, "GET", "api/", username=None, headers={"Authorization": f"Bearer {token}"}), 401)


def test_another_authority_and_other_roles_are_refused(node: Node, world: World, tmp_path: Path) -> None:
    import_rows(world, tmp_path, MARKED)
    olga_collection = node.collection_url("olga")
    object_id = taxii.object_id(world.officer.authority_id, "CASE-1", "domain", "clear-shop.com")
    for path in [olga_collection, olga_collection + "objects/", olga_collection + "manifest/",
                 f"{olga_collection}objects/{object_id}/"]:
        assert_taxii_error(raw(node, "GET", path, username="xena"), 404)
    push = raw(node, "POST", olga_collection + "objects/", username="xena", headers={"Content-Type": TAXII},
               content=json.dumps({"objects": [indicator("planted.com")]}).encode())
    assert_taxii_error(push, 404)
    assert node.collection("xena").get_objects() == {"more": False}  # its own collection: empty
    assert_taxii_error(raw(node, "GET", olga_collection + "objects/", username="adam"), 403)
    auditor_push = raw(node, "POST", olga_collection + "objects/", username="aude", headers={"Content-Type": TAXII},
                       content=json.dumps({"objects": [indicator("planted.com")]}).encode())
    assert_taxii_error(auditor_push, 403)
    assert values(node.collection("aude").get_objects()["objects"]) == SERVED
    assert indicators.cases_with(world.ctx, world.officer, "domain", "planted.com").cases == ()


def test_dates_are_stix_timestamps() -> None:
    assert taxii.stamp(dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)) == "2026-11-23T09:00:00.000000Z"


def test_unknown_paths_and_methods_answer_taxii_errors(node: Node, world: World, tmp_path: Path) -> None:
    import_rows(world, tmp_path, MARKED[:1])
    object_id = taxii.object_id(world.officer.authority_id, "CASE-1", "domain", "clear-shop.com")
    assert_taxii_error(raw(node, "DELETE", f"{node.collection_url()}objects/{object_id}/"), 405)
    assert_taxii_error(raw(node, "GET", "api/no-such-thing/"), 404)
    assert_taxii_error(raw(node, "GET", "api/collections/not-a-collection/objects/"), 404)
    assert node.collection().get_object(object_id)["objects"][0]["id"] == object_id


def served_values(world: World) -> set[str]:
    page = taxii.objects(world.ctx, world.officer, taxii.collection_id(world.officer.authority_id),
                         taxii.Filters(limit=taxii.MAX_LIMIT))
    return values(page.objects)


def test_a_value_red_in_another_case_is_served_from_no_case(world: World, tmp_path: Path) -> None:
    """The rule of exports (every posting of a value must allow it) holds for TAXII answers too."""
    import_rows(world, tmp_path, [("domain", "dual.com", "tlp:red")], case_ref="CASE-A")
    import_rows(world, tmp_path, [("domain", "dual.com", "tlp:green"), ("domain", "plain.com", "tlp:green")],
                case_ref="CASE-B")
    assert served_values(world) == {"plain.com"}
    stix_id = taxii.object_id(world.officer.authority_id, "CASE-B", "domain", "dual.com")
    with pytest.raises(NotFound):
        taxii.one_object(world.ctx, world.officer, taxii.collection_id(world.officer.authority_id), stix_id,
                         taxii.Filters())

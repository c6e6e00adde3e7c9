"""The JSON API under /api/v1, through httpx against the real ASGI app (SQLite, and PostgreSQL when set).

`Api` is a `tests.asgi.SyncAsgiClient`: one real `httpx.AsyncClient` round trip per call.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hcx.api import create_app
from hcx.config import Settings
from tests.asgi import SyncAsgiClient
from tests.conftest import EXAMPLES, World

PASSWORD = "correct horse battery"
MULTILINGUAL = "ملخص الوقائع — 事实摘要 — Tóm tắt sự việc: lừa đảo trực tuyến"
ERROR_KEYS = {"code", "message", "details"}


class Api(SyncAsgiClient):
    """The app under /api/v1, with the users' credentials at hand."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(app, base_url="http://test/api/v1")

    def request(self, method: str, url: str, *, user: dict[str, str] | None = None,
                headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return super().request(method, url, headers=(user or {}) | (headers or {}), **kwargs)

    def token(self, username: str) -> dict[str, Any]:
        response = self.post("/tokens", json={"username": username, "password": PASSWORD})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def login(self, username: str) -> dict[str, str]:
        return bearer(self.token(username)["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(world: World, tmp_path: Path) -> Api:
    return Api(create_app(Settings(data_dir=tmp_path), context=world.ctx))


def example(kind: str = "mutual_legal_assistance", **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / f"{kind}.json").read_text(encoding="utf-8"))
    return document | changes


def with_fields(draft: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return draft | {"fields": draft["fields"] | fields}


def without_field(draft: dict[str, Any], name: str) -> dict[str, Any]:
    return draft | {"fields": {k: v for k, v in draft["fields"].items() if k != name}}


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The one error body: {"error": {"code", "message", "details"}} and nothing else."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    assert isinstance(body["error"]["code"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], list)
    error: dict[str, Any] = body["error"]
    return error


def create(api: Api, user: dict[str, str], draft: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    response = api.post("/requests", user=user, json={"draft": draft or example(), **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def step(api: Api, user: dict[str, str], request_id: str, action: str, **extra: Any) -> httpx.Response:
    return api.post(f"/requests/{request_id}/transitions", user=user, json={"action": action, **extra})


def snapshot(api: Api, user: dict[str, str], request_id: str) -> tuple[str, int, int]:
    view = api.get(f"/requests/{request_id}", user=user).json()
    return view["state"], view["version"], len(view["events"])


def refused(api: Api, user: dict[str, str], request_id: str, action: str, status: int, *,
            reader: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """Take a step that must be refused with `status`, and check it left the request untouched."""
    reader = reader or user
    before = snapshot(api, reader, request_id)
    error = assert_error(step(api, user, request_id, action, **extra), status)
    assert snapshot(api, reader, request_id) == before
    return error


# --- system -----------------------------------------------------------------------------------

def test_health_needs_no_token(api: Api) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["party"] == "VNM"


def test_openapi_lists_the_request_routes(api: Api) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/api/v1/validate", "/api/v1/requests", "/api/v1/requests/{request_id}",
            "/api/v1/requests/{request_id}/draft", "/api/v1/requests/{request_id}/transitions"} <= set(paths)


# --- authentication ---------------------------------------------------------------------------

OPEN = {("GET", "/api/v1/health"), ("POST", "/api/v1/tokens")}


def guarded_routes(api: Api) -> list[tuple[str, str]]:
    """Every /api/v1 operation in the OpenAPI document but health, sign-in, rules and parties, ids
    filled in. (/federation is for peer nodes, which sign their messages instead of using tokens.)"""
    found = []
    for path, operations in api.get("/openapi.json").json()["paths"].items():
        for method in operations:
            if (method.upper(), path) in OPEN or not path.startswith("/api/v1/") or path.startswith(
                    ("/api/v1/rules", "/api/v1/parties")):
                continue
            found.append((method.upper(), re.sub(r"\{[a-z_]+\}", "x", path)))
    return found


def no_token(api: Api, world: World) -> dict[str, str]:
    return {}


def wrong_token(api: Api, world: World) -> dict[str, str]:
    return bearer("hcx_not-a-token-of-this-node")


def revoked_token(api: Api, world: World) -> dict[str, str]:
    token = api.token("olga")
    assert api.delete(f"/tokens/{token['id']}", user=bearer(token["token"])).status_code == 204
    return bearer(token["token"])


def expired_token(api: Api, world: World) -> dict[str, str]:
    user = api.login("olga")
    assert api.get("/me", user=user).status_code == 200
    world.clock.advance(days=90, seconds=1)
    return user


@pytest.mark.parametrize("credentials", [no_token, wrong_token, revoked_token, expired_token])
def test_every_guarded_endpoint_refuses_without_a_valid_token(
    api: Api, world: World, credentials: Callable[[Api, World], dict[str, str]]
) -> None:
    user = credentials(api, world)
    routes = guarded_routes(api)
    assert ("GET", "/api/v1/requests") in routes and ("POST", "/api/v1/validate") in routes
    for method, path in routes:
        response = api.request(method, path.removeprefix("/api/v1"), user=user, json={})
        assert assert_error(response, 401)["code"] == "unauthenticated", (method, path)


def test_rules_and_parties_are_public(api: Api) -> None:
    assert api.get("/rules/request-types").status_code == 200
    assert api.get("/parties").status_code == 200


# --- one error shape ----------------------------------------------------------------------------

def _unauthenticated(api: Api) -> httpx.Response:
    return api.get("/requests")


def _forbidden(api: Api) -> httpx.Response:
    return api.post("/requests", user=api.login("aude"), json={"draft": example()})


def _not_found(api: Api) -> httpx.Response:
    return api.get("/requests/01NOSUCHREQUEST", user=api.login("olga"))


def _conflict(api: Api) -> httpx.Response:
    olga = api.login("olga")
    rid = create(api, olga)["id"]
    return api.put(f"/requests/{rid}/draft", params={"version": 99}, user=olga, json=example())


def _too_large(api: Api) -> httpx.Response:
    return api.post("/validate", user=api.login("olga"), content=b"x" * 2_000_000)


def _pydantic_invalid(api: Api) -> httpx.Response:
    return api.post("/tokens", json={"username": "olga"})


def _malformed_json(api: Api) -> httpx.Response:
    return api.post("/tokens", content=b'{"username": "olga",', headers={"Content-Type": "application/json"})


def _unknown_route(api: Api) -> httpx.Response:
    return api.get("/no-such-thing")


def _wrong_method(api: Api) -> httpx.Response:
    return api.delete("/health")


@pytest.mark.parametrize(("call", "status"), [
    (_unauthenticated, 401), (_forbidden, 403), (_not_found, 404), (_conflict, 409), (_too_large, 413),
    (_pydantic_invalid, 422), (_malformed_json, 422), (_unknown_route, 404), (_wrong_method, 405),
])
def test_one_error_shape_everywhere(api: Api, call: Callable[[Api], httpx.Response], status: int) -> None:
    assert_error(call(api), status)


# --- validation ------------------------------------------------------------------------------------

def test_a_complete_example_is_valid(api: Api) -> None:
    response = api.post("/validate", user=api.login("olga"), json=example())
    assert response.status_code == 200
    assert response.json()["valid"] is True


def test_a_missing_required_field_is_the_one_error_and_cites_its_article(api: Api) -> None:
    response = api.post("/validate", user=api.login("olga"), json=without_field(example(), "purpose"))
    assert response.json()["valid"] is False
    errors = [f for f in response.json()["findings"] if f["severity"] == "error"]
    assert [(f["path"], f["code"], f["article"]) for f in errors] == [("fields.purpose", "required", "40(15)(f)")]


def test_wrong_field_types_give_findings(api: Api) -> None:
    draft = with_fields(example(), summary_of_facts=42, persons_concerned="NGUYEN Van A",
                        confidentiality_required="yes")
    response = api.post("/validate", user=api.login("olga"), json=draft)
    assert response.status_code == 200 and response.json()["valid"] is False
    errors = {(f["path"], f["code"]) for f in response.json()["findings"] if f["severity"] == "error"}
    assert errors == {("fields.summary_of_facts", "type"), ("fields.persons_concerned", "type"),
                      ("fields.confidentiality_required", "type")}


# --- scope -------------------------------------------------------------------------------------------

def test_another_authority_sees_nothing(api: Api) -> None:
    rid = create(api, api.login("olga"))["id"]
    xena = api.login("xena")
    assert assert_error(api.get(f"/requests/{rid}", user=xena), 404)["code"] == "not_found"
    assert api.get("/requests", user=xena).json() == []


def test_an_auditor_reads_but_does_not_write(api: Api) -> None:
    rid = create(api, api.login("olga"))["id"]
    aude = api.login("aude")
    assert api.get(f"/requests/{rid}", user=aude).status_code == 200
    assert [r["id"] for r in api.get("/requests", user=aude).json()] == [rid]
    assert_error(api.post("/requests", user=aude, json={"draft": example()}), 403)


def test_an_admin_manages_accounts_but_reads_no_requests(api: Api) -> None:
    rid = create(api, api.login("olga"))["id"]
    adam = api.login("adam")
    assert_error(api.get(f"/requests/{rid}", user=adam), 403)
    assert_error(api.get("/requests", user=adam), 403)
    authority = api.post("/authorities", user=adam, json={"name": "Cyber Police", "kind": "executing_authority"})
    assert authority.status_code == 201, authority.text
    user = api.post("/users", user=adam, json={"username": "petra", "password": PASSWORD, "role": "officer",
                                                "authority_id": authority.json()["id"]})
    assert user.status_code == 201, user.text
    assert api.login("petra")


def test_officers_cannot_add_users(api: Api) -> None:
    olga = api.login("olga")
    authority_id = api.get("/me", user=olga).json()["authority_id"]
    response = api.post("/users", user=olga, json={"username": "mallory", "password": PASSWORD,
                                                    "role": "admin", "authority_id": authority_id})
    assert_error(response, 403)
    assert "mallory" not in [u["username"] for u in api.get("/users", user=api.login("adam")).json()]


# --- lifecycle -----------------------------------------------------------------------------------------

def test_an_outgoing_request_through_its_life(api: Api, world: World) -> None:
    olga, sam = api.login("olga"), api.login("sam")
    rid = create(api, olga)["id"]
    assert step(api, olga, rid, "submit").json()["state"] == "awaiting_approval"
    refused(api, olga, rid, "approve", 403)  # an officer does not approve
    sent = step(api, sam, rid, "approve").json()
    assert sent["state"] == "submitted" and sent["due_at"]
    for action, extra in [("acknowledge", {}), ("accept", {}), ("execute", {"summary": "Records sent."})]:
        response = step(api, olga, rid, action, record_counterpart=True, **extra)
        assert response.status_code == 200, response.text
    events = api.get(f"/requests/{rid}", user=sam).json()["events"]
    assert [(e["seq"], e["action"], e["actor_id"], e["recorded_for_counterpart"]) for e in events] == [
        (1, "create", world.officer.user_id, False), (2, "submit", world.officer.user_id, False),
        (3, "approve", world.supervisor.user_id, False), (4, "acknowledge", world.officer.user_id, True),
        (5, "accept", world.officer.user_id, True), (6, "execute", world.officer.user_id, True)]
    assert events[-1]["to_state"] == "executed"


def test_four_eyes_whoever_submits_does_not_approve(api: Api) -> None:
    sam = api.login("sam")
    rid = create(api, sam)["id"]
    step(api, sam, rid, "submit")
    error = refused(api, sam, rid, "approve", 403)
    assert "four-eyes" in error["message"]


def test_a_counterpart_step_needs_record_counterpart(api: Api) -> None:
    olga, sam = api.login("olga"), api.login("sam")
    rid = create(api, olga)["id"]
    step(api, olga, rid, "submit")
    step(api, sam, rid, "approve")
    refused(api, olga, rid, "acknowledge", 403)


def test_an_incoming_request_refused_with_a_valid_ground(api: Api) -> None:
    olga, sam = api.login("olga"), api.login("sam")
    incoming = create(api, olga, example(requesting_party="AUS", requested_party="VNM"), direction="incoming")
    rid = incoming["id"]
    assert (incoming["direction"], incoming["state"]) == ("incoming", "submitted")
    assert step(api, olga, rid, "acknowledge").json()["state"] == "acknowledged"
    assert "message" in str(refused(api, olga, rid, "request_information", 422)["details"])
    refused(api, olga, rid, "refuse", 403, grounds=["essential_interests"], reasons="Security operation.")
    error = refused(api, sam, rid, "refuse", 422, grounds=["bank_secrecy"], reasons="Bank secrecy.")
    assert any("bank_secrecy" in d and "40(8)" in d for d in error["details"]), error
    done = step(api, sam, rid, "refuse", grounds=["essential_interests"], reasons="Security operation.")
    assert done.status_code == 200 and done.json()["state"] == "refused"
    refused(api, sam, rid, "accept", 409)
    refused(api, sam, rid, "refuse", 409, grounds=["essential_interests"], reasons="Again.")


def test_a_step_that_needs_a_valid_draft_changes_nothing(api: Api) -> None:
    olga = api.login("olga")
    rid = create(api, olga, without_field(example(), "purpose"))["id"]
    error = refused(api, olga, rid, "submit", 422)
    assert "fields.purpose" in str(error["details"])


# --- bad input ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes", [{"type": "telepathy"}, {"requested_party": "XXX"}],
                         ids=["unknown type", "unknown party"])
def test_unrecordable_drafts_are_refused_and_nothing_is_stored(api: Api, changes: dict[str, str]) -> None:
    olga = api.login("olga")
    error = assert_error(api.post("/requests", user=olga, json={"draft": example(**changes)}), 422)
    assert error["details"]
    assert api.get("/requests", user=olga).json() == []


@pytest.mark.parametrize("content", [
    pytest.param(b"x" * 1025, id="content-length"),
    pytest.param(None, id="chunked"),
])
def test_a_body_over_the_limit_is_refused(world: World, tmp_path: Path, content: bytes | None) -> None:
    api = Api(create_app(Settings(data_dir=tmp_path, max_body_bytes=1024), context=world.ctx))
    olga = api.login("olga")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * 512

    response = api.post("/requests", user=olga, content=content if content is not None else chunks(),
                        headers={"Content-Type": "application/json"})
    assert assert_error(response, 413)["code"] == "too_large"
    assert api.get("/requests", user=olga).json() == []


@pytest.mark.parametrize("body", [[example()], "a request"], ids=["array", "string"])
def test_a_body_that_is_not_an_object_is_invalid(api: Api, body: Any) -> None:
    olga = api.login("olga")
    assert_error(api.post("/requests", user=olga, json=body), 422)
    assert_error(api.post("/validate", user=olga, json=body), 422)


# --- text, edits, status ---------------------------------------------------------------------------

def test_multilingual_text_round_trips_byte_identical(api: Api) -> None:
    olga = api.login("olga")
    draft = with_fields(example(), summary_of_facts=MULTILINGUAL, subject_matter="Lừa đảo — 诈骗 — احتيال")
    rid = create(api, olga, draft)["id"]
    shown = api.get(f"/requests/{rid}", user=olga)
    fields = shown.json()["document"]["fields"]
    assert fields["summary_of_facts"].encode() == MULTILINGUAL.encode()
    assert fields["subject_matter"].encode() == "Lừa đảo — 诈骗 — احتيال".encode()
    assert shown.json()["document"] == draft


def test_a_draft_is_edited_at_its_current_version(api: Api) -> None:
    olga = api.login("olga")
    created = create(api, olga)
    rid, version = created["id"], created["version"]
    edited = api.put(f"/requests/{rid}/draft", params={"version": version}, user=olga,
                     json=with_fields(example(), purpose="Identify the organisers."))
    assert edited.status_code == 200, edited.text
    assert edited.json()["document"]["fields"]["purpose"] == "Identify the organisers."
    assert edited.json()["version"] > version
    stale = api.put(f"/requests/{rid}/draft", params={"version": version}, user=olga, json=example())
    assert_error(stale, 409)
    assert api.get(f"/requests/{rid}", user=olga).json()["document"]["fields"]["purpose"] == "Identify the organisers."


def test_a_submitted_request_cannot_be_edited(api: Api) -> None:
    olga = api.login("olga")
    rid = create(api, olga)["id"]
    step(api, olga, rid, "submit")
    before = snapshot(api, olga, rid)
    assert_error(api.put(f"/requests/{rid}/draft", user=olga, json=example()), 409)
    assert snapshot(api, olga, rid) == before


def test_the_convention_status_is_served(api: Api) -> None:
    status = api.get("/parties/status").json()
    assert (status["signed_in_hanoi"], status["threshold"]) == (72, 40)

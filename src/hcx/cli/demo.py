"""`hcx demo`: a demonstration node for Viet Nam, seeded with authorities, users and requests in
several states, served over real HTTP. `--check` plays a scripted scenario against it and exits."""

from __future__ import annotations

import json
import secrets
import shutil
import threading
import time
from importlib import resources
from typing import Any

import httpx
import uvicorn

from hcx.api import create_app
from hcx.cli.node import Node
from hcx.cli.output import console
from hcx.domain.lifecycle import Direction, Step
from hcx.errors import ConfigError
from hcx.rules.schema import AuthorityKind, Role
from hcx.services import accounts, requests
from hcx.services.context import Context, Principal
from hcx.services.requests import NewRequest

MARKER = ".hcx-demo"
PARTY = "VNM"
USERS = [  # username, role, authority
    ("olga", Role.officer, "Central Authority of Viet Nam"),
    ("sam", Role.supervisor, "Central Authority of Viet Nam"),
    ("aude", Role.auditor, "Central Authority of Viet Nam"),
    ("adam", Role.admin, "Central Authority of Viet Nam"),
    ("tuan", Role.officer, "Viet Nam 24/7 Point of Contact"),
]
AUTHORITIES = [("Central Authority of Viet Nam", AuthorityKind.central_authority),
               ("Viet Nam 24/7 Point of Contact", AuthorityKind.contact_24_7),
               ("Supreme People's Procuracy", AuthorityKind.executing_authority)]


def example(code: str) -> dict[str, Any]:
    text = (resources.files("hcx") / "examples" / f"{code}.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def fresh_node(node: Node) -> Context:
    """Recreate the demo directory (only one this command made) and initialise a node in it."""
    data_dir = node.settings.data_dir
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / MARKER).exists():
            raise ConfigError(f"{data_dir} is not empty and is not a demo directory; choose another --data-dir")
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, mode=0o700)
    (data_dir / MARKER).write_text("created by hcx demo; deleted by the next run\n")
    ctx = node.context(create=True)
    accounts.init_node(ctx, party=PARTY, name="Viet Nam (demo)")
    return ctx


def seed(ctx: Context) -> dict[str, str]:
    """Authorities, users (passwords returned) and requests in several states."""
    ids = {name: accounts.add_authority(ctx, None, name=name, kind=kind).id for name, kind in AUTHORITIES}
    passwords = {}
    for username, role, authority in USERS:
        passwords[username] = secrets.token_urlsafe(12)
        accounts.add_user(ctx, None, username=username, password=passwords[username], role=role,
                          authority_id=ids[authority])
    officer, _supervisor, contact = (accounts.principal_for(ctx, u) for u in ("olga", "sam", "tuan"))

    def new(who: Principal, code: str, direction: Direction = Direction.outgoing, **changes: Any) -> str:
        document = example(code) | changes
        view = requests.create(ctx, who, NewRequest.model_validate(
            {"draft": document, "direction": direction, "counterpart": "Attorney-General's Department"}))
        return view.id

    def step(who: Principal, request_id: str, action: str, **fields: Any) -> None:
        requests.transition(ctx, who, request_id, Step(action=action, **fields))

    new(officer, "mutual_legal_assistance")  # a draft
    extradition = new(officer, "extradition")
    step(officer, extradition, "submit")  # waits for the supervisor
    preservation = new(contact, "expedited_preservation")
    step(contact, preservation, "submit")  # exempt from approval: sent at once
    step(contact, preservation, "acknowledge", record_counterpart=True)
    incoming = new(officer, "mutual_legal_assistance", Direction.incoming,
                   requesting_party="AUS", requested_party=PARTY,
                   fields=example("mutual_legal_assistance")["fields"] | {"requesting_authority": {
                       "name": "Attorney-General's Department, Australia", "kind": "central_authority"}})
    step(officer, incoming, "acknowledge")
    step(officer, incoming, "request_information", message="Please send the certified list of accounts.")
    return passwords


def serve_in_thread(app: Any, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise ConfigError(f"the demo server did not start on port {port}")
        time.sleep(0.05)
    return server


def run_demo(node: Node, *, port: int, check: bool) -> None:
    ctx = fresh_node(node)
    passwords = seed(ctx)
    server = serve_in_thread(create_app(node.settings, context=ctx), port)
    base = f"http://127.0.0.1:{port}"
    try:
        if check:
            scripted_scenario(base, passwords)
            console.print("[green]demo check passed[/]: every step of the scenario held")
            return
        console.print(f"hcx demo node for {PARTY} — API {base}/api/v1/docs (data in {node.settings.data_dir})")
        for username, role, authority in USERS:
            console.print(f"  {username:5} {role.value:10} {authority:32} password {passwords[username]}",
                          highlight=False)
        console.print(f"Get a token: curl -X POST {base}/api/v1/tokens -H 'content-type: application/json' "
                      "-d '{\"username\": \"olga\", \"password\": \"...\"}'", highlight=False)
        console.print("Press Ctrl-C to stop.")
        while server.started and not server.should_exit:
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        server.should_exit = True


class ScenarioFailed(ConfigError):
    pass


def scripted_scenario(base: str, passwords: dict[str, str]) -> None:
    """Play an officer and a supervisor over HTTP; raise at the first step that does not hold."""
    with httpx.Client(base_url=f"{base}/api/v1", timeout=10) as http:
        def expect(response: httpx.Response, status: int, what: str) -> Any:
            if response.status_code != status:
                raise ScenarioFailed(f"demo check: {what}: HTTP {response.status_code} {response.text[:300]}")
            console.print(f"  [green]✓[/] {what}")
            return response.json() if response.content else None

        def token(username: str) -> dict[str, str]:
            body = expect(http.post("/tokens", json={"username": username, "password": passwords[username]}), 201,
                          f"{username} signs in")
            return {"Authorization": f"Bearer {body['token']}"}

        expect(http.get("/health"), 200, "the node is healthy")
        olga, sam = token("olga"), token("sam")
        draft = example("mutual_legal_assistance")
        found = expect(http.post("/validate", json=draft, headers=olga), 200, "a complete MLA request validates")
        if not found["valid"]:
            raise ScenarioFailed("demo check: the example MLA request has errors")
        broken = draft | {"fields": {k: v for k, v in draft["fields"].items() if k != "purpose"}}
        found = expect(http.post("/validate", json=broken, headers=olga), 200, "a request without purpose is flagged")
        if [f["path"] for f in found["findings"] if f["severity"] == "error"] != ["fields.purpose"]:
            raise ScenarioFailed("demo check: the missing purpose was not the one error")
        created = expect(http.post("/requests", json={"draft": draft}, headers=olga), 201, "olga saves a draft")
        url = f"/requests/{created['id']}/transitions"
        expect(http.post(url, json={"action": "submit"}, headers=olga), 200, "olga submits it")
        expect(http.post(url, json={"action": "approve"}, headers=olga), 403, "olga cannot approve her own request")
        sent = expect(http.post(url, json={"action": "approve"}, headers=sam), 200, "sam approves: it is sent")
        if sent["state"] != "submitted" or not sent["due_at"]:
            raise ScenarioFailed("demo check: the approved request is not sent with a due date")
        for action, extra in [("acknowledge", {}), ("accept", {}), ("execute", {"summary": "Records sent."})]:
            expect(http.post(url, json={"action": action, "record_counterpart": True, **extra}, headers=olga), 200,
                   f"the requested party's step '{action}' is recorded")
        shown = expect(http.get(f"/requests/{created['id']}", headers=sam), 200, "sam reads the history")
        actions = [e["action"] for e in shown["events"]]
        if shown["state"] != "executed" or actions != ["create", "submit", "approve", "acknowledge", "accept",
                                                         "execute"]:
            raise ScenarioFailed(f"demo check: unexpected history {actions}")
        status = expect(http.get("/parties/status"), 200, "the Convention's status is served")
        console.print(f"    {status['signatories']} signatories, {status['ratifications']} of "
                      f"{status['threshold']} ratifications", highlight=False)

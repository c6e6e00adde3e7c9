"""`hcx demo`: three real nodes (Viet Nam, Australia, Morocco) as separate `hcx serve` processes on
loopback, pinned to each other, seeded with authorities, users and requests in flight.
`--check` plays a scripted scenario between them over HTTP and exits 0 only if every step held."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from hcx.cli.node import Node
from hcx.cli.output import console
from hcx.config import Settings
from hcx.errors import ConfigError
from hcx.rules.schema import AuthorityKind, Role
from hcx.services import accounts, federation, requests
from hcx.services.requests import NewRequest
from hcx.wiring import build_context

MARKER = ".hcx-demo"
PARTIES = ("VNM", "AUS", "MAR")
AUTHORITIES = [("Central Authority", AuthorityKind.central_authority),
               ("24/7 Point of Contact", AuthorityKind.contact_24_7)]
USERS = [("officer", Role.officer, "Central Authority"), ("supervisor", Role.supervisor, "Central Authority"),
         ("contact", Role.officer, "24/7 Point of Contact"), ("admin", Role.admin, "Central Authority")]


def example(code: str) -> dict[str, Any]:
    return dict(json.loads((resources.files("hcx") / "examples" / f"{code}.json").read_text(encoding="utf-8")))


@dataclass
class DemoNode:
    party: str
    port: int
    data_dir: Path
    passwords: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> Settings:
        return Settings(env="dev", data_dir=self.data_dir, port=self.port, public_url=self.url)

    def user(self, name: str) -> str:
        return f"{self.party.lower()}-{name}"


def prepare(base: Path) -> None:
    """Recreate the demo directory (only one this command made)."""
    if base.exists() and any(base.iterdir()):
        if not (base / MARKER).exists():
            raise ConfigError(f"{base} is not empty and is not a demo directory; choose another --data-dir")
        shutil.rmtree(base)
    base.mkdir(parents=True, mode=0o700)
    (base / MARKER).write_text("created by hcx demo; deleted by the next run\n")


def initialise(node: DemoNode) -> None:
    ctx = build_context(node.settings(), create=True)
    accounts.init_node(ctx, party=node.party, name=f"{node.party} (demo)")
    federation.set_url(ctx, node.url)
    ids = {f"{name}": accounts.add_authority(ctx, None, name=f"{node.party} {name}", kind=kind).id
           for name, kind in AUTHORITIES}
    for name, role, authority in USERS:
        node.passwords[name] = secrets.token_urlsafe(12)
        accounts.add_user(ctx, None, username=node.user(name), password=node.passwords[name], role=role,
                          authority_id=ids[authority])


def start(node: DemoNode, log_dir: Path) -> None:
    env = os.environ | {"HCX_ENV": "dev", "HCX_PUBLIC_URL": node.url}
    with (log_dir / f"{node.party.lower()}.log").open("ab") as log:  # the child keeps its own handle
        node.process = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "hcx.cli.main", "--data-dir", str(node.data_dir), "serve", "--port",
             str(node.port)], stdout=log, stderr=subprocess.STDOUT, env=env)


def wait_healthy(node: DemoNode, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.process is not None and node.process.poll() is not None:
            raise ConfigError(f"the {node.party} node stopped; see its log")
        try:
            if httpx.get(f"{node.url}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise ConfigError(f"the {node.party} node did not answer on {node.url}")


def pin_all(nodes: list[DemoNode]) -> None:
    contexts = {n.party: build_context(n.settings()) for n in nodes}
    try:
        prints = {n.party: federation.node_fingerprint(contexts[n.party]) for n in nodes}
        for node in nodes:
            for other in nodes:
                if other is not node:
                    federation.add_peer(contexts[node.party], None, url=other.url,
                                        expected_fingerprint=prints[other.party])
    finally:
        for ctx in contexts.values():
            if ctx.transport is not None:
                ctx.transport.close()


def seed(nodes: dict[str, DemoNode]) -> None:
    """Requests in flight: the serve processes' workers deliver them."""
    vnm = build_context(nodes["VNM"].settings())
    officer = accounts.principal_for(vnm, nodes["VNM"].user("officer"))
    supervisor = accounts.principal_for(vnm, nodes["VNM"].user("supervisor"))
    contact = accounts.principal_for(vnm, nodes["VNM"].user("contact"))
    from hcx.domain.lifecycle import Step

    requests.create(vnm, officer, NewRequest.model_validate({"draft": example("mutual_legal_assistance")}))
    sent = requests.create(vnm, officer, NewRequest.model_validate({"draft": example("mutual_legal_assistance")}))
    requests.transition(vnm, officer, sent.id, Step(action="submit"))
    requests.transition(vnm, supervisor, sent.id, Step(action="approve"))
    preservation = requests.create(vnm, contact, NewRequest.model_validate({"draft": example("expedited_preservation")}))
    requests.transition(vnm, contact, preservation.id, Step(action="submit"))
    mar = build_context(nodes["MAR"].settings())
    mar_officer = accounts.principal_for(mar, nodes["MAR"].user("officer"))
    draft = example("spontaneous_information") | {"requesting_party": "MAR", "requested_party": "VNM"}
    draft["fields"] = draft["fields"] | {"requesting_authority": {"name": "MAR Central Authority",
                                                                 "kind": "central_authority"}}
    info = requests.create(mar, mar_officer, NewRequest.model_validate({"draft": draft}))
    requests.transition(mar, mar_officer, info.id, Step(action="submit"))


def run_demo(node: Node, *, port: int, check: bool) -> None:
    base = node.settings.data_dir
    prepare(base)
    nodes = [DemoNode(p, port + i, base / p.lower()) for i, p in enumerate(PARTIES)]
    console.print(f"Creating three nodes in {base} ...")
    for n in nodes:
        initialise(n)
    try:
        for n in nodes:
            start(n, base)
        for n in nodes:
            wait_healthy(n)
        pin_all(nodes)
        by_party = {n.party: n for n in nodes}
        if check:
            scripted_scenario(by_party)
            console.print("[green]demo check passed[/]: every step of the scenario held")
            return
        seed(by_party)
        for n in nodes:
            console.print(f"[bold]{n.party}[/] {n.url}/api/v1/docs", highlight=False)
            for name, role, _ in USERS:
                console.print(f"    {n.user(name):15} {role.value:10} password {n.passwords[name]}", highlight=False)
        console.print("Tokens: POST /api/v1/tokens with {\"username\", \"password\"}. Ctrl-C stops the demo.")
        while all(n.process is not None and n.process.poll() is None for n in nodes):
            time.sleep(0.5)
        console.print("[red]a node stopped[/]; see the logs in the demo directory")
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        for n in nodes:
            if n.process is not None:
                n.process.terminate()
        for n in nodes:
            if n.process is not None:
                n.process.wait(timeout=15)


class ScenarioFailed(ConfigError):
    pass


class Client:
    """One user of one node, over HTTP."""

    def __init__(self, node: DemoNode, user: str) -> None:
        self.http = httpx.Client(base_url=f"{node.url}/api/v1", timeout=10)
        response = self.http.post("/tokens", json={"username": node.user(user), "password": node.passwords[user]})
        if response.status_code != 201:
            raise ScenarioFailed(f"{node.user(user)} cannot sign in: {response.text[:200]}")
        self.http.headers["Authorization"] = f"Bearer {response.json()['token']}"
        self.name = f"{node.party} {user}"

    def call(self, method: str, path: str, status: int, what: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code != status:
            raise ScenarioFailed(f"{what}: HTTP {response.status_code} {response.text[:300]}")
        console.print(f"  [green]✓[/] {what}")
        return response.json() if response.content else None

    def step(self, request_id: str, action: str, **extra: Any) -> Any:
        return self.call("POST", f"/requests/{request_id}/transitions", 200, f"{self.name}: {action}",
                         json={"action": action, **extra})

    def wait_state(self, state: str, *, direction: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.http.get("/requests", params={"direction": direction}).json()
            if found and found[0]["state"] == state:
                console.print(f"  [green]✓[/] {self.name} sees the request {state}")
                return dict(found[0])
            time.sleep(0.1)
        raise ScenarioFailed(f"{self.name} never saw the request {state}")


def scripted_scenario(nodes: dict[str, DemoNode]) -> None:
    vnm, vnm_boss, aus = (Client(nodes["VNM"], "officer"), Client(nodes["VNM"], "supervisor"),
                          Client(nodes["AUS"], "officer"))
    created = vnm.call("POST", "/requests", 201, "VNM drafts an MLA request to AUS",
                       json={"draft": example("mutual_legal_assistance")})
    rid = created["id"]
    vnm.step(rid, "submit")
    vnm_boss.step(rid, "approve")
    incoming = aus.wait_state("submitted", direction="incoming")
    for actor, target, action, extra, state in [
        (aus, incoming["id"], "acknowledge", {}, "acknowledged"),
        (aus, incoming["id"], "request_information", {"message": "Please list the accounts."},
         "information_requested"),
        (vnm, rid, "provide_information", {"message": "Accounts 1 and 2 of the annex."}, "acknowledged"),
        (aus, incoming["id"], "accept", {}, "accepted"),
        (aus, incoming["id"], "execute", {"summary": "Certified records sent."}, "executed"),
    ]:
        actor.step(target, action, **extra)
        for side, direction in ((vnm, "outgoing"), (aus, "incoming")):
            side.wait_state(state, direction=direction)
    for name, node in (("VNM", nodes["VNM"]), ("AUS", nodes["AUS"])):
        outbox = build_context(node.settings())
        from hcx.services import delivery

        messages = delivery.list_outbox(outbox)
        if not messages or any(m["status"] != "delivered" or not m["receipt"] for m in messages):
            raise ScenarioFailed(f"{name} holds a message without a receipt")
        console.print(f"  [green]✓[/] {name} holds a signed receipt for each of its {len(messages)} messages")

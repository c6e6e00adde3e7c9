"""Real `hcx serve` processes on loopback ports, built from the demo harness (hcx.cli.demo).

Nodes are initialised once per session into templates (keys under the cheapest scrypt cost a key
file may name) and copied for each cluster, so a test gets fresh nodes in a fraction of a second.
A `Cluster` owns its processes and proxies and ends all of them in the fixture's teardown.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import selectors
import shutil
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from hcx.cli import demo
from hcx.cli.demo import Client, DemoNode, example
from hcx.crypto import _primitives
from hcx.domain.lifecycle import Step
from hcx.services import accounts, federation, requests
from hcx.services.context import Context
from hcx.services.requests import NewRequest
from hcx.wiring import build_context
from tests.conftest import free_port

# Fast delivery: a worker round every 0.1 s, retries at most 1 s apart, a SIGKILLed worker's leases
# run out after 3 s.
FAST = {"HCX_WORKER_INTERVAL_SECONDS": "0.1", "HCX_RETRY_MAX_SECONDS": "1", "HCX_LEASE_SECONDS": "3"}
PARTIES = ("VNM", "AUS", "MAR")


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


@dataclass
class SystemNode(DemoNode):
    """A demo node whose process output goes to its own log file, optionally behind a proxy."""

    log_dir: Path = field(default_factory=Path)
    public_port: int | None = None  # peers reach the node here (a proxy) instead of at `port`
    _ctx: Context | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.public_port or self.port}"

    @property
    def direct_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.party.lower()}.log"

    @property
    def ctx(self) -> Context:
        """The node's database, opened in the test process (SQLite WAL, safe beside the server)."""
        if self._ctx is None:
            self._ctx = build_context(self.settings())
        return self._ctx

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, f"{self.party} is already running"
        demo.start(self, self.log_dir)
        demo.wait_healthy(self)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except Exception:  # noqa: BLE001 - whatever happened, do not leave it running
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lease released, no transaction finished."""
        os.kill(self.pid, signal.SIGKILL)
        assert self.process is not None
        self.process.wait(timeout=15)
        self.process = None

    def close_ctx(self) -> None:
        if self._ctx is not None:
            close = getattr(self._ctx.transport, "close", None)
            if close is not None:
                close()
            self._ctx = None

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", "replace")


_METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ")


class DroppingProxy:
    """A TCP proxy that relays everything, except answers to POSTs to the inbox:
    - for the first `drop` of them it forwards the request and then closes the client's connection
      instead of relaying the answer: the receiver has stored the message, the sender never learns it;
    - once `hold_after` answers have been relayed, it forwards each further request but withholds its
      answer (the sender waits) until `release()`: a sender can be stopped at a known point mid-delivery;
    - once `hold_blobs_after` bytes of evidence blobs (GET /federation/blobs) have been relayed, it
      withholds the rest until `release()`: a download can be stopped at a known point."""

    def __init__(self, target_port: int, *, drop: int = 0, hold_after: int | None = None,
                 hold_blobs_after: int | None = None) -> None:
        self.target_port = target_port
        self.drop = drop
        self.dropped = 0
        self.hold_after = hold_after
        self.hold_blobs_after = hold_blobs_after
        self.blob_bytes = 0
        self.blobs_held = threading.Event()
        self.answered = 0
        self.held = 0
        self.inbox_posts = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self._server.settimeout(0.1)
        self.port = int(self._server.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        self._accepting.start()

    def _answer_fate(self) -> str:
        """What becomes of the answer to an inbox POST: "drop", "hold" or "relay"."""
        with self._lock:
            if self.dropped < self.drop:
                self.dropped += 1
                return "drop"
            if self.hold_after is not None and self.answered >= self.hold_after:
                self.held += 1
                return "hold"
            self.answered += 1
            return "relay"

    def _blob_share(self, data: bytes) -> bytes:
        """The part of a blob answer's bytes that may pass now."""
        with self._lock:
            if self.hold_blobs_after is None:
                return data
            allowed = data[:max(0, self.hold_blobs_after - self.blob_bytes)]
            self.blob_bytes += len(allowed)
            if len(allowed) < len(data):
                self.blobs_held.set()
            return allowed

    def release(self) -> None:
        """Stop withholding answers from now on (answers already withheld stay lost)."""
        with self._lock:
            self.hold_after = self.hold_blobs_after = None

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._relay, args=(client,), name="proxy-relay", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:
            client.close()
            return
        inbox_pending = False
        holding = False
        blob_answer = False
        # a selector, not select(): in a long test run this process's descriptors pass 1024
        with client, upstream, selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, client)
            selector.register(upstream, selectors.EVENT_READ, upstream)
            while not self._stop.is_set():
                for key, _ in selector.select(0.1):
                    sock: socket.socket = key.data
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    if sock is client:
                        if data.startswith(_METHODS):  # a new request on this connection
                            blob_answer = data.startswith(b"GET /federation/blobs")
                        if data.startswith(b"POST /federation/inbox"):
                            inbox_pending = True
                            with self._lock:
                                self.inbox_posts += 1
                        upstream.sendall(data)
                    else:
                        if inbox_pending:
                            fate = self._answer_fate()
                            if fate == "drop":
                                return  # both sockets close: the answer is lost
                            holding = fate == "hold"
                            inbox_pending = False
                        if blob_answer:
                            data = self._blob_share(data)
                        if not holding and data:
                            client.sendall(data)

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        self._accepting.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)


@dataclass(frozen=True)
class Template:
    data_dir: Path
    passwords: dict[str, str]


def _copy_node(source: Path, target: Path) -> None:
    """Copy a node's directory; the database through SQLite's backup API (consistent under WAL)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("node.db*"))
    with contextlib.closing(sqlite3.connect(source / "node.db")) as src, \
            contextlib.closing(sqlite3.connect(target / "node.db")) as dst:
        src.backup(dst)


class Cluster:
    """Nodes copied from the templates, their serve processes and proxies; `close` ends them all."""

    def __init__(self, base: Path, templates: dict[str, Template]) -> None:
        self.base = base
        self.templates = templates
        self.nodes: list[SystemNode] = []
        self.proxies: list[DroppingProxy] = []

    def node(self, party: str, *, drop: int | None = None, hold_after: int | None = None,
             hold_blobs_after: int | None = None) -> SystemNode:
        """A fresh node of `party`; with `drop` or a `hold_…`, behind a DroppingProxy that peers are
        pinned to."""
        template = self.templates[party]
        data_dir = self.base / f"{party.lower()}-{len(self.nodes)}"
        _copy_node(template.data_dir, data_dir)
        node = SystemNode(party, free_port(), data_dir, passwords=dict(template.passwords), log_dir=data_dir)
        if drop is not None or hold_after is not None or hold_blobs_after is not None:
            proxy = DroppingProxy(node.port, drop=drop or 0, hold_after=hold_after, hold_blobs_after=hold_blobs_after)
            self.proxies.append(proxy)
            node.public_port = proxy.port
        federation.set_url(node.ctx, node.url)
        self.nodes.append(node)
        return node

    def proxy_of(self, node: SystemNode) -> DroppingProxy:
        return next(p for p in self.proxies if p.port == node.public_port)

    def close(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            node.stop()
        for node in self.nodes:
            node.close_ctx()
        for proxy in self.proxies:
            proxy.close()


def pin(nodes: list[SystemNode]) -> None:
    """Pin every node to every other one."""
    demo.pin_all(list(nodes))


@contextlib.contextmanager
def signed_in(*who: tuple[SystemNode, str]) -> Iterator[list[Client]]:
    """demo.Client sessions, closed afterwards."""
    clients: list[Client] = []
    try:
        for node, user in who:
            clients.append(Client(node, user))
        yield clients
    finally:
        for client in clients:
            client.http.close()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Template]]:
    """One initialised node per party, with the demo's authorities and users, never served."""
    base = tmp_path_factory.mktemp("templates")
    made: dict[str, Template] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        patch.setattr(_primitives, "SCRYPT_LOG2_N", 14)  # the cheapest cost a key file may name
        for party in PARTIES:
            node = DemoNode(party, free_port(), base / party.lower())
            demo.initialise(node)
            made[party] = Template(node.data_dir, node.passwords)
    yield made


@pytest.fixture(scope="session", autouse=True)
def _fast_delivery() -> Iterator[None]:
    """The serve processes inherit the test process's environment (demo.start): speed them up."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAST.items():
            patch.setenv(name, value)
        yield


@pytest.fixture
def cluster(tmp_path: Path, templates: dict[str, Template]) -> Iterator[Cluster]:
    made = Cluster(tmp_path, templates)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module")
def module_cluster(tmp_path_factory: pytest.TempPathFactory, templates: dict[str, Template]) -> Iterator[Cluster]:
    made = Cluster(tmp_path_factory.mktemp("cluster"), templates)
    try:
        yield made
    finally:
        made.close()


# --- seeding and reading the nodes' databases ---------------------------------------------------

def seed_preservations(node: SystemNode, count: int) -> list[str]:
    """`count` expedited preservation requests submitted by the node's 24/7 contact (exempt from
    approval): `count` `request.submitted` messages queued. Returns the request ids."""
    contact = accounts.principal_for(node.ctx, node.user("contact"))
    draft = NewRequest.model_validate({"draft": example("expedited_preservation")})
    ids = []
    for _ in range(count):
        rid = requests.create(node.ctx, contact, draft).id
        requests.transition(node.ctx, contact, rid, Step(action="submit"))
        ids.append(rid)
    return ids


@dataclass(frozen=True)
class Sent:
    id: str
    request_id: str | None
    status: str
    attempts: int
    digest: str
    wire: bytes
    receipt: dict[str, Any] | None
    lease_until: dt.datetime | None


@dataclass(frozen=True)
class Received:
    id: str
    exchange_id: str | None
    digest: str
    receipt: dict[str, Any]


def outbox(node: SystemNode) -> list[Sent]:
    with node.ctx.unit_of_work() as uow:
        return [Sent(m.id, m.request_id, m.status, m.attempts, m.digest, m.wire, m.receipt, m.lease_until)
                for m in uow.list_outbox(limit=100_000)]


def inbox(node: SystemNode) -> list[Received]:
    with node.ctx.unit_of_work() as uow:
        return [Received(m.id, m.exchange_id, m.digest, m.receipt) for m in uow.list_inbox(limit=100_000)]


def incoming_exchanges(node: SystemNode) -> list[str | None]:
    """The exchange id of every incoming request of every authority of the node."""
    with node.ctx.unit_of_work() as uow:
        return [r.exchange_id for a in uow.list_authorities()
                for r in uow.list_requests(authority_id=a.id, direction="incoming", limit=100_000)]


def all_delivered(node: SystemNode) -> list[Sent] | None:
    """The node's outbox if every message in it is delivered, else None."""
    sent = outbox(node)
    return sent if all(m.status == "delivered" for m in sent) else None


def delivered_count(node: SystemNode) -> int:
    return sum(1 for m in outbox(node) if m.status == "delivered")


def assert_exactly_once(sender: SystemNode, receiver: SystemNode, request_ids: list[str]) -> None:
    """Every message of `request_ids` delivered once: one incoming request and one inbox row each
    on the receiver, a delivered outbox message with the receiver's receipt on the sender."""
    count = len(request_ids)
    sent = outbox(sender)
    assert len(sent) == count
    assert len({m.id for m in sent}) == count
    assert {m.request_id for m in sent} == set(request_ids)
    assert [m for m in sent if m.status != "delivered" or not m.receipt] == []

    received = inbox(receiver)
    assert len(received) == count
    assert {m.id for m in received} == {m.id for m in sent}
    exchanges = incoming_exchanges(receiver)
    assert len(exchanges) == count
    assert sorted(e for e in exchanges if e) == sorted(request_ids)  # no duplicates by exchange id

    receipts = {m.id: m.receipt for m in received}
    assert all(m.receipt == receipts[m.id] for m in sent), "the sender holds another receipt than the one stored"

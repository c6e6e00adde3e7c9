"""Witnessing between two nodes in one process, through their real ASGI apps (services/witness.py,
api/routers/witness.py): consistent growth is cosigned both ways; forged, foreign and forked
checkpoints are refused, and forks and rollbacks raise alarms that the admin sees.

VNM runs on the `database` fixture (SQLite, and PostgreSQL when HCX_TEST_DATABASE_URL is set), AUS
on a SQLite file of its own."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from hcx.api import create_app
from hcx.config import Settings
from hcx.crypto.envelope import sign_document
from hcx.crypto.keys import SigningKey, b64e
from hcx.errors import InclusionProofError, PeerProtocolError, PeerUnreachable, PolicyDenied
from hcx.ledger.checkpoint import Checkpoint, CosignatureVerifier, open_checkpoint, sign_checkpoint
from hcx.ledger.entry import CustodyEvent
from hcx.ledger.merkle import verify_consistency
from hcx.ledger.note import Ed25519NoteSigner, Ed25519NoteVerifier
from hcx.rules import Rules
from hcx.rules.schema import AuthorityKind, Role
from hcx.services import accounts, custody, federation, witness
from hcx.services.context import Context, Policy
from hcx.storage.db import make_engine, migrate
from hcx.storage.models import Base
from hcx.storage.unit_of_work import Database
from tests.asgi import SyncAsgiClient
from tests.conftest import FixedClock, World

PASSWORD = "correct horse battery"
LEDGER_TABLES = ["ledger_cosignatures", "ledger_checkpoints", "ledger_nodes", "ledger_entries", "ledger_head"]


class AppTransport:
    """Routes peer calls to the other node's FastAPI app (a real ASGI round trip, no sockets)."""

    def __init__(self) -> None:
        self.clients: dict[str, SyncAsgiClient] = {}

    def _post(self, url: str, path: str, signed: dict[str, Any]) -> Any:
        client = self.clients.get(url.rstrip("/"))
        if client is None:
            raise PeerUnreachable(f"{url}: connection refused")
        response = client.post(path, json=signed)
        if response.status_code != 200:
            raise PeerProtocolError(f"{url}: HTTP {response.status_code}")
        return response.json()

    def fetch_descriptor(self, url: str) -> Any:
        return self.clients[url.rstrip("/")].get("/federation/descriptor").json()

    def witness(self, url: str, signed: dict[str, Any]) -> Any:
        return self._post(url, "/federation/witness", signed)

    def send_cosignature(self, url: str, signed: dict[str, Any]) -> Any:
        return self._post(url, "/federation/witness/cosignature", signed)

    def close(self) -> None:
        pass


@dataclasses.dataclass
class Pair:
    vnm: Context
    aus: Context
    vnm_engine: Engine
    vnm_api: SyncAsgiClient
    aus_api: SyncAsgiClient
    world: World


@pytest.fixture
def pair(world: World, database: Database, tmp_path: Path, rules: Rules, clock: FixedClock) -> Iterator[Pair]:
    transport = AppTransport()
    vnm = dataclasses.replace(world.ctx, transport=transport, policy=Policy(witness_interval=dt.timedelta(0)))
    federation.set_url(vnm, "http://vnm.test")
    engine = make_engine(f"sqlite:///{tmp_path / 'aus.db'}")
    migrate(engine)
    aus_db = Database(engine)
    aus = Context(unit_of_work=aus_db.unit_of_work, read_unit_of_work=aus_db.read_unit_of_work, rules=rules,
                  clock=clock, key_passphrase=b"another passphrase", transport=transport,
                  policy=Policy(witness_interval=dt.timedelta(0)), locks=aus_db.exclusive)
    accounts.init_node(aus, party="AUS", name="Australia")
    central = accounts.add_authority(aus, None, name="AUS central", kind=AuthorityKind.central_authority)
    for name, role in (("aus-admin", Role.admin), ("aus-officer", Role.officer)):
        accounts.add_user(aus, None, username=name, password=PASSWORD, role=role, authority_id=central.id)
    federation.set_url(aus, "http://aus.test")
    apps = {}
    for ctx, url in ((vnm, "http://vnm.test"), (aus, "http://aus.test")):
        apps[url] = transport.clients[url] = SyncAsgiClient(create_app(Settings(data_dir=tmp_path), context=ctx))
    federation.add_peer(vnm, None, url="http://aus.test", expected_fingerprint=federation.node_fingerprint(aus))
    federation.add_peer(aus, None, url="http://vnm.test", expected_fingerprint=federation.node_fingerprint(vnm))
    yield Pair(vnm, aus, database.engine, apps["http://vnm.test"], apps["http://aus.test"], world)
    engine.dispose()


def record(ctx: Context, count: int, *, tag: str = "evidence") -> None:
    with ctx.unit_of_work() as uow:
        for n in range(count):
            digest = "sha256:" + hashlib.sha256(f"{tag} {n} {uow.ledger.size()}".encode()).hexdigest()
            custody.record(ctx, uow, CustodyEvent.received, object_digest=digest, actor_role="officer", ref="PKG-1")
        uow.commit()


def witnesses_on(ctx: Context, of: Context) -> list[str]:
    """The names of `of`'s cosignatures on the latest checkpoint of `ctx`, each verified."""
    note = custody.checkpoint(ctx)
    _, parsed = open_checkpoint(note, [Ed25519NoteVerifier.from_vkey(custody.log_vkey(ctx))])
    verifier = CosignatureVerifier.from_vkey(custody.cosigner_vkey(of))
    return [c.name for c in verifier.cosignatures(parsed)]


def size_of(note: str) -> int:
    return int(note.split("\n")[1])


def node_key(ctx: Context) -> SigningKey:
    with ctx.unit_of_work() as uow:
        return federation.signing_key(ctx, uow, federation.NODE)


def request_from_vnm(pair: Pair, note: str, *, proof: Sequence[bytes] = (), proof_from: int = 0,
                     key: SigningKey | None = None, **changes: Any) -> int:
    """POST a witness request of VNM's (signed by VNM's node key unless `key`) to AUS; the status."""
    document = {"from": "VNM", "to": "AUS", "at": pair.vnm.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "checkpoint": note, "proof_from": proof_from, "proof": [b64e(h) for h in proof], "seen": 0} | changes
    signed = sign_document("witness-request", document, key or node_key(pair.vnm))
    return pair.aus_api.post("/federation/witness", json=signed).status_code


def rewrite_log(engine: Engine, ctx: Context, count: int) -> None:
    """What an attacker holding the database could do: replace the log, keep the key."""
    with engine.begin() as conn:
        for table in LEDGER_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed table names
    record(ctx, count, tag="rewritten")


def snapshot_log(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as conn:
        return {t: [dict(r._mapping) for r in conn.execute(Base.metadata.tables[t].select())] for t in LEDGER_TABLES}


def restore_log(engine: Engine, snapshot: dict[str, list[dict[str, Any]]]) -> None:
    """A restored backup: the log as it was, with the checkpoints and cosignatures of then."""
    with engine.begin() as conn:
        for table in LEDGER_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed table names
        for table in reversed(LEDGER_TABLES):
            if snapshot[table]:
                conn.execute(Base.metadata.tables[table].insert(), snapshot[table])


def admin_alarms(api: SyncAsgiClient, username: str) -> tuple[int, Any]:
    token = api.post("/api/v1/tokens", json={"username": username, "password": PASSWORD}).json()["token"]
    response = api.get("/api/v1/log/alarms", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json()


# --- consistent growth --------------------------------------------------------------------------

def test_consistent_growth_is_cosigned_both_ways(pair: Pair) -> None:
    record(pair.vnm, 5)
    record(pair.aus, 3)
    done = witness.exchange(pair.vnm, "AUS")
    assert (done.our_size, done.their_size) == (5, 3)
    assert witnesses_on(pair.vnm, pair.aus) == ["hcx/AUS"]
    assert witnesses_on(pair.aus, pair.vnm) == ["hcx/VNM"]

    # both logs grow; the next exchanges prove consistency from the sizes cosigned before
    record(pair.vnm, 4)
    record(pair.aus, 6)
    assert witness.exchange(pair.aus, "VNM") == witness.Witnessed("VNM", 9, 9)
    assert witnesses_on(pair.vnm, pair.aus) == ["hcx/AUS"] and witnesses_on(pair.aus, pair.vnm) == ["hcx/VNM"]
    record(pair.vnm, 1)
    assert witness.exchange(pair.vnm, "AUS") == witness.Witnessed("AUS", 10, 9)
    assert custody.alarms(pair.vnm) == [] and custody.alarms(pair.aus) == []

    rows = witness.witnesses(pair.vnm, pair.world.auditor)
    assert [(r["party"], r["log_size"], r["cosigned_our_size"], r["we_cosigned_size"], r["alarms"])
            for r in rows] == [("AUS", 10, 10, 9, 0)]
    with pytest.raises(PolicyDenied):
        witness.witnesses(pair.vnm, pair.world.officer)


def test_the_worker_step_witnesses_only_when_the_log_grew(pair: Pair, clock: FixedClock) -> None:
    record(pair.vnm, 2)
    assert witness.exchange_due(pair.vnm) == 1
    assert witnesses_on(pair.vnm, pair.aus) == ["hcx/AUS"]
    assert witness.exchange_due(pair.vnm) == 0  # nothing new to cosign
    record(pair.vnm, 1)
    assert witness.exchange_due(pair.vnm) == 1

    throttled = dataclasses.replace(pair.vnm, policy=Policy(witness_interval=dt.timedelta(seconds=30)))
    record(pair.vnm, 1)
    assert witness.exchange_due(throttled) == 0  # the round before was less than 30 s ago
    clock.advance(seconds=31)
    assert witness.exchange_due(throttled) == 1


def test_a_lost_answer_is_recovered_without_alarm(pair: Pair, database: Database) -> None:
    record(pair.vnm, 4)
    witness.exchange(pair.vnm, "AUS")
    record(pair.vnm, 3)
    witness.exchange(pair.vnm, "AUS")
    # AUS cosigned size 7 but VNM never got the answer: it believes AUS stopped at 4
    with database.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_cosignatures WHERE size = 7"))
    record(pair.vnm, 2)
    assert witness.exchange(pair.vnm, "AUS").our_size == 9  # AUS says it saw 7; VNM proves from there
    assert custody.alarms(pair.aus) == []


# --- bad requests -------------------------------------------------------------------------------

def test_a_forged_note_is_refused(pair: Pair) -> None:
    record(pair.vnm, 3)
    real = custody.checkpoint(pair.vnm)
    impostor = Ed25519NoteSigner("hcx/VNM", SigningKey.generate())
    checkpoint = Checkpoint("hcx/VNM", 3, hashlib.sha256(b"another tree").digest())
    assert request_from_vnm(pair, sign_checkpoint(checkpoint, impostor).format()) == 400
    assert request_from_vnm(pair, real, key=SigningKey.generate()) == 400  # the request's own signature
    assert request_from_vnm(pair, real, to="FRA") == 400  # addressed to someone else
    assert request_from_vnm(pair, real, at="2026-11-22T09:00:00Z") == 400  # a day old: a replay
    assert request_from_vnm(pair, real) == 200  # the same, done right
    assert custody.alarms(pair.aus) == []


def test_garbage_and_strangers_are_refused_without_a_trace(pair: Pair) -> None:
    record(pair.vnm, 2)
    note = custody.checkpoint(pair.vnm)
    for body in (b"not json", b"[]", b'{"document": {}}', b"{" + b" " * 300_000 + b"}"):
        assert pair.aus_api.post("/federation/witness", content=body).status_code == 400
        assert pair.aus_api.post("/federation/witness/cosignature", content=body).status_code == 400
    assert request_from_vnm(pair, note, at="2026-13-45T09:00:00Z") == 400  # not a date
    assert request_from_vnm(pair, note, proof_from=-1) == 400
    assert request_from_vnm(pair, note, extra="field") == 400
    stranger = SigningKey.generate()  # an unpinned party signing for itself
    signed = sign_document("witness-request", {"from": "MAR", "to": "AUS", "at": "2026-11-23T09:00:00Z",
                                               "checkpoint": note, "proof_from": 0, "proof": [], "seen": 0}, stranger)
    assert pair.aus_api.post("/federation/witness", json=signed).status_code == 400
    # a cosignature for a checkpoint AUS never signed, and one that is not VNM's
    cosignature = {"from": "VNM", "to": "AUS", "at": "2026-11-23T09:00:00Z", "size": 99,
                   "cosignature": "— hcx/VNM AAAAAAAA\n"}
    signed = sign_document("witness-cosignature", cosignature, node_key(pair.vnm))
    assert pair.aus_api.post("/federation/witness/cosignature", json=signed).status_code == 400
    with pair.aus.unit_of_work() as uow:
        assert uow.ledger.latest_peer_checkpoint("VNM") is None and uow.ledger.latest_cosignature("VNM") is None
        assert uow.ledger.alarms() == []


def test_the_cli_witnesses_at_once_and_lists_the_witnesses(pair: Pair, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hcx.cli import log as log_cli
    from hcx.cli.node import Node
    from hcx.config import load_settings

    record(pair.vnm, 3)
    record(pair.aus, 1)
    node = Node(load_settings(data_dir=tmp_path / "vnm-cli"), _context=pair.vnm)
    done = CliRunner().invoke(log_cli.app, ["witness", "aus"], obj=node)
    assert done.exit_code == 0, done.output
    assert "AUS cosigned our checkpoint of size 3; we cosigned its checkpoint of size 1" in done.stdout
    listed = CliRunner().invoke(log_cli.app, ["witnesses", "--json"], obj=node)
    assert listed.exit_code == 0
    assert '"cosigned_our_size": 3' in listed.stdout and '"we_cosigned_size": 1' in listed.stdout
    unknown = CliRunner().invoke(log_cli.app, ["witness", "FRA"], obj=node)
    assert unknown.exit_code != 0 and "FRA is not a pinned peer" in str(unknown.exception)


def test_a_note_from_another_origin_is_refused(pair: Pair) -> None:
    record(pair.vnm, 3)
    other_origin = Ed25519NoteSigner("hcx/FRA", node_key(pair.vnm))  # VNM's key, someone else's log
    checkpoint = Checkpoint("hcx/FRA", 3, hashlib.sha256(b"tree").digest())
    assert request_from_vnm(pair, sign_checkpoint(checkpoint, other_origin).format()) == 400
    with pair.aus.unit_of_work() as uow:
        assert uow.ledger.latest_peer_checkpoint("VNM") is None


def test_a_consistency_proof_for_another_tree_is_refused(pair: Pair) -> None:
    record(pair.vnm, 4)
    witness.exchange(pair.vnm, "AUS")
    record(pair.vnm, 4)
    note = custody.checkpoint(pair.vnm)
    genuine = custody.prove_consistency(pair.vnm, 4, 8)
    other = [hashlib.sha256(b"%d" % i).digest() for i in range(len(genuine))]
    verify_consistency(4, 8, *roots(pair.vnm, 4, 8), genuine)
    assert request_from_vnm(pair, note, proof=other, proof_from=4) == 400
    assert [a.kind for a in custody.alarms(pair.aus)] == ["fork"]  # not provably one log: an alarm


def roots(ctx: Context, *sizes: int) -> list[bytes]:
    with ctx.unit_of_work() as uow:
        return [checkpoint.root for size in sizes if (checkpoint := uow.ledger.checkpoint(size))]


# --- forks and rollbacks ------------------------------------------------------------------------

def test_a_forked_log_is_refused_and_the_admin_sees_the_alarm(pair: Pair, tmp_path: Path) -> None:
    record(pair.vnm, 5)
    record(pair.aus, 2)
    witness.exchange(pair.vnm, "AUS")

    rewrite_log(pair.vnm_engine, pair.vnm, 8)  # same key, other entries: a fork
    with pytest.raises(PeerProtocolError):
        witness.exchange(pair.vnm, "AUS")  # AUS refuses to cosign
    assert witnesses_on(pair.vnm, pair.aus) == []
    alarms = custody.alarms(pair.aus)
    assert [(a.party, a.kind) for a in alarms] == [("VNM", "fork")]
    assert size_of(alarms[0].previous_note) == 5 and size_of(alarms[0].offered_note) == 8

    # retries are refused without a new alarm for the same checkpoint
    with pytest.raises(PeerProtocolError):
        witness.exchange(pair.vnm, "AUS")
    assert len(custody.alarms(pair.aus)) == 1

    # the honest side starting the exchange finds the fork in the answer just the same
    record(pair.aus, 1)
    record(pair.vnm, 1, tag="forked on")
    with pytest.raises(InclusionProofError, match="fork"):
        witness.exchange(pair.aus, "VNM")
    assert [(a.kind, size_of(a.offered_note)) for a in custody.alarms(pair.aus)] == [("fork", 9), ("fork", 8)]

    status, shown = admin_alarms(pair.aus_api, "aus-admin")
    assert status == 200 and [(a["party"], a["kind"]) for a in shown] == [("VNM", "fork"), ("VNM", "fork")]
    assert "\n5\n" in shown[1]["previous_note"] and "\n8\n" in shown[1]["offered_note"]
    assert admin_alarms(pair.aus_api, "aus-officer")[0] == 403

    from typer.testing import CliRunner

    from hcx.cli import log as log_cli
    from hcx.cli.node import Node
    from hcx.config import load_settings

    node = Node(load_settings(data_dir=tmp_path / "aus-cli"), _context=pair.aus)
    shown_cli = CliRunner().invoke(log_cli.app, ["alarms", "--json"], obj=node)
    assert shown_cli.exit_code == 0 and shown_cli.stdout.count('"kind": "fork"') == 2
    table = CliRunner().invoke(log_cli.app, ["witnesses"], obj=node)
    assert table.exit_code == 0 and "VNM" in table.stdout


def test_a_rolled_back_log_raises_an_alarm(pair: Pair) -> None:
    record(pair.vnm, 3)
    witness.exchange(pair.vnm, "AUS")
    backup = snapshot_log(pair.vnm_engine)
    record(pair.vnm, 3)
    witness.exchange(pair.vnm, "AUS")

    restore_log(pair.vnm_engine, backup)  # the node restarts from last week's backup
    with pytest.raises(PeerProtocolError):
        witness.exchange(pair.vnm, "AUS")
    alarms = custody.alarms(pair.aus)
    assert [(a.party, a.kind) for a in alarms] == [("VNM", "rollback")]
    assert size_of(alarms[0].previous_note) == 6 and size_of(alarms[0].offered_note) == 3

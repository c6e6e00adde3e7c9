"""Matching between two nodes in one process, through their real ASGI apps (sealed envelopes,
`/federation/match`), on SQLite and PostgreSQL: exactly the intersection, only shareable postings,
resumption, rate limits and refusals. (tests/system runs it between real `hcx serve` processes.)"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from hcx.api import create_app
from hcx.config import Settings
from hcx.crypto import psi
from hcx.crypto.keys import b64e
from hcx.errors import PeerProtocolError, PeerUnreachable, PolicyDenied
from hcx.federation.transport import MATCH_MEDIA_TYPE
from hcx.indicators.sharing import decide_value
from hcx.rules import load_rules
from hcx.rules.schema import AuthorityKind, Role
from hcx.services import accounts, alerts, federation, indicators, matching, taxii
from hcx.services.context import Context, Policy
from hcx.storage import bulk
from hcx.storage.db import migrate
from hcx.storage.unit_of_work import Database
from tests.asgi import SyncAsgiClient
from tests.conftest import BACKENDS, FixedClock, empty_engines
from tests.integration.test_cli import Hcx, hcx  # noqa: F401 - the `hcx` fixture
from tests.integration.test_federation_flow import AppTransport
from tests.integration.test_indicator_index import cli  # noqa: F401 - the `cli` fixture

OPEN_LIMITS = {"match_sessions_per_hour": 10_000, "match_items_per_day": 10**9}


class MatchTransport(AppTransport):
    """AppTransport plus the matching call; `fail_after` makes the peer 'crash' after n calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.fail_after: int | None = None

    def match(self, url: str, message: bytes) -> bytes:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise PeerUnreachable(f"{url}: connection refused")
        response = self._client(url).post("/federation/match", content=message,
                                          headers={"content-type": matching.MEDIA_TYPE})
        if response.status_code != 200:
            raise PeerProtocolError(f"HTTP {response.status_code}")
        return response.content


class Node:
    def __init__(self, party: str, engine: Engine, tmp: Path, clock: FixedClock, transport: MatchTransport,
                 **policy: Any) -> None:
        migrate(engine)
        database = Database(engine)
        self.url = f"http://{party.lower()}.test"
        self.ctx = Context(unit_of_work=database.unit_of_work, read_unit_of_work=database.read_unit_of_work,
                           rules=load_rules(), clock=clock, policy=Policy(**{**OPEN_LIMITS, **policy}),
                           key_passphrase=b"test", transport=transport)
        accounts.init_node(self.ctx, party=party, name=party)
        federation.set_url(self.ctx, self.url)
        central = accounts.add_authority(self.ctx, None, name=f"{party} central", kind=AuthorityKind.central_authority)
        accounts.add_user(self.ctx, None, username=f"{party.lower()}-analyst", password="correct horse battery",
                          role=Role.analyst, authority_id=central.id)
        self.analyst = accounts.principal_for(self.ctx, f"{party.lower()}-analyst")
        self.tmp = tmp
        transport.clients[self.url] = SyncAsgiClient(create_app(Settings(data_dir=tmp), context=self.ctx))

    def load(self, case: str, values: list[str], *, shareable: bool = True, tlp: str = "") -> None:
        path = self.tmp / f"{self.url[7:10]}-{case}.csv"
        path.write_text("type,value,markings\n" + "".join(f"md5,{v},{tlp}\n" for v in values), encoding="utf-8")
        outcome = indicators.import_file(self.ctx, self.analyst, path, case_ref=case)
        assert not outcome.report.rejections
        if shareable:
            matching.mark_imported_shareable(self.ctx, self.analyst, outcome)

    def found(self, session: str | None = None) -> set[tuple[str, str, str]]:
        return {(m.case_ref, m.value, m.peer_party) for m in matching.list_matches(self.ctx, self.analyst)
                if session is None or m.session == session}


def value(i: int) -> str:
    return hashlib.md5(str(i).encode()).hexdigest()  # noqa: S324 - a valid md5-kind indicator, nothing more


@pytest.fixture(params=BACKENDS)
def engines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two empty databases: SQLite files, or two PostgreSQL schemas."""
    with empty_engines(request.param, tmp_path) as (vnm, aus):
        yield vnm, aus


def make_pair(engines: tuple[Engine, Engine], tmp_path: Path, clock: FixedClock, **policy: Any
              ) -> tuple[Node, Node, MatchTransport]:
    transport = MatchTransport()
    vnm = Node("VNM", engines[0], tmp_path, clock, transport, **policy)
    aus = Node("AUS", engines[1], tmp_path, clock, transport, **policy)
    federation.add_peer(vnm.ctx, None, url=aus.url, expected_fingerprint=federation.node_fingerprint(aus.ctx))
    federation.add_peer(aus.ctx, None, url=vnm.url, expected_fingerprint=federation.node_fingerprint(vnm.ctx))
    return vnm, aus, transport


@pytest.fixture
def pair(engines: tuple[Engine, Engine], tmp_path: Path, clock: FixedClock) -> tuple[Node, Node, MatchTransport]:
    return make_pair(engines, tmp_path, clock)


def test_both_sides_find_exactly_the_shared_indicators(pair: tuple[Node, Node, MatchTransport]) -> None:
    vnm, aus, _ = pair
    vnm.load("V-1", [value(i) for i in range(0, 30)])
    vnm.load("V-2", [value(i) for i in range(25, 35)])
    aus.load("A-1", [value(i) for i in range(28, 60)])
    summary = matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=7)
    assert (summary.own_size, summary.peer_size, summary.matches, summary.resumed) == (35, 32, 7, False)
    common = range(28, 35)
    expected_vnm = {("V-1", value(i), "AUS") for i in common if i < 30} | {("V-2", value(i), "AUS") for i in common}
    assert vnm.found() == expected_vnm
    assert aus.found() == {("A-1", value(i), "VNM") for i in common}
    for node in (vnm, aus):
        [session] = matching.list_sessions(node.ctx, node.analyst)
        assert session["state"] == "done" and session["matches"] == 7


def test_a_match_alerts_the_analysts_of_both_sides_and_offers_a_follow_up(
        pair: tuple[Node, Node, MatchTransport]) -> None:
    vnm, aus, _ = pair
    vnm.load("V-1", [value(i) for i in range(0, 5)])
    aus.load("A-1", [value(i) for i in range(3, 9)])
    matching.run(vnm.ctx, vnm.analyst, "AUS")
    matching.run(vnm.ctx, vnm.analyst, "AUS")  # the same match again: no second alert
    for node, case, peer in ((vnm, "V-1", "AUS"), (aus, "A-1", "VNM")):
        found = alerts.list_alerts(node.ctx, node.analyst)
        assert {(a.case_ref, a.value, a.other_country, a.abroad) for a in found} == {
            (case, value(i), peer, True) for i in (3, 4)}
        assert all(a.other_case_ref == "" and a.offers for a in found)  # the peer's case is not disclosed
        # the responder (AUS) has only the initiator's word for its matches: its alerts say so
        assert all(a.other_authority.endswith(alerts.PEER_ASSERTED) == (node is aus) for a in found)
    draft = alerts.follow_up_draft(alerts.list_alerts(vnm.ctx, vnm.analyst)[0], type="spontaneous_information",
                                   requesting_party="VNM", authority_name="VNM central",
                                   authority_kind="central_authority", language="en")
    assert draft.requested_party == "AUS" and "a case" in draft.fields["relevance"]


def test_only_shareable_postings_and_never_tlp_red_are_matched(pair: tuple[Node, Node, MatchTransport]) -> None:
    vnm, aus, _ = pair
    vnm.load("V-open", [value(1), value(2)])
    vnm.load("V-private", [value(3)], shareable=False)
    vnm.load("V-red", [value(4)], tlp="tlp:red")
    aus.load("A-1", [value(i) for i in range(1, 6)])
    summary = matching.run(vnm.ctx, vnm.analyst, "AUS")
    assert (summary.own_size, summary.matches) == (2, 2)
    assert {v for _, v, _ in aus.found()} == {value(1), value(2)}
    # marking the whole case later makes it shareable; TLP:RED stays out even when marked
    matching.mark_shareable(vnm.ctx, vnm.analyst, "V-private")
    matching.mark_shareable(vnm.ctx, vnm.analyst, "V-red")
    assert matching.run(vnm.ctx, vnm.analyst, "AUS").matches == 3
    matching.unmark_shareable(vnm.ctx, vnm.analyst, "V-private")
    assert matching.run(vnm.ctx, vnm.analyst, "AUS").own_size == 2


UNKNOWN_MARKING = "marking-definition--0b1c3a2e-7a4f-4f43-9d0a-6a3f2b0e1c11"


def test_matching_follows_the_tlp_policy_over_every_posting_of_a_value(pair: tuple[Node, Node, MatchTransport]) -> None:
    """Unknown markings count as RED, AMBER goes only to a named recipient, and a value RED in one
    case stays home even when another case marks it shareable (on both sides of the protocol)."""
    vnm, aus, _ = pair
    vnm.load("V-unknown", [value(1)], tlp=UNKNOWN_MARKING)
    vnm.load("V-amber", [value(2)], tlp="tlp:amber")
    vnm.load("V-red", [value(3)], tlp="tlp:red", shareable=False)
    vnm.load("V-open", [value(3), value(4), value(6)])
    vnm.load("V-green", [value(5)], tlp="tlp:green")
    aus.load("A-1", [value(i) for i in range(1, 7)])
    aus.load("A-red", [value(6)], tlp="tlp:red", shareable=False)
    summary = matching.run(vnm.ctx, vnm.analyst, "AUS")
    assert (summary.own_size, summary.matches) == (3, 2)
    assert {v for _, v, _ in aus.found()} == {value(4), value(5)}  # value(6) is RED in AUS's other case
    # naming AUS as a recipient of the AMBER posting lets it be matched with AUS
    with vnm.ctx.unit_of_work() as uow:
        taxii.store(uow).add_recipients([{"authority_id": vnm.analyst.authority_id, "case_ref": "V-amber",
                                          "kind": "md5", "value": value(2), "recipient": "AUS"}])
        uow.commit()
    assert {v for _, v, _ in vnm.found(matching.run(vnm.ctx, vnm.analyst, "AUS").session)} == {
        value(2), value(4), value(5)}


def _postings_of_marked_values(columns: Any) -> list[tuple[bytes, bytes, bytes]]:
    """(key, element, tlp) of each posting read whose key is marked, from the store's packed columns."""
    marked = {columns.marked[i:i + 16] for i in range(0, len(columns.marked), 16)}
    keys = [columns.keys[i:i + 16] for i in range(0, len(columns.keys), 16)]
    if not columns.size:
        return []
    return sorted((key, element, tlp) for key, element, tlp in zip(
        keys, columns.elements.split(b"\xff"), columns.tlps.split(b"\xff"), strict=True) if key in marked)


def test_shareable_postings_read_by_key_or_in_one_pass_are_the_same(pair: tuple[Node, Node, MatchTransport]) -> None:
    """The store reads the postings of marked values by key when they are few among the authority's,
    else in one pass; both give every posting of a marked value (marked or not)."""
    vnm, _, _ = pair
    vnm.load("V-open", [value(1), value(2)])
    vnm.load("V-private", [value(2), value(3)], shareable=False)  # value(2): marked in one case only
    vnm.load("V-red", [value(4)], tlp="tlp:red", shareable=False)
    with vnm.ctx.reading() as uow:
        read = matching.store(uow).shared_set_columns
        by_key = read(authority_id=vnm.analyst.authority_id, never_kinds=matching.NEVER_SHARED_KINDS,
                      scan_fraction=1)  # 2 marked values < 5 postings
        one_pass = read(authority_id=vnm.analyst.authority_id, never_kinds=matching.NEVER_SHARED_KINDS,
                        scan_fraction=10**6)
    assert (by_key.size, one_pass.size) == (3, 5)
    assert _postings_of_marked_values(by_key) == _postings_of_marked_values(one_pass)
    assert sorted(e for _, e, _ in _postings_of_marked_values(by_key)) == sorted(
        psi.element("md5", v) for v in (value(1), value(2), value(2)))


@pytest.mark.parametrize("scan_fraction", [1, 10**6])
def test_shareable_postings_are_read_in_one_snapshot(pair: tuple[Node, Node, MatchTransport],
                                                     engines: tuple[Engine, Engine], scan_fraction: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The marks and the postings are read by one statement (one snapshot, also on PostgreSQL's read
    committed): a change committed right after it (a RED posting made GREEN and unmarked at once)
    leaves the set read before it. What this pins is the single statement; a change committed while
    the statement runs is left to the database's snapshot."""
    vnm, _, _ = pair
    vnm.load("V-open", [value(1)], tlp="tlp:red")
    vnm.load("V-other", [value(2), value(3), value(4), value(5)], shareable=False)
    real = bulk.driver_rows
    reads: list[str] = []

    def changing_meanwhile(connection: Any, sql: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        rows = real(connection, sql, parameters)
        if not reads:
            with engines[0].begin() as other:
                other.execute(text("UPDATE indicator_postings SET tlp = 'tlp:green' WHERE case_ref = 'V-open'"))
                other.execute(text("DELETE FROM match_shareable WHERE case_ref = 'V-open'"))
        reads.append(sql)
        return rows

    monkeypatch.setattr(bulk, "driver_rows", changing_meanwhile)
    with vnm.ctx.reading() as uow:
        read = matching.store(uow).shared_set_columns(authority_id=vnm.analyst.authority_id,
                                                      never_kinds=matching.NEVER_SHARED_KINDS,
                                                      scan_fraction=scan_fraction)
    assert len(reads) == 1
    assert [(e, tlp) for _, e, tlp in _postings_of_marked_values(read)] in (
        [(psi.element("md5", value(1)), b"tlp:red")], [])


def test_amber_named_for_one_case_of_a_value_is_not_enough(pair: tuple[Node, Node, MatchTransport]) -> None:
    """Recipients are named per case: a value AMBER in two cases goes to AUS only when both name it."""
    vnm, aus, _ = pair
    vnm.load("V-amber-1", [value(1), value(2)], tlp="tlp:amber")
    vnm.load("V-amber-2", [value(1)], tlp="tlp:amber", shareable=False)
    aus.load("A-1", [value(1), value(2)])

    def named(case: str, v: str) -> None:
        with vnm.ctx.unit_of_work() as uow:
            taxii.store(uow).add_recipients([{"authority_id": vnm.analyst.authority_id, "case_ref": case,
                                              "kind": "md5", "value": v, "recipient": "AUS"}])
            uow.commit()

    assert matching.run(vnm.ctx, vnm.analyst, "AUS").own_size == 0
    named("V-amber-1", value(1))
    named("V-amber-1", value(2))
    summary = matching.run(vnm.ctx, vnm.analyst, "AUS")
    assert (summary.own_size, summary.matches) == (1, 1)  # value(1) is AMBER in V-amber-2 too
    named("V-amber-2", value(1))
    summary = matching.run(vnm.ctx, vnm.analyst, "AUS")
    assert (summary.own_size, summary.matches) == (2, 2)
    assert vnm.found(summary.session) == {("V-amber-1", value(1), "AUS"), ("V-amber-1", value(2), "AUS")}


@pytest.mark.parametrize("seed", [1, 2, 8])
def test_the_set_is_every_marked_value_that_decide_value_lets_go(pair: tuple[Node, Node, MatchTransport],
                                                                 seed: int) -> None:
    """The packed read and the numpy join give what the rule says, written out plainly: a value
    with a marked posting, whose postings in every case, each with the recipients named for it,
    `decide_value` lets go to the peer."""
    vnm, _, _ = pair
    rng = random.Random(seed)
    markings = ["", "tlp:green", "tlp:clear", "tlp:amber", "tlp:red", UNKNOWN_MARKING]
    cases = {f"C-{c}": (rng.sample(range(12), rng.randint(1, 8)), rng.choice(markings), rng.random() < 0.6)
             for c in range(5)}
    for case, (values, tlp, marked) in cases.items():
        vnm.load(case, [value(v) for v in values], tlp=tlp, shareable=marked)
    named = {(case, v) for case, (values, _, _) in cases.items() for v in values if rng.random() < 0.3}
    with vnm.ctx.unit_of_work() as uow:
        taxii.store(uow).add_recipients([{"authority_id": vnm.analyst.authority_id, "case_ref": case, "kind": "md5",
                                          "value": value(v), "recipient": "AUS"} for case, v in named])
        uow.commit()
    with vnm.ctx.reading() as uow:
        to = matching.peer_destination(uow, "AUS", "x")
        shared = matching._shared_set(uow, vnm.analyst.authority_id, psi.new_scalar(), to)
    expected = set()
    for v in range(12):
        holding = [(case, tlp, marked) for case, (values, tlp, marked) in cases.items() if v in values]
        allowed = decide_value([(tlp.split(), {"AUS"} if (case, v) in named else set()) for case, tlp, _ in holding],
                               to=to, unmarked=matching.MATCH_UNMARKED).allowed
        if allowed and any(marked for _, _, marked in holding):
            expected.add(psi.element("md5", value(v)))
    assert set(shared.elements) == expected and len(shared.elements) == len(expected)


def test_results_record_the_postings_marked_when_they_are_recorded(pair: tuple[Node, Node, MatchTransport]) -> None:
    """The set keeps one key per value; the results read the value's marked postings at recording
    time: a case unmarked since the session opened is left out, a value unmarked everywhere records
    nothing."""
    vnm, _, _ = pair
    vnm.load("V-1", [value(1), value(2)])
    vnm.load("V-2", [value(1), value(3)])
    with vnm.ctx.reading() as uow:
        shared = matching._shared_set(uow, vnm.analyst.authority_id, psi.new_scalar(),
                                      matching.peer_destination(uow, "AUS", "x"))
    assert sorted(shared.elements) == sorted(psi.element("md5", value(i)) for i in (1, 2, 3))
    matching.unmark_shareable(vnm.ctx, vnm.analyst, "V-2")
    now = vnm.ctx.clock.now()
    with vnm.ctx.unit_of_work() as uow:
        session = matching.store(uow).add_session(
            id="01J0000000000000000000000A", role=matching.INITIATOR, authority_id=vnm.analyst.authority_id,
            peer_party="AUS", peer_authority="x", state="open", scalar_sealed=b"", set_digest=shared.digest,
            own_size=3, peer_size=3, chunk_size=3, x_chunks=0, y_chunks=0, matches=0, created_at=now,
            updated_at=now, error="")
        matched = [shared.elements.index(psi.element("md5", value(i))) for i in (1, 3)]  # positions in the set
        matching._record(vnm.ctx, uow, session, shared, matched, now)
        uow.commit()
    assert vnm.found() == {("V-1", value(1), "AUS")}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=st.sets(st.integers(0, 80), max_size=40), y=st.sets(st.integers(0, 80), max_size=40),
       chunk=st.integers(1, 25))
def test_random_sets_give_exactly_their_intersection(pair: tuple[Node, Node, MatchTransport], x: set[int],
                                                      y: set[int], chunk: int) -> None:
    vnm, aus, _ = pair
    case = uuid.uuid4().hex[:8]
    for node, values, prefix in ((vnm, x, "X"), (aus, y, "Y")):  # only this example's case is shareable
        with node.ctx.unit_of_work() as uow:
            cases = {p[3] for p in matching.store(uow).shareable_postings(authority_id=node.analyst.authority_id)}
        for old in cases:
            matching.unmark_shareable(node.ctx, node.analyst, old)
        if values:
            node.load(f"{prefix}-{case}", [value(i) for i in values])
    summary = matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=chunk)
    expected = {value(i) for i in x & y}
    assert summary.matches == len(expected)
    assert {v for _, v, _ in vnm.found(summary.session)} == expected
    assert {v for _, v, _ in aus.found(summary.session)} == expected


def test_a_session_resumes_after_the_peer_went_away(pair: tuple[Node, Node, MatchTransport]) -> None:
    vnm, aus, transport = pair
    vnm.load("V-1", [value(i) for i in range(0, 60)])
    aus.load("A-1", [value(i) for i in range(40, 100)])
    transport.fail_after = 6  # open + 5 of the 12 chunks (6 of X, 6 of Y, in two lanes) get through
    with pytest.raises(PeerUnreachable):
        matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=10)
    [session] = matching.list_sessions(vnm.ctx, vnm.analyst)
    assert session["state"] == "open"
    with vnm.ctx.reading() as uow:
        kept = matching.store(uow).get_session(session["session"], matching.INITIATOR)
        assert kept is not None
        x_kept, y_kept = kept.x_chunks, kept.y_chunks
    assert 1 <= x_kept + y_kept <= 5
    transport.fail_after = None
    aus.ctx.cache.clear()  # the peer restarted: its in-memory set is gone
    calls = transport.calls
    summary = matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=10)
    assert summary.resumed and summary.session == session["session"] and summary.matches == 20
    # open again, the chunks not kept, the result
    assert transport.calls - calls == 1 + (6 - x_kept) + (6 - y_kept) + 1
    assert {v for _, v, _ in aus.found()} == {value(i) for i in range(40, 60)}


def test_a_changed_set_starts_a_new_session(pair: tuple[Node, Node, MatchTransport]) -> None:
    vnm, aus, transport = pair
    vnm.load("V-1", [value(i) for i in range(0, 30)])
    aus.load("A-1", [value(i) for i in range(20, 40)])
    transport.fail_after = 2
    with pytest.raises(PeerUnreachable):
        matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=10)
    transport.fail_after = None
    vnm.load("V-2", [value(35)])
    summary = matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=10)
    assert not summary.resumed and summary.matches == 11
    assert sorted(s["state"] for s in matching.list_sessions(vnm.ctx, vnm.analyst)) == ["done", "failed"]


def test_the_responder_refuses_to_go_on_with_a_changed_set(pair: tuple[Node, Node, MatchTransport]) -> None:
    """After a restart the responder builds its set again: another set than the one it opened with
    (its digest) ends the session; the same set resumes it."""
    vnm, aus, transport = pair
    vnm.load("V-1", [value(i) for i in range(0, 30)])
    aus.load("A-1", [value(i) for i in range(20, 40)])
    transport.fail_after = 2
    with pytest.raises(PeerUnreachable):
        matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=10)
    transport.fail_after = None
    aus.ctx.cache.clear()
    aus.load("A-2", [value(45)])
    with pytest.raises(PolicyDenied, match="changed since the session opened"):
        matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=10)
    matching.unmark_shareable(aus.ctx, aus.analyst, "A-2")
    aus.ctx.cache.clear()
    summary = matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=10)
    assert summary.resumed and summary.matches == 10


def test_rate_limits_refuse_a_peer_using_the_node_as_an_oracle(engines: tuple[Engine, Engine], tmp_path: Path,
                                                               clock: FixedClock) -> None:
    vnm, aus, _ = make_pair(engines, tmp_path, clock, match_sessions_per_hour=2, match_items_per_day=100,
                            match_max_set=60)
    aus.load("A-1", [value(i) for i in range(0, 10)])
    for guess in range(2):  # one guess per session: the flood an oracle needs
        vnm.load(f"G-{guess}", [value(guess)])
        matching.mark_shareable(vnm.ctx, vnm.analyst, f"G-{guess}")
        matching.unmark_shareable(vnm.ctx, vnm.analyst, f"G-{guess - 1}")
        assert matching.run(vnm.ctx, vnm.analyst, "AUS").matches == 1
    vnm.load("G-2", [value(2)])
    with pytest.raises(PolicyDenied, match="rate limit: 2 match sessions per hour"):
        matching.run(vnm.ctx, vnm.analyst, "AUS")
    clock.advance(hours=1, minutes=1)
    vnm.load("G-big", [value(i) for i in range(100, 161)])  # 61 + 3 shareable: over the set cap
    with pytest.raises(PolicyDenied, match="exceeds this node's limit of 60"):
        matching.run(vnm.ctx, vnm.analyst, "AUS")
    for case in ("G-big", "G-1", "G-2"):
        matching.unmark_shareable(vnm.ctx, vnm.analyst, case)
    vnm.load("G-day", [value(i) for i in range(200, 255)])  # 55 items: 57 declared today
    assert matching.run(vnm.ctx, vnm.analyst, "AUS").own_size == 55
    with pytest.raises(PolicyDenied, match="rate limit: 100 items per day"):  # 55 more: 112
        matching.run(vnm.ctx, vnm.analyst, "AUS")
    with aus.ctx.reading() as uow:
        sessions = matching.store(uow).list_sessions(authority_id=aus.analyst.authority_id)
        assert len(sessions) == 3  # refused sessions leave nothing behind


def test_a_chunk_index_cannot_be_reused_for_other_points(pair: tuple[Node, Node, MatchTransport]) -> None:
    """A peer that resends chunk 0 with other points would get a second evaluation for free."""
    vnm, aus, transport = pair
    vnm.load("V-1", [value(i) for i in range(0, 4)])
    aus.load("A-1", [value(i) for i in range(0, 4)])
    transport.fail_after = 5  # open and the chunks pass, the result does not
    with pytest.raises(PeerUnreachable):
        matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=2)
    transport.fail_after = None
    [session] = matching.list_sessions(vnm.ctx, vnm.analyst)
    with vnm.ctx.reading() as uow:
        found = matching.store(uow).get_session(session["session"], matching.INITIATOR)
        assert found is not None
        record = matching._Progress.of(found)
    other = psi.blind(psi.new_scalar(), record.id, [psi.element("md5", value(99)), psi.element("md5", value(98))])
    with pytest.raises(PolicyDenied, match="already answered with other points"):
        matching._exchange(vnm.ctx, record, matching.X_CHUNK, {"session": record.id, "index": 0}, other)
    with pytest.raises(PolicyDenied, match="out of turn"):
        matching._exchange(vnm.ctx, record, matching.X_CHUNK, {"session": record.id, "index": 5}, other)
    assert matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=2).matches == 4


def test_unverifiable_messages_get_an_opaque_refusal(pair: tuple[Node, Node, MatchTransport]) -> None:
    _, aus, transport = pair
    client = transport.clients[aus.url]
    for body in (b"", b"{}", b"not json", b'{"hcx": "envelope/1"}'):
        response = client.post("/federation/match", content=body)
        assert response.status_code == 400 and response.json()["error"]["code"] == "refused"


def test_roles(pair: tuple[Node, Node, MatchTransport]) -> None:
    vnm, _, _ = pair
    accounts.add_user(vnm.ctx, None, username="vnm-sup", password="correct horse battery", role=Role.supervisor,
                      authority_id=vnm.analyst.authority_id)
    supervisor = accounts.principal_for(vnm.ctx, "vnm-sup")
    with pytest.raises(PolicyDenied):
        matching.run(vnm.ctx, supervisor, "AUS")
    with pytest.raises(PolicyDenied):
        matching.mark_shareable(vnm.ctx, supervisor, "V-1")


# --- the command line ------------------------------------------------------------------------------

def test_cli_share_unshare_and_list(cli: Hcx, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    path = tmp_path / "a.csv"
    path.write_text("type,value\n" + "".join(f"md5,{value(i)}\n" for i in range(3)), encoding="utf-8")
    cli.ok("indicators", "import", str(path), "--case", "C-1", "--user", "ana", "--shareable")
    cli.ok("indicators", "import", str(path), "--case", "C-2", "--user", "ana")
    assert "C-2: 3 indicator(s) shareable" in cli.ok("match", "share", "C-2", "--user", "ana").stdout
    # the import marked C-1's three; C-2 was not marked before `share`
    assert "C-1: 3 indicator(s) no longer" in cli.ok("match", "unshare", "C-1", "--user", "ana").stdout
    assert "C-2: 3 indicator(s) no longer" in cli.ok("match", "unshare", "C-2", "--user", "ana").stdout
    assert cli.ok("match", "list", "--user", "ana", "--json").json() == []
    assert cli.ok("match", "sessions", "--user", "ana", "--json").json() == []
    assert "Matches with other nodes" in cli.ok("match", "list", "--user", "ana").stdout
    assert cli("match", "run", "AUS", "--user", "ana").exit_code == 4  # not a pinned peer


# --- the chunk messages: points as an attachment (docs/matching.md, Messages) ---------------------

def _interrupted(pair: tuple[Node, Node, MatchTransport]) -> matching._Progress:
    """A session the responder opened (chunk size 2, two X chunks of 2 points) and nothing more."""
    vnm, aus, transport = pair
    vnm.load("V-1", [value(i) for i in range(0, 4)])
    aus.load("A-1", [value(i) for i in range(2, 6)])
    transport.fail_after = 1  # the open gets through, no chunk does
    with pytest.raises(PeerUnreachable):
        matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=2)
    transport.fail_after = None
    [session] = matching.list_sessions(vnm.ctx, vnm.analyst)
    with vnm.ctx.reading() as uow:
        found = matching.store(uow).get_session(session["session"], matching.INITIATOR)
        assert found is not None
        return matching._Progress.of(found)


def _sealed(node: Node, record: matching._Progress, kind: str, body: dict[str, Any],
            points: bytes | None = None) -> bytes:
    with node.ctx.reading() as uow:
        return matching._seal(node.ctx, uow, kind=kind, own_authority=record.authority_id, party=record.peer_party,
                              authority=record.peer_authority, body={"session": record.id, **body}, points=points)[1]


def _post(pair: tuple[Node, Node, MatchTransport], message: bytes) -> Any:
    _, aus, transport = pair
    return transport.clients[aus.url].post("/federation/match", content=message,
                                           headers={"content-type": matching.MEDIA_TYPE})


def _answer(node: Node, message: bytes) -> tuple[Any, bytes | None]:
    wire, attachment = matching._unframe(message)
    with node.ctx.reading() as uow:
        return matching._open(node.ctx, uow, wire).envelope, attachment


def _x_chunks_answered(aus: Node, record: matching._Progress) -> int:
    with aus.ctx.reading() as uow:
        session = matching.store(uow).get_session(record.id, matching.RESPONDER)
        assert session is not None
        return session.x_chunks


def _blinded(record: matching._Progress, *values: int) -> bytes:
    return psi.blind(psi.new_scalar(), record.id, [psi.element("md5", value(i)) for i in values])


def test_chunk_points_travel_encrypted_beside_the_envelope(pair: tuple[Node, Node, MatchTransport]) -> None:
    vnm, _, _ = pair
    record = _interrupted(pair)
    points = _blinded(record, 0, 1)
    message = _sealed(vnm, record, matching.X_CHUNK, {"index": 0}, points)
    wire, attachment = matching._unframe(message)
    assert attachment is not None and len(attachment) == 2 * psi.POINT + 16 and points not in message
    assert b"points" not in wire and len(wire) < 8_000  # the envelope stays small, whatever the chunk
    response = _post(pair, message)
    assert response.status_code == 200 and response.headers["content-type"] == matching.MEDIA_TYPE
    envelope, attached = _answer(vnm, response.content)
    assert envelope.type == matching.ANSWER and set(envelope.body) == {"session", "index", "key", "count"}
    assert envelope.body["count"] == 2 and attached is not None and len(attached) == 2 * psi.POINT + 16
    assert matching._attachment(envelope.id, envelope.body["key"], 2, attached) not in (points, b"")
    assert matching.MEDIA_TYPE == MATCH_MEDIA_TYPE  # the HTTP transport's copy


def test_an_attachment_that_is_not_the_senders_is_refused_opaquely_and_costs_nothing(
        pair: tuple[Node, Node, MatchTransport]) -> None:
    """A flipped byte, a missing, short or long attachment, another message's attachment: the
    message does not verify (HTTP 400, as an altered envelope), and nothing is kept of it."""
    vnm, aus, _ = pair
    record = _interrupted(pair)
    genuine = _sealed(vnm, record, matching.X_CHUNK, {"index": 0}, _blinded(record, 0, 1))
    other = _sealed(vnm, record, matching.X_CHUNK, {"index": 0}, _blinded(record, 2, 3))  # same size
    wire, attachment = matching._unframe(genuine)
    assert attachment is not None
    other_attachment = matching._unframe(other)[1]
    assert other_attachment is not None and len(other_attachment) == len(attachment)
    flipped_first = bytes([attachment[0] ^ 1]) + attachment[1:]
    flipped_tag = attachment[:-1] + bytes([attachment[-1] ^ 0x80])
    for altered in (flipped_first, flipped_tag, other_attachment, attachment[:-1], attachment + b"\0", b""):
        response = _post(pair, matching._frame(wire, altered))
        assert response.status_code == 400 and response.json()["error"]["code"] == "refused"
    assert _post(pair, wire).status_code == 400  # no attachment at all
    assert _x_chunks_answered(aus, record) == 0  # no digest kept: the genuine chunk is still answered
    response = _post(pair, genuine)
    envelope, _ = _answer(vnm, response.content)
    assert response.status_code == 200 and envelope.type == matching.ANSWER
    assert _x_chunks_answered(aus, record) == 1


def test_an_attachment_on_a_message_without_points_is_refused_opaquely(
        pair: tuple[Node, Node, MatchTransport]) -> None:
    vnm, _, _ = pair
    record = _interrupted(pair)
    y = _sealed(vnm, record, matching.Y_CHUNK, {"index": 0})
    opened = _sealed(vnm, record, matching.OPEN, {"protocol": matching.PROTOCOL, "x_size": 4, "chunk_size": 2})
    for message in (y, opened):
        assert _post(pair, message).status_code == 200
        for attachment in (b"", bytes(2 * psi.POINT + 16)):
            response = _post(pair, matching._frame(message, attachment))
            assert response.status_code == 400 and response.json()["error"]["code"] == "refused"


def test_a_signed_body_that_gets_the_points_wrong_gets_a_sealed_refusal(
        pair: tuple[Node, Node, MatchTransport]) -> None:
    """Points that the sender did attach but that the session does not allow, or a key of another
    size: a verified message, declined with the reason."""
    vnm, aus, _ = pair
    record = _interrupted(pair)
    with pytest.raises(PolicyDenied, match="expected 2 points, got 1"):
        matching._exchange(vnm.ctx, record, matching.X_CHUNK, {"session": record.id, "index": 0},
                           _blinded(record, 0))
    with pytest.raises(PolicyDenied, match="expected 2 points, got 3"):
        matching._exchange(vnm.ctx, record, matching.X_CHUNK, {"session": record.id, "index": 0},
                           _blinded(record, 0, 1, 2))
    for key, reason in ((b64e(bytes(16)), "the attachment key is 16 bytes, not 32"),
                        ("not base64!", "the attachment key is not base64url")):
        message = matching._frame(_sealed(vnm, record, matching.X_CHUNK, {"index": 0, "key": key, "count": 2}),
                                  bytes(2 * psi.POINT + 16))
        response = _post(pair, message)
        envelope, attached = _answer(vnm, response.content)
        assert response.status_code == 200 and attached is None
        assert envelope.type == matching.REFUSED and envelope.body["reason"] == reason
    assert _x_chunks_answered(aus, record) == 0
    assert matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=2).matches == 2  # the session goes on


def test_an_answer_whose_attachment_is_not_the_peers_is_refused(pair: tuple[Node, Node, MatchTransport],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The initiator's side: an altered, swapped, missing or unexpected attachment on an answer is
    a peer protocol error; nothing of it is kept, and the session resumes."""
    vnm, _, transport = pair
    record = _interrupted(pair)
    real = transport.match
    earlier: list[bytes] = []

    def answering_with(change: Any) -> None:
        def match(url: str, message: bytes) -> bytes:
            answer = real(url, message)
            earlier.append(answer)
            wire, attachment = matching._unframe(answer)
            return matching._frame(wire, change(attachment))
        monkeypatch.setattr(transport, "match", match)

    y = {"session": record.id, "index": 0}
    for change in (lambda a: a[:5] + bytes([a[5] ^ 1]) + a[6:], lambda a: None, lambda a: a[:-16],
                   lambda a: matching._unframe(earlier[0])[1]):  # the first answer's attachment
        answering_with(change)
        with pytest.raises(PeerProtocolError, match="unverifiable message"):
            matching._exchange(vnm.ctx, record, matching.Y_CHUNK, y)
    answering_with(lambda a: b"")  # an attachment on the answer to a message without points
    with pytest.raises(PeerProtocolError, match="carries an attachment; only chunks of points do"):
        matching._call(vnm.ctx, record, matching.OPEN, {"session": record.id, "protocol": matching.PROTOCOL,
                                                        "x_size": 4, "chunk_size": 2})
    monkeypatch.setattr(transport, "match", real)
    assert matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=2).matches == 2


def test_a_peer_speaking_the_previous_message_layout_is_refused_clearly(
        pair: tuple[Node, Node, MatchTransport]) -> None:
    vnm, _, _ = pair
    record = _interrupted(pair)
    with pytest.raises(PolicyDenied, match=r"unknown protocol 'dh-psi/x25519/sha512/1'; this node speaks "
                                           r"dh-psi/x25519/sha512/1\+attachment/1"):
        matching._call(vnm.ctx, record, matching.OPEN, {"session": record.id, "protocol": psi.PROTOCOL,
                                                        "x_size": 4, "chunk_size": 2})
    with pytest.raises(PolicyDenied, match="the message body is malformed"):  # points inside the body
        matching._call(vnm.ctx, record, matching.X_CHUNK, {"session": record.id, "index": 0,
                                                           "points": b64e(_blinded(record, 0, 1))})

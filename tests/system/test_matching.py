"""Matching between two real `hcx serve` processes over HTTP: exactly the intersection on both
sides, a rate limit that stops an oracle-style flood, and a session that resumes after the peer
was killed in the middle of it. The initiator is this process, acting on its node's database with
the node's own HTTP transport (what `hcx match run` does)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from hcx.errors import Error, PolicyDenied
from hcx.services import accounts, indicators, matching
from hcx.services.context import Principal
from tests.system.conftest import Cluster, SystemNode, pin, wait_for


def value(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def officer(node: SystemNode) -> Principal:
    return accounts.principal_for(node.ctx, node.user("officer"))


def load(node: SystemNode, case: str, numbers: range | list[int], tmp: Path) -> None:
    path = tmp / f"{node.party}-{case}.csv"
    path.write_text("type,value\n" + "".join(f"sha256,{value(i)}\n" for i in numbers), encoding="utf-8")
    outcome = indicators.import_file(node.ctx, officer(node), path, case_ref=case)
    assert not outcome.report.rejections
    matching.mark_imported_shareable(node.ctx, officer(node), outcome)


def found(node: SystemNode) -> set[str]:
    return {m.value for m in matching.list_matches(node.ctx, officer(node))}


def started(cluster: Cluster) -> tuple[SystemNode, SystemNode]:
    vnm, aus = cluster.node("VNM"), cluster.node("AUS")
    for node in (vnm, aus):
        node.start()
    pin([vnm, aus])
    return vnm, aus


def test_two_nodes_find_exactly_their_common_indicators(cluster: Cluster, tmp_path: Path) -> None:
    vnm, aus = started(cluster)
    load(vnm, "V-1", range(0, 300), tmp_path)
    load(vnm, "V-2", [7, 1000, 1001], tmp_path)
    load(aus, "A-1", range(250, 600), tmp_path)
    load(aus, "A-2", [1001, 5000], tmp_path)
    summary = matching.run(vnm.ctx, officer(vnm), "AUS", chunk_size=64)
    expected = {value(i) for i in [*range(250, 300), 1001]}
    assert (summary.own_size, summary.peer_size, summary.matches) == (302, 352, 51)
    assert found(vnm) == found(aus) == expected
    by_case = {(m.case_ref, m.value) for m in matching.list_matches(aus.ctx, officer(aus))}
    assert ("A-2", value(1001)) in by_case and ("A-1", value(1001)) not in by_case


def test_the_rate_limit_refuses_an_oracle_style_flood(cluster: Cluster, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCX_MATCH_SESSIONS_PER_HOUR", "3")  # read by the serve processes started now
    vnm, aus = started(cluster)
    load(aus, "A-1", range(0, 50), tmp_path)
    answers: list[int] = []
    with pytest.raises(PolicyDenied, match="rate limit: 3 match sessions per hour"):
        for guess in range(100):  # one guess per session, as an oracle would ask
            load(vnm, f"G-{guess}", [guess], tmp_path)
            if guess:
                matching.unmark_shareable(vnm.ctx, officer(vnm), f"G-{guess - 1}")
            answers.append(matching.run(vnm.ctx, officer(vnm), "AUS").matches)
    assert answers == [1, 1, 1]
    log = aus.log_since(0)
    assert "rate limit: 3 match sessions per hour" in log


def test_a_session_resumes_after_the_peer_was_killed(cluster: Cluster, tmp_path: Path) -> None:
    vnm, aus = started(cluster)
    load(vnm, "V-1", range(0, 3000), tmp_path)
    load(aus, "A-1", range(2500, 4000), tmp_path)
    failure: list[Error] = []

    def first_attempt() -> None:
        try:
            matching.run(vnm.ctx, officer(vnm), "AUS", chunk_size=50)
        except Error as exc:
            failure.append(exc)

    def chunks_done() -> int:
        sessions = matching.list_sessions(vnm.ctx, officer(vnm))
        if not sessions:
            return 0
        with vnm.ctx.reading() as uow:
            record = matching.store(uow).get_session(sessions[0]["session"], matching.INITIATOR)
            return record.x_chunks if record else 0

    attempt = threading.Thread(target=first_attempt)
    attempt.start()
    wait_for(lambda: chunks_done() >= 5, timeout=60, what="five chunks acknowledged")
    aus.kill()
    attempt.join(timeout=60)
    assert failure, "the session went on without its peer"
    [interrupted] = matching.list_sessions(vnm.ctx, officer(vnm))
    assert interrupted["state"] == "open" and chunks_done() < 60
    aus.start()
    summary = matching.run(vnm.ctx, officer(vnm), "AUS", chunk_size=50)
    assert summary.resumed and summary.session == interrupted["session"]
    assert summary.matches == 500
    assert found(vnm) == found(aus) == {value(i) for i in range(2500, 3000)}

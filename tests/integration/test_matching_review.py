"""Matching against a responder that seals and signs properly but answers with the wrong number of
points, and a mark whose posting is gone."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text

from hcx.crypto import psi
from hcx.errors import Conflict, PeerProtocolError
from hcx.services import indicators, matching
from hcx.storage.matching_store import SqlMatchStore
from tests.integration import test_matching
from tests.integration.test_matching import MatchTransport, Node, value

engines, pair = test_matching.engines, test_matching.pair  # the fixtures


def _load(pair: tuple[Node, Node, MatchTransport]) -> tuple[Node, Node]:
    vnm, aus, _ = pair
    vnm.load("V-1", [value(i) for i in range(0, 4)])
    aus.load("A-1", [value(i) for i in range(2, 6)])
    return vnm, aus


def _chunks_kept(node: Node, part: str) -> int:
    [session] = matching.list_sessions(node.ctx, node.analyst)
    with node.ctx.reading() as uow:
        found = matching.store(uow).get_session(session["session"], matching.INITIATOR)
        assert found is not None
        return int(found.y_chunks if part == "y" else found.x_chunks)


def test_an_authentic_y_answer_with_an_extra_point_is_refused(pair: tuple[Node, Node, MatchTransport],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A responder that answers a Y chunk with one point more than the chunk (sealed and signed
    properly) would get one more evaluation of the initiator's secret: refused, nothing kept."""
    vnm, _ = _load(pair)
    real = matching._on_y

    def one_more(ctx: Any, opened: Any, body: Any) -> Any:
        answer, points = real(ctx, opened, body)
        assert points is not None
        return answer, points + psi.hash_to_point("probe", b"extra")

    monkeypatch.setattr(matching, "_on_y", one_more)
    with pytest.raises(PeerProtocolError, match="expected 2 points, got 3"):
        matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=2)
    assert _chunks_kept(vnm, "y") == 0
    monkeypatch.setattr(matching, "_on_y", real)
    assert matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=2).matches == 2


def test_an_authentic_x_answer_with_a_point_missing_is_refused(pair: tuple[Node, Node, MatchTransport],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    vnm, _ = _load(pair)
    real = matching._on_x

    def one_less(ctx: Any, opened: Any, body: Any, attached: bytes) -> Any:
        answer, points = real(ctx, opened, body, attached)
        assert points is not None
        return answer, points[:-psi.POINT]

    monkeypatch.setattr(matching, "_on_x", one_less)
    with pytest.raises(PeerProtocolError, match="expected 2 points, got 1"):
        matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=2)
    assert _chunks_kept(vnm, "x") == 0
    monkeypatch.setattr(matching, "_on_x", real)
    assert matching.run(vnm.ctx, vnm.analyst, "AUS", chunk_size=2).matches == 2


def test_a_mark_without_its_posting_does_not_share_the_value(
        pair: tuple[Node, Node, MatchTransport], engines: tuple[Engine, Engine]) -> None:
    """Consent is the mark of a posting: a mark whose posting is gone (no code deletes postings,
    but nothing in the schema prevents it) must not share the value that an unmarked case still
    holds."""
    vnm, _, _ = pair
    vnm.load("V-marked", [value(1)])
    vnm.load("V-private", [value(1)], shareable=False)
    with engines[0].begin() as connection:
        connection.execute(text("DELETE FROM indicator_postings WHERE case_ref = 'V-marked'"))
    with vnm.ctx.reading() as uow:
        shared = matching._shared_set(uow, vnm.analyst.authority_id, psi.new_scalar(),
                                      matching.peer_destination(uow, "AUS", "x"))
    assert shared.elements == []


def test_columns_that_do_not_line_up_are_refused(pair: tuple[Node, Node, MatchTransport],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The packed columns line up by the engines' behaviour, not by a documented rule: a set whose
    elements and keys came apart (here the first and the last element swapped) is refused, not
    matched with another posting's TLP marking."""
    vnm, _, _ = pair
    vnm.load("V-1", [value(i) for i in range(0, 5)])
    real = SqlMatchStore.shared_set_columns

    def swapped(self: SqlMatchStore, **kwargs: Any) -> Any:
        columns = real(self, **kwargs)
        pieces = columns.elements.split(b"\xff")
        pieces[0], pieces[-1] = pieces[-1], pieces[0]
        return columns._replace(elements=b"\xff".join(pieces))

    with vnm.ctx.reading() as uow:
        destination = matching.peer_destination(uow, "AUS", "x")
        key_of = indicators.posting_keys(vnm.ctx)
        assert len(matching._shared_set(uow, vnm.analyst.authority_id, psi.new_scalar(), destination,
                                        posting_key=key_of).elements) == 5
        monkeypatch.setattr(SqlMatchStore, "shared_set_columns", swapped)
        with pytest.raises(Conflict, match="do not line up"):
            matching._shared_set(uow, vnm.analyst.authority_id, psi.new_scalar(), destination, posting_key=key_of)

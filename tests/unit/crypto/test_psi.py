"""The DH-PSI building blocks (crypto/psi.py): commutativity, sessions, low-order points, and what
the initiator's view of a run holds (nothing beyond the intersection)."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest

from hcx.crypto import psi
from hcx.errors import InvalidInput

P = 2**255 - 19
# RFC 7748 §5 / libsodium: u-coordinates of points of small order on Curve25519 or its twist.
LOW_ORDER = [0, 1, 325606250916557431795983626356110631294008115727848805560023387167927233504,
             39382357235489614581723060781553021112529911719440698176882885853963445705823, P - 1, P, P + 1]


def items(*values: str) -> list[bytes]:
    return [psi.element("domain", v) for v in values]


def run(x: list[bytes], y: list[bytes], session: str = "S1") -> tuple[dict[str, bytes], list[tuple[int, int]]]:
    """One honest run in memory; returns A's view (what A received) and the matched positions."""
    a, b = psi.new_scalar(), psi.new_scalar()
    xs, ys = psi.shuffled(a, x), psi.shuffled(b, y)
    x_a = psi.blind(a, session, xs)  # A -> B
    x_ab = psi.exponentiate(b, x_a)  # B -> A, in A's order
    y_b = psi.blind(b, session, ys)  # B -> A, shuffled
    pairs = psi.intersect(x_ab, psi.exponentiate(a, y_b))
    found = {xs[i] for i, _ in pairs}
    assert found == {ys[j] for _, j in pairs}
    return {"x_ab": x_ab, "y_b": y_b, "a": a}, [(i, j) for i, j in pairs]


def test_exponentiation_commutes() -> None:
    a, b = psi.new_scalar(), psi.new_scalar()
    points = psi.blind(psi.new_scalar(), "S", items("a.example", "b.example", "c.example"))
    assert psi.exponentiate(a, psi.exponentiate(b, points)) == psi.exponentiate(b, psi.exponentiate(a, points))
    assert psi.exponentiate(a, points) != psi.exponentiate(b, points)


def test_an_honest_run_finds_exactly_the_intersection() -> None:
    x = items("a.example", "b.example", "c.example", "d.example")
    y = items("c.example", "x.example", "a.example")
    _, pairs = run(x, y)
    assert len(pairs) == 2


def test_hashed_points_are_on_the_curve_and_bound_to_the_session() -> None:
    item = psi.element("phone", "+49301234567")
    points = {psi.hash_to_point(f"S{i}", item) for i in range(200)}
    assert len(points) == 200 and all(psi.on_curve(p) for p in points)
    assert psi.hash_to_point("S0", item) == psi.hash_to_point("S0", item)
    assert psi.hash_to_point("S0", item) != psi.hash_to_point("S0", psi.element("phone", "+49301234568"))


def test_points_of_another_session_do_not_match() -> None:
    a, b = psi.new_scalar(), psi.new_scalar()
    x = items("a.example", "b.example")
    x_ab = psi.exponentiate(b, psi.blind(a, "S1", x))
    y_ba = psi.exponentiate(a, psi.blind(b, "S2", x))  # the same values, hashed for another session
    assert psi.intersect(x_ab, y_ba) == []
    assert len(psi.intersect(x_ab, psi.exponentiate(a, psi.blind(b, "S1", x)))) == 2


@pytest.mark.parametrize("u", LOW_ORDER)
def test_low_order_points_are_refused(u: int) -> None:
    point = (u % 2**256).to_bytes(32, "little")
    if u in (P, P + 1):  # non-canonical encodings of 0 and 1
        point = u.to_bytes(32, "little")
    with pytest.raises(InvalidInput, match="low order"):
        psi.exponentiate(psi.new_scalar(), psi.hash_to_point("S", b"x") + point)
    assert not psi.on_curve(point)


def test_malformed_point_lists_are_refused() -> None:
    with pytest.raises(InvalidInput):
        psi.exponentiate(psi.new_scalar(), b"\x09" * 33)
    with pytest.raises(InvalidInput):
        psi.split(b"\x00" * 31)


def test_the_order_is_secret_yet_stable() -> None:
    values = items(*(f"{i}.example" for i in range(50)))
    a = psi.new_scalar()
    first = psi.shuffled(a, values)
    assert first == psi.shuffled(a, list(reversed(values)))
    assert first != psi.shuffled(psi.new_scalar(), values)
    assert sorted(first) == sorted(values)


def test_the_order_digest_changes_with_the_set_and_only_with_it() -> None:
    values = items(*(f"{i}.example" for i in range(50)))
    a = psi.new_scalar()
    _, digest = psi.session_order(a, values)
    assert psi.session_order(a, list(reversed(values)))[1] == digest
    assert psi.session_order(a, values[1:])[1] != digest
    assert psi.session_order(a, [*values[1:], psi.element("domain", "other.example")])[1] != digest


def test_the_order_is_a_keyed_permutation_of_the_canonical_positions() -> None:
    a = psi.new_scalar()
    order = psi.order_permutation(a, 1000)
    assert sorted(order.tolist()) == list(range(1000))
    assert order.tolist() == psi.order_permutation(a, 1000).tolist()  # after a restart: the same
    assert order.tolist() != psi.order_permutation(psi.new_scalar(), 1000).tolist()
    assert order.tolist() != list(range(1000))
    assert psi.order_permutation(a, 0).tolist() == []
    values = items("c", "a", "b")
    assert psi.in_order(values, np.array([2, 0, 1])) == [values[2], values[0], values[1]]


def test_the_order_digest_refuses_an_item_that_would_make_it_ambiguous() -> None:
    assert psi.order_digest([b"a", b"b"]) != psi.order_digest([b"ab"])
    assert psi.order_digest([]) != psi.order_digest([b""])
    with pytest.raises(InvalidInput):
        psi.order_digest([b"a\xffb"])


def test_an_element_is_kind_nul_value_in_utf8() -> None:
    assert psi.element("domain", "bücher.example") == b"domain\x00" + "bücher.example".encode()


def test_parallel_blinding_gives_the_same_points_in_order() -> None:
    from concurrent.futures import ThreadPoolExecutor

    scalar, values = psi.new_scalar(), items(*(f"{i}.example" for i in range(5000)))
    with ThreadPoolExecutor(2) as pool:
        assert psi.blind(scalar, "S", values, executor=pool, parts=2) == psi.blind(scalar, "S", values)
        points = psi.blind(scalar, "S", values)
        assert psi.exponentiate(scalar, points, executor=pool, parts=3) == psi.exponentiate(scalar, points)


# --- what A learns from B's messages ----------------------------------------------------------------

UNIVERSE = [f"{i}.example" for i in range(400)]


def candidates(values: list[str], session: str, a: bytes) -> dict[str, set[bytes]]:
    """Everything A can compute from a guessed value without B's secret."""
    elements = items(*values)
    hashed = [psi.hash_to_point(session, e) for e in elements]
    return {
        "plaintext": {v.encode() for v in values} | set(elements),
        "unkeyed hashes": {hashlib.sha256(e).digest() for e in elements} | {hashlib.sha512(e).digest()[:32]
                                                                            for e in elements} | set(hashed),
        "A's own blinding": set(psi.split(psi.blind(a, session, elements))),
        "A's blinding, twice": set(psi.split(psi.exponentiate(a, psi.blind(a, session, elements)))),
    }


def test_without_b_none_of_bs_values_can_be_recomputed_from_guesses() -> None:
    rng = random.Random(7)
    x = rng.sample(UNIVERSE, 60)
    y = rng.sample(UNIVERSE, 60)
    view, pairs = run(items(*x), items(*y))
    received = set(psi.split(view["y_b"])) | set(psi.split(view["x_ab"]))
    transcript = view["y_b"] + view["x_ab"]
    for what, guesses in candidates(UNIVERSE, "S1", view["a"]).items():
        assert not received & guesses, what  # A guessed every value of the universe: no hit
        assert not any(g in transcript for g in guesses if len(g) < 32), what  # no plaintext anywhere
    assert len(pairs) == len(set(x) & set(y))


def test_the_view_is_the_same_for_two_sets_with_the_same_intersection_and_size() -> None:
    """B holds Y or Y' (same size, same intersection with X). A's view: its own doubly blinded
    points (same matches, by position), and B's points, where every point outside the
    intersection is a fresh curve point that no computation of A relates to any value."""
    rng = random.Random(11)
    x = rng.sample(UNIVERSE, 50)
    common = x[:20]
    rest = [v for v in UNIVERSE if v not in x]
    y1, y2 = common + rest[:40], common + rest[40:80]
    a = psi.new_scalar()
    views = []
    for y in (y1, y2):
        b = psi.new_scalar()
        xs, ys = psi.shuffled(a, items(*x)), psi.shuffled(b, items(*y))
        x_ab = psi.exponentiate(b, psi.blind(a, "S1", xs))
        y_b = psi.blind(b, "S1", ys)
        y_ba = psi.exponentiate(a, y_b)
        pairs = psi.intersect(x_ab, y_ba)
        outside = [p for j, p in enumerate(psi.split(y_b)) if j not in {jj for _, jj in pairs}]
        views.append((sorted(i for i, _ in pairs), len(psi.split(y_b)), outside))
    (matched1, size1, outside1), (matched2, size2, outside2) = views
    assert matched1 == matched2 and size1 == size2 == 60  # what A learns: the same
    assert len(outside1) == len(outside2) == 40
    for outside in (outside1, outside2):
        assert all(psi.on_curve(p) for p in outside)  # no curve/twist bit to count: all on the curve
        assert len(set(outside)) == len(outside)
        hits = set(outside) & candidates(UNIVERSE, "S1", a)["A's own blinding"]
        assert not hits  # and not relatable to any value A can guess
    # the bytes of points outside the intersection look uniform (32-byte u-coordinates below 2^255)
    bits = "".join(f"{int.from_bytes(p, 'little'):0255b}" for p in outside1 + outside2)
    ones = bits.count("1") / len(bits)
    assert 0.47 < ones < 0.53

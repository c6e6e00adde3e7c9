"""Private set intersection by commutative Diffie-Hellman over X25519 (docs/matching.md).

The construction is Meadows (1986) / Huberman-Franklin-Hogg (1999), the "DH-PSI" of the
literature, semi-honest secure under the decisional Diffie-Hellman assumption in the random oracle
model:

    A (initiator, set X, secret a)            B (responder, set Y, secret b)
    ---- H(x)^a for x in X, shuffled ---->
                                        <---- (H(x)^a)^b in A's order;  H(y)^b for y in Y, shuffled
    (H(y)^b)^a; x is in Y iff (H(x)^a)^b = (H(y)^b)^a for some y

"^" is X25519: the Montgomery ladder on Curve25519 with a clamped scalar, which commutes
(clamp(a)·clamp(b)·P either way). H hashes an element to a point *on the curve* (not its twist) by
SHA-512 and rejection: each digest SHA-512(label ‖ session ‖ counter ‖ element) gives two
candidates (its two 32-byte halves, little-endian, top bit cleared); the first u < p, not of low
order, with u³ + 486662u² + u a non-zero square mod p (a Legendre symbol, gmpy2) is the point. Staying on the curve matters: a point's curve/twist bit survives exponentiation, and the
other side could otherwise count how many of its peer's elements hash to the twist.

Two sessions never share points: the session id is hashed in, and the secrets are fresh per
session. Everything here is pure (no clock, no I/O); the batch functions take an optional executor
so that large sets run on every core, in big parts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Final, TypeVar, cast

import gmpy2  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt

from hcx.crypto import _primitives as p
from hcx.errors import InvalidInput

POINT: Final = p.X25519_SIZE
SCALAR: Final = p.X25519_SIZE
PROTOCOL: Final = "dh-psi/x25519/sha512/1"
_LABEL: Final = b"hcx psi/1 hash to curve25519\x00"
_ORDER_LABEL: Final = b"hcx psi/1 order\x00"
_P: Final = 2**255 - 19
_A: Final = 486662
_TOP_BIT_CLEAR: Final = (1 << 255) - 1
_MAX_TRIES: Final = 128  # each try succeeds with probability 1/2: 2^-128 to fail
# u-coordinates of the points of order 1, 2, 4 and 8 (RFC 7748 §5; libsodium's list)
_LOW_ORDER: Final = frozenset({0, 1, _P - 1,
                               325606250916557431795983626356110631294008115727848805560023387167927233504,
                               39382357235489614581723060781553021112529911719440698176882885853963445705823})


def new_scalar() -> bytes:
    """A fresh secret exponent for one session (clamped by X25519 when used)."""
    return p.random_bytes(SCALAR)


def element(kind: str, value: str) -> bytes:
    """What is matched: kind ‖ 0x00 ‖ canonical value, UTF-8."""
    return (kind + "\x00" + value).encode()  # one encode: the same bytes, a million times per session


_COUNTERS: Final = [bytes([counter]) for counter in range(_MAX_TRIES // 2)]  # two candidates per digest
_PZ: Final = gmpy2.mpz(_P)


def hash_to_points(session: str, items: Sequence[bytes]) -> bytes:
    """H(item) for each item, concatenated: u-coordinates of points on Curve25519, bound to the
    session. (The loop is written for speed: it runs once per element of both sets.)"""
    base = hashlib.sha512(_LABEL + len(session).to_bytes(2, "big") + session.encode())
    found: list[bytes] = []
    for item in items:
        for counter in _COUNTERS:
            hasher = base.copy()
            hasher.update(counter)
            hasher.update(item)
            digest = int.from_bytes(hasher.digest(), "little")
            u = _candidate(digest & _TOP_BIT_CLEAR)  # the first half, read little-endian
            if u is None:
                u = _candidate((digest >> 256) & _TOP_BIT_CLEAR)  # the second half
            if u is not None:
                found.append(u)
                break
        else:  # pragma: no cover
            raise InvalidInput("no curve point found for an element (probability 2^-128)")
    return b"".join(found)


def _candidate(u: int) -> bytes | None:
    if u >= _P or u in _LOW_ORDER:
        return None
    z = gmpy2.mpz(u)
    if gmpy2.jacobi(z * (z * (z + _A) + 1), _PZ) != 1:
        return None
    return u.to_bytes(32, "little")


def hash_to_point(session: str, item: bytes) -> bytes:
    """H(item) for one item."""
    return hash_to_points(session, [item])


def on_curve(point: bytes) -> bool:
    """Whether a u-coordinate is on Curve25519 itself (not on its twist), low order excluded."""
    if len(point) != POINT:
        return False
    u = int.from_bytes(point, "little")
    if u >= _P or u in _LOW_ORDER:
        return False
    return bool(gmpy2.jacobi((u * u * u + _A * u * u + u) % _P, _P) == 1)


def split(points: bytes) -> list[bytes]:
    if len(points) % POINT:
        raise InvalidInput(f"a list of points is a multiple of {POINT} bytes, not {len(points)}")
    return [points[i:i + POINT] for i in range(0, len(points), POINT)]


# --- the batch operations (one process each; see `parallel` for many) ----------------------------

def blind_part(scalar: bytes, session: str, items: Sequence[bytes]) -> bytes:
    """H(item)^scalar for each item, concatenated in order."""
    return p.x25519_exchange_many(scalar, hash_to_points(session, items))


def exponentiate_part(scalar: bytes, points: bytes) -> bytes:
    """point^scalar for each 32-byte point, concatenated in order. Low-order points are refused."""
    return p.x25519_exchange_many(scalar, points)


_T = TypeVar("_T")
_MIN_PARALLEL = 2048  # below this, sending work to other processes costs more than it saves


def _parts(count: int, parts: int) -> list[tuple[int, int]]:
    size = -(-count // parts)
    return [(start, min(start + size, count)) for start in range(0, count, size)]


def _run(executor: Executor | None, parts: int, count: int,
         work: Callable[[int, int], tuple[Callable[..., bytes], tuple[object, ...]]]) -> bytes:
    if executor is None or parts < 2 or count < _MIN_PARALLEL:
        fn, args = work(0, count)
        return fn(*args)
    futures = [executor.submit(fn, *args) for fn, args in (work(a, b) for a, b in _parts(count, parts))]
    return b"".join(f.result() for f in futures)


def blind(scalar: bytes, session: str, items: Sequence[bytes], *, executor: Executor | None = None,
          parts: int = 1) -> bytes:
    """`blind_part` over `parts` processes of `executor` (in order)."""
    return _run(executor, parts, len(items),
                lambda a, b: (blind_part, (scalar, session, list(items[a:b]))))


def exponentiate(scalar: bytes, points: bytes, *, executor: Executor | None = None, parts: int = 1) -> bytes:
    """`exponentiate_part` over `parts` processes of `executor` (in order)."""
    if len(points) % POINT:
        raise InvalidInput(f"a list of points is a multiple of {POINT} bytes, not {len(points)}")
    return _run(executor, parts, len(points) // POINT,
                lambda a, b: (exponentiate_part, (scalar, points[a * POINT:b * POINT])))


# --- order and intersection --------------------------------------------------------------------

_ORDER_STREAM: Final = b"hcx psi/1 order stream\x00"
_SEPARATOR: Final = b"\xff"  # a byte UTF-8 never holds: elements joined by it are read back unambiguously


def order_permutation(scalar: bytes, count: int) -> npt.NDArray[np.intp]:
    """The session's order of `count` items held in a canonical order: position k of the result is
    the canonical index of the item sent k-th. The peer cannot predict it, a restart reproduces it.

    Each canonical position gets a 64-bit tag from a keystream, and the positions are sorted by tag
    (ties, once in 2^64, in canonical order). The keystream is SHAKE-256 of a key derived from the
    session's secret scalar (keyed BLAKE2b) followed by a label: a sponge keyed by a fixed-length
    prefix is a PRF, the construction of KMAC (SP 800-185). 8 MB for a million items, in C."""
    order_key = hashlib.blake2b(_ORDER_LABEL, key=scalar, digest_size=32).digest()
    stream = hashlib.shake_256(order_key + _ORDER_STREAM).digest(8 * count)
    return np.argsort(np.frombuffer(stream, dtype="<u8"), kind="stable")


def in_order(items: Sequence[bytes], positions: npt.NDArray[np.intp]) -> list[bytes]:
    """`items[p]` for each p of `positions`."""
    held = np.empty(len(items), dtype=object)  # numpy's gather, not a Python loop over positions
    held[:] = items
    return cast(list[bytes], held[positions].tolist())


def order_digest(ordered: Sequence[bytes]) -> str:
    """SHA-256 of the items in the session's order (their count, then the items joined by 0xFF,
    a byte no element holds): for one scalar, it changes exactly when the set does."""
    joined = _SEPARATOR.join(ordered)
    if joined.count(_SEPARATOR) != max(len(ordered) - 1, 0):
        raise InvalidInput("an element holds a 0xFF byte (elements are UTF-8)")
    return hashlib.sha256(len(ordered).to_bytes(8, "big") + joined).hexdigest()


def session_order(scalar: bytes, items: Sequence[bytes]) -> tuple[list[bytes], str]:
    """`items` in an order the peer cannot predict, yet the same after a restart and whatever order
    they came in: sorted (the canonical order), then permuted by `order_permutation`; and the
    digest of the set in that order (`order_digest`). Repeated items are kept."""
    canonical = sorted(items)
    ordered = in_order(canonical, order_permutation(scalar, len(canonical)))
    return ordered, order_digest(ordered)


def shuffled(scalar: bytes, items: Sequence[bytes]) -> list[bytes]:
    """`items` in the session's order (`session_order`)."""
    return session_order(scalar, items)[0]


def intersect(mine: bytes, theirs: bytes) -> list[tuple[int, int]]:
    """(my position, their position) of every point in both lists of doubly exponentiated points."""
    where = dict(zip(split(theirs), range(len(theirs) // POINT), strict=True))
    found = where.get
    return [(i, j) for i, j in enumerate(map(found, split(mine))) if j is not None]

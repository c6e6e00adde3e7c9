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
_HALF: Final = gmpy2.mpz(_TOP_BIT_CLEAR)  # a 256-bit half of a digest, top bit cleared
_MPZ_HEADER: Final = b"\x01\x01"  # gmpy2's binary format: an mpz, positive, then its bytes little-endian
_CLEAR_TOP_BIT: Final = bytes(byte & 0x7F for byte in range(256))  # a bytes.translate table


def hash_to_points(session: str, items: Sequence[bytes]) -> bytes:
    """H(item) for each item, concatenated: u-coordinates of points on Curve25519, bound to the
    session.

    Written for speed: it runs once per element of both sets. Three fifths of its time are GMP's
    Legendre symbols, two per element on average, which no rewrite lowers (each answers one bit,
    and which candidate is taken is two bits' worth on average). The first digest of each item is
    read as one gmpy2 integer and its halves tried in place (`_candidate`, inlined); the quarter of
    the items that need more digests go to `_later_point`. The points are collected as digest
    halves, and their top bits cleared all at once at the end."""
    base = hashlib.sha512(_LABEL + len(session).to_bytes(2, "big") + session.encode())
    first = base.copy()
    first.update(_COUNTERS[0])
    start = first.copy
    from_binary, jacobi, header, half = gmpy2.from_binary, gmpy2.jacobi, _MPZ_HEADER, _HALF
    a, p, low_order = _A, _PZ, _LOW_ORDER
    found: list[bytes] = []
    append = found.append
    for item in items:
        hasher = start()
        hasher.update(item)
        digest = hasher.digest()
        both = from_binary(header + digest)
        u = both & half
        if jacobi(u * (u * (u + a) + 1), p) == 1 and u < p and u not in low_order:
            append(digest[:32])
            continue
        u = both >> 256 & half
        if jacobi(u * (u * (u + a) + 1), p) == 1 and u < p and u not in low_order:
            append(digest[32:])
            continue
        append(_later_point(base, item))
    points = bytearray().join(found)
    points[31::POINT] = points[31::POINT].translate(_CLEAR_TOP_BIT)
    return bytes(points)


def _later_point(base: hashlib._Hash, item: bytes) -> bytes:
    """The point from the digests after the first (a quarter of the items), top bit not yet cleared."""
    for counter in _COUNTERS[1:]:
        hasher = base.copy()
        hasher.update(counter)
        hasher.update(item)
        digest = hasher.digest()
        both = gmpy2.from_binary(_MPZ_HEADER + digest)
        if _candidate(both & _HALF):
            return digest[:32]
        if _candidate(both >> 256 & _HALF):
            return digest[32:]
    raise InvalidInput("no curve point found for an element (probability 2^-128)")  # pragma: no cover


def _candidate(u: gmpy2.mpz) -> bool:
    """Whether u (below 2^256) is the u-coordinate of a point of H: canonical (u < p), on the curve
    (u³ + Au² + u a non-zero square mod p), not of low order. The Legendre symbol comes first:
    half of the candidates fail it, and the other tests are then made once per element."""
    return bool(gmpy2.jacobi(u * (u * (u + _A) + 1), _PZ) == 1 and u < _PZ and u not in _LOW_ORDER)


def hash_to_point(session: str, item: bytes) -> bytes:
    """H(item) for one item."""
    return hash_to_points(session, [item])


def on_curve(point: bytes) -> bool:
    """Whether a u-coordinate is on Curve25519 itself (not on its twist), low order excluded."""
    return len(point) == POINT and _candidate(gmpy2.from_binary(_MPZ_HEADER + point))


def split(points: bytes) -> list[bytes]:
    _check_points(points)
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
    """(my position, their position) of every point in both lists of doubly exponentiated points,
    in my order. A point that `theirs` holds more than once pairs with its last position there; one
    that `mine` holds more than once pairs at each of its positions. (Points are distinct in a real
    session; this is the plain dict's behaviour, kept.)

    Vectorised (a million points a side): both lists are sorted by a prefix of each point, their
    prefixes matched, and each match confirmed on the whole 32 bytes. Where `theirs` holds a prefix
    more than once (a repeated point, or two points that share a prefix), the points under it are
    paired through a dict of whole points."""
    _check_points(mine)
    _check_points(theirs)
    if not mine or not theirs:
        return []
    my_rows, their_rows = _rows(mine), _rows(theirs)
    bits = max(len(my_rows), len(their_rows)).bit_length()
    my_keys, my_at = _sorted_prefixes(my_rows, bits)
    their_keys, their_at = _sorted_prefixes(their_rows, bits)
    where = np.searchsorted(their_keys, my_keys)  # the first of their keys not below each of mine
    np.minimum(where, len(their_keys) - 1, out=where)
    hit = their_keys[where] == my_keys
    repeated = their_keys[1:] == their_keys[:-1]
    crowded = np.zeros(len(their_keys), dtype=bool)  # a key that theirs holds more than once
    crowded[1:] = repeated
    crowded[:-1] |= repeated
    single = hit & ~crowded[where]
    i, j = my_at[single], their_at[where[single]]
    same = (my_rows[i] == their_rows[j]).all(axis=1)
    paired = np.full(len(my_rows), -1, dtype=np.intp)
    paired[i[same]] = j[same]
    several = hit & crowded[where]
    if several.any():
        last = {theirs[k * POINT:(k + 1) * POINT]: k for k in sorted(their_at[crowded].tolist())}
        for k in my_at[several].tolist():
            paired[k] = last.get(mine[k * POINT:(k + 1) * POINT], -1)
    mine_at = np.flatnonzero(paired >= 0)
    return list(zip(mine_at.tolist(), paired[mine_at].tolist(), strict=True))


def _check_points(points: bytes) -> None:
    if len(points) % POINT:
        raise InvalidInput(f"a list of points is a multiple of {POINT} bytes, not {len(points)}")


def _rows(points: bytes) -> npt.NDArray[np.uint64]:
    """The points as rows of four 64-bit words (a view: nothing is copied)."""
    return np.frombuffer(points, dtype=np.uint64).reshape(-1, POINT // 8)


def _sorted_prefixes(rows: npt.NDArray[np.uint64], bits: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.intp]]:
    """The points' first words without their low `bits` bits, sorted, and each one's position.
    The position is packed into the bits dropped, so a plain sort (not an argsort, twice as slow)
    carries it along; equal keys come out in the order of their positions."""
    shift = np.uint64(bits)
    packed = rows[:, 0] >> shift << shift
    packed |= np.arange(len(rows), dtype=np.uint64)
    packed.sort()
    return packed >> shift, (packed & np.uint64((1 << bits) - 1)).astype(np.intp)

"""Matching between nodes without disclosure: DH-based private set intersection (crypto/psi.py)
over signed and encrypted federation envelopes, resumable, rate-limited (docs/matching.md).

    mark_shareable(ctx, principal, case_ref, keys=None)   the owner's consent, per posting
    run(ctx, principal, party, authority=None)           initiator: one session, to the end
    handle(ctx, wire) -> bytes                            responder: one protocol message, answered
    list_matches(ctx, principal)                          what was found, for the entitled side

The initiator A drives the session with synchronous calls to the peer's `/federation/match`, in
two lanes side by side (X chunks sent in turn, Y chunks asked for); each request and each answer is
an `envelope/1` between the two authorities. A keeps every answer it received (in `match_chunks`,
in order within each lane), so a session killed at any point resumes from each lane's last kept
chunk. The responder B keeps only its secret, its progress and a digest
of each chunk it answered (the same index with another content is refused: no free evaluations).
Both sides learn the intersection: A finds it, then tells B the positions in B's list.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import logging
import os
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol, TypeVar, cast

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hcx.crypto import psi
from hcx.crypto._primitives import CHACHA20_POLY1305_TAG_SIZE, open_once, seal_once
from hcx.crypto.envelope import Opened, open_, seal
from hcx.crypto.keys import DecryptionKey, EncryptionKey, VerifyKey, b64d, b64e
from hcx.domain.ports import UnitOfWork
from hcx.errors import (
    Conflict,
    Error,
    InvalidInput,
    MatchRefused,
    NotFound,
    PeerProtocolError,
    PolicyDenied,
    VerificationError,
)
from hcx.indicators.sharing import Destination, Level, Route, decide_value
from hcx.rules.schema import Role
from hcx.services import alerts, federation
from hcx.services import indicators as index
from hcx.services.context import Context, Principal, require_role
from hcx.services.workers import process_pool

log = logging.getLogger(__name__)
_T = TypeVar("_T")

RUNNERS = frozenset({Role.analyst, Role.officer})
READERS = RUNNERS | {Role.auditor}
INITIATOR: Literal["initiator"] = "initiator"
RESPONDER: Literal["responder"] = "responder"
MAX_CHUNK = 60_000  # 60k points: a 1.9 MB attachment beside a small envelope, under the 4 MiB message limit
NEVER_SHARED_KINDS = frozenset({"card"})  # kept as a node-keyed hash: it can never match elsewhere
SECRET_PURPOSE = "match session"  # noqa: S105 - a label, not a secret
_MESSAGE_AGE = dt.timedelta(minutes=10)  # protocol calls are synchronous: older ones are replays


# --- settings and the store, as the services see them ---------------------------------------------

@dataclass(frozen=True, slots=True)
class Limits:
    """What one peer may ask of this node (docs/configuration.md, HCX_MATCH_*)."""

    max_set: int  # largest set a peer may declare for one session
    sessions_per_hour: int
    items_per_day: int  # declared set sizes of one peer, summed over 24 hours
    chunk: int
    workers: int  # processes for the public-key operations; 0: one per core


def limits(ctx: Context) -> Limits:
    policy = ctx.policy
    return Limits(policy.match_max_set, policy.match_sessions_per_hour, policy.match_items_per_day,
                  policy.match_chunk, policy.match_workers)


class SessionRecord(Protocol):
    id: str
    role: str
    authority_id: str
    peer_party: str
    peer_authority: str
    state: str
    scalar_sealed: bytes
    set_digest: str
    own_size: int
    peer_size: int
    chunk_size: int
    x_chunks: int
    y_chunks: int
    matches: int
    created_at: dt.datetime
    updated_at: dt.datetime
    error: str


class ResultRecord(Protocol):
    session_id: str
    case_ref: str
    kind: str
    value: str
    peer_party: str
    peer_authority: str
    found_at: dt.datetime


class SetColumns(Protocol):
    """An authority's shareable set as the store reads it, in packed columns (one snapshot)."""

    @property
    def marked(self) -> bytes: ...  # 16-byte keys of the postings marked shareable (a key per marked case)
    @property
    def size(self) -> int: ...  # postings read: every posting of each marked key, maybe more
    @property
    def keys(self) -> bytes: ...  # their keys, 16 bytes each
    @property
    def elements(self) -> bytes: ...  # their elements (`psi.element`), joined by 0xFF
    @property
    def tlps(self) -> bytes: ...  # their TLP texts, UTF-8, joined by 0xFF
    @property
    def cases(self) -> bytes | None: ...  # their case references joined by 0xFF, if recipients are named
    @property
    def recipients(self) -> list[tuple[bytes, bytes, bytes]]: ...  # (case_ref, element, recipient), UTF-8


class MatchStore(Protocol):
    def mark_shareable(self, *, authority_id: str, case_ref: str, keys: Iterable[bytes] | None,
                       at: dt.datetime) -> int: ...
    def unmark_shareable(self, *, authority_id: str, case_ref: str) -> int: ...
    def shareable_postings(self, *, authority_id: str) -> list[tuple[bytes, str, str, str, str]]: ...
    def shared_set_columns(self, *, authority_id: str, never_kinds: Iterable[str]) -> SetColumns: ...
    def marked_cases(self, *, authority_id: str, keys: Iterable[bytes]) -> list[tuple[bytes, str]]: ...
    def add_session(self, **columns: Any) -> SessionRecord: ...
    def get_session(self, session_id: str, role: str) -> SessionRecord | None: ...
    def open_session_with(self, *, authority_id: str, peer_party: str, peer_authority: str
                          ) -> SessionRecord | None: ...
    def responder_load(self, *, peer_party: str, since: dt.datetime) -> tuple[int, int]: ...
    def list_sessions(self, *, authority_id: str, limit: int = 100) -> Sequence[SessionRecord]: ...
    def put_chunk(self, *, session_id: str, role: str, part: str, idx: int, data: bytes) -> None: ...
    def get_chunk(self, *, session_id: str, role: str, part: str, idx: int) -> bytes | None: ...
    def chunks(self, *, session_id: str, role: str, part: str) -> list[bytes]: ...
    def drop_chunks(self, *, session_id: str, role: str) -> None: ...
    def add_results(self, rows: Sequence[dict[str, Any]]) -> None: ...
    def list_results(self, *, authority_id: str, limit: int) -> Sequence[ResultRecord]: ...


class _MatchingUnitOfWork(Protocol):
    @property
    def matching(self) -> MatchStore: ...


def store(uow: UnitOfWork) -> MatchStore:
    return cast(_MatchingUnitOfWork, uow).matching


class MatchTransport(Protocol):
    def match(self, url: str, message: bytes) -> bytes: ...  # one framed message (`_frame`), the framed answer


# --- the shareable set ---------------------------------------------------------------------------

def mark_shareable(ctx: Context, principal: Principal, case_ref: str, *, keys: Iterable[bytes] | None = None) -> int:
    """Mark the case's postings (or those with `keys`) shareable for matching with other nodes.
    TLP:RED postings may carry the mark but are never matched. Returns the case's marked count."""
    require_role(principal, RUNNERS, "mark indicators shareable")
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        marked = store(uow).mark_shareable(authority_id=principal.authority_id, case_ref=case_ref.strip(),
                                           keys=keys, at=now)
        uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="indicators.shareable",
                  object_type="case", object_id=case_ref.strip(), details={"marked": marked})
        uow.commit()
    return marked


def mark_imported_shareable(ctx: Context, principal: Principal, outcome: index.ImportOutcome) -> int:
    """After `hcx indicators import --shareable`: mark exactly the postings of that file."""
    keys = index._keys(ctx, create=False)  # the index's own key derivation, not a copy of it
    if keys is None:
        return 0
    return mark_shareable(ctx, principal, outcome.case_ref,
                          keys=[keys.posting_key(i.kind.value, i.value) for i in outcome.report.indicators])


def unmark_shareable(ctx: Context, principal: Principal, case_ref: str) -> int:
    require_role(principal, RUNNERS, "mark indicators shareable")
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        removed = store(uow).unmark_shareable(authority_id=principal.authority_id, case_ref=case_ref.strip())
        uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="indicators.unshareable",
                  object_type="case", object_id=case_ref.strip(), details={"removed": removed})
        uow.commit()
    return removed


class Posting(NamedTuple):
    key: bytes
    kind: str
    value: str
    case_ref: str


_KEY = 16  # bytes of a posting key
_SEPARATOR = b"\xff"  # joins the store's packed columns: UTF-8 never holds it


@dataclass(frozen=True, slots=True)
class SharedSet:
    """An authority's shareable elements in the session's order, with the posting key of each: what
    leads a match back to its postings (read again when the results are recorded)."""

    elements: list[bytes]
    keys: bytes  # the key of elements[i] is keys[16 i:16 i + 16]
    digest: str  # SHA-256 of the keys in the session's order: it changes when the set does (a key names a value)

    def keyed(self, positions: Iterable[int]) -> dict[bytes, bytes]:
        """key → element, for the elements at `positions` in the session's order."""
        return {self.keys[i * _KEY:(i + 1) * _KEY]: self.elements[i] for i in positions}


# The owner's shareable mark is consent to matching with pinned peers: a posting with no TLP marking
# counts as TLP:GREEN here (elsewhere: AMBER), an explicit marking is the policy's as everywhere.
MATCH_UNMARKED = Level.GREEN


def peer_destination(uow: UnitOfWork, party: str, authority: str) -> Destination:
    """The foreign authority a session matches with, as the TLP policy sees it."""
    return Destination(Route.FOREIGN, party, authority, pinned_peer=uow.get_peer(party) is not None)


@contextmanager
def _bulk() -> Iterator[None]:
    """While many small objects are made (rows to insert for 100,000 matches): without it, the cyclic
    garbage collector re-scans everything the process holds several times over (it took most of
    the time); they form no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:  # the outermost of concurrent callers switches it back on
            gc.enable()


def _shared_set(uow: UnitOfWork, authority_id: str, scalar: bytes, to: Destination, *,
                posting_key: Callable[[str, str], bytes] | None = None) -> SharedSet:
    """The values with a posting marked shareable that may go to `to`: every posting of the value
    (marked or not, in every case) and the recipients named for each must allow it (`decide_value`:
    a value is refused as soon as one of its postings is, so each posting is decided alone, once per
    distinct combination of markings and recipients, and a value kept if none is refused). One
    element per value, in the session's order: the keys sorted (the canonical order), then
    `psi.order_permutation`. The store packs the columns and numpy joins them, so that nothing is
    done in Python per posting but splitting the elements out (docs/matching.md)."""
    columns = store(uow).shared_set_columns(authority_id=authority_id, never_kinds=NEVER_SHARED_KINDS)
    if not columns.size:
        return SharedSet([], b"", hashlib.sha256(b"").hexdigest())
    elements = columns.elements.split(_SEPARATOR)
    if len(elements) != columns.size or len(columns.keys) != _KEY * columns.size:
        raise Conflict("the shareable set's columns do not line up")
    if posting_key is not None:
        _check_alignment(columns.keys, elements, posting_key)
    refused = _refused_postings(columns, elements, to)
    canonical = _one_posting_per_shared_value(columns.marked, columns.keys, refused)
    positions = canonical[psi.order_permutation(scalar, len(canonical))]
    ordered = psi.in_order(elements, positions)
    keys = np.frombuffer(columns.keys, dtype=f"V{_KEY}")[positions].tobytes()
    return SharedSet(ordered, keys, hashlib.sha256(keys).hexdigest())


_ALIGNMENT_SAMPLE = 64


def _check_alignment(keys: bytes, elements: list[bytes], posting_key: Callable[[str, str], bytes]) -> None:
    """The packed columns line up because each aggregate of the statement takes the rows in the one
    order the engine reads them (SQLite and PostgreSQL both feed a row to all of a SELECT's
    aggregates at once), which neither documents: a sample of postings (the first, the last and 64
    drawn at random) must have the key that names their element, or the set is refused rather than
    a TLP text applied to another posting."""
    count = len(elements)
    for i in {0, count - 1, *(secrets.randbelow(count) for _ in range(_ALIGNMENT_SAMPLE))}:
        if posting_key(*_kind_and_value(elements[i])) != keys[i * _KEY:(i + 1) * _KEY]:
            raise Conflict("the shareable set's columns do not line up")


def _refused_postings(columns: SetColumns, elements: list[bytes], to: Destination) -> npt.NDArray[np.bool_]:
    """Whether the TLP policy refuses each posting (its markings, and the recipients named for its
    case and value) for `to`."""
    tlps = columns.tlps.split(_SEPARATOR)
    if len(tlps) != columns.size:
        raise Conflict("the shareable set's columns do not line up")
    decided: dict[tuple[bytes, frozenset[str]], bool] = {}

    def allowed(tlp: bytes, recipients: frozenset[str] = frozenset()) -> bool:
        found = decided.get((tlp, recipients))
        if found is None:
            found = decided[(tlp, recipients)] = decide_value([(tlp.decode().split(), recipients)], to=to,
                                                               unmarked=MATCH_UNMARKED).allowed
        return found

    refusing = {tlp for tlp in set(tlps) if not allowed(tlp)}
    refused = (np.fromiter((tlp in refusing for tlp in tlps), dtype=np.bool_, count=len(tlps)) if refusing
               else np.zeros(len(tlps), dtype=np.bool_))
    if columns.recipients:  # rare: decide the postings of the values that have named recipients
        named: dict[tuple[bytes, bytes], set[str]] = {}
        for case_ref, element, recipient in columns.recipients:
            named.setdefault((case_ref, element), set()).add(recipient.decode())
        with_recipients = {element for _, element in named}
        cases = (columns.cases or b"").split(_SEPARATOR)
        if len(cases) != columns.size:
            raise Conflict("the shareable set's columns do not line up")
        for i, element in enumerate(elements):
            if element in with_recipients:
                refused[i] = not allowed(tlps[i], frozenset(named.get((cases[i], element), ())))
    return refused


def _one_posting_per_shared_value(marked: bytes, keys: bytes, refused: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """The index of one posting per key that has a mark and no refused posting, in key order.

    The marks and the postings are sorted together by key (a key's marks first: the sort is
    stable); each run of one key is a value, the first posting after its marks stands for it."""
    marks = np.frombuffer(marked, dtype=f"S{_KEY}")  # compared as 16-byte strings, all of full length
    every = np.concatenate((marks, np.frombuffer(keys, dtype=f"S{_KEY}")))
    if not len(marks) or len(every) == len(marks):
        return np.zeros(0, dtype=np.intp)
    order = np.argsort(every, kind="stable")
    ranked = every[order]
    starts = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1])))
    sizes = np.diff(np.append(starts, len(ranked)))
    marks_in = np.add.reduceat((order < len(marks)).astype(np.intp), starts)
    refused_in = np.logical_or.reduceat(np.concatenate((np.zeros(len(marks), dtype=np.bool_), refused))[order], starts)
    kept = (marks_in > 0) & (marks_in < sizes) & ~refused_in
    return order[starts[kept] + marks_in[kept]] - len(marks)


# --- the public-key operations, on every core ------------------------------------------------------

_POOL_LOCK = threading.Lock()


def _executor(ctx: Context) -> tuple[Executor | None, int]:
    workers = limits(ctx).workers or os.cpu_count() or 1
    if workers < 2:
        return None, 1
    with _POOL_LOCK:  # the initiator's X and Y lanes, and the responder's requests, run in threads
        pool = ctx.cache.get("match pool")
        if not isinstance(pool, ProcessPoolExecutor):
            pool = process_pool(workers)
            ctx.cache["match pool"] = pool
    return pool, workers


def _blind(ctx: Context, scalar: bytes, session: str, items: Sequence[bytes]) -> bytes:
    executor, parts = _executor(ctx) if len(items) >= 4096 else (None, 1)
    return psi.blind(scalar, session, items, executor=executor, parts=parts)


def _exponentiate(ctx: Context, scalar: bytes, points: bytes) -> bytes:
    executor, parts = _executor(ctx) if len(points) >= 4096 * psi.POINT else (None, 1)
    return psi.exponentiate(scalar, points, executor=executor, parts=parts)


# --- messages ------------------------------------------------------------------------------------

OPEN, X_CHUNK, Y_CHUNK, RESULT = "match.open", "match.x", "match.y", "match.result"
ANSWER, REFUSED = "match.answer", "match.refused"
# the construction (crypto/psi.py) and the layout of its messages: an attachment for the points
PROTOCOL = psi.PROTOCOL + "+attachment/1"
MEDIA_TYPE = "application/vnd.hcx.match"
_ATTACHMENT_AAD = b"hcx match attachment/1\n"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    session: str = Field(pattern=r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


class OpenBody(_Body):
    protocol: str
    x_size: int = Field(ge=0)
    chunk_size: int = Field(ge=1, le=MAX_CHUNK)


class _Attached(_Body):
    """A body whose points travel beside the envelope, as its attachment (`_seal`, `_attachment`)."""

    index: int = Field(ge=0)
    key: str  # base64url of the attachment's one-message ChaCha20-Poly1305 key
    count: int = Field(ge=1, le=MAX_CHUNK)


class XBody(_Attached):
    pass


class ChunkAnswer(_Attached):
    pass


class YBody(_Body):
    index: int = Field(ge=0)


class ResultBody(_Body):
    positions: list[int]


def _utc(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _seal(ctx: Context, uow: UnitOfWork, *, kind: str, own_authority: str, party: str, authority: str,
          body: dict[str, Any], in_reply_to: str | None = None, points: bytes | None = None) -> tuple[str, bytes]:
    """The message's id and its framed bytes (`_frame`): the points, if any, as its attachment."""
    peer = federation.peer_descriptor(ctx, uow, party)
    recipient = peer.authority(authority)
    described = recipient.encryption_key() if recipient else None
    if recipient is None or described is None:
        raise NotFound(f"{party} publishes no encryption key for authority {authority}")
    message_id = ctx.new_id()
    attachment = None
    if points is not None:
        assert len(points) % psi.POINT == 0, "whole points only"
        key, attachment = seal_once(points, _ATTACHMENT_AAD + message_id.encode())
        body = {**body, "key": b64e(key), "count": len(points) // psi.POINT}
    envelope = {"v": 1, "id": message_id, "type": kind,
                "from": {"party": federation.own_party(ctx, uow), "authority": own_authority},
                "to": {"party": party, "authority": authority}, "created": _utc(ctx.clock.now()),
                "in_reply_to": in_reply_to, "request_ref": None, "body": body}
    sealed = seal(envelope, signer=federation.signing_key(ctx, uow, own_authority),
                  recipient=EncryptionKey.from_bytes(b64d(described.key)))
    return message_id, _frame(sealed.wire, attachment)


def _frame(wire: bytes, attachment: bytes | None) -> bytes:
    """An HTTP body of `/federation/match`, request or answer: the sealed envelope's wire (canonical
    JSON, never a raw newline), then, if the message has points, a newline and the attachment."""
    return wire if attachment is None else b"".join((wire, b"\n", attachment))


def _unframe(message: bytes) -> tuple[bytes, bytes | None]:
    wire, newline, attachment = message.partition(b"\n")
    return wire, attachment if newline else None


def _attachment(message_id: str, key: str, count: int, attachment: bytes | None) -> bytes:
    """The `count` points of message `message_id`'s attachment. InvalidInput for a key the signed
    body got wrong; VerificationError for an attachment that is not the sender's (missing, another
    size, another message's, altered): that message does not verify."""
    try:
        raw_key = b64d(key)
    except InvalidInput as exc:
        raise InvalidInput("the attachment key is not base64url") from exc
    if len(raw_key) != 32:
        raise InvalidInput(f"the attachment key is {len(raw_key)} bytes, not 32")
    if attachment is None:
        raise VerificationError(f"message {message_id} announces {count} points but has no attachment")
    if len(attachment) != count * psi.POINT + CHACHA20_POLY1305_TAG_SIZE:
        raise VerificationError(f"the attachment of message {message_id} is {len(attachment)} bytes, "
                                f"not the {count * psi.POINT + CHACHA20_POLY1305_TAG_SIZE} of {count} points")
    try:
        return open_once(raw_key, attachment, _ATTACHMENT_AAD + message_id.encode())
    except VerificationError as exc:
        raise VerificationError(f"the attachment of message {message_id} does not verify") from exc


def _no_attachment(opened: Opened, attachment: bytes | None) -> None:
    if attachment is not None:
        raise VerificationError(f"{opened.envelope.type} message {opened.envelope.id} carries an attachment; "
                                "only chunks of points do")


class _Keys:
    def __init__(self, ctx: Context, uow: UnitOfWork) -> None:
        self.ctx, self.uow = ctx, uow

    def verify_key(self, party: str, authority: str, kid: str) -> VerifyKey:
        described = federation.peer_descriptor(self.ctx, self.uow, party).authority(authority)
        key = described.signing_key(kid) if described else None
        if key is None:
            raise VerificationError(f"{party}/{authority} has no active signing key {kid}")
        return VerifyKey.from_bytes(b64d(key.key))

    def decryption_key(self, party: str, authority: str, kid: str) -> DecryptionKey:
        if party != federation.own_party(self.ctx, self.uow) or self.uow.get_authority(authority) is None:
            raise NotFound(f"the message is addressed to {party}/{authority}, not to this node")
        return federation.decryption_key(self.ctx, self.uow, authority, kid)


def _open(ctx: Context, uow: UnitOfWork, wire: bytes) -> Opened:
    opened = open_(wire, decryption_key_for=_Keys(ctx, uow).decryption_key,
                   verify_key_for=_Keys(ctx, uow).verify_key)
    created = dt.datetime.fromisoformat(opened.envelope.created.replace("Z", "+00:00"))
    now = ctx.clock.now()
    if not now - _MESSAGE_AGE - ctx.policy.clock_skew <= created <= now + ctx.policy.clock_skew:
        raise VerificationError(f"match message {opened.envelope.id} is stale or from the future")
    return opened


def _points(points: bytes | None, *, count: int) -> bytes:
    if points is None or len(points) != count * psi.POINT:
        raise InvalidInput(f"expected {count} points, got {len(points or b'') / psi.POINT:g}")
    return points


def _chunks(size: int, chunk: int) -> int:
    return -(-size // chunk)


def _chunk_len(size: int, chunk: int, index: int) -> int:
    return max(0, min(chunk, size - index * chunk))


# --- the responder ---------------------------------------------------------------------------------

def handle(ctx: Context, message: bytes) -> bytes:
    """Verify one protocol message from a peer (framed: `_frame`) and return the framed, sealed
    answer (or raise for an unverifiable message: the router refuses those opaquely)."""
    wire, attachment = _unframe(message)
    with ctx.reading() as uow:
        opened = _open(ctx, uow, wire)
    envelope = opened.envelope
    party, authority, own = envelope.from_.party, envelope.from_.authority, envelope.to.authority
    points = None
    try:
        body, points = _dispatch(ctx, opened, attachment)
        kind = ANSWER
    except (MatchRefused, Conflict, InvalidInput, ValidationError) as exc:
        reason = exc.message if isinstance(exc, Error) else "the message body is malformed"
        log.warning("match: refused %s %s from %s/%s: %s", envelope.type, envelope.id, party, authority, reason)
        body, kind = {"reason": reason[:300]}, REFUSED
    with ctx.reading() as uow:
        _, answer = _seal(ctx, uow, kind=kind, own_authority=own, party=party, authority=authority, body=body,
                          in_reply_to=envelope.id, points=points)
    return answer


_Answered = tuple[dict[str, Any], bytes | None]  # an answer's body, and its points if it has any


def _dispatch(ctx: Context, opened: Opened, attachment: bytes | None) -> _Answered:
    kind = opened.envelope.type
    if kind == X_CHUNK:
        body = XBody.model_validate(opened.envelope.body)
        return _on_x(ctx, opened, body, _attachment(opened.envelope.id, body.key, body.count, attachment))
    _no_attachment(opened, attachment)
    if kind == OPEN:
        return _on_open(ctx, opened, OpenBody.model_validate(opened.envelope.body)), None
    if kind == Y_CHUNK:
        return _on_y(ctx, opened, YBody.model_validate(opened.envelope.body))
    if kind == RESULT:
        return _on_result(ctx, opened, ResultBody.model_validate(opened.envelope.body)), None
    raise InvalidInput(f"unknown match message type {kind!r}")


def _responder_session(uow: UnitOfWork, opened: Opened, session_id: str) -> SessionRecord:
    session = store(uow).get_session(session_id, RESPONDER)
    sender = (opened.envelope.from_.party, opened.envelope.from_.authority, opened.envelope.to.authority)
    if session is None or (session.peer_party, session.peer_authority, session.authority_id) != sender:
        raise MatchRefused(f"no match session {session_id} with this peer")
    if session.state == "failed":
        raise MatchRefused(f"match session {session_id} failed: {session.error}")
    return session


def _declined_open(uow: UnitOfWork, rules: Limits, party: str, body: OpenBody, now: dt.datetime) -> str | None:
    """Why a new session from `party` is refused (size cap, rate limits), or None."""
    if body.x_size > rules.max_set:
        return f"a set of {body.x_size} exceeds this node's limit of {rules.max_set} per session"
    sessions, _ = store(uow).responder_load(peer_party=party, since=now - dt.timedelta(hours=1))
    if sessions >= rules.sessions_per_hour:
        return f"rate limit: {rules.sessions_per_hour} match sessions per hour"
    _, items = store(uow).responder_load(peer_party=party, since=now - dt.timedelta(days=1))
    if items + body.x_size > rules.items_per_day:
        return f"rate limit: {rules.items_per_day} items per day ({items} used)"
    return None


def _on_open(ctx: Context, opened: Opened, body: OpenBody) -> dict[str, Any]:
    if body.protocol != PROTOCOL:
        raise MatchRefused(f"unknown protocol {body.protocol!r}; this node speaks {PROTOCOL}")
    party, authority, own = opened.envelope.from_.party, opened.envelope.from_.authority, opened.envelope.to.authority
    rules, now = limits(ctx), ctx.clock.now()
    with ctx.reading() as uow:
        known = store(uow).get_session(body.session, RESPONDER)
        if known is not None:  # a resent open: the same answer, nothing charged twice
            session = _responder_session(uow, opened, body.session)
            if (session.peer_size, session.chunk_size) != (body.x_size, body.chunk_size):
                raise MatchRefused("the session was opened with other sizes")
            return {"session": session.id, "y_size": session.own_size}
        if (reason := _declined_open(uow, rules, party, body, now)) is not None:
            raise MatchRefused(reason)
    scalar = psi.new_scalar()
    key_of = index.posting_keys(ctx)
    with ctx.reading() as uow:  # the set is read and ordered outside the write transaction
        shared = _shared_set(uow, own, scalar, peer_destination(uow, party, authority), posting_key=key_of)
        sealed = federation.vault(ctx, uow).seal_secret(scalar, purpose=SECRET_PURPOSE)
    with ctx.unit_of_work() as uow:
        if store(uow).get_session(body.session, RESPONDER) is not None:
            raise MatchRefused("the session was opened meanwhile")
        if (reason := _declined_open(uow, rules, party, body, now)) is not None:
            raise MatchRefused(reason)
        store(uow).add_session(id=body.session, role=RESPONDER, authority_id=own, peer_party=party,
                               peer_authority=authority, state="open", scalar_sealed=sealed, set_digest=shared.digest,
                               own_size=len(shared.elements), peer_size=body.x_size, chunk_size=body.chunk_size,
                               x_chunks=0, y_chunks=0, matches=0, created_at=now, updated_at=now, error="")
        uow.audit(id=ctx.new_id(), at=now, actor_id=None, action="match.opened", object_type="match_session",
                  object_id=body.session, details={"peer": party, "peer_authority": authority,
                                                   "peer_size": body.x_size, "own_size": len(shared.elements)})
        uow.commit()
    _remember(ctx, body.session, scalar, shared)
    return {"session": body.session, "y_size": len(shared.elements)}


_SETS_KEPT = 4  # ordered sets kept in memory, newest sessions first; the others are recomputed


def _remember(ctx: Context, session_id: str, scalar: bytes, shared: SharedSet) -> None:
    kept = [key for key in list(ctx.cache) if isinstance(key, tuple) and key[:1] == ("match set",)]
    for key in kept[:max(0, len(kept) - _SETS_KEPT + 1)]:
        ctx.cache.pop(key, None)
    ctx.cache[("match set", session_id)] = (scalar, shared)


def _secret_and_set(ctx: Context, uow: UnitOfWork, session: SessionRecord) -> tuple[bytes, SharedSet]:
    """The session's scalar and its set in order: cached, or recomputed after a restart (the set
    must not have changed since the session opened)."""
    cached = ctx.cache.get(("match set", session.id))
    if cached is not None:
        return cast(tuple[bytes, SharedSet], cached)
    scalar = federation.vault(ctx, uow).open_secret(session.scalar_sealed, purpose=SECRET_PURPOSE)
    shared = _shared_set(uow, session.authority_id, scalar,
                         peer_destination(uow, session.peer_party, session.peer_authority),
                         posting_key=index.posting_keys(ctx))
    if shared.digest != session.set_digest:
        raise Conflict("the shareable set changed since the session opened; start a new session")
    _remember(ctx, session.id, scalar, shared)
    return scalar, shared


def _on_x(ctx: Context, opened: Opened, body: XBody, attached: bytes) -> _Answered:
    """Answer X chunk `index` once its digest is committed: a chunk index is worth one answer for
    one content, whatever the peer resends, races or replays."""
    with ctx.unit_of_work() as uow:
        session = _responder_session(uow, opened, body.session)
        if session.state != "open":
            raise MatchRefused("the session is finished")
        count = _chunk_len(session.peer_size, session.chunk_size, body.index)
        if body.index > session.x_chunks or count == 0:
            raise MatchRefused(f"chunk {body.index} is out of turn (next: {session.x_chunks})")
        points = _points(attached, count=count)
        digest = hashlib.sha256(points).digest()
        store(uow).put_chunk(session_id=session.id, role=RESPONDER, part="x", idx=body.index, data=digest)
        if store(uow).get_chunk(session_id=session.id, role=RESPONDER, part="x", idx=body.index) != digest:
            raise MatchRefused(f"chunk {body.index} was already answered with other points")
        session.x_chunks = max(session.x_chunks, body.index + 1)
        session.updated_at = ctx.clock.now()
        scalar = federation.vault(ctx, uow).open_secret(session.scalar_sealed, purpose=SECRET_PURPOSE)
        uow.commit()
    return {"session": body.session, "index": body.index}, _exponentiate(ctx, scalar, points)


def _on_y(ctx: Context, opened: Opened, body: YBody) -> _Answered:
    with ctx.reading() as uow:
        session = _responder_session(uow, opened, body.session)
        if session.state != "open":
            raise MatchRefused("the session is finished")
        scalar, shared = _secret_and_set(ctx, uow, session)
        chunk = session.chunk_size
    start = body.index * chunk
    if start >= len(shared.elements):
        raise MatchRefused(f"there is no chunk {body.index}")
    points = _blind(ctx, scalar, body.session, shared.elements[start:start + chunk])
    return {"session": body.session, "index": body.index}, points


def _on_result(ctx: Context, opened: Opened, body: ResultBody) -> dict[str, Any]:
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        session = _responder_session(uow, opened, body.session)
        if session.state == "done":
            return {"session": session.id, "matches": session.matches}
        if session.x_chunks < _chunks(session.peer_size, session.chunk_size):
            raise MatchRefused("the session's chunks are not all exchanged")
        positions = set(body.positions)
        if len(positions) != len(body.positions) or any(not 0 <= i < session.own_size for i in positions):
            raise MatchRefused("the matched positions are repeated or out of range")
        _, shared = _secret_and_set(ctx, uow, session)
        _record(ctx, uow, session, shared, sorted(positions), now)
        session.state, session.matches, session.updated_at = "done", len(positions), now
        store(uow).drop_chunks(session_id=session.id, role=RESPONDER)
        uow.audit(id=ctx.new_id(), at=now, actor_id=None, action="match.finished", object_type="match_session",
                  object_id=session.id, details={"peer": session.peer_party, "role": RESPONDER,
                                                 "matches": len(positions)})
        uow.commit()
    ctx.cache.pop(("match set", body.session), None)
    return {"session": body.session, "matches": len(positions)}


def _record(ctx: Context, uow: UnitOfWork, session: SessionRecord, shared: SharedSet, matched: Iterable[int],
            at: dt.datetime) -> None:
    """The results of the elements at positions `matched`, and an alert for the analysts of each local case that holds a matched value."""
    with _bulk():  # rows for a hundred thousand matches, beside the sets the collector would re-scan
        _insert_results(ctx, uow, session, shared, matched, at)


def _kind_and_value(element: bytes) -> tuple[str, str]:
    kind, _, value = element.decode().partition("\x00")  # `psi.element` undone
    return kind, value


def _insert_results(ctx: Context, uow: UnitOfWork, session: SessionRecord, shared: SharedSet,
                    matched: Iterable[int], at: dt.datetime) -> None:
    """The matched values' postings that are marked shareable now (a mark removed since the session
    opened takes its posting out of the results; docs/matching.md, Records)."""
    keyed = shared.keyed(matched)
    postings = [Posting(key, *_kind_and_value(keyed[key]), case_ref)
                for key, case_ref in store(uow).marked_cases(authority_id=session.authority_id, keys=keyed)]
    store(uow).add_results([
        {"session_id": session.id, "authority_id": session.authority_id, "case_ref": posting.case_ref,
         "key": posting.key, "kind": posting.kind, "value": posting.value, "peer_party": session.peer_party,
         "peer_authority": session.peer_authority, "found_at": at}
        for posting in postings])
    alerts.record_match_alerts(uow, authority_id=session.authority_id, peer_party=session.peer_party,
                               peer_authority=session.peer_authority, now=at,
                               new_id=iter(ctx.new_ids(len(postings))).__next__,
                               matched=[(p.key, p.kind, p.value, p.case_ref) for p in postings],
                               asserted_by_peer=session.role == RESPONDER)


# --- the initiator ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Summary:
    session: str
    peer_party: str
    peer_authority: str
    own_size: int
    peer_size: int
    matches: int
    resumed: bool


@dataclass(frozen=True, slots=True)
class _Progress:
    """An initiator session as the driver sees it between transactions."""

    id: str
    authority_id: str
    peer_party: str
    peer_authority: str
    peer_size: int
    chunk_size: int
    x_chunks: int
    y_chunks: int

    @classmethod
    def of(cls, s: SessionRecord) -> _Progress:
        return cls(s.id, s.authority_id, s.peer_party, s.peer_authority, s.peer_size, s.chunk_size, s.x_chunks,
                   s.y_chunks)


def _call(ctx: Context, session: SessionRecord | _Progress, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Send one protocol message without points to the peer and return its verified answer's body."""
    return _exchange(ctx, session, kind, body)[0]


def _exchange(ctx: Context, session: SessionRecord | _Progress, kind: str, body: dict[str, Any],
              points: bytes | None = None) -> _Answered:
    """Send one protocol message to the peer (with `points` attached) and return its verified
    answer's body, and the points attached to it (answers to X and Y chunks)."""
    with ctx.reading() as uow:
        message_id, message = _seal(ctx, uow, kind=kind, own_authority=session.authority_id,
                                    party=session.peer_party, authority=session.peer_authority, body=body,
                                    points=points)
        url = federation.peer_descriptor(ctx, uow, session.peer_party).node_url
    transport = cast(MatchTransport, ctx.transport)
    wire, attachment = _unframe(transport.match(url, message))
    with ctx.reading() as uow:
        try:
            opened = _open(ctx, uow, wire)
        except Error as exc:
            raise PeerProtocolError(f"{session.peer_party} answered with an unverifiable message: {exc.message}"
                                    ) from exc
    envelope = opened.envelope
    expected = (session.peer_party, session.peer_authority, session.authority_id, message_id)
    if (envelope.from_.party, envelope.from_.authority, envelope.to.authority, envelope.in_reply_to) != expected:
        raise PeerProtocolError(f"{session.peer_party} answered for another session or message")
    with_points = envelope.type == ANSWER and kind in (X_CHUNK, Y_CHUNK)
    try:
        answer = ChunkAnswer.model_validate(envelope.body) if with_points else None
        attached = _attachment(envelope.id, answer.key, answer.count, attachment) if answer else None
        if not with_points:
            _no_attachment(opened, attachment)
    except (Error, ValidationError) as exc:
        reason = exc.message if isinstance(exc, Error) else "a malformed body"
        raise PeerProtocolError(f"{session.peer_party} answered with an unverifiable message: {reason}") from exc
    if envelope.type == REFUSED:
        raise PolicyDenied(f"{session.peer_party} refused: {envelope.body.get('reason', '?')}")
    if envelope.type != ANSWER or envelope.body.get("session") != session.id:
        raise PeerProtocolError(f"{session.peer_party} answered {envelope.type!r} for another session")
    return envelope.body, attached


def _peer_authority(ctx: Context, uow: UnitOfWork, principal: Principal, party: str, authority: str | None) -> str:
    peer = federation.peer_descriptor(ctx, uow, party)
    if authority is not None:
        if peer.authority(authority) is None:
            raise NotFound(f"{party} has no authority {authority}")
        return authority
    own = uow.get_authority(principal.authority_id)
    chosen = peer.authority_for(own.kind if own else "central_authority")
    if chosen is None:
        raise NotFound(f"{party} publishes no authority to match with")
    return chosen.id


def run(ctx: Context, principal: Principal, party: str, *, authority: str | None = None,
        chunk_size: int | None = None) -> Summary:
    """Match the authority's shareable indicators with a peer authority's; resume the unfinished
    session with that peer if there is one (and the set has not changed)."""
    require_role(principal, RUNNERS, "match indicators with other nodes")
    chunk = chunk_size or limits(ctx).chunk
    if not 1 <= chunk <= MAX_CHUNK:
        raise InvalidInput(f"the chunk size is 1 to {MAX_CHUNK}")
    now = ctx.clock.now()
    key_of = index.posting_keys(ctx)
    with ctx.unit_of_work() as uow:
        peer_authority = _peer_authority(ctx, uow, principal, party, authority)
        session = store(uow).open_session_with(authority_id=principal.authority_id, peer_party=party,
                                               peer_authority=peer_authority)
        resumed = session is not None
        shared: SharedSet | None = None
        if session is not None:
            scalar = federation.vault(ctx, uow).open_secret(session.scalar_sealed, purpose=SECRET_PURPOSE)
            shared = _shared_set(uow, principal.authority_id, scalar, peer_destination(uow, party, peer_authority),
                                 posting_key=key_of)
            if shared.digest != session.set_digest:  # the set changed: that session cannot finish
                session.state, session.error, session.updated_at = "failed", "the shareable set changed", now
                store(uow).drop_chunks(session_id=session.id, role=INITIATOR)
                session, shared, resumed = None, None, False
        if session is None:
            scalar = psi.new_scalar()
            shared = _shared_set(uow, principal.authority_id, scalar, peer_destination(uow, party, peer_authority),
                                 posting_key=key_of)
            session = store(uow).add_session(
                id=ctx.new_id(), role=INITIATOR, authority_id=principal.authority_id, peer_party=party,
                peer_authority=peer_authority, state="open",
                scalar_sealed=federation.vault(ctx, uow).seal_secret(scalar, purpose=SECRET_PURPOSE),
                set_digest=shared.digest, own_size=len(shared.elements), peer_size=-1, chunk_size=chunk,
                x_chunks=0, y_chunks=0, matches=0, created_at=now, updated_at=now, error="")
            uow.audit(id=ctx.new_id(), at=now, actor_id=principal.user_id, action="match.started",
                      object_type="match_session", object_id=session.id,
                      details={"peer": party, "peer_authority": peer_authority, "own_size": len(shared.elements)})
        uow.commit()
        session_id = session.id
    assert shared is not None
    return _drive(ctx, session_id, scalar, shared, resumed)


def _save(ctx: Context, session_id: str, **changes: Any) -> _Progress:
    with ctx.unit_of_work() as uow:
        session = store(uow).get_session(session_id, INITIATOR)
        assert session is not None
        chunk = changes.pop("chunk", None)
        if chunk is not None:
            part, idx, data = chunk
            store(uow).put_chunk(session_id=session_id, role=INITIATOR, part=part, idx=idx, data=data)
        for name, value in {**changes, "updated_at": ctx.clock.now()}.items():
            setattr(session, name, value)
        progress = _Progress.of(session)
        uow.commit()
        return progress


def _save_x(ctx: Context, session_id: str, index: int, count: int, answer: Future[_Answered]) -> _Progress:
    """Keep the peer's answer to X chunk `index` (its points raised to its secret, in our order)."""
    body, points = answer.result()
    if body.get("index") != index:
        raise PeerProtocolError("the peer answered another chunk")
    try:
        points = _points(points, count=count)
    except InvalidInput as exc:
        raise PeerProtocolError(f"the peer's answer to chunk {index}: {exc.message}") from exc
    return _save(ctx, session_id, x_chunks=index + 1, chunk=("xab", index, points))


_BLINDED_AHEAD = 16  # X chunks blinded before the peer has answered the earlier ones (16 × 1.9 MB): enough
# to keep the workers busy while the peer reads and orders its set (6 s for a million)


def _open_session(ctx: Context, session: _Progress, size: int) -> tuple[_Progress, int]:
    """Open the session at the peer (again, when resuming): the peer's set size."""
    answer = _call(ctx, session, OPEN, {"session": session.id, "protocol": PROTOCOL, "x_size": size,
                                        "chunk_size": session.chunk_size})
    y_size = answer.get("y_size")
    if not isinstance(y_size, int) or y_size < 0 or (session.peer_size >= 0 and y_size != session.peer_size):
        raise PeerProtocolError(f"{session.peer_party} declared an invalid set size")
    if session.peer_size < 0:
        session = _save(ctx, session.id, peer_size=y_size)
    return session, y_size


def _send_x(ctx: Context, session: _Progress, scalar: bytes, elements: Sequence[bytes],
            opened: Future[tuple[_Progress, int]], stop: threading.Event) -> None:
    """The X lane: blind each chunk of our set, send it, keep the answer. Blinding runs ahead of
    the peer (first while it opens the session and reads its set, then while it re-blinds the last
    chunk); one thread sends the chunks in turn, as the peer requires."""
    chunk = session.chunk_size

    def send(i: int, blinded: bytes) -> _Answered:
        opened.result()
        return _exchange(ctx, session, X_CHUNK, {"session": session.id, "index": i}, blinded)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="match-x") as sender:
        sent: deque[tuple[int, int, Future[_Answered]]] = deque()
        for i in range(session.x_chunks, _chunks(len(elements), chunk)):
            if stop.is_set():
                for _, _, pending in sent:
                    pending.cancel()
                return
            blinded = _blind(ctx, scalar, session.id, elements[i * chunk:(i + 1) * chunk])
            while sent and (len(sent) >= _BLINDED_AHEAD or sent[0][2].done()):
                _save_x(ctx, session.id, *sent.popleft())
            sent.append((i, len(blinded) // psi.POINT, sender.submit(send, i, blinded)))
        while sent:
            _save_x(ctx, session.id, *sent.popleft())


def _receive_y(ctx: Context, opened: Future[tuple[_Progress, int]], scalar: bytes, stop: threading.Event) -> int:
    """The Y lane: ask for each chunk of the peer's blinded set, raise it to our secret, keep it.
    The next chunk is asked for while this one is raised. Returns the peer's set size."""
    session, y_size = opened.result()
    chunk = session.chunk_size
    y_count = _chunks(y_size, chunk)
    if session.y_chunks >= y_count:
        return y_size
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="match-y") as asker:
        asked = asker.submit(_exchange, ctx, session, Y_CHUNK, {"session": session.id, "index": session.y_chunks})
        for j in range(session.y_chunks, y_count):
            body, points = asked.result()
            if j + 1 < y_count and not stop.is_set():
                asked = asker.submit(_exchange, ctx, session, Y_CHUNK, {"session": session.id, "index": j + 1})
            if body.get("index") != j:
                raise PeerProtocolError(f"{session.peer_party} answered another chunk")
            try:
                their = _points(points, count=_chunk_len(y_size, chunk, j))
            except InvalidInput as exc:
                raise PeerProtocolError(f"{session.peer_party}'s chunk {j}: {exc.message}") from exc
            _save(ctx, session.id, y_chunks=j + 1, chunk=("yba", j, _exponentiate(ctx, scalar, their)))
            if stop.is_set():  # the X lane failed: what we have is kept for the next run
                break
    return y_size


def _stopping_others(stop: threading.Event, lane: Callable[..., _T], *args: Any) -> _T:
    try:
        return lane(*args)
    except BaseException:
        stop.set()  # the other lane ends at its next chunk
        raise


def _drive(ctx: Context, session_id: str, scalar: bytes, shared: SharedSet, resumed: bool) -> Summary:
    with ctx.reading() as uow:
        record = store(uow).get_session(session_id, INITIATOR)
        assert record is not None
        session = _Progress.of(record)
    elements = shared.elements
    _executor(ctx)  # the worker processes, started before the lanes share them
    stop = threading.Event()
    # The two lanes are independent (the peer answers Y chunks whatever it has seen of X), so
    # they run side by side: both nodes' worker processes always have work queued.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="match") as lanes:
        opened = lanes.submit(_stopping_others, stop, _open_session, ctx, session, len(elements))
        y_lane = lanes.submit(_stopping_others, stop, _receive_y, ctx, opened, scalar, stop)
        try:
            _stopping_others(stop, _send_x, ctx, session, scalar, elements, opened, stop)
        finally:
            y_size = y_lane.result()
        session = opened.result()[0]
    with ctx.reading() as uow:
        mine = b"".join(store(uow).chunks(session_id=session_id, role=INITIATOR, part="xab"))
        theirs = b"".join(store(uow).chunks(session_id=session_id, role=INITIATOR, part="yba"))
    pairs = psi.intersect(mine, theirs)
    now = ctx.clock.now()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="match-result") as sender, ctx.unit_of_work() as uow:
        # The peer records its side while we record ours; ours is committed only once the peer
        # has acknowledged the result, so that a failed result message leaves the session to resume.
        told = sender.submit(_call, ctx, session, RESULT, {"session": session.id,
                                                           "positions": sorted(j for _, j in pairs)})
        record = store(uow).get_session(session_id, INITIATOR)
        assert record is not None
        _record(ctx, uow, record, shared, [i for i, _ in pairs], now)
        record.state, record.matches, record.updated_at = "done", len(pairs), now
        store(uow).drop_chunks(session_id=session_id, role=INITIATOR)
        uow.audit(id=ctx.new_id(), at=now, actor_id=None, action="match.finished", object_type="match_session",
                  object_id=session_id, details={"peer": record.peer_party, "role": INITIATOR, "matches": len(pairs)})
        told.result()
        uow.commit()
    return Summary(session_id, session.peer_party, session.peer_authority, len(elements), y_size, len(pairs), resumed)


# --- reading -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Match:
    case_ref: str
    kind: str
    value: str
    peer_party: str
    peer_authority: str
    session: str
    found_at: dt.datetime


def list_matches(ctx: Context, principal: Principal, *, limit: int = 10_000) -> list[Match]:
    """The indicators of the authority's cases found at a peer, newest first."""
    require_role(principal, READERS, "read matches")
    with ctx.reading() as uow:
        return [Match(r.case_ref, r.kind, r.value, r.peer_party, r.peer_authority, r.session_id, r.found_at)
                for r in store(uow).list_results(authority_id=principal.authority_id, limit=limit)]


def list_sessions(ctx: Context, principal: Principal) -> list[dict[str, Any]]:
    require_role(principal, READERS, "read matches")
    with ctx.reading() as uow:
        return [{"session": s.id, "role": s.role, "peer": s.peer_party, "peer_authority": s.peer_authority,
                 "state": s.state, "own_size": s.own_size, "peer_size": s.peer_size, "matches": s.matches,
                 "created_at": s.created_at.isoformat(), "error": s.error}
                for s in store(uow).list_sessions(authority_id=principal.authority_id)]

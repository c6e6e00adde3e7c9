"""Resumable download of a blob by a peer node, with a capability.

The sender grants a capability for one blob to one pinned peer (`grant_capability`): a random
token (stored only as its SHA-256) with an expiry, handed to the peer inside the encrypted
federation message as `Capability(url, token, sha256, size)`. The peer fetches with
`fetch_blob`: each GET carries the token as a bearer secret and a signature by the peer's node
key over (method, host, path, capability id, date), which the sender checks against the peer's
pinned descriptor and its own public URL (`authorize`). The capability comes from a peer, so the
fetcher first checks it: its URL must be on the origin of a pinned peer's URL (our credentials go
nowhere else) and its size within `upload_max_bytes`. Downloads resume from the bytes already
staged and end with a SHA-256 check.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import BaseModel

from hcx.crypto.keys import VerifyKey
from hcx.domain.ports import BlobFetcher, BlobStaging, UnitOfWork
from hcx.errors import ConfigError, InvalidInput, NotFound, PeerProtocolError, PolicyDenied, VerificationError
from hcx.services import federation
from hcx.services.context import Context
from hcx.services.uploads import staging, transfers

log = logging.getLogger(__name__)
SIGNED = b"hcx-blob-get/v2\n"  # domain separation: these signatures mean nothing elsewhere
WRITE_BYTES = 4 << 20  # staged (and fsynced) every 4 MiB of a download
PARTY_HEADER = "Hcx-Party"
SIGNATURE_HEADER = "Hcx-Signature"


class Capability(BaseModel):
    """What the peer needs to fetch one blob; travels inside the encrypted federation message."""

    url: str
    token: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Grant:
    """A checked request for a blob: what to serve."""

    capability_id: str
    peer_party: str
    blob_key: str
    sha256: str
    size: int


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def signed_bytes(method: str, host: str, path: str, capability_id: str, date: str) -> bytes:
    """What a blob GET signs: the host binds it to the node it was meant for (a capability URL
    pointing elsewhere cannot reuse it), the capability id to the one blob."""
    return SIGNED + f"{method.upper()}\n{host.lower()}\n{path}\n{capability_id}\n{date}".encode()


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def check_capability(ctx: Context, capability: Capability) -> str:
    """The pinned peer whose URL the capability's URL is on (same scheme, host and port, under its
    path), or PolicyDenied: a peer-supplied URL is never sent our credentials unchecked. Also refuses
    a size above `upload_max_bytes`."""
    parts = urlsplit(capability.url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.username or parts.password:
        raise PolicyDenied(f"the capability URL {capability.url!r} is not a plain http(s) URL")
    if capability.size > ctx.policy.upload_max_bytes:
        raise PolicyDenied(f"the capability announces {capability.size} bytes, above this node's limit of "
                           f"{ctx.policy.upload_max_bytes}")
    with ctx.reading() as uow:
        peers = [(peer.party, peer.url) for peer in uow.list_peers()]
    for party, url in peers:
        if (_origin(url) == _origin(capability.url)
                and parts.path.startswith(urlsplit(url).path.rstrip("/") + "/federation/blobs/")):
            return party
    raise PolicyDenied(f"the capability URL {capability.url!r} is not on the URL of a pinned peer")


def _capability_id(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rpartition("/")[2]


def blob_digest(ctx: Context, key: str) -> str:
    digest = hashlib.sha256()
    with ctx.blob_store().reader(key) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def grant_capability(ctx: Context, uow: UnitOfWork, blob_key: str, peer_party: str, ttl: dt.timedelta
                     ) -> Capability:
    """A capability for `peer_party` (a pinned peer) to fetch `blob_key` until now + `ttl`. The
    caller commits it with the message that carries it."""
    federation.pinned_peer(uow, peer_party)
    if ttl <= dt.timedelta(0):
        raise InvalidInput("a capability needs a positive lifetime")
    size = ctx.blob_store().size(blob_key)
    if size is None:
        raise NotFound(f"no blob {blob_key}")
    node = uow.get_node()
    if node is None or not node.url:
        raise ConfigError("this node has no public URL; peers could not reach the blob")
    token, now = secrets.token_urlsafe(32), ctx.clock.now()
    sha256 = blob_digest(ctx, blob_key)
    capability = transfers(uow).add_capability(
        id=ctx.new_id(), token_hash=_token_hash(token), blob_key=blob_key, peer_party=peer_party, sha256=sha256,
        size=size, created_at=now, expires_at=now + ttl)
    return Capability(url=f"{node.url.rstrip('/')}/federation/blobs/{capability.id}", token=token, sha256=sha256,
                      size=size)


def authorize(ctx: Context, *, capability_id: str, method: str, path: str, authorization: str | None,
              party: str | None, date: str | None, signature: str | None) -> Grant:
    """Check a peer's request for a blob: the capability exists and has not expired, the bearer
    token matches, the peer is the one it was granted to and pinned, the date is fresh and the
    signature verifies with the peer's pinned node key. Any failure raises (the router answers
    one opaque refusal and logs the reason)."""
    if not (authorization and party and date and signature):
        raise PolicyDenied("a blob request needs Authorization, Date, Hcx-Party and Hcx-Signature headers")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        raise PolicyDenied("the Authorization header is not a bearer token")
    now = ctx.clock.now()
    with ctx.reading() as uow:
        capability = transfers(uow).get_capability(capability_id)
        if capability is None:
            raise NotFound(f"no capability {capability_id}")
        if not hmac.compare_digest(capability.token_hash, _token_hash(token)):
            raise PolicyDenied(f"wrong token for capability {capability_id}")
        if capability.expires_at <= now:
            raise PolicyDenied(f"capability {capability_id} expired at {capability.expires_at.isoformat()}")
        if party != capability.peer_party:
            raise PolicyDenied(f"capability {capability_id} was granted to {capability.peer_party}, not {party}")
        peer = uow.get_peer(party)
        if peer is None:
            raise PolicyDenied(f"{party} is not a pinned peer")
        node = uow.get_node()
        if node is None or not node.url:
            raise PolicyDenied("this node has no public URL to check the signed host against")
        if peer.expires_at <= now:
            raise PolicyDenied(f"the pinned descriptor of {party} has expired")
        try:
            sent = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError) as exc:
            raise PolicyDenied(f"unreadable Date header {date!r}") from exc
        if sent.tzinfo is None or abs(now - sent) > ctx.policy.clock_skew:
            raise PolicyDenied(f"the Date header {date!r} is too far from this node's clock")
        try:
            VerifyKey.from_bytes(peer.node_key).verify(
                base64.b64decode(signature, validate=True),
                signed_bytes(method, urlsplit(node.url).netloc, path, capability_id, date))
        except (ValueError, VerificationError) as exc:
            raise PolicyDenied(f"the signature of {party} over {method} {path} does not verify") from exc
        return Grant(capability_id=capability_id, peer_party=party, blob_key=capability.blob_key,
                     sha256=capability.sha256, size=capability.size)


def record_read(ctx: Context, grant: Grant, first: int, last: int) -> None:
    """Every read of evidence is audited: here, the range a peer was served."""
    with ctx.unit_of_work() as uow:
        uow.audit(id=ctx.new_id(), at=ctx.clock.now(), actor_id=None, action="blob.serve", object_type="blob",
                  object_id=grant.capability_id, details={"peer": grant.peer_party, "blob": grant.blob_key,
                                                          "first": first, "last": last})
        uow.commit()


def request_headers(ctx: Context, capability: Capability, *, method: str = "GET") -> dict[str, str]:
    """This node's credentials for one GET of a capability URL (checked first: `check_capability`)."""
    check_capability(ctx, capability)
    parts = urlsplit(capability.url)
    date = email.utils.format_datetime(ctx.clock.now().astimezone(dt.UTC), usegmt=True)
    with ctx.reading() as uow:
        key = federation.signing_key(ctx, uow, federation.NODE)
        party = federation.own_party(ctx, uow)
    signature = base64.b64encode(
        key.sign(signed_bytes(method, parts.netloc, parts.path, _capability_id(capability.url), date))).decode()
    return {"Authorization": f"Bearer {capability.token}", "Date": date, PARTY_HEADER: party,
            SIGNATURE_HEADER: signature}


def fetch_blob(ctx: Context, capability: Capability, dest_key: str, *, fetcher: BlobFetcher | None = None,
               progress: Callable[[int], None] | None = None) -> str:
    """Download the capability's blob into `dest_key`, resuming from the bytes staged by an earlier,
    interrupted run; the blob appears only once its size and SHA-256 match the capability."""
    fetcher = fetcher or (ctx.transport if isinstance(ctx.transport, BlobFetcher) else None)
    if fetcher is None:
        raise ConfigError("this node has no transport for fetching blobs")
    if not capability.sha256 or len(capability.sha256) != 64 or capability.size < 0:
        raise InvalidInput("the capability names no valid SHA-256 and size")
    check_capability(ctx, capability)  # before anything is staged or sent
    partial, store = staging(ctx), ctx.blob_store()
    if store.size(dest_key) == capability.size and blob_digest(ctx, dest_key) == capability.sha256:
        return dest_key  # fetched already
    offset = partial.partial_size(dest_key)
    if offset > capability.size:
        partial.discard(dest_key)
        offset = 0
    if progress:
        progress(offset)
    if offset < capability.size:
        with fetcher.fetch_range(capability.url, headers=request_headers(ctx, capability), offset=offset) as chunks:
            buffer = bytearray()
            for data in chunks:
                buffer += data
                if offset + len(buffer) > capability.size:
                    raise PeerProtocolError(f"{capability.url}: more bytes than the capability's {capability.size}")
                if len(buffer) >= WRITE_BYTES:
                    offset = _stage(partial, dest_key, offset, buffer, progress)
            offset = _stage(partial, dest_key, offset, buffer, progress)
        if offset < capability.size:
            raise PeerProtocolError(f"{capability.url}: the answer ended at byte {offset} of {capability.size}; "
                                    "fetch again to resume")
    try:
        partial.promote(dest_key, dest_key, size=capability.size, sha256=capability.sha256)
    except VerificationError:
        partial.discard(dest_key)  # a later fetch starts over rather than resuming bad bytes
        raise
    log.info("fetched blob %s (%s bytes, sha256 %s)", dest_key, capability.size, capability.sha256)
    return dest_key


def _stage(partial: BlobStaging, key: str, offset: int, buffer: bytearray,
           progress: Callable[[int], None] | None) -> int:
    if buffer:
        partial.append(key, offset, bytes(buffer))
        offset += len(buffer)
        buffer.clear()
    if progress:
        progress(offset)
    return offset


def default_dest_key(capability: Capability) -> str:
    return f"downloads/{capability.sha256}"


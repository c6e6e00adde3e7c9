"""This node's keys and descriptor, and its pinned peers.

Private keys are stored encrypted with the node's passphrase and decrypted once per process into
the key ring. A peer is pinned only when the fingerprint of its node key, exchanged out of band,
matches; later descriptors are accepted only when signed by the pinned key.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pydantic import ValidationError

from hcx.crypto.envelope import sign_document, verify_document
from hcx.crypto.keys import DecryptionKey, SigningKey, Vault, VerifyKey, b64d, b64e, fingerprint, parse_fingerprint
from hcx.domain.descriptor import DescribedAuthority, DescribedKey, Descriptor
from hcx.domain.ports import PeerRecord, UnitOfWork
from hcx.errors import Conflict, Error, InvalidInput, NotFound, PeerProtocolError, PolicyDenied, VerificationError
from hcx.rules.schema import Role
from hcx.services.context import Context, Principal

log = logging.getLogger(__name__)
NODE = "node"
AGE_PURPOSE = "age"  # an authority's age identity (evidence encryption), made on first use


# --- keys ------------------------------------------------------------------------------------

def vault(ctx: Context, uow: UnitOfWork) -> Vault:
    """The node's key vault, opened once per process (the passphrase is stretched only then)."""
    if "vault" not in ctx.keyring:
        node = uow.get_node()
        if node is None:
            raise NotFound("this node is not initialised")
        ctx.keyring["vault"] = Vault(ctx.key_passphrase, node.key_salt)
    opened = ctx.keyring["vault"]
    assert isinstance(opened, Vault)
    return opened


def own_party(ctx: Context, uow: UnitOfWork) -> str:
    """This node's party; it never changes once the node exists, so it is read once per process."""
    if "party" not in ctx.cache:
        node = uow.get_node()
        if node is None:
            raise NotFound("this node is not initialised")
        ctx.cache["party"] = node.party
    party = ctx.cache["party"]
    assert isinstance(party, str)
    return party


def create_signing_key(ctx: Context, uow: UnitOfWork, owner: str) -> None:
    key = SigningKey.generate()
    uow.add_key(kid=key.public.kid, owner=owner, purpose="sign", public=key.public.raw,
                private_encrypted=vault(ctx, uow).seal(key), at=ctx.clock.now())
    ctx.keyring[key.public.kid] = key


def create_authority_keys(ctx: Context, uow: UnitOfWork, authority_id: str) -> None:
    create_signing_key(ctx, uow, authority_id)
    key = DecryptionKey.generate()
    uow.add_key(kid=key.public.kid, owner=authority_id, purpose="encrypt", public=key.public.raw,
                private_encrypted=vault(ctx, uow).seal(key), at=ctx.clock.now())
    ctx.keyring[key.public.kid] = key


def signing_key(ctx: Context, uow: UnitOfWork, owner: str) -> SigningKey:
    record = uow.active_key(owner=owner, purpose="sign")
    if record is None:
        raise NotFound(f"no signing key for {owner}")
    if record.kid not in ctx.keyring:
        ctx.keyring[record.kid] = vault(ctx, uow).open_signing(record.private_encrypted)
    key = ctx.keyring[record.kid]
    assert isinstance(key, SigningKey)
    return key


def decryption_key(ctx: Context, uow: UnitOfWork, owner: str, kid: str) -> DecryptionKey:
    record = uow.get_key(kid)
    if record is None or record.owner != owner or record.purpose != "encrypt" or record.revoked_at is not None:
        raise NotFound(f"no encryption key {kid} for {owner}")
    if kid not in ctx.keyring:
        ctx.keyring[kid] = vault(ctx, uow).open_decryption(record.private_encrypted)
    key = ctx.keyring[kid]
    assert isinstance(key, DecryptionKey)
    return key


def rotate_authority_keys(ctx: Context, actor: Principal | None, authority_id: str) -> list[str]:
    """New keys for an authority; the old ones are published as revoked and refused from then on."""
    if actor is not None and actor.role is not Role.admin:
        raise PolicyDenied("only an admin can rotate keys")
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        if uow.get_authority(authority_id) is None:
            raise NotFound(f"no authority {authority_id}")
        revoked = [k for k in uow.list_keys() if k.owner == authority_id and k.revoked_at is None]
        for key in revoked:
            key.revoked_at = now
            ctx.keyring.pop(key.kid, None)
        create_authority_keys(ctx, uow, authority_id)
        bump_descriptor(uow)
        uow.audit(id=ctx.new_id(), at=now, actor_id=actor.user_id if actor else None, action="keys.rotate",
                  object_type="authority", object_id=authority_id, details={"revoked": [k.kid for k in revoked]})
        uow.commit()
        return [k.kid for k in revoked]


def node_fingerprint(ctx: Context) -> str:
    with ctx.reading() as uow:
        return fingerprint(signing_key(ctx, uow, NODE).public.raw)


# --- this node's descriptor -------------------------------------------------------------------

def set_url(ctx: Context, url: str) -> None:
    with ctx.unit_of_work() as uow:
        node = uow.get_node()
        if node is None:
            raise NotFound("this node is not initialised")
        if node.url != url:
            node.url = url
            node.descriptor_version += 1
            uow.commit()


def descriptor(ctx: Context) -> dict[str, Any]:
    """This node's descriptor, signed by its node key."""
    with ctx.reading() as uow:
        node = uow.get_node()
        if node is None:
            raise NotFound("this node is not initialised")
        keys = uow.list_keys()
        now = ctx.clock.now()

        def described(owner: str, purpose: str) -> list[DescribedKey]:
            return [DescribedKey(kid=k.kid, key=b64e(k.public), status="revoked" if k.revoked_at else "active")
                    for k in keys if k.owner == owner and k.purpose == purpose]

        ages = {k.owner: k.public.decode("ascii") for k in keys if k.purpose == AGE_PURPOSE and not k.revoked_at}
        authorities = [DescribedAuthority(id=a.id, name=a.name, kind=a.kind, languages=[],
                                          signing_keys=described(a.id, "sign"),
                                          encryption_keys=described(a.id, "encrypt"),
                                          age_recipient=ages.get(a.id))
                       for a in uow.list_authorities()]
        node_key = signing_key(ctx, uow, NODE)
        document = Descriptor(
            party=node.party, node_url=node.url or "http://unset.invalid", version=node.descriptor_version,
            issued=now, expires=now + dt.timedelta(days=ctx.policy.descriptor_days),
            node_key=DescribedKey(kid=node_key.public.kid, key=b64e(node_key.public.raw)),
            authorities=authorities, declarations={})
        # without None fields: a descriptor that names no age recipient reads as before it existed
        return sign_document("descriptor", document.model_dump(mode="json", exclude_none=True), node_key)


def bump_descriptor(uow: UnitOfWork) -> None:
    node = uow.get_node()
    if node is not None:
        node.descriptor_version += 1


# --- peers ------------------------------------------------------------------------------------

def read_descriptor(signed: Any, key: VerifyKey | None) -> tuple[Descriptor, VerifyKey]:
    """Verify a signed descriptor with `key` (the pinned one), or with the key it names (first pinning).
    A malformed one raises PeerProtocolError, one another key signed VerificationError."""
    try:
        if key is None:
            named = signed["document"]["node_key"]["key"]
            key = VerifyKey.from_bytes(b64d(named))
        document = verify_document("descriptor", signed, key)
        return Descriptor.model_validate(document), key
    except (KeyError, TypeError, InvalidInput, ValidationError) as exc:
        raise PeerProtocolError(f"the peer's descriptor is malformed: {exc}") from exc


def add_peer(ctx: Context, actor: Principal | None, *, url: str, expected_fingerprint: str) -> PeerRecord:
    """Fetch a peer's descriptor and pin it if its node key has the fingerprint given out of band."""
    if actor is not None and actor.role is not Role.admin:
        raise PolicyDenied("only an admin can pin a peer")
    expected = parse_fingerprint(expected_fingerprint)
    assert ctx.transport is not None
    document, key = read_descriptor(ctx.transport.fetch_descriptor(url), None)
    if fingerprint(key.raw) != expected:
        raise VerificationError(f"the node key of {url} has the fingerprint {fingerprint(key.raw)}, "
                                f"not {expected}: not pinned")
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        node = uow.get_node()
        if node is not None and node.party == document.party:
            raise InvalidInput("a node cannot pin a node of its own party")
        if uow.get_peer(document.party) is not None:
            raise Conflict(f"a peer for {document.party} is already pinned")
        if document.expires <= now:
            raise VerificationError(f"the descriptor of {document.party} expired on {document.expires}")
        peer = uow.add_peer(party=document.party, url=document.node_url, node_key=key.raw,
                            descriptor=document.model_dump(mode="json"), descriptor_version=document.version,
                            expires_at=document.expires, pinned_at=now, refreshed_at=now)
        uow.audit(id=ctx.new_id(), at=now, actor_id=actor.user_id if actor else None, action="peer.pin",
                  object_type="peer", object_id=document.party, details={"url": url, "fingerprint": expected})
        uow.commit()
        return peer


def refresh_peer(ctx: Context, party: str) -> PeerRecord:
    """Fetch the peer's current descriptor; accept it only if signed by the pinned key and not older."""
    with ctx.unit_of_work() as uow:
        peer = pinned_peer(uow, party)
        url, pinned = peer.url, VerifyKey.from_bytes(peer.node_key)
    assert ctx.transport is not None
    document, _ = read_descriptor(ctx.transport.fetch_descriptor(url), pinned)
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        peer = pinned_peer(uow, party)  # unpinned meanwhile: NotFound
        if document.party != party or document.version < peer.descriptor_version:
            raise PeerProtocolError(f"{party} served an older or foreign descriptor; kept version "
                                    f"{peer.descriptor_version}")
        peer.node_key = b64d(document.node_key.key)  # a rotation, signed by the pinned key
        peer.descriptor, peer.descriptor_version = document.model_dump(mode="json"), document.version
        peer.expires_at, peer.refreshed_at, peer.url = document.expires, now, document.node_url
        uow.commit()
        return peer


def refresh_due_peers(ctx: Context, *, older_than: dt.timedelta = dt.timedelta(hours=1)) -> None:
    """Refresh the descriptors not refreshed for a while (rotations, revocations, new expiry)."""
    now = ctx.clock.now()
    with ctx.unit_of_work() as uow:
        due = [p.party for p in uow.list_peers() if now - p.refreshed_at >= older_than]
    for party in due:
        try:
            refresh_peer(ctx, party)
        except Error as exc:
            log.warning("could not refresh the descriptor of %s: %s", party, exc.message)


def pinned_peer(uow: UnitOfWork, party: str) -> PeerRecord:
    """The pinned peer `party` (NotFound if there is none)."""
    peer = uow.get_peer(party)
    if peer is None:
        raise NotFound(f"{party} is not a pinned peer")
    return peer


def trusted_peer(ctx: Context, uow: UnitOfWork, party: str) -> PeerRecord:
    """The pinned peer `party` whose descriptor has not expired: its keys may be relied on."""
    peer = pinned_peer(uow, party)
    if peer.expires_at <= ctx.clock.now():
        raise VerificationError(f"the descriptor of {party} expired on {peer.expires_at:%Y-%m-%d}; refresh it")
    return peer


def peer_descriptor(ctx: Context, uow: UnitOfWork, party: str) -> Descriptor:
    """The pinned, unexpired descriptor of `party`; anything else is refused."""
    peer = trusted_peer(ctx, uow, party)
    # parsed once per version (its keys are kilobytes), not once per message
    key = ("descriptor", party, peer.descriptor_version, peer.node_key)
    if key not in ctx.cache:
        ctx.cache[key] = Descriptor.model_validate(peer.descriptor)
    parsed = ctx.cache[key]
    assert isinstance(parsed, Descriptor)
    return parsed


def list_peers(ctx: Context) -> list[dict[str, Any]]:
    with ctx.reading() as uow:
        return [{"party": p.party, "url": p.url, "fingerprint": fingerprint(p.node_key),
                 "version": p.descriptor_version, "expires_at": p.expires_at.isoformat(),
                 "authorities": [a["name"] for a in p.descriptor.get("authorities", [])]}
                for p in uow.list_peers()]

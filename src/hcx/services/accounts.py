"""The node, its authorities, users and API tokens; authentication."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hcx.crypto.keys import Vault
from hcx.errors import Conflict, InvalidInput, NotFound, PolicyDenied, Unauthenticated
from hcx.rules.schema import AuthorityKind, Role
from hcx.services import federation
from hcx.services.context import Context, Principal
from hcx.services.views import AuditView, AuthorityView, NewToken, TokenView, UserView

_hasher = PasswordHasher()  # argon2id with the library's current defaults
TOKEN_PREFIX = "hcx_"  # noqa: S105 - a public prefix, not a secret
MIN_PASSWORD_LENGTH = 12
LAST_USED_PRECISION = dt.timedelta(minutes=5)


def init_node(ctx: Context, *, party: str, name: str) -> None:
    if ctx.rules.party(party) is None:
        raise InvalidInput(f"{party} is not a known party (ISO 3166-1 alpha-3 code, e.g. VNM)")
    with ctx.unit_of_work() as uow:
        if uow.get_node() is not None:
            raise Conflict("this node is already initialised")
        now = ctx.clock.now()
        uow.create_node(party=party, name=name, at=now, key_salt=Vault.new_salt())
        federation.create_signing_key(ctx, uow, federation.NODE)
        uow.audit(id=ctx.new_id(), at=now, actor_id=None, action="node.init", object_type="node",
                  object_id=party, details={"name": name})
        uow.commit()


def node_party(ctx: Context) -> str:
    with ctx.reading() as uow:
        node = uow.get_node()
        if node is None:
            raise NotFound("this node is not initialised; run `hcx init --party ISO3` first")
        return node.party


def _require(principal: Principal | None, *roles: Role) -> None:
    """None means the node operator at the command line (shell access to the node's files)."""
    if principal is not None and principal.role not in roles:
        raise PolicyDenied(f"this needs the role {' or '.join(roles)}")


def add_authority(ctx: Context, actor: Principal | None, *, name: str, kind: AuthorityKind) -> AuthorityView:
    _require(actor, Role.admin)
    name = name.strip()
    if not name:
        raise InvalidInput("an authority needs a name")
    party = node_party(ctx)
    with ctx.unit_of_work() as uow:
        now = ctx.clock.now()
        authority = uow.add_authority(id=ctx.new_id(), party=party, name=name, kind=kind.value, at=now)
        federation.create_authority_keys(ctx, uow, authority.id)
        federation.bump_descriptor(uow)
        uow.audit(id=ctx.new_id(), at=now, actor_id=actor.user_id if actor else None, action="authority.add",
                  object_type="authority", object_id=authority.id, details={"name": name, "kind": kind.value})
        view = AuthorityView.model_validate(authority, from_attributes=True)
        uow.commit()
        return view


def list_authorities(ctx: Context) -> list[AuthorityView]:
    with ctx.reading() as uow:
        return [AuthorityView.model_validate(a, from_attributes=True) for a in uow.list_authorities()]


def add_user(ctx: Context, actor: Principal | None, *, username: str, password: str, role: Role,
             authority_id: str, display_name: str = "") -> UserView:
    _require(actor, Role.admin)
    username = username.strip()
    if not username or len(username) > 64 or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise InvalidInput("a username is 1-64 letters, digits, '.', '-' or '_'")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    with ctx.unit_of_work() as uow:
        if uow.get_authority(authority_id) is None:
            raise NotFound(f"no authority {authority_id}")
        if uow.find_user(username) is not None:
            raise Conflict(f"the username {username!r} is taken")
        now = ctx.clock.now()
        user = uow.add_user(id=ctx.new_id(), username=username, display_name=display_name or username,
                            role=role.value, authority_id=authority_id, password_hash=_hasher.hash(password), at=now)
        uow.audit(id=ctx.new_id(), at=now, actor_id=actor.user_id if actor else None, action="user.add",
                  object_type="user", object_id=user.id, details={"username": username, "role": role.value,
                                                                  "authority_id": authority_id})
        view = UserView.model_validate(user, from_attributes=True)
        uow.commit()
        return view


def list_users(ctx: Context, actor: Principal | None) -> list[UserView]:
    _require(actor, Role.admin, Role.auditor)
    with ctx.reading() as uow:
        return [UserView.model_validate(u, from_attributes=True) for u in uow.list_users()]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(ctx: Context, actor: Principal | None, *, username: str, name: str) -> NewToken:
    """A new API token for `username`: users make their own, admins and the operator anyone's."""
    with ctx.unit_of_work() as uow:
        user = uow.find_user(username)
        if user is None or not user.active:
            raise NotFound(f"no active user {username!r}")
        if actor is not None and actor.user_id != user.id and actor.role is not Role.admin:
            raise PolicyDenied("only an admin can create a token for another user")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = ctx.clock.now()
        token = uow.add_token(id=ctx.new_id(), user_id=user.id, name=name or "api", token_hash=_digest(secret),
                              at=now, expires_at=now + dt.timedelta(days=ctx.policy.token_days))
        uow.audit(id=ctx.new_id(), at=now, actor_id=actor.user_id if actor else None, action="token.create",
                  object_type="token", object_id=token.id, details={"user_id": user.id, "name": token.name})
        view = NewToken(token=secret, **TokenView.model_validate(token, from_attributes=True).model_dump())
        uow.commit()
        return view


def revoke_token(ctx: Context, actor: Principal, token_id: str) -> None:
    with ctx.unit_of_work() as uow:
        token = uow.get_token(token_id)
        if token is None or (token.user_id != actor.user_id and actor.role is not Role.admin):
            raise NotFound(f"no token {token_id}")
        now = ctx.clock.now()
        token.revoked_at = now
        uow.audit(id=ctx.new_id(), at=now, actor_id=actor.user_id, action="token.revoke",
                  object_type="token", object_id=token_id, details={})
        uow.commit()


def list_tokens(ctx: Context, actor: Principal) -> list[TokenView]:
    with ctx.reading() as uow:
        return [TokenView.model_validate(t, from_attributes=True) for t in uow.list_tokens(actor.user_id)]


def authenticate_token(ctx: Context, secret: str) -> Principal:
    """The principal behind an API token; one opaque refusal for every failure."""
    refused = Unauthenticated("invalid or expired token")
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise refused
    now = ctx.clock.now()
    with ctx.reading() as uow:
        token = uow.find_token(_digest(secret))
        if token is None or token.revoked_at is not None or (token.expires_at and token.expires_at <= now):
            raise refused
        user = uow.get_user(token.user_id)
        if user is None or not user.active:
            raise refused
        authority = uow.get_authority(user.authority_id)
        assert authority is not None
        principal = Principal(user.id, user.username, Role(user.role), user.authority_id, authority.party)
        stale = token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION
        token_id = token.id
    if stale:  # a write per call would serialise every API read behind the database's write lock
        with ctx.unit_of_work() as uow:
            used = uow.get_token(token_id)
            if used is not None:
                used.last_used_at = now
                uow.commit()
    return principal


def authenticate_password(ctx: Context, username: str, password: str) -> Principal:
    refused = Unauthenticated("wrong username or password")
    with ctx.reading() as uow:
        user = uow.find_user(username)
        if user is None or not user.active:
            _hasher.hash(password)  # spend the same time as for a real user
            raise refused
        try:
            _hasher.verify(user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError) as exc:
            raise refused from exc
        authority = uow.get_authority(user.authority_id)
        assert authority is not None
        return Principal(user.id, user.username, Role(user.role), user.authority_id, authority.party)


def principal_for(ctx: Context, username: str) -> Principal:
    """The principal a command-line operator acts as (`--user NAME`)."""
    with ctx.reading() as uow:
        user = uow.find_user(username)
        if user is None or not user.active:
            raise NotFound(f"no active user {username!r}")
        authority = uow.get_authority(user.authority_id)
        assert authority is not None
        return Principal(user.id, user.username, Role(user.role), user.authority_id, authority.party)


def list_audit(ctx: Context, *, limit: int = 100) -> list[AuditView]:
    with ctx.reading() as uow:
        return [AuditView.model_validate(a, from_attributes=True) for a in uow.list_audit(limit=min(max(limit, 1), 1000))]

"""Health, the signed-in user, tokens, authorities, users and the audit trail."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from hcx import __version__
from hcx.api.deps import ContextDep, PrincipalDep
from hcx.errors import PolicyDenied
from hcx.rules.schema import AuthorityKind, Role
from hcx.services import accounts
from hcx.services.views import AuditView, AuthorityView, NewToken, TokenView, UserView

router = APIRouter()


class Health(BaseModel):
    status: str
    version: str
    database: bool
    party: str | None
    request_types: int


@router.get("/health", response_model=Health, tags=["system"])
def health(ctx: ContextDep) -> Health:
    party: str | None = None
    try:
        party = accounts.node_party(ctx)
        database = True
    except Exception:  # noqa: BLE001 - health reports, it does not raise
        database = False
    return Health(status="ok" if database else "degraded", version=__version__, database=database,
                  party=party, request_types=len(ctx.rules.request_types))


class Me(BaseModel):
    user_id: str
    username: str
    role: str
    authority_id: str
    party: str


@router.get("/me", response_model=Me, tags=["accounts"])
def me(principal: PrincipalDep) -> Me:
    return Me(user_id=principal.user_id, username=principal.username, role=principal.role,
              authority_id=principal.authority_id, party=principal.party)


class Login(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    name: str = Field("api", max_length=100, description="a label for the token")


@router.post("/tokens", response_model=NewToken, status_code=201, tags=["accounts"])
def create_token(ctx: ContextDep, body: Login) -> NewToken:
    """Exchange a username and password for an API token (shown once)."""
    principal = accounts.authenticate_password(ctx, body.username, body.password)
    return accounts.create_token(ctx, principal, username=principal.username, name=body.name)


@router.get("/tokens", response_model=list[TokenView], tags=["accounts"])
def list_tokens(ctx: ContextDep, principal: PrincipalDep) -> list[TokenView]:
    return accounts.list_tokens(ctx, principal)


@router.delete("/tokens/{token_id}", status_code=204, tags=["accounts"])
def revoke_token(ctx: ContextDep, principal: PrincipalDep, token_id: str) -> None:
    accounts.revoke_token(ctx, principal, token_id)


class NewAuthority(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: AuthorityKind


@router.get("/authorities", response_model=list[AuthorityView], tags=["accounts"])
def list_authorities(ctx: ContextDep, principal: PrincipalDep) -> list[AuthorityView]:
    return accounts.list_authorities(ctx)


@router.post("/authorities", response_model=AuthorityView, status_code=201, tags=["accounts"])
def add_authority(ctx: ContextDep, principal: PrincipalDep, body: NewAuthority) -> AuthorityView:
    return accounts.add_authority(ctx, principal, name=body.name, kind=body.kind)


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    role: Role
    authority_id: str
    display_name: str = Field("", max_length=200)


@router.get("/users", response_model=list[UserView], tags=["accounts"])
def list_users(ctx: ContextDep, principal: PrincipalDep) -> list[UserView]:
    return accounts.list_users(ctx, principal)


@router.post("/users", response_model=UserView, status_code=201, tags=["accounts"])
def add_user(ctx: ContextDep, principal: PrincipalDep, body: NewUser) -> UserView:
    return accounts.add_user(ctx, principal, username=body.username, password=body.password, role=body.role,
                             authority_id=body.authority_id, display_name=body.display_name)


@router.get("/audit", response_model=list[AuditView], tags=["accounts"])
def audit(ctx: ContextDep, principal: PrincipalDep, limit: int = 100) -> list[AuditView]:
    if principal.role not in (Role.admin, Role.auditor):
        raise PolicyDenied("the audit trail is for admins and auditors")
    return accounts.list_audit(ctx, limit=limit)

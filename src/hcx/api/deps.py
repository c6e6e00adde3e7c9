"""Request-scoped dependencies: the service context and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hcx.errors import Unauthenticated
from hcx.services import accounts
from hcx.services.context import Context, Principal

_bearer = HTTPBearer(auto_error=False, description="an API token (hcx token create)")


def get_context(request: Request) -> Context:
    context: Context = request.app.state.context
    return context


def get_principal(
    ctx: Annotated[Context, Depends(get_context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthenticated("an API token is required (Authorization: Bearer hcx_...)")
    return accounts.authenticate_token(ctx, credentials.credentials)


ContextDep = Annotated[Context, Depends(get_context)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]

"""`hcx authority`, `hcx user`, `hcx token`: run by the node operator on the node's machine."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hcx.cli.node import Node
from hcx.cli.options import JsonOpt
from hcx.cli.output import console, err_console, print_json, table
from hcx.errors import InvalidInput, NotFound
from hcx.rules.schema import AuthorityKind, Role
from hcx.services import accounts

authority_app = typer.Typer(help="Authorities of this node (central authority, 24/7 contact, ...).",
                            no_args_is_help=True)
user_app = typer.Typer(help="Users, each with one role in one authority.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for machines and scripts.", no_args_is_help=True)


@authority_app.command("add")
def authority_add(ctx: typer.Context, name: str,
                  kind: Annotated[AuthorityKind, typer.Option(help="what the authority is")]) -> None:
    """Add an authority of this node's State."""
    node: Node = ctx.obj
    view = accounts.add_authority(node.context(), None, name=name, kind=kind)
    console.print(f"Authority [bold]{view.name}[/] ({view.kind}) added: {view.id}")


@authority_app.command("list")
def authority_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
    node: Node = ctx.obj
    views = accounts.list_authorities(node.context())
    if json_:
        print_json(views)
    else:
        table("Authorities", ["id", "name", "kind"], [[a.id, a.name, a.kind] for a in views])


@authority_app.command("rotate-keys")
def authority_rotate_keys(ctx: typer.Context, authority: str) -> None:
    """New signing and encryption keys; the old ones are published as revoked."""
    from hcx.services import federation

    node: Node = ctx.obj
    revoked = federation.rotate_authority_keys(node.context(), None, resolve_authority(node, authority))
    console.print(f"New keys for {authority}; revoked: {', '.join(revoked)}. Peers pick them up when they "
                  "refresh this node's descriptor.")


def resolve_authority(node: Node, name_or_id: str) -> str:
    for a in accounts.list_authorities(node.context()):
        if name_or_id in (a.id, a.name):
            return a.id
    raise NotFound(f"no authority {name_or_id!r}; see `hcx authority list`")


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    username: str,
    role: Annotated[Role, typer.Option(help="the user's role")],
    authority: Annotated[str, typer.Option(help="name or id of the user's authority")],
    display_name: Annotated[str, typer.Option(help="full name")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Add a user (the password is asked for, or read from stdin)."""
    node: Node = ctx.obj
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise InvalidInput("empty password")
    view = accounts.add_user(node.context(), None, username=username, password=password, role=role,
                             authority_id=resolve_authority(node, authority), display_name=display_name)
    console.print(f"User [bold]{view.username}[/] ({view.role}) added: {view.id}")


@user_app.command("list")
def user_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
    node: Node = ctx.obj
    views = accounts.list_users(node.context(), None)
    if json_:
        print_json(views)
    else:
        table("Users", ["id", "username", "role", "authority"], [[u.id, u.username, u.role, u.authority_id]
                                                                   for u in views])


@token_app.command("create")
def token_create(ctx: typer.Context, user: Annotated[str, typer.Option(help="the token's user")],
                 name: Annotated[str, typer.Option(help="a label for the token")] = "cli") -> None:
    """Create an API token; it is printed once and only its hash is kept."""
    node: Node = ctx.obj
    view = accounts.create_token(node.context(), None, username=user, name=name)
    err_console.print(f"Token for {user} (expires {view.expires_at:%Y-%m-%d}); keep it secret, it is shown once:",
                  highlight=False)
    print(view.token)

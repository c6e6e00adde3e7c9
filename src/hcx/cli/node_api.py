"""The node's API as the officer's commands reach it (`hcx evidence upload`, `seal-upload`, `send`,
`incoming`): the URL and token options, and a client whose error bodies become hcx errors.

A token given as `--token` stands on the command line, where every user of the machine can read
it (`ps`, /proc, shell history): `--token-stdin` and HCX_TOKEN keep it off; `--token` still works,
with a warning."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated, Any

import httpx
import typer

from hcx import errors
from hcx.cli.output import err_console

NodeUrl = Annotated[str, typer.Option("--node", envvar="HCX_NODE_URL", help="the node's URL")]
Token = Annotated[str, typer.Option(
    envvar="HCX_TOKEN", show_default=False,
    help="an API token (hcx token create); other users of this machine can see a command line: prefer "
         "HCX_TOKEN or --token-stdin")]
TokenStdin = Annotated[bool, typer.Option("--token-stdin", help="read the API token from standard input")]
DEFAULT_NODE = "http://127.0.0.1:8401"
STATUS_ERRORS: dict[int, type[errors.Error]] = {
    401: errors.Unauthenticated, 403: errors.PolicyDenied, 404: errors.NotFound, 409: errors.Conflict,
    413: errors.InvalidInput, 422: errors.InvalidInput}


def connect(ctx: typer.Context, *, timeout: float = 60) -> NodeApi:
    """The node a command names with these options (`node_url: NodeUrl`, `token: Token`,
    `token_stdin: TokenStdin`), with the token read as `api_token` reads it."""
    return NodeApi(ctx.params["node_url"], api_token(ctx, ctx.params["token"], ctx.params["token_stdin"]),
                   timeout=timeout)


def api_token(ctx: typer.Context, token: str, token_stdin: bool) -> str:
    """The token from standard input (`--token-stdin`), `--token` or HCX_TOKEN, in that order."""
    source = ctx.get_parameter_source("token")
    on_argv = source is not None and source.name == "COMMANDLINE"
    if token_stdin:
        if on_argv:
            raise errors.InvalidInput("give the token with --token or --token-stdin, not both")
        # typed at a terminal, the token is not echoed; piped, it is read as it comes
        token = getpass.getpass("API token: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    elif on_argv:
        err_console.print("[yellow]warning:[/] a token given with --token is visible to other users of this "
                          "machine; use --token-stdin or HCX_TOKEN", highlight=False)
    if not token:
        raise errors.Unauthenticated("an API token is needed: --token-stdin, HCX_TOKEN or --token "
                                     "(hcx token create)")
    return token


class NodeApi:
    """The node's /api/v1, with the token; error bodies become hcx errors."""

    def __init__(self, url: str, token: str, *, timeout: float = 60) -> None:
        self.http = httpx.Client(base_url=f"{url.rstrip('/')}/api/v1", timeout=timeout,
                                 headers={"Authorization": f"Bearer {token}"})

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise errors.PeerUnreachable(f"the node at {self.http.base_url} did not answer: "
                                         f"{exc.__class__.__name__}") from exc
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                message, details = str(error["message"]), list(error.get("details") or [])
            except (ValueError, KeyError, TypeError):
                message, details = f"HTTP {response.status_code}", []
            raise STATUS_ERRORS.get(response.status_code, errors.PeerProtocolError)(message, details=details)
        return response.json() if response.content else None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> NodeApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""`hcx evidence seal-upload`, `send`, `incoming`, `recipient`: returning evidence to the requesting State.

`seal-upload`, `send` and `incoming` run on the officer's machine and talk to the node's API
(`--node`, `HCX_NODE_URL`; `--token-stdin`, `HCX_TOKEN` or `--token`), like `hcx evidence upload`.
`recipient` runs on the node (its data dir) and makes the authority's age identity, so that its
peers can encrypt evidence to it. The flow is in docs/evidence.md ("Returning evidence").
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from hcx.cli.node import Node
from hcx.cli.node_api import DEFAULT_NODE, NodeUrl, Token, TokenStdin, connect
from hcx.cli.options import JsonOpt, UserOpt
from hcx.cli.output import console
from hcx.services import accounts, evidence

app = typer.Typer(help="Returning evidence: seal uploads for a request, send, follow.", no_args_is_help=True)

SEALING_SECONDS = 3600.0  # sealing reads every byte once: minutes for large files


def _call(ctx: typer.Context, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """One call to the node the command's options name."""
    with connect(ctx, timeout=SEALING_SECONDS) as api:
        result: dict[str, Any] = api.call(method, path, **kwargs)
    return result


def _print(result: dict[str, Any], as_json: bool, line: str) -> None:
    if as_json:
        console.print_json(json.dumps(result))
    else:
        console.print(line, highlight=False)


@app.command("seal-upload")
def seal_upload(
    ctx: typer.Context,
    upload_ids: Annotated[list[str], typer.Argument(help="completed uploads (hcx evidence upload prints the id)")],
    case: Annotated[str, typer.Option("--case", help="the case reference")],
    request: Annotated[str, typer.Option("--request", help="the incoming request the evidence answers")],
    node_url: NodeUrl = DEFAULT_NODE, token: Token = "", token_stdin: TokenStdin = False, as_json: JsonOpt = False,
) -> None:
    """Seal completed uploads into a package for an incoming request, encrypted to the requesting
    authority and this authority's archive key."""
    package = _call(ctx, "POST", "/evidence",
                    json={"uploads": upload_ids, "case_ref": case, "request_id": request})
    _print(package, as_json, f"sealed package [bold]{package['id']}[/]: {package['digest']}, "
                             f"{package['payload_files']} files, {package['payload_bytes']} bytes")


@app.command("send")
def send(
    ctx: typer.Context,
    package_id: Annotated[str, typer.Argument(help="a sealed package")],
    node_url: NodeUrl = DEFAULT_NODE, token: Token = "", token_stdin: TokenStdin = False, as_json: JsonOpt = False,
) -> None:
    """Send a sealed package to the State whose request it answers."""
    sent = _call(ctx, "POST", f"/evidence/{package_id}/send")
    _print(sent, as_json, f"package {sent['package_id']} queued for request {sent['request_id']} "
                          f"(message {sent['message_id']}, custody entry {sent['custody_index']})")


@app.command("incoming")
def incoming(
    ctx: typer.Context,
    package_id: Annotated[str, typer.Argument(help="a package a peer sent")],
    node_url: NodeUrl = DEFAULT_NODE, token: Token = "", token_stdin: TokenStdin = False, as_json: JsonOpt = False,
) -> None:
    """Where the download of a package a peer sent stands: fetching, received or failed (why)."""
    status = _call(ctx, "GET", f"/evidence/{package_id}/incoming")
    _print(status, as_json, f"package {status['package']} from {status['peer']}: {status['status']} "
                            f"(attempts {status['attempts']}){' — ' + status['error'] if status['error'] else ''}")


@app.command("recipient")
def recipient(ctx: typer.Context, user: UserOpt,
              as_json: JsonOpt = False) -> None:
    """Make (once) and print the age recipient of the user's authority; peers then encrypt evidence to it."""
    node: Node = ctx.obj
    context = node.context()
    principal = accounts.principal_for(context, user)
    identity = evidence.age_identity(context, principal.authority_id)
    result = {"authority": principal.authority_id, "age_recipient": str(identity.recipient)}
    _print(result, as_json, f"authority {principal.authority_id}: {identity.recipient}")

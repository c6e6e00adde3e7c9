"""`hcx peer`, `hcx outbox`, `hcx inbox`: the node's peers and its message queues."""

from __future__ import annotations

from typing import Annotated

import typer

from hcx.cli.node import Node
from hcx.cli.options import JsonOpt
from hcx.cli.output import console, print_json, table
from hcx.services import delivery, federation

peer_app = typer.Typer(help="Peers: other States' nodes this node talks to.", no_args_is_help=True)
outbox_app = typer.Typer(help="Messages leaving this node.", no_args_is_help=True)
inbox_app = typer.Typer(help="Messages received from peers.", no_args_is_help=True)


@peer_app.command("add")
def peer_add(ctx: typer.Context, url: str,
             fingerprint: Annotated[str, typer.Option(help="the peer's node-key fingerprint, obtained out of band")]
             ) -> None:
    """Fetch a peer's descriptor and pin it if its fingerprint matches."""
    node: Node = ctx.obj
    peer = federation.add_peer(node.context(), None, url=url, expected_fingerprint=fingerprint)
    console.print(f"Pinned [bold]{peer.party}[/] at {peer.url} (descriptor version {peer.descriptor_version})")


@peer_app.command("refresh")
def peer_refresh(ctx: typer.Context, party: str) -> None:
    """Fetch the peer's current descriptor (accepted only if signed by the pinned key)."""
    node: Node = ctx.obj
    peer = federation.refresh_peer(node.context(), party.upper())
    console.print(f"{peer.party}: descriptor version {peer.descriptor_version}, valid until {peer.expires_at:%Y-%m-%d}")


@peer_app.command("list")
def peer_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
    node: Node = ctx.obj
    peers = federation.list_peers(node.context())
    if json_:
        print_json(peers)
    else:
        table("Peers", ["party", "url", "fingerprint", "version", "valid until"],
              [[p["party"], p["url"], p["fingerprint"], p["version"], p["expires_at"][:10]] for p in peers])


@peer_app.command("fingerprint")
def fingerprint(ctx: typer.Context) -> None:
    """This node's fingerprint, to give to a peer's administrator out of band."""
    node: Node = ctx.obj
    print(federation.node_fingerprint(node.context()))


@outbox_app.command("list")
def outbox_list(ctx: typer.Context, status: Annotated[str | None, typer.Option(
        help="pending, delivered or parked")] = None, json_: JsonOpt = False) -> None:
    node: Node = ctx.obj
    messages = delivery.list_outbox(node.context(), status=status)
    if json_:
        print_json(messages)
    else:
        table("Outbox", ["id", "peer", "type", "status", "attempts", "last error"],
              [[m["id"], m["peer"], m["type"], m["status"], m["attempts"], m["last_error"]] for m in messages])


@outbox_app.command("retry")
def outbox_retry(ctx: typer.Context, message_id: str) -> None:
    """Send a parked message again."""
    node: Node = ctx.obj
    delivery.retry(node.context(), None, message_id)
    console.print(f"{message_id} will be sent again")


@inbox_app.command("list")
def inbox_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
    node: Node = ctx.obj
    messages = delivery.list_inbox(node.context())
    if json_:
        print_json(messages)
    else:
        table("Inbox", ["id", "peer", "type", "status", "seq", "error"],
              [[m["id"], m["peer"], m["type"], m["status"], m["seq"], m["error"]] for m in messages])

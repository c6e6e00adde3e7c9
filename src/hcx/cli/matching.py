"""`hcx match`: find the indicators your authority shares with a peer's, disclosing nothing else."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.markup import escape

from hcx.cli.node import Node
from hcx.cli.options import JsonOpt, UserOpt
from hcx.cli.output import console, print_json, table
from hcx.services import accounts, matching

app = typer.Typer(help="Matching with other nodes by private set intersection (docs/matching.md).",
                  no_args_is_help=True)

CaseArg = Annotated[str, typer.Argument(help="the case reference")]


def _rows(values: list[list[Any]]) -> list[list[Any]]:
    return [[escape(str(v)) for v in row] for row in values]


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    peer: Annotated[str, typer.Argument(help="the peer's party (ISO 3166-1 alpha-3), e.g. AUS")],
    user: UserOpt,
    authority: Annotated[str | None, typer.Option("--authority", help="the peer authority's id "
                                                                      "(default: the one of your kind)")] = None,
    chunk: Annotated[int | None, typer.Option("--chunk", help="points per message (default HCX_MATCH_CHUNK)")] = None,
    json_: JsonOpt = False,
) -> None:
    """Match your authority's shareable indicators with PEER's; resumes an interrupted session."""
    node: Node = ctx.obj
    context = node.context()
    summary = matching.run(context, accounts.principal_for(context, user), peer.upper(), authority=authority,
                           chunk_size=chunk)
    if json_:
        print_json(asdict(summary))
        return
    console.print(f"session {summary.session}{' (resumed)' if summary.resumed else ''} with {summary.peer_party}/"
                  f"{escape(summary.peer_authority)}: {summary.own_size} of ours against {summary.peer_size} of theirs, "
                  f"{summary.matches} in common", highlight=False)


@app.command("list")
def list_cmd(ctx: typer.Context, user: UserOpt, json_: JsonOpt = False) -> None:
    """The indicators of your cases found at peers."""
    node: Node = ctx.obj
    context = node.context()
    found = matching.list_matches(context, accounts.principal_for(context, user))
    if json_:
        print_json([{**asdict(m), "found_at": m.found_at.isoformat()} for m in found])
        return
    table("Matches with other nodes", ["case", "kind", "value", "peer", "peer authority", "found"],
          _rows([[m.case_ref, m.kind, m.value, m.peer_party, m.peer_authority, m.found_at.isoformat()]
                 for m in found]))


@app.command("sessions")
def sessions_cmd(ctx: typer.Context, user: UserOpt, json_: JsonOpt = False) -> None:
    """Your authority's match sessions, newest first (both roles)."""
    node: Node = ctx.obj
    context = node.context()
    found = matching.list_sessions(context, accounts.principal_for(context, user))
    if json_:
        print_json(found)
        return
    table("Match sessions", ["session", "role", "peer", "state", "ours", "theirs", "matches", "error"],
          _rows([[s["session"], s["role"], s["peer"], s["state"], s["own_size"], s["peer_size"], s["matches"],
                  s["error"]] for s in found]))


@app.command("share")
def share_cmd(ctx: typer.Context, case: CaseArg, user: UserOpt) -> None:
    """Mark every indicator of CASE shareable for matching (TLP:RED ones are never matched)."""
    node: Node = ctx.obj
    context = node.context()
    marked = matching.mark_shareable(context, accounts.principal_for(context, user), case)
    console.print(f"case {escape(case)}: {marked} indicator(s) shareable", highlight=False)


@app.command("unshare")
def unshare_cmd(ctx: typer.Context, case: CaseArg, user: UserOpt) -> None:
    """Withdraw CASE's indicators from matching (sessions already finished are not undone)."""
    node: Node = ctx.obj
    context = node.context()
    removed = matching.unmark_shareable(context, accounts.principal_for(context, user), case)
    console.print(f"case {escape(case)}: {removed} indicator(s) no longer shareable", highlight=False)

"""`hcx alerts`: new links between cases — list, acknowledge, follow up with a draft request."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, cast

import typer
from rich.markup import escape

from hcx.cli.node import Node
from hcx.cli.options import JsonOpt, UserOpt
from hcx.cli.output import console, print_json, table
from hcx.errors import InvalidInput
from hcx.services import accounts, alerts

app = typer.Typer(help="Alerts: a value newly shared between your cases, or with a counterpart's case.",
                  no_args_is_help=True)



def _json(view: alerts.AlertView) -> dict[str, object]:
    data = asdict(view)
    for field in ("created_at", "acknowledged_at"):
        data[field] = data[field].isoformat() if data[field] else None
    data["offers"] = list(view.offers)
    return data


@app.command("list")
def list_cmd(ctx: typer.Context, user: UserOpt,
             all_: Annotated[bool, typer.Option("--all", help="acknowledged alerts too")] = False,
             limit: Annotated[int, typer.Option("--limit")] = 100, json_: JsonOpt = False) -> None:
    """Your authority's alerts, newest first (open ones unless --all)."""
    node: Node = ctx.obj
    context = node.context()
    found = alerts.list_alerts(context, accounts.principal_for(context, user), open_only=not all_, limit=limit)
    if json_:
        print_json([_json(v) for v in found])
        return
    table("Alerts", ["id", "case", "shares", "with case", "country", "authority", "acknowledged", "offers"],
          [[escape(str(cell)) for cell in (v.id, v.case_ref, f"{v.kind} {v.value}", v.other_case_ref,
                                           v.other_country, v.other_authority or "-",
                                           v.acknowledged_at.isoformat() if v.acknowledged_at else "no",
                                           ", ".join(v.offers) or "-")] for v in found])


@app.command("ack")
def ack_cmd(ctx: typer.Context, alert_id: Annotated[str, typer.Argument(help="the alert's id")], user: UserOpt,
            json_: JsonOpt = False) -> None:
    """Acknowledge an alert."""
    node: Node = ctx.obj
    context = node.context()
    view = alerts.acknowledge(context, accounts.principal_for(context, user), alert_id)
    if json_:
        print_json(_json(view))
        return
    console.print(f"alert {escape(view.id)} acknowledged", highlight=False)


@app.command("draft")
def draft_cmd(ctx: typer.Context, alert_id: Annotated[str, typer.Argument(help="the alert's id")], user: UserOpt,
              type_: Annotated[str, typer.Option("--type", help="spontaneous_information or joint_investigation")],
              language: Annotated[str, typer.Option("--language", help="ISO 639 code")] = "en",
              json_: JsonOpt = False) -> None:
    """Open spontaneous information or a joint-investigation proposal to the alert's counterpart,
    pre-filled with the shared indicator and both cases."""
    if type_ not in alerts.FOLLOW_UPS:
        raise InvalidInput(f"--type is one of {', '.join(alerts.FOLLOW_UPS)}")
    node: Node = ctx.obj
    context = node.context()
    view = alerts.open_draft(context, accounts.principal_for(context, user), alert_id,
                             type=cast(alerts.FollowUp, type_), language=language)
    if json_:
        print_json(view.model_dump(mode="json"))
        return
    console.print(f"draft {escape(view.reference)} ({escape(view.type)}) to {escape(view.requested_party)} "
                  f"opened from alert {escape(alert_id)}", highlight=False)

"""`hcx request`: validate, new, list, show, transition."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from hcx.cli.node import Node
from hcx.cli.options import JsonOpt, UserOpt
from hcx.cli.output import console, print_findings, print_json, table
from hcx.domain.lifecycle import Direction, Step
from hcx.domain.model import has_errors
from hcx.domain.validation import validate
from hcx.errors import InvalidInput
from hcx.rules import load_rules
from hcx.services import accounts, requests
from hcx.services.requests import NewRequest
from hcx.services.views import RequestView

app = typer.Typer(help="Cooperation requests.", no_args_is_help=True)

MAX_FILE_BYTES = 1_048_576


def read_json(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidInput(f"{path} is larger than {MAX_FILE_BYTES} bytes")
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path} is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc


@app.command("validate")
def validate_cmd(
    file: Annotated[Path, typer.Argument(help="a draft request, JSON")],
    json_: JsonOpt = False,
    on: Annotated[str | None, typer.Option(help="validate as on this date (YYYY-MM-DD)")] = None,
) -> None:
    """Print the findings for a draft; exit 0 when there is no error finding, 1 otherwise."""
    draft = requests.parse_draft(read_json(file))
    try:
        today = dt.date.fromisoformat(on) if on else dt.date.today()
    except ValueError as exc:
        raise InvalidInput(f"--on {on!r} is not a date written YYYY-MM-DD") from exc
    findings = validate(draft, load_rules(), today=today)
    if json_:
        print_json({"valid": not has_errors(findings), "findings": [f.as_dict() for f in findings]})
    else:
        print_findings(findings)
    raise typer.Exit(1 if has_errors(findings) else 0)


@app.command("new")
def new(
    ctx: typer.Context, file: Annotated[Path, typer.Argument(help="a draft request, JSON")], user: UserOpt,
    incoming: Annotated[bool, typer.Option(help="register a request received outside hcx")] = False,
    counterpart: Annotated[str, typer.Option(help="the other party's authority")] = "",
    json_: JsonOpt = False,
) -> None:
    """Save a draft (or register an incoming request) and show its findings."""
    node: Node = ctx.obj
    context = node.context()
    body = NewRequest(draft=requests.parse_draft(read_json(file)),
                      direction=Direction.incoming if incoming else Direction.outgoing, counterpart=counterpart)
    view = requests.create(context, accounts.principal_for(context, user), body)
    _show(view, json_)


@app.command("list")
def list_cmd(
    ctx: typer.Context, user: UserOpt,
    state: Annotated[str | None, typer.Option(help="only requests in this state")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="only requests of this type")] = None,
    json_: JsonOpt = False,
) -> None:
    """Requests of your authority, most recently changed first."""
    node: Node = ctx.obj
    context = node.context()
    views = requests.list_requests(context, accounts.principal_for(context, user), state=state, type=type_)
    if json_:
        print_json(views)
        return
    table("Requests", ["reference", "id", "type", "direction", "to/from", "state", "due"],
          [[v.reference, v.id, v.type, v.direction,
            v.requested_party if v.direction == "outgoing" else v.requesting_party, v.state,
            f"{v.due_at:%Y-%m-%d %H:%M}" if v.due_at else ""] for v in views])


@app.command("show")
def show(ctx: typer.Context, request_id: str, user: UserOpt, json_: JsonOpt = False) -> None:
    """One request, its findings, its history and the steps you can take."""
    node: Node = ctx.obj
    context = node.context()
    _show(requests.show(context, accounts.principal_for(context, user), request_id), json_)


@app.command("transition")
def transition(
    ctx: typer.Context, request_id: str, action: str, user: UserOpt,
    reasons: Annotated[str | None, typer.Option(help="why (refusal, postponement, withdrawal...)")] = None,
    grounds: Annotated[list[str] | None, typer.Option("--ground", help="a refusal ground code (repeatable)")] = None,
    until: Annotated[str | None, typer.Option(help="postponed until (YYYY-MM-DD)")] = None,
    message: Annotated[str | None, typer.Option(help="information asked for or given")] = None,
    summary: Annotated[str | None, typer.Option(help="what was executed")] = None,
    extension_days: Annotated[int | None, typer.Option(help="days to extend a preservation by")] = None,
    record_counterpart: Annotated[bool, typer.Option(
        help="record a step the other party took outside hcx")] = False,
    json_: JsonOpt = False,
) -> None:
    """Take a lifecycle step (submit, approve, acknowledge, refuse, execute, ...)."""
    node: Node = ctx.obj
    context = node.context()
    try:
        step = Step(action=action, reasons=reasons, grounds=grounds, until=until, message=message,  # type: ignore[arg-type]
                    summary=summary, extension_days=extension_days, record_counterpart=record_counterpart)
    except ValueError as exc:
        raise InvalidInput(f"invalid step: {exc}") from exc
    _show(requests.transition(context, accounts.principal_for(context, user), request_id, step), json_)


def _show(view: RequestView, json_: bool) -> None:
    if json_:
        print_json(view)
        return
    console.print(f"[bold]{view.reference}[/] {view.type} ({view.direction}) "
                  f"{view.requesting_party} → {view.requested_party}: [bold]{view.state}[/]", highlight=False)
    console.print(f"id {view.id}; due {view.due_at:%Y-%m-%d %H:%M} UTC" if view.due_at else f"id {view.id}")
    for e in view.events:
        console.print(f"  {e.at:%Y-%m-%d %H:%M} {e.action}: {e.from_state or '—'} → {e.to_state} "
                      f"{e.details if e.details else ''}", highlight=False)
    if view.findings:
        from hcx.domain.model import Finding, Severity

        print_findings([Finding(Severity(f.severity), f.path, f.code, f.message, f.article, f.source, f.verified)
                        for f in view.findings])
    console.print(f"next steps: {', '.join(view.allowed_actions) or 'none'}")

"""Printing for people (Rich) and for machines (--json), and errors as exit codes."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from hcx import errors
from hcx.domain.model import Finding, Severity

console = Console()
err_console = Console(stderr=True)

EXIT_CODES: dict[type[errors.Error], int] = {
    errors.InvalidInput: 3,
    errors.NotFound: 4,
    errors.Conflict: 5,
    errors.PolicyDenied: 6,
    errors.Unauthenticated: 7,
    errors.VerificationError: 8,
    errors.PeerError: 9,
    errors.ConfigError: 78,
}


def exit_code(exc: errors.Error) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]  # type: ignore[index]
    return 1


def print_error(exc: errors.Error) -> None:
    err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
    for detail in exc.details:
        if isinstance(detail, dict) and "message" in detail:
            where = detail.get("path", "")
            article = f" (art. {detail['article']})" if detail.get("article") else ""
            err_console.print(f"  - {where}: {detail['message']}{article}", highlight=False)
        else:
            err_console.print(f"  - {detail}", highlight=False)


def print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        text = value.model_dump_json(indent=2, by_alias=True)
    elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
        text = "[" + ",\n".join(v.model_dump_json(indent=2, by_alias=True) for v in value) + "]"
    else:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    print(text)


STYLE = {Severity.error: "bold red", Severity.warning: "yellow", Severity.info: "cyan"}


def print_findings(findings: list[Finding]) -> None:
    if not findings:
        console.print("[green]No findings: the request is complete.[/]")
        return
    for f in findings:
        flag = "" if f.verified else " [dim](article unverified)[/]"
        console.print(f"[{STYLE[f.severity]}]{f.severity.value:7}[/] {f.path}: {f.message} "
                      f"[dim]— art. {f.article}, source {f.source}[/]{flag}", highlight=False)
    errors_ = sum(f.severity is Severity.error for f in findings)
    console.print(f"{errors_} error(s), {len(findings) - errors_} other finding(s)")


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for row in rows:
        t.add_row(*["" if v is None else str(v) for v in row])
    console.print(t)

"""`hcx verify FOLDER`, and the `hcx` console script that runs it without loading the node.

`hcx verify` needs no node, no database and no network, so it should not pay for importing
them: the full command line (every command's module, the services, SQLAlchemy, Alembic, …)
costs about 1.3 s of start-up here, the verifier about 0.3 s. `main` runs `hcx verify …` on its
own small Typer app and hands every other command line to `hcx.cli.main`, unchanged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from hcx.evidence.verify import VerifyReport, as_json, verify_folder

VERIFICATION_FAILED = 8  # as errors.VerificationError in cli/output.py
console = Console()  # as cli/output.py's, which is not imported here: it loads the domain model and rules
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for machines")]


def print_report(report: VerifyReport) -> None:
    for check in report.checks:
        mark = "[green]ok  [/]" if check.ok else "[bold red]FAIL[/]"
        detail = f" — {escape(check.detail)}" if check.detail else ""
        console.print(f"{mark} {check.name}: {escape(check.where)}{detail}", highlight=False)
    for where, what in report.warnings:
        console.print(f"[bold yellow]warning[/] {escape(where)}: {escape(what)}", highlight=False)
    console.print("Keys trusted (confirm these fingerprints out of band):")
    for what, fp in report.trusted:
        console.print(f"  {fp}  {escape(what)}", highlight=False)
    if report.ok:
        console.print(f"[bold green]VERIFIED[/]: package {report.package_id}, digest {report.digest}", highlight=False)
    else:
        failed = sum(not c.ok for c in report.checks)
        console.print(f"[bold red]NOT VERIFIED[/]: {failed} check(s) failed", highlight=False)


def verify_cmd(
    folder: Annotated[Path, typer.Argument(help="a folder written by `hcx evidence export`")],
    fingerprint: Annotated[str | None, typer.Option("--fingerprint", help="the node key fingerprint confirmed out "
                                                                         "of band; refuse any other")] = None,
    json_: JsonOpt = False,
) -> None:
    """Verify an exported evidence folder offline: no network, no database. Exit 0 only if all holds."""
    report = verify_folder(folder, expected_fingerprint=fingerprint)
    if json_:
        print(json.dumps(as_json(report), indent=2, ensure_ascii=False))  # as cli/output.print_json
    else:
        print_report(report)
    if not report.ok:
        raise typer.Exit(VERIFICATION_FAILED)


def main() -> None:
    """The `hcx` console script: `hcx verify …` here, anything else by `hcx.cli.main`."""
    if sys.argv[1:2] != ["verify"]:
        from hcx.cli.main import main as full_command_line

        full_command_line()
        return
    from hcx import errors
    from hcx.cli.output import exit_code, print_error

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(verify_cmd)
    try:
        code = app(args=sys.argv[2:], prog_name="hcx verify", standalone_mode=False)
        if isinstance(code, int) and code:  # typer.Exit(n) is returned, not raised, in this mode
            sys.exit(code)
    except errors.Error as exc:
        print_error(exc)
        sys.exit(exit_code(exc))
    except typer.TyperException as exc:  # usage errors (typer's click), with their own exit codes
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        sys.exit(getattr(exc, "exit_code", 2))

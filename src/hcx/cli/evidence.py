"""`hcx evidence`: seal files into a package, list packages, export one for a court; and `hcx
verify`, which checks an exported folder with no network and no database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from hcx.cli.evidence_verify import print_report, verify_cmd
from hcx.cli.node import Node
from hcx.cli.output import console, print_json, table
from hcx.services import accounts, evidence

app = typer.Typer(help="Evidence packages: seal, list, export.", no_args_is_help=True)

UserOpt = Annotated[str, typer.Option("--user", "--as", "-u", envvar="HCX_USER", help="the user you act as")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for machines")]
__all__ = ["app", "print_report", "verify_cmd"]  # `hcx verify` lives in evidence_verify, light to import


def _progress() -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=console, transient=True)


@app.command("seal")
def seal_cmd(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="files or directories to seal", show_default=False)],
    case: Annotated[str, typer.Option("--case", help="the case reference")],
    user: UserOpt,
    request: Annotated[str | None, typer.Option("--request", help="the request the evidence answers (its id)")] = None,
    json_: JsonOpt = False,
) -> None:
    """Seal local files into an evidence package on this node; print the package id."""
    node: Node = ctx.obj
    context = node.context()
    principal = accounts.principal_for(context, user)
    total = sum(f.size for f in evidence.plan(paths))
    with _progress() as bar:
        task = bar.add_task("sealing", total=total)
        view = evidence.seal(context, principal, paths, case_ref=case, request_id=request,
                             progress=lambda n: bar.advance(task, n))
    if json_:
        print_json({"id": view.id, "digest": view.digest, "files": view.payload_files, "bytes": view.payload_bytes,
                    "custody_index": view.custody_index, "recipients": view.recipients})
        return
    console.print(f"sealed {view.payload_files} file(s), {view.payload_bytes} bytes, digest {view.digest}; "
                  f"custody entry {view.custody_index}", highlight=False)
    print(view.id)


@app.command("list")
def list_cmd(ctx: typer.Context, user: UserOpt, json_: JsonOpt = False) -> None:
    """Your authority's evidence packages, newest first."""
    node: Node = ctx.obj
    context = node.context()
    views = evidence.list_packages(context, accounts.principal_for(context, user))
    rows = [[v.id, v.case_ref, v.payload_files, v.payload_bytes, v.digest, v.state, f"{v.created_at:%Y-%m-%d %H:%M}"]
            for v in views]
    if json_:
        print_json([{"id": v.id, "case": v.case_ref, "files": v.payload_files, "bytes": v.payload_bytes,
                     "digest": v.digest, "state": v.state, "created_at": v.created_at.isoformat()} for v in views])
        return
    table("Evidence packages", ["id", "case", "files", "bytes", "digest", "state", "sealed"],
          [[escape(str(c)) for c in row] for row in rows])


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    package_id: Annotated[str, typer.Argument(help="the package id")],
    out: Annotated[Path, typer.Option("--out", help="the folder to write (new or empty)")],
    user: UserOpt,
) -> None:
    """Write a self-contained folder for a court: decrypted bag, signature, custody proofs, report."""
    node: Node = ctx.obj
    context = node.context()
    principal = accounts.principal_for(context, user)
    view = evidence.get(context, principal, package_id)
    with _progress() as bar:
        task = bar.add_task("exporting", total=view.payload_bytes)
        result = evidence.export(context, principal, package_id, out, progress=lambda n: bar.advance(task, n))
    console.print(f"exported {result.files} file(s) and {result.custody_entries} custody entries (checkpoint size "
                  f"{result.checkpoint_size}) to {escape(str(result.folder))}", highlight=False)
    console.print(f"node key fingerprint, to confirm out of band: [bold]{result.node_fingerprint}[/]", highlight=False)

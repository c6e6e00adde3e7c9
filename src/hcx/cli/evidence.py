"""`hcx evidence`: seal files into a package, list packages, export one for a court; and `hcx
verify`, which checks an exported folder with no network and no database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from hcx.cli.evidence_verify import print_report, verify_cmd
from hcx.cli.node import Node
from hcx.cli.options import JsonOpt, UserOpt
from hcx.cli.output import console, print_json, table
from hcx.services import accounts, blob_sweep, evidence

app = typer.Typer(help="Evidence packages: seal, list, export.", no_args_is_help=True)

DEFAULT_SWEEP_HOURS = blob_sweep.DEFAULT_AGE.total_seconds() / 3600
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
    for warning in result.warnings:
        console.print(f"[bold yellow]warning[/]: {escape(warning)}", highlight=False)


@app.command("sweep")
def sweep_cmd(
    ctx: typer.Context,
    older_than: Annotated[float, typer.Option("--older-than", help="hours: only bytes unchanged this long go",
                                              min=1)] = DEFAULT_SWEEP_HOURS,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would go; remove nothing")] = False,
    json_: JsonOpt = False,
) -> None:
    """Remove evidence bytes nothing refers to, left by a process killed mid-seal, mid-upload or
    mid-fetch. The database decides what is referenced; recent bytes are never touched."""
    node: Node = ctx.obj
    report = blob_sweep.sweep(node.context(), older_than=dt.timedelta(hours=older_than), dry_run=dry_run)
    items = [{"kind": i.kind, "key": i.key, "bytes": i.size, "modified": i.modified.isoformat()}
             for i in report.removed]
    if json_:
        print_json({"dry_run": dry_run, "removed": items, "removed_bytes": report.removed_bytes,
                    "kept_recent": report.kept_recent, "kept_referenced": report.kept_referenced})
        return
    if items:
        table("Would remove" if dry_run else "Removed", ["kind", "key", "bytes", "modified"],
              [[escape(str(v)) for v in item.values()] for item in items])
    console.print(f"{'would remove' if dry_run else 'removed'} {len(items)} item(s), {report.removed_bytes} bytes; "
                  f"kept {report.kept_referenced} referenced, {report.kept_recent} younger than {older_than:g} h",
                  highlight=False)


"""`hcx evidence upload` and `hcx evidence download`: moving evidence bytes, resumably.

`upload` runs on the officer's machine, which holds no node: it talks HTTP to the node's API
(`--node`, `HCX_NODE_URL`) with an API token (`--token-stdin`, `HCX_TOKEN` or `--token`, made by
`hcx token create`; cli/node_api.py), like any other API client. Nothing is kept locally: to
resume, it finds its open upload on the node by the file's SHA-256, name and size, and asks how
many bytes arrived.

`download` runs on the requesting node (it opens the node's data dir, like the other commands):
it fetches a blob a peer granted with a capability, resuming a partial download.
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from hcx import errors
from hcx.cli.node import Node
from hcx.cli.node_api import DEFAULT_NODE, NodeApi, NodeUrl, Token, TokenStdin, connect
from hcx.cli.options import JsonOpt
from hcx.cli.output import console
from hcx.services import blob_transfer
from hcx.services.blob_transfer import Capability

app = typer.Typer(help="Evidence bytes: resumable upload to the node, download from a peer.",
                  no_args_is_help=True)

READ_BYTES = 1 << 20
RETRIES = 5


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), DownloadColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=False)


def file_digest(path: Path, progress: Progress) -> str:
    digest = hashlib.sha256()
    task = progress.add_task("hashing", total=path.stat().st_size)
    with path.open("rb") as stream:
        while chunk := stream.read(READ_BYTES):
            digest.update(chunk)
            progress.advance(task, len(chunk))
    return digest.hexdigest()


def _open_upload(api: NodeApi, path: Path, size: int, sha256: str, resume: bool) -> dict[str, Any]:
    if resume:
        found = api.call("GET", "/uploads", params={"status": "open", "sha256": sha256})
        same = [u for u in found if u["file_name"] == path.name and u["size"] == size]
        if same:
            upload: dict[str, Any] = same[0]
            console.print(f"resuming upload {upload['id']} at byte {upload['received']}", highlight=False)
            return upload
        console.print("no open upload of this file on the node; starting a new one")
    upload = api.call("POST", "/uploads", json={"file_name": path.name, "size": size, "sha256": sha256})
    console.print(f"upload {upload['id']} created", highlight=False)
    return upload


def _send(api: NodeApi, upload: dict[str, Any], stream: BinaryIO, chunk_bytes: int, progress: Progress) -> None:
    upload_id, size = upload["id"], upload["size"]
    offset = upload["received"]
    task = progress.add_task("uploading", total=size, completed=offset)
    failures = 0
    while offset < size:
        stream.seek(offset)
        chunk = stream.read(min(chunk_bytes, size - offset))
        try:
            answer = api.call("PUT", f"/uploads/{upload_id}/chunks/{offset}", content=chunk,
                              headers={"Content-Type": "application/octet-stream"})
            failures = 0
        except (errors.PeerUnreachable, errors.Conflict) as exc:
            # a lost connection, or an earlier attempt that did arrive: ask the node where it stands
            failures += 1
            if failures > RETRIES:
                raise
            console.print(f"[yellow]{exc.message}; asking the node where to resume[/]", highlight=False)
            time.sleep(min(2 ** failures * 0.2, 5))
            answer = api.call("GET", f"/uploads/{upload_id}")
            if answer["status"] != "open":
                raise
        offset = answer["received"]
        progress.update(task, completed=offset)
        del chunk
        gc.collect(1)  # httpx leaves each request in a reference cycle: free its chunk now, not in gen 2


@app.command()
def upload(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="the file to upload")],
    resume: Annotated[bool, typer.Option("--resume", help="continue this file's open upload")] = False,
    node_url: NodeUrl = DEFAULT_NODE, token: Token = "", token_stdin: TokenStdin = False,
    chunk_bytes: Annotated[int | None, typer.Option(min=1024, help="chunk size; default the node's largest")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Upload FILE to the node in resumable chunks; the node checks its size and SHA-256."""
    size = file.stat().st_size
    api = connect(ctx)
    try:
        with _progress() as progress:
            sha256 = file_digest(file, progress)
            opened = _open_upload(api, file, size, sha256, resume)
            with file.open("rb") as stream:
                _send(api, opened, stream, min(chunk_bytes or opened["chunk_bytes"], opened["chunk_bytes"]),
                      progress)
        done = api.call("POST", f"/uploads/{opened['id']}/complete")
    finally:
        api.close()
    if as_json:
        console.print_json(json.dumps(done))
        return
    console.print(f"uploaded [bold]{file.name}[/]: upload {done['id']}, {done['size']} bytes, "
                  f"sha256 {done['sha256']}", highlight=False)


@contextmanager
def _download_progress(total: int) -> Iterator[Any]:
    with _progress() as progress:
        task = progress.add_task("downloading", total=total)
        yield lambda done: progress.update(task, completed=done)


@app.command()
def download(
    ctx: typer.Context,
    capability_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                                    help="the capability a peer granted (JSON: url, token, "
                                                         "sha256, size)")],
    key: Annotated[str, typer.Option(help="blob key to store it under; default downloads/SHA256")] = "",
) -> None:
    """Fetch a peer's blob with a capability, resuming an interrupted download.

    The blob is kept in this node's blob store only if its SHA-256 matches."""
    node: Node = ctx.obj
    try:
        capability = Capability.model_validate_json(capability_file.read_bytes())
    except ValueError as exc:
        raise errors.InvalidInput(f"{capability_file} is not a capability", details=[str(exc)]) from exc
    dest = key or blob_transfer.default_dest_key(capability)
    context = node.context()
    with _download_progress(capability.size) as progress:
        blob_transfer.fetch_blob(context, capability, dest, progress=progress)
    console.print(f"downloaded {capability.size} bytes into blob [bold]{dest}[/], sha256 {capability.sha256}",
                  highlight=False)

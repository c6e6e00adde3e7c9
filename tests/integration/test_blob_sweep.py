"""`blob_sweep.sweep` on both blob stores (the data dir, and S3 over HTTP with moto_server) and both
databases: the bytes a killed seal, upload or fetch left behind go once they are old enough; what a
committed row refers to, and whatever is recent, stays."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from hcx.errors import ConfigError, InvalidInput, PolicyDenied
from hcx.evidence import package as pkg
from hcx.federation.transport import HttpTransport
from hcx.federation.worker import DeliveryWorker
from hcx.services import blob_sweep, evidence, uploads
from hcx.services.context import Context
from hcx.storage.blobs import FileBlobStore, S3BlobStore, _MultipartWriter
from tests.blobs import blob_store, moto_server  # noqa: F401 - the fixture
from tests.conftest import World

DAY = dt.timedelta(days=1)


@pytest.fixture(params=["files", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> FileBlobStore | S3BlobStore:
    return blob_store(request, tmp_path)


@pytest.fixture
def node(world: World, blobs: FileBlobStore | S3BlobStore) -> World:
    world.clock.current = dt.datetime.now(dt.UTC)  # the stores date what they hold by the real clock
    return dataclasses.replace(world, ctx=dataclasses.replace(world.ctx, blobs=blobs))


def _sql(ctx: Context, statement: str, **values: str) -> None:
    with ctx.unit_of_work() as uow:
        uow.session.execute(text(statement), values)  # type: ignore[attr-defined]
        uow.commit()


def _upload(ctx: Context, world: World, data: bytes, *, complete: bool = False) -> str:
    view = uploads.create(ctx, world.officer, file_name="image.dd", size=len(data),
                          sha256=hashlib.sha256(data).hexdigest())
    uploads.append(ctx, world.officer, view.id, 0, data)
    if complete:
        uploads.complete(ctx, world.officer, view.id)
    return view.id


def _row(ctx: Context, package_id: str, state: str, authority_id: str) -> None:
    with ctx.unit_of_work() as uow:
        evidence.store(uow).add(id=package_id, request_id=None, case_ref="C", authority_id=authority_id,
                                digest="sha256:" + package_id.lower().rjust(64, "0")[:64], payload_bytes=1,
                                payload_files=1, stored_bytes=1, recipients=[], created_at=ctx.clock.now(),
                                state=state)
        uow.commit()


def _unfinished_write(store: FileBlobStore | S3BlobStore, key: str) -> None:
    """What a writer killed mid-blob leaves: a temporary file, or an open multipart upload."""
    if isinstance(store, FileBlobStore):
        path = store.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / f".{path.name}.{os.urandom(8).hex()}.tmp").write_bytes(b"half")
    else:
        _MultipartWriter(store.client, store.bucket, store.prefix + key, store.part_size).write(os.urandom(6 << 20))


def _held(store: FileBlobStore | S3BlobStore) -> set[tuple[str, str]]:
    """What the store holds for the node's rows (not the sweep's own mark)."""
    return {(item.kind, item.key) for item in store.inventory()} - {("blob", blob_sweep.OWNER_KEY)}


def test_orphans_go_once_old_and_referenced_bytes_stay(node: World, tmp_path: Path) -> None:
    ctx, store = node.ctx, node.ctx.blob_store()
    assert isinstance(store, FileBlobStore | S3BlobStore)
    (tmp_path / "seized.txt").write_bytes(b"evidence " * 1000)
    kept_package = evidence.seal(ctx, node.officer, [tmp_path / "seized.txt"], case_ref="VNM-1")
    killed_seal = evidence.seal(ctx, node.officer, [tmp_path / "seized.txt"], case_ref="VNM-2")
    _sql(ctx, "DELETE FROM evidence_packages WHERE id = :id", id=killed_seal.id)  # as if killed before its commit
    _unfinished_write(store, "packages/01KILLEDMIDWRITE000000000/payload/000000.age")
    open_upload = _upload(ctx, node, b"a" * 100)
    complete_upload = _upload(ctx, node, b"b" * 100, complete=True)
    cancelled_upload = _upload(ctx, node, b"c" * 100)
    _sql(ctx, "UPDATE uploads SET status = 'cancelled' WHERE id = :id", id=cancelled_upload)  # killed before discard
    uploads.staging(ctx).append(pkg.payload_key("01FETCHING0000000000000000", 0), 0, b"d" * 50)
    _row(ctx, "01FETCHING0000000000000000", "incoming", node.officer.authority_id)
    uploads.staging(ctx).append(pkg.payload_key("01REFUSED00000000000000000", 0), 0, b"e" * 50)
    _row(ctx, "01REFUSED00000000000000000", "failed", node.officer.authority_id)
    with store.writer("downloads/" + "f" * 64) as out:  # `hcx evidence download`: no row, never swept
        out.write(b"f")
    _unfinished_write(store, "downloads/" + "0" * 64)
    before = _held(store)

    recent = blob_sweep.sweep(ctx)
    assert recent.removed == [] and recent.kept_recent > 0 and _held(store) == before

    node.clock.advance(days=2)
    dry = blob_sweep.sweep(ctx, dry_run=True)
    assert _held(store) == before
    orphans = {(item.kind, item.key) for item in dry.removed}
    assert orphans == {
        *{held for held in before if held[1].startswith(f"packages/{killed_seal.id}/")},
        ("unfinished", "packages/01KILLEDMIDWRITE000000000/payload/000000.age"),
        ("partial", f"uploads/{cancelled_upload}"),
        ("partial", pkg.payload_key("01REFUSED00000000000000000", 0)),
        ("unfinished", "downloads/" + "0" * 64),
    }
    assert len([k for k in orphans if killed_seal.id in k[1]]) == 1 + 6  # one payload file and the tag files

    swept = blob_sweep.sweep(ctx)
    assert {(item.kind, item.key) for item in swept.removed} == orphans
    assert _held(store) == before - orphans
    assert swept.removed_bytes == dry.removed_bytes > 0
    assert pkg.read_tags(kept_package.id, store, kept_package.digest)  # the committed package is whole
    assert uploads.uploaded_blob(ctx, node.officer, complete_upload).size == 100
    assert uploads.status(ctx, node.officer, open_upload).received == 100
    assert uploads.staging(ctx).partial_size(pkg.payload_key("01FETCHING0000000000000000", 0)) == 50
    if isinstance(store, S3BlobStore):
        assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
    with ctx.reading() as uow:
        audited = [e.details for e in uow.list_audit(limit=100) if e.action == "blob.sweep"]
    assert len(audited) == 1 and audited[0]["removed"] == len(orphans)
    assert blob_sweep.sweep(ctx).removed == []


def test_a_package_still_being_written_stays_whole(world: World, tmp_path: Path) -> None:
    """A seal of many large files runs for hours: its first files are old while it writes the last."""
    store = FileBlobStore(tmp_path / "blobs")
    ctx = dataclasses.replace(world.ctx, blobs=store)
    world.clock.current = dt.datetime.now(dt.UTC)
    days_ago = (dt.datetime.now(dt.UTC) - 3 * DAY).timestamp()
    for number in range(3):
        with store.writer(pkg.payload_key("01SEALING00000000000000000", number)) as out:
            out.write(b"x")
        os.utime(store.root / pkg.payload_key("01SEALING00000000000000000", number), (days_ago, days_ago))
    _unfinished_write(store, pkg.payload_key("01SEALING00000000000000000", 3))  # being written now
    assert blob_sweep.sweep(ctx).removed == []
    assert len(_held(store)) == 4
    world.clock.advance(days=2)
    assert len(blob_sweep.sweep(ctx).removed) == 4
    assert sorted(p.name for p in store.root.iterdir()) == ["packages", "sweep-owner"]  # not packages/ itself
    assert list((store.root / "packages").iterdir()) == []


def test_only_admins_sweep_and_never_recent_bytes(world: World, tmp_path: Path) -> None:
    ctx = dataclasses.replace(world.ctx, blobs=FileBlobStore(tmp_path / "blobs"))
    with pytest.raises(PolicyDenied):
        blob_sweep.sweep(ctx, world.officer)
    with pytest.raises(InvalidInput):
        blob_sweep.sweep(ctx, world.admin, older_than=dt.timedelta(minutes=5))
    assert blob_sweep.sweep(ctx, world.admin).removed == []


def test_a_store_another_node_sweeps_is_refused(world: World, tmp_path: Path) -> None:
    """Two nodes on one store: each one's packages have no row in the other's database."""
    store = FileBlobStore(tmp_path / "blobs")
    ctx = dataclasses.replace(world.ctx, blobs=store)
    assert blob_sweep.sweep(ctx, dry_run=True).removed == [] and store.size(blob_sweep.OWNER_KEY) is None
    blob_sweep.sweep(ctx)
    assert store.size(blob_sweep.OWNER_KEY)
    blob_sweep.sweep(ctx)  # its own mark
    with store.writer(blob_sweep.OWNER_KEY) as out:
        out.write(b"AUS 2026-01-01T00:00:00+00:00")
    with pytest.raises(ConfigError, match="another node"):
        blob_sweep.sweep(ctx, dry_run=True)


def test_the_delivery_worker_sweeps_when_it_starts_and_then_daily(node: World) -> None:
    store = node.ctx.blob_store()
    assert isinstance(store, FileBlobStore | S3BlobStore)
    _unfinished_write(store, "packages/01KILLEDMIDWRITE000000000/payload/000000.age")
    node.clock.advance(days=2)
    worker = DeliveryWorker(dataclasses.replace(node.ctx, transport=HttpTransport()), interval=0.05)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while _held(store) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert _held(store) == set()

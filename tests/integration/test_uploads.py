"""Resumable uploads through the API (SQLite, and PostgreSQL when set): the protocol, every bad
input of issue 4 (truncated, oversized, mis-ordered and duplicated chunks, a digest mismatch),
and who may see an upload."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hcx.api import create_app
from hcx.config import Settings
from hcx.services import uploads
from hcx.services.context import Policy
from hcx.storage.blobs import FileBlobStore, S3BlobStore
from tests.blobs import blob_store, moto_server  # noqa: F401 - the fixture
from tests.conftest import World
from tests.integration.test_api import Api, assert_error

CHUNK = 16 * 1024


@pytest.fixture(params=["files"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> FileBlobStore | S3BlobStore:
    return blob_store(request, tmp_path)


@pytest.fixture
def node(world: World, blobs: FileBlobStore | S3BlobStore) -> World:
    ctx = dataclasses.replace(world.ctx, blobs=blobs, policy=Policy(upload_chunk_bytes=CHUNK,
                                                                    upload_max_bytes=1 << 20))
    return dataclasses.replace(world, ctx=ctx)


@pytest.fixture
def api(node: World, tmp_path: Path) -> Api:
    return Api(create_app(Settings(data_dir=tmp_path, max_body_bytes=4096), context=node.ctx))


def declare(api: Api, user: dict[str, str], data: bytes, name: str = "disk image.dd") -> dict[str, Any]:
    response = api.post("/uploads", user=user, json={"file_name": name, "size": len(data),
                                                     "sha256": hashlib.sha256(data).hexdigest()})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def put(api: Api, user: dict[str, str], upload_id: str, offset: int, chunk: bytes,
        headers: dict[str, str] | None = None) -> Any:
    return api.put(f"/uploads/{upload_id}/chunks/{offset}", user=user, content=chunk,
                   headers={"Content-Type": "application/octet-stream"} | (headers or {}))


def received(api: Api, user: dict[str, str], upload_id: str) -> int:
    response = api.get(f"/uploads/{upload_id}", user=user)
    assert response.status_code == 200, response.text
    return int(response.json()["received"])


@pytest.mark.parametrize("blobs", ["files", "s3"], indirect=True)
def test_a_file_goes_up_in_chunks_resumes_and_becomes_a_blob(api: Api, node: World) -> None:
    olga = api.login("olga")
    data = os.urandom(3 * CHUNK + 123)
    upload = declare(api, olga, data)
    assert upload["received"] == 0 and upload["status"] == "open" and upload["chunk_bytes"] == CHUNK
    first = put(api, olga, upload["id"], 0, data[:CHUNK])
    assert first.status_code == 200, first.text
    assert first.json()["received"] == CHUNK
    # "the connection broke": the client asks where to resume, and finds its upload by digest
    found = api.get("/uploads", user=olga, params={"status": "open", "sha256": upload["sha256"]}).json()
    assert [u["id"] for u in found] == [upload["id"]]
    offset = received(api, olga, upload["id"])
    while offset < len(data):
        response = put(api, olga, upload["id"], offset, data[offset:offset + CHUNK])
        assert response.status_code == 200, response.text
        offset = response.json()["received"]
    done = api.post(f"/uploads/{upload['id']}/complete", user=olga)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "complete" and done.json()["blob_key"] == f"uploads/{upload['id']}"
    assert api.post(f"/uploads/{upload['id']}/complete", user=olga).json()["status"] == "complete"  # idempotent
    blob = uploads.uploaded_blob(node.ctx, node.officer, upload["id"])
    assert (blob.size, blob.sha256, blob.file_name) == (len(data), upload["sha256"], "disk image.dd")
    with node.ctx.blob_store().reader(blob.key) as stream:
        assert stream.read() == data


def test_the_same_chunk_twice_is_accepted_once_and_different_bytes_are_refused(api: Api) -> None:
    olga = api.login("olga")
    data = os.urandom(2 * CHUNK)
    upload = declare(api, olga, data)
    assert put(api, olga, upload["id"], 0, data[:CHUNK]).status_code == 200
    again = put(api, olga, upload["id"], 0, data[:CHUNK])  # a retry after a lost answer
    assert again.status_code == 200 and again.json()["received"] == CHUNK
    other = bytearray(data[:CHUNK])
    other[5] ^= 1
    error = assert_error(put(api, olga, upload["id"], 0, bytes(other)), 409)
    assert "other bytes were already received at offset 0" in error["message"]
    assert received(api, olga, upload["id"]) == CHUNK
    # a chunk reaching past the bytes received at an old offset is no duplicate either
    assert_error(put(api, olga, upload["id"], CHUNK // 2, data[CHUNK // 2:CHUNK + CHUNK // 2]), 409)


def test_a_mis_ordered_chunk_is_refused_and_names_the_expected_offset(api: Api) -> None:
    olga = api.login("olga")
    data = os.urandom(3 * CHUNK)
    upload = declare(api, olga, data)
    error = assert_error(put(api, olga, upload["id"], CHUNK, data[CHUNK:2 * CHUNK]), 409)
    assert "expected offset 0" in error["message"]
    assert error["details"] == [{"path": "offset", "message": "expected offset 0"}]
    assert received(api, olga, upload["id"]) == 0


def test_a_truncated_chunk_is_refused_and_nothing_is_stored(api: Api, node: World) -> None:
    olga = api.login("olga")
    data = os.urandom(2 * CHUNK)
    upload = declare(api, olga, data)
    error = assert_error(put(api, olga, upload["id"], 0, data[:1000], headers={"Content-Length": "2000"}), 422)
    assert "truncated" in error["message"]
    assert received(api, olga, upload["id"]) == 0
    assert isinstance(node.ctx.blobs, FileBlobStore)
    assert node.ctx.blobs.partial_size(f"uploads/{upload['id']}") == 0


def test_oversized_files_and_chunks_are_refused(api: Api) -> None:
    olga = api.login("olga")
    too_big = api.post("/uploads", user=olga, json={"file_name": "x", "size": (1 << 20) + 1, "sha256": "0" * 64})
    assert "this node's limit" in assert_error(too_big, 422)["message"]
    data = os.urandom(CHUNK + 10)
    upload = declare(api, olga, data)
    assert put(api, olga, upload["id"], 0, data[:CHUNK]).status_code == 200
    past_end = put(api, olga, upload["id"], CHUNK, data[CHUNK:] + b"extra")
    assert "beyond the declared size" in assert_error(past_end, 422)["message"]
    # larger than the chunk size setting: refused by the body limit before it is read
    big = declare(api, olga, os.urandom(3 * CHUNK))
    assert_error(put(api, olga, big["id"], 0, os.urandom(CHUNK + 1)), 413)
    assert received(api, olga, big["id"]) == 0
    # the API's general body limit (4096 here) does not apply to chunks up to the chunk size
    assert put(api, olga, big["id"], 0, os.urandom(CHUNK)).status_code == 200


@pytest.mark.parametrize("blobs", ["files", "s3"], indirect=True)
def test_a_digest_mismatch_fails_the_upload_and_leaves_no_bytes(api: Api, node: World) -> None:
    olga = api.login("olga")
    data = os.urandom(CHUNK + 5)
    response = api.post("/uploads", user=olga, json={"file_name": "a.bin", "size": len(data),
                                                     "sha256": hashlib.sha256(b"something else").hexdigest()})
    upload = response.json()
    assert put(api, olga, upload["id"], 0, data[:CHUNK]).status_code == 200
    early = api.post(f"/uploads/{upload['id']}/complete", user=olga)
    assert "only 16384 of 16389 bytes" in assert_error(early, 422)["message"]
    assert put(api, olga, upload["id"], CHUNK, data[CHUNK:]).status_code == 200
    error = assert_error(api.post(f"/uploads/{upload['id']}/complete", user=olga), 422)
    assert error["code"] == "verification_failed" and "SHA-256" in error["message"]
    view = api.get(f"/uploads/{upload['id']}", user=olga).json()
    assert view["status"] == "failed" and "SHA-256" in view["error"]
    store = node.ctx.blob_store()
    assert store.size(f"uploads/{upload['id']}") is None
    assert isinstance(store, FileBlobStore | S3BlobStore) and store.partial_size(f"uploads/{upload['id']}") == 0
    assert_error(put(api, olga, upload["id"], 0, data[:CHUNK]), 409)


def test_a_cancelled_upload_takes_no_more_chunks_and_its_bytes_are_gone(api: Api, node: World) -> None:
    olga = api.login("olga")
    data = os.urandom(2 * CHUNK)
    upload = declare(api, olga, data)
    assert put(api, olga, upload["id"], 0, data[:CHUNK]).status_code == 200
    assert api.delete(f"/uploads/{upload['id']}", user=olga).status_code == 204
    assert api.delete(f"/uploads/{upload['id']}", user=olga).status_code == 204
    assert received(api, olga, upload["id"]) == CHUNK
    assert "cancelled" in assert_error(put(api, olga, upload["id"], CHUNK, data[CHUNK:]), 409)["message"]
    store = node.ctx.blob_store()
    assert isinstance(store, FileBlobStore) and store.partial_size(f"uploads/{upload['id']}") == 0


def test_a_cancel_that_fails_to_commit_keeps_the_bytes_and_a_repeat_discards_them(api: Api, node: World) -> None:
    olga = api.login("olga")
    data = os.urandom(2 * CHUNK)
    upload = declare(api, olga, data)
    assert put(api, olga, upload["id"], 0, data[:CHUNK]).status_code == 200
    store = node.ctx.blob_store()
    assert isinstance(store, FileBlobStore)

    def failing_commit() -> Any:  # the database refuses the commit (disk full, connection lost)
        uow = node.ctx.unit_of_work()

        def commit() -> None:
            raise OSError("the commit failed")
        uow.commit = commit  # type: ignore[method-assign]
        return uow

    broken = dataclasses.replace(node.ctx, unit_of_work=failing_commit)
    olga_principal = node.officer
    with pytest.raises(OSError, match="commit failed"):
        uploads.cancel(broken, olga_principal, upload["id"])
    assert store.partial_size(f"uploads/{upload['id']}") == CHUNK  # still open, its bytes kept
    assert put(api, olga, upload["id"], CHUNK, data[CHUNK:]).status_code == 200
    # a crash after the commit but before the discard: cancelling again removes the bytes
    upload = declare(api, olga, data, name="second.dd")
    assert put(api, olga, upload["id"], 0, data[:CHUNK]).status_code == 200
    with node.ctx.unit_of_work() as uow:
        uow.session.execute(text("UPDATE uploads SET status = 'cancelled' WHERE id = :id"), {"id": upload["id"]})
        uow.commit()
    assert store.partial_size(f"uploads/{upload['id']}") == CHUNK
    uploads.cancel(node.ctx, olga_principal, upload["id"])
    assert store.partial_size(f"uploads/{upload['id']}") == 0


@pytest.mark.parametrize("body", [
    {"file_name": "../../etc/passwd", "size": 1, "sha256": "a" * 64},
    {"file_name": "a\x00b", "size": 1, "sha256": "a" * 64},
    {"file_name": "ok.bin", "size": 1, "sha256": "z" * 64},
    {"file_name": "ok.bin", "size": -1, "sha256": "a" * 64},
    {"file_name": "", "size": 1, "sha256": "a" * 64},
])
def test_bad_declarations_are_refused(api: Api, body: dict[str, Any]) -> None:
    assert_error(api.post("/uploads", user=api.login("olga"), json=body), 422)
    assert api.get("/uploads", user=api.login("olga")).json() == []


def test_only_officers_and_supervisors_of_the_authority_see_an_upload(api: Api) -> None:
    olga = api.login("olga")
    data = os.urandom(CHUNK)
    upload = declare(api, olga, data)
    path = f"/uploads/{upload['id']}"
    for outsider in ("xena", "tuan"):  # officers of other authorities: it does not exist for them
        who = api.login(outsider)
        assert_error(api.get(path, user=who), 404)
        assert_error(put(api, who, upload["id"], 0, data), 404)
        assert_error(api.post(f"{path}/complete", user=who), 404)
        assert_error(api.delete(path, user=who), 404)
        assert api.get("/uploads", user=who).json() == []
    auditor = api.login("aude")
    assert_error(api.get(path, user=auditor), 403)
    assert_error(api.post("/uploads", user=auditor, json={"file_name": "x", "size": 1, "sha256": "a" * 64}), 403)
    assert_error(api.get(path), 401)
    assert_error(put(api, {}, upload["id"], 0, data), 401)
    supervisor = api.login("sam")  # the uploader's authority
    assert api.get(path, user=supervisor).json()["received"] == 0
    assert put(api, olga, upload["id"], 0, data).status_code == 200


def test_an_empty_file_uploads_too(api: Api, node: World) -> None:
    olga = api.login("olga")
    upload = declare(api, olga, b"")
    done = api.post(f"/uploads/{upload['id']}/complete", user=olga)
    assert done.status_code == 200, done.text
    assert node.ctx.blob_store().size(done.json()["blob_key"]) == 0

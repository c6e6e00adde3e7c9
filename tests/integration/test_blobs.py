"""The blob store contract, run against both back ends: the data dir, and S3 over HTTP (moto_server)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hcx.domain.ports import BlobStaging, BlobStore
from hcx.errors import ConfigError, InvalidInput, NotFound, VerificationError
from hcx.storage.blobs import FileBlobStore, S3BlobStore, make_blob_store
from tests.blobs import MotoServer, blob_store, moto_server  # noqa: F401 - the fixture

BIG = 11 << 20  # three S3 parts of 5 MiB: the multipart path


class Boom(Exception):
    pass


@pytest.fixture(params=["files", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FileBlobStore | S3BlobStore:
    return blob_store(request, tmp_path)


def write(store: BlobStore, key: str, data: bytes) -> None:
    with store.writer(key) as stream:
        stream.write(data)


def read(store: BlobStore, key: str, **window: int) -> bytes:
    with store.reader(key, **window) as stream:
        return stream.read()


def test_a_blob_round_trips_and_is_ranged(store: FileBlobStore | S3BlobStore) -> None:
    data = os.urandom(70_000)
    write(store, "packages/p1/payload.bin", data)
    assert store.size("packages/p1/payload.bin") == len(data)
    assert read(store, "packages/p1/payload.bin") == data
    assert read(store, "packages/p1/payload.bin", offset=1000) == data[1000:]
    assert read(store, "packages/p1/payload.bin", offset=1000, length=10) == data[1000:1010]
    assert read(store, "packages/p1/payload.bin", offset=69_990, length=100) == data[69_990:]
    assert read(store, "packages/p1/payload.bin", offset=len(data)) == b""
    with pytest.raises(InvalidInput):
        read(store, "packages/p1/payload.bin", offset=len(data) + 1)


def test_a_big_blob_is_written_in_parts_and_read_back(store: FileBlobStore | S3BlobStore) -> None:
    data = os.urandom(BIG)
    with store.writer("uploads/big") as stream:
        for start in range(0, BIG, 1 << 20):  # the writer sees 1 MiB at a time
            stream.write(data[start:start + (1 << 20)])
    assert store.size("uploads/big") == BIG
    assert hashlib.sha256(read(store, "uploads/big")).digest() == hashlib.sha256(data).digest()
    assert read(store, "uploads/big", offset=(5 << 20) - 3, length=6) == data[(5 << 20) - 3:(5 << 20) + 3]


def test_a_failed_write_leaves_nothing(store: FileBlobStore | S3BlobStore) -> None:
    write(store, "kept", b"old")
    for key in ("kept", "fresh"):
        with pytest.raises(Boom), store.writer(key) as stream:
            stream.write(os.urandom(6 << 20))  # past the first S3 part: a multipart upload is open
            raise Boom
    assert read(store, "kept") == b"old"
    assert store.size("fresh") is None
    if isinstance(store, FileBlobStore):
        assert sorted(p.name for p in store.root.rglob("*")) == ["kept"]
    else:
        assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
        keys = [o["Key"] for o in store.client.list_objects_v2(Bucket=store.bucket).get("Contents", [])]
        assert keys == ["hcx/kept"]


def test_a_blob_is_replaced_whole_and_deleted(store: FileBlobStore | S3BlobStore) -> None:
    write(store, "a/b", b"first")
    write(store, "a/b", b"second")
    assert read(store, "a/b") == b"second"
    store.delete("a/b")
    store.delete("a/b")  # absent: no error
    assert store.size("a/b") is None
    with pytest.raises(NotFound):
        read(store, "a/b")


@pytest.mark.parametrize("key", ["../etc/passwd", "a/../../b", "/abs", ".hidden", "a/.partial/x", "a//b", "",
                                 "a\\b", "é", "a/b/", "x" * 200])
def test_keys_that_could_escape_are_refused(store: FileBlobStore | S3BlobStore, key: str) -> None:
    with pytest.raises(InvalidInput), store.writer(key) as stream:
        stream.write(b"x")
    with pytest.raises(InvalidInput):
        store.size(key)


def test_staged_bytes_resume_and_become_a_blob_only_when_they_match(store: FileBlobStore | S3BlobStore) -> None:
    assert isinstance(store, BlobStaging)
    data = os.urandom(300_000)
    digest = hashlib.sha256(data).hexdigest()
    assert store.partial_size("uploads/u1") == 0
    store.append("uploads/u1", 0, data[:100_000])
    store.append("uploads/u1", 100_000, data[100_000:200_000])
    assert store.partial_size("uploads/u1") == 200_000
    assert store.read_partial("uploads/u1", 99_990, 20) == data[99_990:100_010]
    store.append("uploads/u1", 200_000, data[200_000:])
    with pytest.raises(VerificationError, match="SHA-256"):
        store.promote("uploads/u1", "uploads/u1-data", size=len(data), sha256="0" * 64)
    with pytest.raises(VerificationError, match="declared"):
        store.promote("uploads/u1", "uploads/u1-data", size=len(data) + 1, sha256=digest)
    assert store.size("uploads/u1-data") is None
    store.promote("uploads/u1", "uploads/u1-data", size=len(data), sha256=digest)
    assert read(store, "uploads/u1-data") == data
    assert store.partial_size("uploads/u1") == 0
    store.append("uploads/u2", 0, b"abc")
    store.discard("uploads/u2")
    assert store.partial_size("uploads/u2") == 0


def test_a_file_store_write_at_an_offset_drops_a_crashed_tail(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    store.append("u", 0, b"abcdef")  # as if the process died before recording bytes 3..6
    store.append("u", 3, b"XY")
    assert store.read_partial("u", 0, 100) == b"abcXY"


def test_the_settings_choose_the_store(tmp_path: Path, moto_server: MotoServer) -> None:  # noqa: F811
    from hcx.config import Settings

    assert isinstance(make_blob_store(Settings(data_dir=tmp_path)), FileBlobStore)
    s3 = make_blob_store(moto_server.settings(tmp_path, "some-bucket"))
    assert isinstance(s3, S3BlobStore) and s3.bucket == "some-bucket" and s3.prefix == "hcx/"
    with pytest.raises(ConfigError):
        make_blob_store(Settings(data_dir=tmp_path, blob_url="ftp://x/y"))

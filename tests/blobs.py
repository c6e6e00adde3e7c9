"""A real S3-compatible server for tests: moto's standalone server as a subprocess on a free
loopback port, reached over HTTP by boto3 (no in-process mock)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hcx.config import Settings
from hcx.storage.blobs import FileBlobStore, S3BlobStore, s3_client
from tests.conftest import free_port

CREDENTIALS = {"s3_access_key_id": "testing", "s3_secret_access_key": "testing", "s3_region": "us-east-1"}


@dataclass(frozen=True)
class MotoServer:
    url: str

    def settings(self, data_dir: Path, bucket: str) -> Settings:
        return Settings(data_dir=data_dir, blob_url=f"s3://{bucket}/hcx", s3_endpoint_url=self.url,
                        s3_part_size=5 << 20, **CREDENTIALS)  # type: ignore[arg-type]

    def new_store(self, data_dir: Path) -> S3BlobStore:
        """A store on a fresh bucket of its own."""
        bucket = f"hcx-{uuid.uuid4().hex[:12]}"
        settings = self.settings(data_dir, bucket)
        client = s3_client(settings)
        client.create_bucket(Bucket=bucket)
        return S3BlobStore(client, bucket, "hcx", part_size=5 << 20)


def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> FileBlobStore | S3BlobStore:
    """For a fixture parametrized "files" / "s3": a store in `tmp_path`, or on a fresh bucket of the
    session's moto_server."""
    if request.param == "files":
        return FileBlobStore(tmp_path / "blobs")
    server: MotoServer = request.getfixturevalue("moto_server")
    return server.new_store(tmp_path)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("moto_server did not start")
                time.sleep(0.1)
        yield MotoServer(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()

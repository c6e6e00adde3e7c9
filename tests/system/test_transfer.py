"""Evidence bytes between real processes: `hcx evidence upload` SIGKILLed at a random point and
resumed against a real `hcx serve`; a peer's `hcx evidence download` SIGKILLed and resumed; HTTP
ranges and refusals of the blob endpoint."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
import socket
import time
from pathlib import Path

import httpx
import pytest

from hcx.crypto.keys import SigningKey
from hcx.errors import VerificationError
from hcx.services import accounts, blob_transfer, uploads
from hcx.services.blob_transfer import Capability
from hcx.services.context import Context, Principal
from tests.system.commands import hcx, kill_when_staged, random_file, staged
from tests.system.conftest import Cluster, SystemNode, pin, signed_in, wait_for

SIZE = 64 << 20


def blob_sha256(ctx: Context, key: str) -> str:
    digest = hashlib.sha256()
    with ctx.blob_store().reader(key) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def officer(node: SystemNode) -> Principal:
    return accounts.principal_for(node.ctx, node.user("officer"))


def truncated_chunk_changes_nothing(node: SystemNode, token: str) -> None:
    """A client that declares 1000 bytes, sends 600 and hangs up: nothing is stored, nothing crashes."""
    auth = {"Authorization": f"Bearer {token}"}
    upload = httpx.post(f"{node.url}/api/v1/uploads", headers=auth,
                        json={"file_name": "t.bin", "size": 1000, "sha256": "a" * 64}).json()
    before = node.log_size()
    with socket.create_connection(("127.0.0.1", node.port)) as raw:
        raw.sendall(f"PUT /api/v1/uploads/{upload['id']}/chunks/0 HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {token}\r\nContent-Length: 1000\r\n\r\n".encode() + b"x" * 600)
        time.sleep(0.3)
    status = wait_for(lambda: httpx.get(f"{node.url}/api/v1/uploads/{upload['id']}", headers=auth).json(),
                      timeout=10, what="the upload's status")
    assert status["received"] == 0
    assert "Traceback" not in node.log_since(before)


def test_an_upload_killed_at_a_random_point_resumes_and_the_digest_matches(cluster: Cluster, tmp_path: Path) -> None:
    vnm = cluster.node("VNM")
    vnm.start()
    with signed_in((vnm, "officer")) as (client,):
        token = str(client.http.headers["Authorization"]).split()[1]
    truncated_chunk_changes_nothing(vnm, token)
    sha256 = random_file(tmp_path / "image.dd", SIZE)
    env = {"HCX_TOKEN": token, "HCX_NODE_URL": vnm.url}
    log = tmp_path / "upload.log"
    command = ["evidence", "upload", str(tmp_path / "image.dd"), "--chunk-bytes", str(1 << 20)]

    threshold = random.randrange(4 << 20, 48 << 20)
    killed_at = kill_when_staged(hcx(*command, env=env, log=log), vnm.data_dir / "blobs" / ".partial" / "uploads",
                                 threshold, timeout=120)
    assert threshold <= killed_at < SIZE

    resumed = hcx(*command, "--resume", env=env, log=log)
    assert resumed.wait(timeout=120) == 0, log.read_text()
    output = log.read_text()
    assert "resuming upload" in output and "at byte 0\n" not in output
    [upload] = uploads.find(vnm.ctx, officer(vnm), sha256=sha256)
    assert upload.status == "complete" and upload.size == SIZE and upload.sha256 == sha256
    assert blob_sha256(vnm.ctx, f"uploads/{upload.id}") == sha256


def test_a_peer_download_killed_midway_resumes_and_ranges_are_served(cluster: Cluster, tmp_path: Path) -> None:
    vnm, aus = cluster.node("VNM"), cluster.node("AUS")
    vnm.start()
    aus.start()
    pin([vnm, aus])
    sha256 = random_file(tmp_path / "payload.bin", SIZE)
    with vnm.ctx.blob_store().writer("packages/p1/payload.bin") as out, (tmp_path / "payload.bin").open("rb") as src:
        while block := src.read(1 << 20):
            out.write(block)
    with vnm.ctx.unit_of_work() as uow:
        capability = blob_transfer.grant_capability(vnm.ctx, uow, "packages/p1/payload.bin", "AUS",
                                                    ttl=dt.timedelta(hours=1))
        uow.commit()
    assert (capability.sha256, capability.size) == (sha256, SIZE)
    assert capability.url.startswith(f"{vnm.url}/federation/blobs/")
    (tmp_path / "capability.json").write_text(capability.model_dump_json())

    env = {"HCX_ENV": "dev"}
    log = tmp_path / "download.log"
    command = ["--data-dir", str(aus.data_dir), "evidence", "download", str(tmp_path / "capability.json")]
    threshold = random.randrange(4 << 20, 48 << 20)
    killed_at = kill_when_staged(hcx(*command, env=env, log=log), aus.data_dir / "blobs" / ".partial" / "downloads",
                                 threshold, timeout=120)
    assert threshold <= killed_at < SIZE
    assert aus.ctx.blob_store().size(f"downloads/{sha256}") is None

    served_before = vnm.log_size()
    assert hcx(*command, env=env, log=log).wait(timeout=120) == 0, log.read_text()
    assert blob_sha256(aus.ctx, f"downloads/{sha256}") == sha256
    assert f"bytes {killed_at}-{SIZE - 1}" in vnm.log_since(served_before)  # it resumed, not restarted

    data = (tmp_path / "payload.bin").read_bytes()
    headers = blob_transfer.request_headers(aus.ctx, capability)
    ranged = httpx.get(capability.url, headers=headers | {"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and ranged.content == data[100:200]
    assert ranged.headers["content-range"] == f"bytes 100-199/{SIZE}"
    assert ranged.headers["etag"] == f'"{sha256}"'
    tail = httpx.get(capability.url, headers=headers | {"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    with vnm.ctx.reading() as uow:  # every read of the evidence is in the audit trail
        served = [a.details for a in uow.list_audit(limit=1000) if a.action == "blob.serve"]
    assert {"peer": "AUS", "blob": "packages/p1/payload.bin", "first": 100, "last": 199} in served
    assert {"peer": "AUS", "blob": "packages/p1/payload.bin", "first": killed_at, "last": SIZE - 1} in served
    for bad in (f"bytes={SIZE}-", "bytes=5-2", "lines=1-2", "bytes=-0"):
        refused = httpx.get(capability.url, headers=headers | {"Range": bad})
        assert refused.status_code == 416, bad
        assert refused.headers["content-range"] == f"bytes */{SIZE}"

    # refusals: one opaque answer, the reason in the sender's log
    before = vnm.log_size()
    stranger = SigningKey.generate()  # not AUS's pinned node key

    def signed_by(key: SigningKey, party: str) -> dict[str, str]:
        url = httpx.URL(capability.url)
        message = blob_transfer.signed_bytes("GET", url.netloc.decode(), url.path, url.path.rpartition("/")[2],
                                             headers["Date"])
        return headers | {"Hcx-Party": party, "Hcx-Signature": base64.b64encode(key.sign(message)).decode()}

    attempts = {
        "no signature": {k: v for k, v in headers.items() if k != "Hcx-Signature"},
        "wrong token": headers | {"Authorization": "Bearer not-the-token"},
        "forged signature": signed_by(stranger, "AUS"),
        "another party": signed_by(stranger, "MAR"),
        "stale date": headers | {"Date": "Mon, 01 Jan 2024 00:00:00 GMT"},
    }
    for what, sent in attempts.items():
        answer = httpx.get(capability.url, headers=sent)
        assert answer.status_code == 400, what
        assert answer.json() == {"error": {"code": "refused", "message": "message refused", "details": []}}, what
    unknown = httpx.get(capability.url.rsplit("/", 1)[0] + "/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=headers)
    assert unknown.status_code == 400
    logged = vnm.log_since(before)
    for reason in ("needs Authorization", "wrong token", "does not verify", "granted to AUS, not MAR",
                   "too far from this node's clock", "no capability"):
        assert reason in logged, reason
    assert capability.token not in logged

    # a capability whose digest does not match what is served: nothing is kept
    lying = Capability(url=capability.url, token=capability.token, sha256="0" * 64, size=capability.size)
    with pytest.raises(VerificationError, match="SHA-256"):
        blob_transfer.fetch_blob(aus.ctx, lying, "downloads/lying")
    assert aus.ctx.blob_store().size("downloads/lying") is None
    assert staged(aus.data_dir / "blobs" / ".partial" / "downloads") == 0

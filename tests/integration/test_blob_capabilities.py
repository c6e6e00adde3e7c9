"""Capabilities and GET /federation/blobs/{id} through the ASGI app, on every database backend:
grants, ranges, expiry and the refusals (real processes: tests/system/test_transfer.py)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email.utils
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from hcx.api import create_app
from hcx.config import Settings
from hcx.crypto.keys import SigningKey
from hcx.errors import NotFound, PolicyDenied
from hcx.services import blob_transfer, federation
from hcx.services.blob_transfer import Capability
from hcx.storage.blobs import FileBlobStore
from tests.asgi import SyncAsgiClient
from tests.conftest import World

DATA = os.urandom(100_000)


@dataclasses.dataclass
class Peer:
    party: str
    key: SigningKey


@pytest.fixture
def node(world: World, tmp_path: Path) -> World:
    ctx = dataclasses.replace(world.ctx, blobs=FileBlobStore(tmp_path / "blobs"))
    federation.set_url(ctx, "http://vnm.test")
    with ctx.blob_store().writer("packages/p1/payload.bin") as out:
        out.write(DATA)
    return dataclasses.replace(world, ctx=ctx)


@pytest.fixture
def aus(node: World) -> Peer:
    """A pinned peer: its node key as its descriptor would name it."""
    key, now = SigningKey.generate(), node.clock.now()
    with node.ctx.unit_of_work() as uow:
        uow.add_peer(party="AUS", url="http://aus.test", node_key=key.public.raw, descriptor={}, descriptor_version=1,
                     expires_at=now + dt.timedelta(days=30), pinned_at=now, refreshed_at=now)
        uow.commit()
    return Peer("AUS", key)


@pytest.fixture
def app(node: World, tmp_path: Path) -> SyncAsgiClient:
    return SyncAsgiClient(create_app(Settings(data_dir=tmp_path), context=node.ctx), base_url="http://vnm.test")


def grant(node: World, party: str = "AUS", ttl: dt.timedelta = dt.timedelta(hours=1)) -> Capability:
    with node.ctx.unit_of_work() as uow:
        capability = blob_transfer.grant_capability(node.ctx, uow, "packages/p1/payload.bin", party, ttl)
        uow.commit()
    return capability


def signed(node: World, capability: Capability, peer: Peer, host: str = "vnm.test", **changes: str) -> dict[str, str]:
    date = email.utils.format_datetime(node.clock.now(), usegmt=True)
    path = httpx.URL(capability.url).path
    message = blob_transfer.signed_bytes("GET", host, path, path.rpartition("/")[2], date)
    signature = base64.b64encode(peer.key.sign(message)).decode()
    return {"Authorization": f"Bearer {capability.token}", "Date": date, "Hcx-Party": peer.party,
            "Hcx-Signature": signature} | changes


def test_a_granted_peer_gets_the_blob_whole_or_in_ranges(node: World, aus: Peer, app: SyncAsgiClient) -> None:
    capability = grant(node)
    assert capability.size == len(DATA) and capability.url.startswith("http://vnm.test/federation/blobs/")
    whole = app.get(capability.url, headers=signed(node, capability, aus))
    assert whole.status_code == 200 and whole.content == DATA
    assert whole.headers["etag"] == f'"{capability.sha256}"' and whole.headers["accept-ranges"] == "bytes"
    part = app.get(capability.url, headers=signed(node, capability, aus, Range="bytes=99990-"))
    assert part.status_code == 206 and part.content == DATA[99_990:]
    assert part.headers["content-range"] == f"bytes 99990-99999/{len(DATA)}"
    outside = app.get(capability.url, headers=signed(node, capability, aus, Range="bytes=100000-"))
    assert outside.status_code == 416 and outside.headers["content-range"] == f"bytes */{len(DATA)}"


def test_refusals_are_opaque(node: World, aus: Peer, app: SyncAsgiClient) -> None:
    capability = grant(node)
    stranger = Peer("AUS", SigningKey.generate())
    refused = {
        "wrong token": signed(node, capability, aus, Authorization="Bearer nope"),
        "not a bearer": signed(node, capability, aus, Authorization=f"Basic {capability.token}"),
        "wrong key": signed(node, capability, stranger),
        "another party": signed(node, capability, Peer("MAR", aus.key)),
        "bad signature encoding": signed(node, capability, aus, **{"Hcx-Signature": "%%%"}),
        "no date": {k: v for k, v in signed(node, capability, aus).items() if k != "Date"},
        "bad date": signed(node, capability, aus, Date="yesterday"),
        "signed for another host": signed(node, capability, aus, host="evil.test"),
    }
    for what, headers in refused.items():
        answer = app.get(capability.url, headers=headers)
        assert answer.status_code == 400, what
        assert answer.json()["error"]["code"] == "refused", what
    node.clock.advance(hours=2)  # the capability has expired
    assert app.get(capability.url, headers=signed(node, capability, aus)).status_code == 400


def test_a_blob_changed_since_its_grant_is_not_served(node: World, aus: Peer, app: SyncAsgiClient) -> None:
    capability = grant(node)
    with node.ctx.blob_store().writer("packages/p1/payload.bin") as out:
        out.write(b"other bytes")
    assert app.get(capability.url, headers=signed(node, capability, aus)).status_code == 400


def test_only_pinned_peers_and_existing_blobs_get_capabilities(node: World, aus: Peer) -> None:
    with pytest.raises(NotFound, match="not a pinned peer"):
        grant(node, party="MAR")
    with node.ctx.unit_of_work() as uow, pytest.raises(NotFound, match="no blob"):
        blob_transfer.grant_capability(node.ctx, uow, "packages/none", "AUS", dt.timedelta(hours=1))


class Recorder:
    """A BlobFetcher that records what it would have sent, and sends nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    def fetch_range(self, url: str, *, headers: dict[str, str], offset: int) -> Any:
        self.calls.append((url, headers))
        raise AssertionError("no request may be sent for this capability")


@pytest.mark.parametrize("url", [
    "http://evil.test/federation/blobs/01JD0000000000000000000000",  # another host
    "https://aus.test/federation/blobs/01JD0000000000000000000000",  # another scheme
    "http://aus.test:8080/federation/blobs/01JD0000000000000000000000",  # another port
    "http://aus.test.evil.test/federation/blobs/01JD0000000000000000000000",
    "http://aus.test@evil.test/federation/blobs/01JD0000000000000000000000",  # userinfo tricks
    "http://aus.test/admin/01JD0000000000000000000000",  # not a blob path
    "file:///etc/passwd",
])
def test_a_capability_off_a_pinned_peers_url_gets_no_credentials(node: World, aus: Peer, url: str) -> None:
    capability = Capability(url=url, token="t" * 43, sha256="a" * 64, size=10)
    recorder = Recorder()
    with pytest.raises(PolicyDenied):
        blob_transfer.fetch_blob(node.ctx, capability, "downloads/x", fetcher=recorder)
    with pytest.raises(PolicyDenied):
        blob_transfer.request_headers(node.ctx, capability)
    assert recorder.calls == []


def test_a_capability_larger_than_the_upload_limit_is_refused(node: World, aus: Peer) -> None:
    ctx = dataclasses.replace(node.ctx, policy=dataclasses.replace(node.ctx.policy, upload_max_bytes=1000))
    capability = Capability(url="http://aus.test/federation/blobs/01JD0000000000000000000000", token="t" * 43,
                            sha256="a" * 64, size=1001)
    with pytest.raises(PolicyDenied, match="limit"):
        blob_transfer.fetch_blob(ctx, capability, "downloads/x", fetcher=Recorder())
    # on the pinned peer's URL and within the limit, the credentials are made, bound to its host
    fine = capability.model_copy(update={"size": 1000})
    headers = blob_transfer.request_headers(ctx, fine)
    assert headers["Hcx-Party"] == "VNM" and headers["Authorization"] == f"Bearer {fine.token}"

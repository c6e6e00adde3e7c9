"""Ranged, streamed GETs of a peer's blob (`/federation/blobs/{capability}`), over the same httpx
client as the rest of the federation transport."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from hcx.errors import PeerProtocolError, PeerUnreachable
from hcx.federation.transport import HttpTransport

STREAM_CHUNK = 1 << 20


class HttpBlobTransport(HttpTransport):
    @contextmanager
    def fetch_range(self, url: str, *, headers: dict[str, str], offset: int) -> Iterator[Iterator[bytes]]:
        """The bytes from `offset` to the end: asks `Range: bytes=offset-` and insists on a 206 that
        starts there (or a 200 when offset is 0)."""
        request_headers = dict(headers)
        if offset:
            request_headers["Range"] = f"bytes={offset}-"
        try:
            with self._client.stream("GET", url, headers=request_headers) as response:
                expected = 206 if offset else 200
                if response.status_code != expected:
                    raise PeerProtocolError(f"{url}: HTTP {response.status_code}")
                if offset and not response.headers.get("content-range", "").startswith(f"bytes {offset}-"):
                    raise PeerProtocolError(f"{url}: the answer is not the range asked for")
                yield response.iter_bytes(STREAM_CHUNK)
        except httpx.HTTPError as exc:
            raise PeerUnreachable(f"{url}: {exc.__class__.__name__}") from exc

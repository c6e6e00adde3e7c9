"""The HTTP transport to peers (httpx). Library errors become PeerUnreachable / PeerProtocolError."""

from __future__ import annotations

import json
from typing import Any

import httpx

from hcx.errors import PeerProtocolError, PeerUnreachable

MAX_RESPONSE_BYTES = 16_777_216
MATCH_TIMEOUT = 300.0
MATCH_MEDIA_TYPE = "application/vnd.hcx.match"  # = services.matching.MEDIA_TYPE (a test checks), without importing it


class HttpTransport:
    def __init__(self, *, timeout: float = 10.0) -> None:
        self._timeout = timeout
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def fetch_descriptor(self, url: str) -> Any:
        return self._call("GET", f"{url.rstrip('/')}/federation/descriptor", None)

    def deliver(self, url: str, wire: bytes) -> Any:
        return self._call("POST", f"{url.rstrip('/')}/federation/inbox", wire)

    def deliver_batch(self, url: str, wires: list[bytes]) -> list[Any]:
        """Several messages in one request (one per line); a receipt or a refusal for each."""
        answer = self._call("POST", f"{url.rstrip('/')}/federation/inbox/batch", b"\n".join(wires))
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(wires):
            raise PeerProtocolError(f"{url}: the batch answer does not match the batch")
        return results

    def witness(self, url: str, signed: dict[str, Any]) -> Any:
        return self._call("POST", f"{url.rstrip('/')}/federation/witness", json.dumps(signed).encode())

    def send_cosignature(self, url: str, signed: dict[str, Any]) -> Any:
        return self._call("POST", f"{url.rstrip('/')}/federation/witness/cosignature", json.dumps(signed).encode())

    def custody(self, url: str, signed: dict[str, Any]) -> Any:
        """A signed custody-request/1; the answer is the peer's signed custody-answer/1."""
        return self._call("POST", f"{url.rstrip('/')}/federation/witness/custody", json.dumps(signed).encode())

    def match(self, url: str, message: bytes) -> bytes:
        """One private-set-intersection message (a sealed envelope, its points attached); the answer
        is the peer's, as it came: the service opens it (no JSON parsed here). The peer does
        public-key work on up to 60k points first: a longer timeout."""
        return self._send("POST", f"{url.rstrip('/')}/federation/match", message, MATCH_MEDIA_TYPE, MATCH_TIMEOUT)

    def _call(self, method: str, url: str, body: bytes | None, *, timeout: float | None = None) -> Any:
        content = self._send(method, url, body, "application/json" if body else None, timeout or self._timeout)
        try:
            return json.loads(content)
        except ValueError as exc:
            raise PeerProtocolError(f"{url}: response is not JSON") from exc

    def _send(self, method: str, url: str, body: bytes | None, content_type: str | None, timeout: float) -> bytes:
        """The answer's bytes; library errors, a status other than 200 and an oversized answer raised
        as PeerUnreachable / PeerProtocolError."""
        try:
            response = self._client.request(method, url, content=body,
                                            headers={"content-type": content_type} if content_type else None,
                                            timeout=timeout)
        except httpx.HTTPError as exc:
            raise PeerUnreachable(f"{url}: {exc.__class__.__name__}") from exc
        if response.status_code != 200:
            raise PeerProtocolError(f"{url}: HTTP {response.status_code}")
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise PeerProtocolError(f"{url}: response too large")
        return response.content

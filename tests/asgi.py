"""A synchronous client for an ASGI app: one `httpx.AsyncClient` round trip per call.

httpx's ASGITransport is async-only, and starlette's TestClient warns (an error under
`filterwarnings=error`) when used with httpx rather than httpx2; this keeps tests synchronous and
still goes through the whole app."""

from __future__ import annotations

from typing import Any

import anyio
import httpx


class SyncAsgiClient:
    def __init__(self, app: Any, base_url: str = "http://test") -> None:
        self.app = app
        self.base_url = base_url

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def round_trip() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
                response = await client.request(method, url, **kwargs)
                await response.aread()
                return response

        return anyio.run(round_trip)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

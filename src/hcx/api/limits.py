"""Refuse request bodies larger than the configured limit before they are read into memory."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hcx.api.errors import error_body


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; FastAPI passes HTTP exceptions through to our handler."""


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, exempt_prefix: str | None = None,
                 larger: Sequence[tuple[re.Pattern[str], int]] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_prefix = exempt_prefix
        self.larger = larger  # (path pattern, limit): e.g. upload chunks, up to the chunk size setting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exempt = self.exempt_prefix is not None and scope.get("path", "").startswith(self.exempt_prefix)
        if scope["type"] != "http" or exempt:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        max_bytes = next((limit for pattern, limit in self.larger if pattern.fullmatch(path)), self.max_bytes)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            await self._refuse(send, max_bytes)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise BodyTooLarge(413, f"the request body exceeds {max_bytes} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, max_bytes)

    async def _refuse(self, send: Send, max_bytes: int) -> None:
        body = json.dumps(error_body("too_large", f"the request body exceeds {max_bytes} bytes")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

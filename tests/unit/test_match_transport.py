"""HttpTransport.match: the framed matching message out with its content type, the peer's answer
back as raw bytes (the service opens it; nothing is parsed as JSON here), within the size limit."""

from __future__ import annotations

import httpx
import pytest

from hcx.errors import PeerProtocolError, PeerUnreachable
from hcx.federation import transport as http
from hcx.services import matching

MESSAGE = b'{"hcx":"envelope/1"}\n\x00\xff\n binary attachment'


def transport_answering(handler: httpx.MockTransport) -> http.HttpTransport:
    sender = http.HttpTransport()
    sender._client = httpx.Client(transport=handler)
    return sender


def test_the_message_goes_out_as_is_and_the_answer_comes_back_as_is() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=MESSAGE[::-1], headers={"content-type": matching.MEDIA_TYPE})

    assert transport_answering(httpx.MockTransport(answer)).match("http://peer.test/", MESSAGE) == MESSAGE[::-1]
    [request] = seen
    assert str(request.url) == "http://peer.test/federation/match" and request.content == MESSAGE
    assert request.headers["content-type"] == matching.MEDIA_TYPE == http.MATCH_MEDIA_TYPE


def test_refusals_too_large_answers_and_unreachable_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "MAX_RESPONSE_BYTES", 100)
    for status, content, error in ((400, b'{"error": {}}', "HTTP 400"), (200, bytes(101), "too large")):
        sender = transport_answering(httpx.MockTransport(lambda _, s=status, c=content: httpx.Response(s, content=c)))
        with pytest.raises(PeerProtocolError, match=error):
            sender.match("http://peer.test", MESSAGE)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(PeerUnreachable, match="ConnectError"):
        transport_answering(httpx.MockTransport(unreachable)).match("http://peer.test", MESSAGE)

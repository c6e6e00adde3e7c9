"""Read a JSON document from a stream, refusing one larger than a limit before it is in memory."""

from __future__ import annotations

import json
from typing import IO, Any

from hcx.errors import InvalidInput

DEFAULT_MAX_JSON_BYTES = 64 * 1024 * 1024
_CHUNK_BYTES = 1024 * 1024


def read_json(stream: IO[bytes], *, name: str, max_bytes: int = DEFAULT_MAX_JSON_BYTES) -> Any:
    """Parse the JSON in `stream`; reads at most `max_bytes + 1` bytes whatever the stream's size."""
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        chunk = stream.read(min(_CHUNK_BYTES, max_bytes + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > max_bytes:
        raise InvalidInput(
            f"{name}: larger than the {max_bytes:,}-byte limit for a JSON import; split it into smaller files"
        )
    try:
        return json.loads(b"".join(chunks).decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name}: not UTF-8 (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{name}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    except RecursionError as exc:
        raise InvalidInput(f"{name}: JSON nested too deeply") from exc

"""The blob store: where evidence bytes live (the contract is `hcx.domain.ports.BlobStore`).

`FileBlobStore` keeps each blob as one file under a root directory (the node's data dir by
default). A blob is written to a temporary file in the same directory, fsync'ed, then renamed to
its name, so a reader sees a whole blob or none, whatever happens meanwhile. Keys are opaque
ASCII paths made by the caller, checked so that none can leave the root.

(Branch `transfer` brings the S3 back end and its settings; this module is the file back end.)
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from hcx.config import Settings
from hcx.domain.ports import BlobStore
from hcx.errors import InvalidInput, NotFound

_KEY = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")


class _Range:
    """A read-only view of `length` bytes of a file from its current position."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self._stream, self._left = stream, length

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > self._left:
            n = self._left
        data = self._stream.read(n)
        self._left -= len(data)
        return data

    def readable(self) -> bool:
        return True


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY.fullmatch(key) or any(part in (".", "..") for part in key.split("/")):
            raise InvalidInput(f"{key!r} is not a blob key")
        return self.root / key

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as stream:
                yield stream
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)

    @contextmanager
    def reader(self, key: str, *, offset: int = 0, length: int | None = None) -> Iterator[BinaryIO]:
        path = self._path(key)
        if offset < 0 or (length is not None and length < 0):
            raise InvalidInput("a blob range has a non-negative offset and length")
        try:
            stream = path.open("rb")
        except FileNotFoundError as exc:
            raise NotFound(f"no blob {key}") from exc
        with stream:
            stream.seek(offset)
            yield stream if length is None else _Range(stream, length)  # type: ignore[misc]

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def make_blob_store(settings: Settings) -> BlobStore:
    """The node's blob store: files under `<data dir>/blobs`."""
    return FileBlobStore(settings.data_dir / "blobs")

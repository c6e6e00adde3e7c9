"""Where evidence bytes live: `FileBlobStore` under the node's data dir, or `S3BlobStore` in an
S3-compatible bucket (`HCX_BLOB_URL=s3://bucket/prefix`). Both implement the `BlobStore` port and
`BlobStaging` (the partial bytes of resumable uploads and downloads).

Staging differs by back end, on purpose:
- files: one partial file per upload under `<root>/.partial/`, each chunk written at its offset
  and fsynced before the caller records it; the complete file is renamed into place.
- S3: one object per chunk (`<prefix><key>.partial/<offset, 20 digits>`), because S3 objects
  cannot be appended to and multipart parts must be at least 5 MiB; on completion the chunks are
  streamed once into a multipart upload of the final object, hashed on the way.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import io
import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import urlsplit

from hcx.config import Settings
from hcx.errors import ConfigError, Conflict, InvalidInput, NotFound, VerificationError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)
KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=-]{0,127}(/[A-Za-z0-9][A-Za-z0-9._=-]{0,127}){0,7}")
READ_SIZE = 1 << 20
S3_MIN_PART = 5 << 20  # S3's smallest multipart part (all but the last)
_TEMP = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{16}\.tmp")  # FileBlobStore._writer's temporary files


@dataclass(frozen=True, slots=True)
class Stored:
    """Something a store holds, as the sweep (services/blob_sweep.py) sees it: a `blob`, the
    `partial` bytes staged under a key, or an `unfinished` write (a temporary file, an open S3
    multipart upload) of a key; `modified` is when it last changed; `handle` names it to `remove`."""

    kind: str
    key: str
    modified: dt.datetime
    size: int
    handle: str


def _mtime(stat: os.stat_result) -> dt.datetime:
    return dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)


def check_key(key: str) -> str:
    """Keys are relative ASCII paths; no segment may start with a dot, so `..`, hidden files and
    the stores' own temporary names are out of reach."""
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise InvalidInput(f"not a valid blob key: {key!r}")
    return key


def _check_range(offset: int, length: int | None) -> None:
    if offset < 0 or (length is not None and length < 0):
        raise InvalidInput("a blob range needs a non-negative offset and length")


class _Window(io.RawIOBase):
    """At most `remaining` bytes of a file-like source, then end of file."""

    def __init__(self, source: Any, remaining: int | None) -> None:
        self._source = source
        self._remaining = remaining

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = len(view) if self._remaining is None else min(len(view), self._remaining)
        if want == 0:
            return 0
        data = self._source.read(want)
        view[:len(data)] = data
        if self._remaining is not None:
            self._remaining -= len(data)
        return len(data)


def copy_hashing(source: BinaryIO, target: BinaryIO | None, digest: Any) -> int:
    """Copy `source` to `target` (if any), feeding `digest`; returns the byte count."""
    total = 0
    while chunk := source.read(READ_SIZE):
        digest.update(chunk)
        if target is not None:
            target.write(chunk)
        total += len(chunk)
    return total


def _verify(key: str, size: int, sha256: str, got_size: int, got_sha256: str) -> None:
    if got_size != size:
        raise VerificationError(f"{key}: {got_size} bytes received, {size} declared")
    if got_sha256 != sha256:
        raise VerificationError(f"{key}: the SHA-256 of the bytes received is {got_sha256}, not the declared "
                                f"{sha256}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_WRITEBACK_BYTES = 32 << 20


class _WritebackFile(io.FileIO):
    """A blob file being written that has the kernel start writing it to disk every 32 MiB
    (posix_fadvise DONTNEED starts write-back without waiting for it, and drops pages already on
    disk), so that the disk works while the data is still being produced, the final fsync finds
    little left to do, and a large blob does not fill the page cache. Blobs are written once."""

    _written = 0
    _handed = 0  # bytes handed to the kernel for write-back

    def write(self, data: Any) -> int:
        written: int = super().write(data)
        self._written += written
        if self._written - self._handed >= _WRITEBACK_BYTES and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self.fileno(), 0, self._written, os.POSIX_FADV_DONTNEED)
            self._handed = self._written
        return written


# --- the node's data dir --------------------------------------------------------------------------

class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        if not path.resolve().is_relative_to(self.root.resolve()):  # a symlinked directory
            raise InvalidInput(f"not a valid blob key: {key!r}")
        return path

    def _partial(self, key: str) -> Path:
        return self.root / ".partial" / check_key(key)

    def _mkdirs(self, directory: Path) -> None:
        """Create missing directories, each made durable in its parent."""
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for made in reversed(missing):
            made.mkdir(mode=0o700, exist_ok=True)
            _fsync_dir(made.parent)

    @contextmanager
    def _writer(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        self._mkdirs(path.parent)
        temp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
        try:
            with io.BufferedWriter(_WritebackFile(temp, "xb"), READ_SIZE) as stream:
                yield cast(BinaryIO, stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp, path)
            _fsync_dir(path.parent)
        finally:
            temp.unlink(missing_ok=True)

    def writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self._writer(key)

    @contextmanager
    def _reader(self, key: str, offset: int, length: int | None) -> Iterator[BinaryIO]:
        _check_range(offset, length)
        path = self._path(key)
        try:
            stream = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound(f"no blob {key}") from exc
        with stream:
            if offset > os.fstat(stream.fileno()).st_size:
                raise InvalidInput(f"offset {offset} is beyond the end of blob {key}")
            stream.seek(offset)
            yield cast(BinaryIO, io.BufferedReader(_Window(stream, length), READ_SIZE))

    def reader(self, key: str, *, offset: int = 0, length: int | None = None) -> AbstractContextManager[BinaryIO]:
        return self._reader(key, offset, length)

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(path.parent)

    # staging -------------------------------------------------------------------------------------

    def partial_size(self, key: str) -> int:
        try:
            return self._partial(key).stat().st_size
        except FileNotFoundError:
            return 0

    def append(self, key: str, offset: int, data: bytes) -> None:
        """Write `data` at `offset` and fsync; bytes past `offset` (left by a crash before the caller
        recorded them) are cut off first."""
        path = self._partial(key)
        self._mkdirs(path.parent)
        created = not path.exists()
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if offset > size:
                raise Conflict(f"{key}: cannot write at {offset}, only {size} bytes are stored")
            if size > offset:
                os.ftruncate(fd, offset)
            written = os.pwrite(fd, data, offset)
            if written != len(data):
                raise OSError(errno.EIO, f"short write to {path.name}")
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(path.parent)

    def read_partial(self, key: str, offset: int, length: int) -> bytes:
        try:
            with self._partial(key).open("rb") as stream:
                stream.seek(offset)
                return stream.read(length)
        except FileNotFoundError:
            return b""

    def promote(self, key: str, blob_key: str, *, size: int, sha256: str) -> None:
        """Make the partial bytes of `key` the blob `blob_key` if their size and SHA-256 match."""
        partial = self._partial(key)
        digest = hashlib.sha256()
        try:
            with partial.open("rb") as stream:
                got = copy_hashing(cast(BinaryIO, stream), None, digest)
        except FileNotFoundError:
            got = 0
        _verify(key, size, sha256, got, digest.hexdigest())
        path = self._path(blob_key)
        self._mkdirs(path.parent)
        if got == 0:
            self.append(key, 0, b"")  # an empty file has no chunk: make its (empty) partial file
        os.replace(partial, path)  # already fsynced chunk by chunk
        _fsync_dir(path.parent)
        _fsync_dir(partial.parent)

    def discard(self, key: str) -> None:
        self._partial(key).unlink(missing_ok=True)

    # for the sweep ------------------------------------------------------------------------------

    def inventory(self) -> Iterator[Stored]:
        """Every blob, staged partial file and temporary file under the root; a name that is none
        of these (not a valid key) is not ours, and not listed."""
        partials = self.root / ".partial"
        for directory, subdirectories, files in os.walk(self.root):
            here = Path(directory)
            staged = here == partials or here.is_relative_to(partials)
            if here == self.root:
                subdirectories[:] = [d for d in subdirectories if d == ".partial" or KEY.fullmatch(d)]
            for name in files:
                path = here / name
                try:
                    stat = path.lstat()
                except FileNotFoundError:  # removed meanwhile
                    continue
                temp = _TEMP.fullmatch(name)
                kind, relative = ("partial", path.relative_to(partials)) if staged else \
                    ("unfinished", path.parent.relative_to(self.root) / temp["name"]) if temp else \
                    ("blob", path.relative_to(self.root))
                key = relative.as_posix()
                if KEY.fullmatch(key):
                    yield Stored(kind, key, _mtime(stat), stat.st_size, path.relative_to(self.root).as_posix())

    def remove(self, item: Stored) -> None:
        """Delete what `inventory` listed, and the directories it leaves empty below the first
        level (`packages/<id>/…`; `packages/` and `uploads/` themselves stay for the next writer)."""
        path = self.root / item.handle
        path.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        base = self.root / ".partial" if item.kind == "partial" else self.root
        directory = path.parent
        while len(directory.relative_to(base).parts) >= 2:
            try:
                directory.rmdir()
            except OSError:  # not empty (or gone)
                break
            directory = directory.parent


# --- S3-compatible object storage -----------------------------------------------------------------

class _MultipartWriter(io.RawIOBase):
    """Buffers at most one part in memory; the multipart upload starts with the first full part,
    so a small blob is one PUT."""

    def __init__(self, client: S3Client, bucket: str, key: str, part_size: int) -> None:
        self._client, self._bucket, self._key, self._part_size = client, bucket, key, part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._buffer += view
        while len(self._buffer) >= self._part_size:
            self._send(bytes(self._buffer[:self._part_size]))
            del self._buffer[:self._part_size]
        return len(view)

    def _send(self, part: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)["UploadId"]
        number = len(self._parts) + 1
        answer = self._client.upload_part(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
                                          PartNumber=number, Body=part)
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def finish(self) -> None:
        if self._upload_id is None:
            self._client.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer))
            return
        if self._buffer:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        self._client.complete_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
                                               MultipartUpload={"Parts": self._parts})  # type: ignore[typeddict-item]

    def abort(self) -> None:
        self._buffer.clear()
        if self._upload_id is not None:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)


class S3BlobStore:
    def __init__(self, client: S3Client, bucket: str, prefix: str = "", *, part_size: int = 8 << 20) -> None:
        if part_size < S3_MIN_PART:
            raise ConfigError(f"the S3 part size must be at least {S3_MIN_PART} bytes")
        self.client, self.bucket, self.part_size = client, bucket, part_size
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _chunk_prefix(self, key: str) -> str:
        return f"{self._name(key)}.partial/"

    @contextmanager
    def _translated(self, key: str) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise NotFound(f"no blob {key}") from exc
            if code in ("InvalidRange", "416"):
                raise InvalidInput(f"the range is beyond the end of blob {key}") from exc
            raise ConfigError(f"the S3 store refused an operation on {key}: {code}") from exc
        except BotoCoreError as exc:
            raise ConfigError(f"the S3 store is unreachable: {exc.__class__.__name__}") from exc

    @contextmanager
    def _writer(self, key: str) -> Iterator[BinaryIO]:
        stream = _MultipartWriter(self.client, self.bucket, self._name(key), self.part_size)
        with self._translated(key):
            try:
                yield cast(BinaryIO, stream)
                stream.finish()
            except BaseException:
                try:
                    stream.abort()  # nothing half-written stays behind
                except Exception:  # the original error matters more; S3 lifecycle rules reap the rest
                    log.exception("could not abort the multipart upload of %s", key)
                raise

    def writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self._writer(key)

    @contextmanager
    def _reader(self, key: str, offset: int, length: int | None) -> Iterator[BinaryIO]:
        _check_range(offset, length)
        with self._translated(key):
            size = self.size(key)
            if size is None:
                raise NotFound(f"no blob {key}")
            if offset > size:
                raise InvalidInput(f"offset {offset} is beyond the end of blob {key}")
            end = size if length is None else min(size, offset + length)
            if end == offset:
                yield cast(BinaryIO, io.BytesIO())
                return
            body = self.client.get_object(Bucket=self.bucket, Key=self._name(key),
                                          Range=f"bytes={offset}-{end - 1}")["Body"]
            try:
                yield cast(BinaryIO, io.BufferedReader(_Window(body, end - offset), READ_SIZE))
            finally:
                body.close()

    def reader(self, key: str, *, offset: int = 0, length: int | None = None) -> AbstractContextManager[BinaryIO]:
        return self._reader(key, offset, length)

    def size(self, key: str) -> int | None:
        try:
            with self._translated(key):
                return int(self.client.head_object(Bucket=self.bucket, Key=self._name(key))["ContentLength"])
        except NotFound:
            return None

    def delete(self, key: str) -> None:
        with self._translated(key):
            self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    # staging -------------------------------------------------------------------------------------

    def _chunks(self, key: str) -> dict[int, int]:
        """Stored chunk objects of `key`: offset → size."""
        found: dict[int, int] = {}
        prefix = self._chunk_prefix(key)
        with self._translated(key):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    name = item["Key"][len(prefix):]
                    if name.isdigit():
                        found[int(name)] = int(item["Size"])
        return found

    def _chain(self, key: str) -> list[tuple[int, int]]:
        """The contiguous chunks from offset 0: (offset, size) in order."""
        chunks, chain, offset = self._chunks(key), [], 0
        while offset in chunks and chunks[offset] > 0:
            chain.append((offset, chunks[offset]))
            offset += chunks[offset]
        return chain

    def partial_size(self, key: str) -> int:
        return sum(size for _, size in self._chain(key))

    def append(self, key: str, offset: int, data: bytes) -> None:
        """One object per chunk, named by its offset; a PUT is atomic, so a crash leaves a whole
        chunk or none, and the caller's next write at the same offset replaces it."""
        with self._translated(key):
            self.client.put_object(Bucket=self.bucket, Key=f"{self._chunk_prefix(key)}{offset:020d}", Body=data)

    def read_partial(self, key: str, offset: int, length: int) -> bytes:
        out = bytearray()
        with self._translated(key):
            for start, size in self._chain(key):
                if start + size <= offset or start >= offset + length:
                    continue
                first = max(offset, start) - start
                last = min(offset + length, start + size) - start - 1
                out += self.client.get_object(Bucket=self.bucket, Key=f"{self._chunk_prefix(key)}{start:020d}",
                                              Range=f"bytes={first}-{last}")["Body"].read()
        return bytes(out)

    def promote(self, key: str, blob_key: str, *, size: int, sha256: str) -> None:
        """Stream the chunks once into the final object, hashing them; a mismatch aborts the
        multipart upload, so no blob appears."""
        digest = hashlib.sha256()
        with self.writer(blob_key) as target, self._translated(key):
            got = 0
            for start, _ in self._chain(key):
                body = self.client.get_object(Bucket=self.bucket, Key=f"{self._chunk_prefix(key)}{start:020d}")["Body"]
                try:
                    got += copy_hashing(cast(BinaryIO, body), target, digest)
                finally:
                    body.close()
            _verify(key, size, sha256, got, digest.hexdigest())
        self.discard(key)

    def discard(self, key: str) -> None:
        with self._translated(key):
            for offset in self._chunks(key):
                self.client.delete_object(Bucket=self.bucket, Key=f"{self._chunk_prefix(key)}{offset:020d}")

    # for the sweep ------------------------------------------------------------------------------

    def inventory(self) -> Iterator[Stored]:
        """Every object under the prefix (blobs, and staged chunks: one `partial` each) and every
        multipart upload still open, as of its last part."""
        with self._translated(self.prefix or "/"):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix):]
                    key, chunk, offset = name.rpartition(".partial/")
                    kind = "partial" if chunk and offset.isdigit() else "blob"
                    key = key if kind == "partial" else name
                    if KEY.fullmatch(key):
                        yield Stored(kind, key, item["LastModified"], int(item["Size"]), item["Key"])
            for listing in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket,
                                                                                       Prefix=self.prefix):
                for upload in listing.get("Uploads", []):
                    name, upload_id = upload["Key"], upload["UploadId"]
                    parts = [part for page in self.client.get_paginator("list_parts").paginate(
                        Bucket=self.bucket, Key=name, UploadId=upload_id) for part in page.get("Parts", [])]
                    modified = max([upload["Initiated"], *(part["LastModified"] for part in parts)])
                    key = name[len(self.prefix):]
                    if KEY.fullmatch(key):
                        yield Stored("unfinished", key, modified, sum(int(p["Size"]) for p in parts), upload_id)

    def remove(self, item: Stored) -> None:
        """Delete what `inventory` listed (an open multipart upload is aborted)."""
        with self._translated(item.key):
            if item.kind == "unfinished":
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._name(item.key), UploadId=item.handle)
            else:
                self.client.delete_object(Bucket=self.bucket, Key=item.handle)


def s3_client(settings: Settings) -> S3Client:
    import boto3
    from botocore.config import Config

    secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None
    return boto3.client(  # credentials not given here come from the standard AWS chain (AWS_* env, files)
        "s3", endpoint_url=settings.s3_endpoint_url or None, region_name=settings.s3_region or None,
        aws_access_key_id=settings.s3_access_key_id or None, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"}))


def make_blob_store(settings: Settings) -> FileBlobStore | S3BlobStore:
    """The store the settings name: `HCX_BLOB_URL=s3://bucket/prefix`, else `<data dir>/blobs`."""
    url = settings.blob_url.strip()
    if not url:
        return FileBlobStore(settings.data_dir / "blobs")
    parts = urlsplit(url)
    if parts.scheme == "file":
        return FileBlobStore(Path(parts.path))
    if parts.scheme != "s3" or not parts.netloc:
        raise ConfigError(f"HCX_BLOB_URL must be s3://bucket/prefix or file:///path, not {url!r}")
    return S3BlobStore(s3_client(settings), parts.netloc, parts.path, part_size=settings.s3_part_size)

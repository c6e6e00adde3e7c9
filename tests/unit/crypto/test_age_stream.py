"""The sealing pipeline of the age stream: the calling thread reads and hashes, a sealing thread
encrypts and writes (its batches split over more threads when there are more than two workers).
Every output is checked by decrypting it, with pyrage too; errors on either side must surface and
never hang."""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Iterator

import pyrage
import pytest

from hcx.crypto import _age_stream
from hcx.crypto.age import AgeIdentity, decrypt, encrypt
from hcx.errors import DecryptionError

CHUNK = _age_stream.CHUNK_SIZE


@pytest.fixture
def batches_of_eight(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(_age_stream, "BATCH_CHUNKS", 8)
    yield


@pytest.fixture(scope="module")
def identity() -> AgeIdentity:
    return AgeIdentity.generate()


@pytest.mark.parametrize("workers", [1, 2, 3, 5])
@pytest.mark.parametrize("size", [0, 1, CHUNK, 8 * CHUNK, 8 * CHUNK + 1, 13 * CHUNK + 7, 40 * CHUNK])
def test_every_split_of_the_work_writes_the_same_age_file(identity: AgeIdentity, size: int, workers: int,
                                                         batches_of_eight: None) -> None:
    data = random.Random(size).randbytes(size)
    out = io.BytesIO()
    result = encrypt(io.BytesIO(data), out, [identity.recipient], workers=workers)
    assert (result.size, result.sha256) == (size, hashlib.sha256(data).digest())
    plain = io.BytesIO()
    assert decrypt(io.BytesIO(out.getvalue()), plain, [identity]).sha256 == result.sha256
    assert plain.getvalue() == data
    assert pyrage.decrypt(out.getvalue(), [pyrage.x25519.Identity.from_str(identity.secret_text())]) == data


class _FailingWriter(io.BytesIO):
    """Takes `limit` bytes, then fails like a full disk."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: object) -> int:
        if self.tell() >= self.limit:
            raise OSError(28, "No space left on device")
        return super().write(data)  # type: ignore[arg-type]


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("limit", [0, 100, 20 * CHUNK])
def test_a_write_error_on_the_sealing_thread_reaches_the_caller(identity: AgeIdentity, workers: int, limit: int,
                                                                batches_of_eight: None) -> None:
    with pytest.raises(OSError, match="No space left"):
        encrypt(io.BytesIO(bytes(64 * CHUNK)), _FailingWriter(limit), [identity.recipient], workers=workers)


class _FailingReader(io.RawIOBase):
    """Gives `limit` bytes, then fails like a disk with a bad sector."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self.left:
            raise OSError(5, "Input/output error")
        got = min(self.left, len(buffer))
        buffer[:got] = bytes(got)
        self.left -= got
        return got


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("limit", [0, 3 * CHUNK, 30 * CHUNK])
def test_a_read_error_reaches_the_caller_and_stops_the_sealing_thread(identity: AgeIdentity, workers: int,
                                                                      limit: int, batches_of_eight: None) -> None:
    out = io.BytesIO()
    with pytest.raises(OSError, match="Input/output error"):
        encrypt(_FailingReader(limit), out, [identity.recipient], workers=workers)  # type: ignore[arg-type]
    # only whole batches read before the error were sealed: never a final chunk
    with pytest.raises(DecryptionError, match="truncated"):
        decrypt(io.BytesIO(out.getvalue()), io.BytesIO(), [identity])

"""The file blob store hands each 32 MiB of a blob being written to the kernel for write-back, so
that the disk works while the blob is produced; what is stored must not change."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from hcx.storage import blobs
from hcx.storage.blobs import FileBlobStore


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise on this platform")
def test_a_blob_written_with_early_write_back_is_stored_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blobs, "_WRITEBACK_BYTES", 4096)
    real, handed = os.posix_fadvise, []

    def spy(fd: int, offset: int, length: int, advice: int) -> None:
        handed.append((offset, length, advice))
        real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", spy)
    store = FileBlobStore(tmp_path)
    data = random.Random(1).randbytes(3 * blobs.READ_SIZE + 12345)  # several buffer flushes
    with store.writer("packages/p/payload/0.age") as out:
        for start in range(0, len(data), 30000):  # pieces smaller than the buffer
            out.write(data[start : start + 30000])
        out.write(memoryview(data)[:0])
    with store.reader("packages/p/payload/0.age") as stream:
        assert stream.read() == data
    assert len(handed) >= 2 and all(advice == os.POSIX_FADV_DONTNEED for _, _, advice in handed)
    assert [length for _, length, _ in handed] == sorted(length for _, length, _ in handed)
    assert not list(tmp_path.rglob("*.tmp"))

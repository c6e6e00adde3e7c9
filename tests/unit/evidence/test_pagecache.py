"""Hashing a file's chunks straight from the page cache: only under a read lease, on a local file
system, each piece brought in first; a file truncated before or while it is hashed fails with an
error (a short read), never a SIGBUS; anywhere the conditions are not met, chunks are read."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from hcx.evidence import pagecache, sha256chain
from hcx.evidence.sha256chain import MIN_CHUNK_SIZE, Sha256, hash_chunk
from tests.unit.evidence.test_sha256chain import chained

CHUNK = MIN_CHUNK_SIZE
pytestmark = pytest.mark.skipif(not sha256chain.available(), reason="libcrypto's SHA-256 is not loadable here")


def mapped_here(path: Path) -> bool:
    """Whether this machine hashes `path` from a mapping (Linux, a local file system, the owner)."""
    mapping = pagecache.mapping()
    if mapping is None:
        return False
    descriptor = os.open(path, os.O_RDONLY)
    try:
        if not mapping.local(descriptor) or not mapping.lease(descriptor):
            return False
        mapping.release(descriptor)
        return True
    finally:
        os.close(descriptor)


def spy_mapped(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(start, offset reached) of each call of pagecache.hash_mapped."""
    calls: list[tuple[int, int]] = []
    real = pagecache.hash_mapped

    def spy(descriptor: int, start: int, end: int, update: Callable[[int, int], None]) -> int:
        calls.append((start, real(descriptor, start, end, update)))
        return calls[-1][1]

    monkeypatch.setattr(pagecache, "hash_mapped", spy)
    return calls


def test_chunks_are_hashed_from_the_page_cache_where_that_is_safe(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path, digest, chain = chained(tmp_path)
    if not mapped_here(path):
        pytest.skip("no read lease or mapping here: hash_chunk reads")
    monkeypatch.setattr(pagecache, "PIECE", 4 * 4096)  # several pieces per chunk
    calls = spy_mapped(monkeypatch)
    assert [hash_chunk(path, chain, n) for n in range(chain.chunks)] == [*chain.states, digest]
    assert calls == [chain.span(n) for n in range(chain.chunks)]  # every byte from the mapping


def test_without_mappings_chunks_are_read_with_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, digest, chain = chained(tmp_path)
    monkeypatch.setattr(pagecache, "_mapping", None)
    monkeypatch.setattr(pagecache, "_loaded", True)
    calls = spy_mapped(monkeypatch)
    assert [hash_chunk(path, chain, n) for n in range(chain.chunks)] == [*chain.states, digest]
    assert calls == [(chain.span(n)[0], chain.span(n)[0]) for n in range(chain.chunks)]  # nothing mapped


def test_a_file_open_for_writing_is_read_not_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its writer could truncate it at any time: the kernel refuses the lease, and the chunk is read."""
    path, digest, chain = chained(tmp_path)
    calls = spy_mapped(monkeypatch)
    with path.open("r+b"):
        assert [hash_chunk(path, chain, n) for n in range(chain.chunks)] == [*chain.states, digest]
    assert all(start == reached for start, reached in calls)


def test_someone_handling_sigurg_means_no_mapping(tmp_path: Path) -> None:
    """The lease's break is signalled with SIGURG, harmless only while its default (ignore) holds."""
    path, _, _ = chained(tmp_path, 4096)
    leasable = mapped_here(path)  # a file this process could lease, were SIGURG unhandled
    loaded = pagecache.mapping()
    previous = signal.signal(signal.SIGURG, lambda *_: None)
    descriptor = os.open(path, os.O_RDONLY)
    try:
        assert pagecache.Mapping.load() is None
        if leasable:
            assert loaded is not None
            assert not loaded.lease(descriptor)  # loaded before the handler came: no lease either
    finally:
        os.close(descriptor)
        signal.signal(signal.SIGURG, previous)


@pytest.mark.parametrize("keep", [0, CHUNK // 2, 2 * CHUNK + 100, 3 * CHUNK - 100, 5 * CHUNK, 5 * CHUNK + 5])
def test_a_file_truncated_after_its_size_was_checked_fails_cleanly(tmp_path: Path, keep: int) -> None:
    """Mapped pages past the end of the file would raise SIGBUS (the process dies): they are never
    touched; the chunk is read instead, and the short read is the error. Also where the new end
    is in the chunk's last page (3 * CHUNK - 100, 5 * CHUNK + 5): the mapping reads zeros past it
    there, without a fault, and would hash them in place of the bytes cut off."""
    path, _, chain = chained(tmp_path)
    os.truncate(path, keep)
    for number in range(chain.chunks):
        start, end = chain.span(number)
        if keep >= end:
            continue
        with pytest.raises(OSError, match=f"ended at byte {max(start, keep)}"):
            hash_chunk(path, chain, number)


def test_a_file_truncated_while_its_chunk_is_hashed_fails_cleanly(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A truncation waits for the lease; the hashing sees it wanted, gives up the mapping (then the
    truncation happens) and reads the rest: the short read is the error, not a SIGBUS."""
    path, _, chain = chained(tmp_path)
    if not mapped_here(path):
        pytest.skip("no read lease or mapping here: hash_chunk reads")
    piece = 4 * 4096
    monkeypatch.setattr(pagecache, "PIECE", piece)
    mapping = pagecache.mapping()
    assert mapping is not None
    truncation = threading.Thread(target=os.truncate, args=(path, CHUNK + 10))
    real_update, real_release = Sha256.update_at, type(mapping).release

    def update_at(self: Sha256, address: int, size: int) -> None:
        real_update(self, address, size)
        if not truncation.is_alive() and self.length == CHUNK + piece:  # in chunk 1, after its first piece
            truncation.start()
            while truncation.is_alive() and mapping.leased(descriptors[-1]):
                pass  # until the kernel holds the truncation back for our lease

    def release(self: pagecache.Mapping, descriptor: int) -> None:
        real_release(self, descriptor)
        if truncation.is_alive():
            truncation.join()  # done before the rest is read: deterministic

    descriptors: list[int] = []
    real_lease = type(mapping).lease
    monkeypatch.setattr(type(mapping), "lease", lambda self, d: descriptors.append(d) or real_lease(self, d))
    monkeypatch.setattr(Sha256, "update_at", update_at)
    monkeypatch.setattr(type(mapping), "release", release)
    with pytest.raises(OSError, match=f"ended at byte {CHUNK + piece}"):  # where the mapping was left
        hash_chunk(path, chain, 1)
    assert path.stat().st_size == CHUNK + 10

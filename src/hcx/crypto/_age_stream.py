"""The payload of an age file: STREAM over ChaCha20-Poly1305 in 64 KiB chunks, run in parallel.

    nonce of chunk i = i as 11 bytes big endian || 0x01 if the chunk is the final one else 0x00

Each chunk is authenticated on its own, so the work splits into batches of `BATCH_CHUNKS`
chunks (4 MiB: the Python work per byte stays small). pyca's AEAD, hashlib and the system calls
release the GIL, so threads really run at the same time.
- Sealing (`seal_stream`): two stages with one handoff per batch. The calling thread reads a batch
  and hashes it (SHA-256 of the plaintext); a sealing thread encrypts the previous batch and
  writes it. Both stages cost about the same CPU, so two cores stay busy. Four reused batch
  buffers (about 32 MiB) whatever the size of the file.
- Opening (`open_stream`): the calling thread reads batches and hands them to a pool of
  `workers` threads, one more thread hashes the plaintext, and the calling thread writes finished
  batches in order; at most `workers + 1` batches are in flight and one is read ahead, in reused
  buffers (about 8 MiB per batch).

A batch is known to hold the final chunk when the read after it finds the end of the input: the
final chunk may be full (a payload of a multiple of 64 KiB ends with a full final chunk), and is
empty only when the whole payload is empty.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Protocol

from hcx.crypto._primitives import CHACHA20_POLY1305_TAG_SIZE as TAG_SIZE
from hcx.crypto._primitives import ChaCha20Poly1305Key
from hcx.errors import DecryptionError, InvalidInput

CHUNK_SIZE = 64 * 1024
SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
BATCH_CHUNKS = 64  # 4 MiB of plaintext per task
_COUNTER_LIMIT = 2**88


def chunk_nonce(counter: int, final: bool) -> bytes:
    if counter >= _COUNTER_LIMIT:
        raise InvalidInput("the payload is too long for the age format")
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _seal_batch(key: ChaCha20Poly1305Key, plaintext: memoryview, counter: int, final: bool,
                out: bytearray | memoryview) -> memoryview:
    """Encrypt a batch whose first chunk has number `counter` into `out`; `final`: it holds the last chunk."""
    count = max(1, -(-len(plaintext) // CHUNK_SIZE))  # an empty payload is one empty final chunk
    target = memoryview(out)[: len(plaintext) + count * TAG_SIZE]
    for i in range(count):
        chunk = plaintext[i * CHUNK_SIZE : (i + 1) * CHUNK_SIZE]
        start = i * SEALED_CHUNK_SIZE
        key.encrypt_into(chunk_nonce(counter + i, final and i == count - 1), chunk,
                         target[start : start + len(chunk) + TAG_SIZE])
    return target


def _open_chunk(key: ChaCha20Poly1305Key, sealed: memoryview, counter: int, final: bool, out: memoryview) -> None:
    try:
        key.decrypt_into(chunk_nonce(counter, final), sealed, out)
        return
    except DecryptionError:
        pass
    # Say why: the other value of the final-chunk flag tells a cut or an extended file from damage.
    if len(sealed) == SEALED_CHUNK_SIZE:
        try:
            key.decrypt_into(chunk_nonce(counter, not final), sealed, out)
        except DecryptionError:
            pass
        else:
            if final:
                raise DecryptionError(f"the age payload is truncated: chunk {counter} is not the final chunk, "
                                      "and nothing follows it")
            raise DecryptionError(f"the age payload has data after its final chunk (chunk {counter})")
    raise DecryptionError(f"chunk {counter} of the age payload failed authentication "
                          "(altered, reordered, truncated or with data appended)")


def _open_batch(key: ChaCha20Poly1305Key, sealed: memoryview, counter: int, final: bool,
                out: bytearray) -> memoryview:
    """Decrypt a batch of sealed chunks into `out`; `final`: the input ends with this batch."""
    count = -(-len(sealed) // SEALED_CHUNK_SIZE)
    last_size = len(sealed) - (count - 1) * SEALED_CHUNK_SIZE
    if count == 0:
        raise DecryptionError("the age payload is truncated: it has no chunks")
    if last_size < TAG_SIZE:
        raise DecryptionError(f"the age payload is truncated: chunk {counter + count - 1} is "
                              f"{last_size} bytes, shorter than its tag")
    if final and last_size == TAG_SIZE and counter + count - 1 > 0:
        raise DecryptionError(f"the final chunk of the age payload (chunk {counter + count - 1}) is empty, "
                              "which only an empty payload may be")
    target = memoryview(out)[: len(sealed) - count * TAG_SIZE]
    for i in range(count):
        start = i * SEALED_CHUNK_SIZE
        piece = sealed[start : start + SEALED_CHUNK_SIZE]
        plain_start = i * CHUNK_SIZE
        _open_chunk(key, piece, counter + i, final and i == count - 1,
                    target[plain_start : plain_start + len(piece) - TAG_SIZE])
    return target


def read_into(src: BinaryIO, buffer: bytearray) -> memoryview:
    """Fill `buffer` from `src`; the part filled is shorter only at the end of the input."""
    view = memoryview(buffer)
    readinto = getattr(src, "readinto", None)
    filled = 0
    while filled < len(buffer):
        if readinto is not None:
            got = readinto(view[filled:]) or 0
        else:
            data = src.read(len(buffer) - filled)
            got = len(data)
            view[filled : filled + got] = data
        if not got:
            break
        filled += got
    return view[:filled]


def write_all(dst: BinaryIO, data: memoryview) -> None:
    """Write all of `data`: a raw (unbuffered) stream may take only part of it per call."""
    while data:
        written = dst.write(data)
        if written is None or written >= len(data):
            return
        data = data[written:]


_Task = Callable[[memoryview, int, bool, bytearray], memoryview]


class Hasher(Protocol):
    """What hashes the plaintext: `hashlib.sha256()`, or one that also notes states on the way."""

    def update(self, data: memoryview, /) -> None: ...
    def digest(self) -> bytes: ...


def _run(src: BinaryIO, dst: BinaryIO, workers: int, read_size: int, out_size: int,
         task: _Task, hasher: Hasher | None = None) -> tuple[int, bytes]:
    """Read batches of `read_size` bytes, run `task(batch, first chunk number, final, out)` on a
    pool, write the results in order. Returns the size and SHA-256 of the output (the plaintext,
    hashed on its own thread while the next batch is written). The batch buffers are reused: fresh 4 MiB allocations
    would cost page faults and zeroing on every batch."""
    if workers < 1:
        raise InvalidInput("the age stream needs at least one worker")
    digest: Hasher = hasher if hasher is not None else hashlib.sha256()
    size = 0
    free: list[tuple[bytearray, bytearray]] = []
    pending: deque[tuple[Future[memoryview], _Slot]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hcx-age")
    hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hcx-age-sha256")  # one thread: in order

    def buffers() -> tuple[bytearray, bytearray]:
        return free.pop() if free else (bytearray(read_size), bytearray(out_size))

    def write_oldest() -> None:
        nonlocal size
        future, used = pending.popleft()
        result = future.result()
        hashed = hashing.submit(digest.update, result)
        size += len(result)
        write_all(dst, result)
        hashed.result()
        free.append(used)

    try:
        counter = 0
        slot = buffers()
        batch = read_into(src, slot[0])
        while True:
            next_slot = buffers()
            following = read_into(src, next_slot[0]) if len(batch) == read_size else batch[:0]
            final = not following
            running = pool.submit(task, batch, counter, final, slot[1])
            pending.append((running, slot))
            counter += BATCH_CHUNKS
            while len(pending) > workers:
                write_oldest()
            if final:
                break
            batch, slot = following, next_slot
        while pending:
            write_oldest()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        hashing.shutdown(wait=True, cancel_futures=True)
    return size, digest.digest()


class _Sealer:
    """Seals batches and writes them to `dst` in the order given, on its own thread (`start`) or
    on the caller's (`seal_and_write`). Each batch is split over `workers - 1` threads when there
    are more than two workers (machines with more cores than the two this was tuned on)."""

    def __init__(self, dst: BinaryIO, key: ChaCha20Poly1305Key, workers: int) -> None:
        self._dst, self._key = dst, key
        self._splits = max(1, workers - 1)
        self._pool = (ThreadPoolExecutor(max_workers=self._splits, thread_name_prefix="hcx-age")
                      if self._splits > 1 else None)
        self.queue: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self.free: queue.SimpleQueue[_Slot | None] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def seal_and_write(self, batch: _Batch) -> None:
        slot, plaintext, counter, final = batch
        count = max(1, -(-len(plaintext) // CHUNK_SIZE))
        if self._pool is None or count < 2 * self._splits:
            sealed = _seal_batch(self._key, plaintext, counter, final, slot[1])
        else:
            step = -(-count // self._splits)
            out = memoryview(slot[1])
            parts = [self._pool.submit(_seal_batch, self._key, plaintext[a * CHUNK_SIZE : (a + step) * CHUNK_SIZE],
                                       counter + a, final and a + step >= count, out[a * SEALED_CHUNK_SIZE :])
                     for a in range(0, count, step)]
            for part in parts:
                part.result()
            sealed = out[: len(plaintext) + count * TAG_SIZE]
        write_all(self._dst, sealed)

    def _loop(self) -> None:
        try:
            while (batch := self.queue.get()) is not None:
                self.seal_and_write(batch)
                self.free.put(batch[0])
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread, which raises it
            self.error = exc
            self.free.put(None)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="hcx-age-seal", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Let the thread finish the batches queued, and wait for it."""
        if self._thread is not None:
            self.queue.put(None)
            self._thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


_Slot = tuple[bytearray, bytearray]  # plaintext buffer, sealed buffer
_Batch = tuple[_Slot, memoryview, int, bool]  # buffers, plaintext read, first chunk number, holds the final chunk
_SEAL_SLOTS = 4  # being read, being hashed (and sealed), queued, being sealed: neither stage waits


def seal_stream(src: BinaryIO, dst: BinaryIO, key: ChaCha20Poly1305Key, workers: int) -> tuple[int, bytes]:
    """Encrypt all of `src` to `dst`; return the plaintext's size and SHA-256.

    Two stages, one handoff per batch: the calling thread reads a batch (readinto, into a reused
    buffer) and hashes it, while the sealing thread encrypts the previous one and writes it. Read
    plus SHA-256 and ChaCha20-Poly1305 plus write cost about the same CPU (about 1.0 and 1.1 s/GB
    here), so two cores are kept busy; both stages release the GIL for all their heavy work. With
    one worker everything runs on the calling thread."""
    if workers < 1:
        raise InvalidInput("the age stream needs at least one worker")
    read_size = BATCH_CHUNKS * CHUNK_SIZE
    sealer = _Sealer(dst, key, workers)
    threaded = workers > 1
    digest = hashlib.sha256()
    size = counter = 0
    created = 0

    def take() -> _Slot:
        nonlocal created
        if sealer.error is not None:
            raise sealer.error
        if created < _SEAL_SLOTS:
            created += 1
            return bytearray(read_size), bytearray(BATCH_CHUNKS * SEALED_CHUNK_SIZE)
        slot = sealer.free.get()
        if slot is None:
            raise sealer.error or RuntimeError("the age sealing thread stopped")
        return slot

    if threaded:
        sealer.start()
    try:
        slot = take()
        batch = read_into(src, slot[0])
        while True:
            next_slot = take() if len(batch) == read_size else slot
            following = read_into(src, next_slot[0]) if next_slot is not slot else batch[:0]
            final = not following
            if threaded:
                sealer.queue.put((slot, batch, counter, final))
                digest.update(batch)  # while the sealing thread encrypts the same bytes
            else:
                digest.update(batch)
                sealer.seal_and_write((slot, batch, counter, final))
            size += len(batch)
            counter += BATCH_CHUNKS
            if final:
                break
            if not threaded:
                sealer.free.put(slot)
            batch, slot = following, next_slot
    finally:
        sealer.stop()
    if sealer.error is not None:
        raise sealer.error
    return size, digest.digest()


def open_stream(src: BinaryIO, dst: BinaryIO, key: ChaCha20Poly1305Key, workers: int,
                hasher: Hasher | None = None) -> tuple[int, bytes]:
    """Decrypt all of `src` to `dst`; return the plaintext's size and SHA-256 (by `hasher`, fed the
    plaintext in order, if given). Only authenticated chunks reach `dst`, in order; on an error,
    what was written is an authentic prefix."""
    return _run(src, dst, workers, BATCH_CHUNKS * SEALED_CHUNK_SIZE, BATCH_CHUNKS * CHUNK_SIZE,
                lambda batch, counter, final, out: _open_batch(key, batch, counter, final, out), hasher)

"""The payload of an age file: STREAM over ChaCha20-Poly1305 in 64 KiB chunks, run in parallel.

    nonce of chunk i = i as 11 bytes big endian || 0x01 if the chunk is the final one else 0x00

Each chunk is authenticated on its own, so the work splits into batches of `BATCH_CHUNKS`
chunks: the calling thread reads a batch, hands it to a thread pool, hashes the plaintext
(SHA-256) and writes finished batches in order. pyca's AEAD and hashlib release the GIL, so the
threads really run at the same time; batches of 4 MiB keep the Python work per byte small. At most
`workers + 1` batches are in flight, so memory stays constant whatever the size of the file.

A batch is known to hold the final chunk when the read after it finds the end of the input: the
final chunk may be full (a payload of a multiple of 64 KiB ends with a full final chunk), and is
empty only when the whole payload is empty.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

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


def read_full(src: BinaryIO, size: int) -> bytes:
    """Read `size` bytes, or fewer only at the end of the input (pipes return short reads)."""
    data = src.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    missing = size - len(data)
    while missing:
        more = src.read(missing)
        if not more:
            break
        parts.append(more)
        missing -= len(more)
    return b"".join(parts)


def _seal_batch(key: ChaCha20Poly1305Key, plaintext: bytes, counter: int, final: bool) -> bytearray:
    """Encrypt a batch whose first chunk has number `counter`; `final`: it holds the last chunk."""
    count = max(1, -(-len(plaintext) // CHUNK_SIZE))  # an empty payload is one empty final chunk
    out = bytearray(len(plaintext) + count * TAG_SIZE)
    source, target = memoryview(plaintext), memoryview(out)
    for i in range(count):
        chunk = source[i * CHUNK_SIZE : (i + 1) * CHUNK_SIZE]
        start = i * SEALED_CHUNK_SIZE
        key.encrypt_into(chunk_nonce(counter + i, final and i == count - 1), chunk,
                         target[start : start + len(chunk) + TAG_SIZE])
    return out


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


def _open_batch(key: ChaCha20Poly1305Key, sealed: bytes, counter: int, final: bool) -> bytearray:
    """Decrypt a batch of sealed chunks; `final`: the input ends with this batch."""
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
    out = bytearray(len(sealed) - count * TAG_SIZE)
    source, target = memoryview(sealed), memoryview(out)
    for i in range(count):
        start = i * SEALED_CHUNK_SIZE
        piece = source[start : start + SEALED_CHUNK_SIZE]
        plain_start = i * CHUNK_SIZE
        _open_chunk(key, piece, counter + i, final and i == count - 1,
                    target[plain_start : plain_start + len(piece) - TAG_SIZE])
    return out


def _run(src: BinaryIO, dst: BinaryIO, workers: int, read_size: int,
         task: Callable[[bytes, int, bool], bytearray], hash_input: bool) -> tuple[int, bytes]:
    """Read batches of `read_size` bytes, run `task(batch, first chunk number, final)` on a pool,
    write the results in order. Returns the plaintext's size and SHA-256 (of the input when
    `hash_input`, else of the output)."""
    if workers < 1:
        raise InvalidInput("the age stream needs at least one worker")
    digest = hashlib.sha256()
    size = 0
    pending: deque[Future[bytearray]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hcx-age")

    def write_oldest() -> None:
        nonlocal size
        result = pending.popleft().result()
        if not hash_input:
            digest.update(result)
            size += len(result)
        dst.write(result)

    try:
        counter = 0
        batch = read_full(src, read_size)
        while True:
            following = read_full(src, read_size) if len(batch) == read_size else b""
            final = not following
            pending.append(pool.submit(task, batch, counter, final))
            if hash_input:
                digest.update(batch)
                size += len(batch)
            counter += BATCH_CHUNKS
            while len(pending) > workers:
                write_oldest()
            if final:
                break
            batch = following
        while pending:
            write_oldest()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return size, digest.digest()


def seal_stream(src: BinaryIO, dst: BinaryIO, key: ChaCha20Poly1305Key, workers: int) -> tuple[int, bytes]:
    """Encrypt all of `src` to `dst`; return the plaintext's size and SHA-256."""
    return _run(src, dst, workers, BATCH_CHUNKS * CHUNK_SIZE,
                lambda batch, counter, final: _seal_batch(key, batch, counter, final), hash_input=True)


def open_stream(src: BinaryIO, dst: BinaryIO, key: ChaCha20Poly1305Key, workers: int) -> tuple[int, bytes]:
    """Decrypt all of `src` to `dst`; return the plaintext's size and SHA-256. Only authenticated
    chunks reach `dst`, in order; on an error, what was written is an authentic prefix."""
    return _run(src, dst, workers, BATCH_CHUNKS * SEALED_CHUNK_SIZE,
                lambda batch, counter, final: _open_batch(key, batch, counter, final), hash_input=False)

"""SHA-256 chaining states: one large file's SHA-256 checked on several cores.

SHA-256 (FIPS 180-4) runs a 32-byte chaining state through the message one 64-byte block at a
time, from a fixed initial state; the digest is the state after the padded last block. Hashing a
file once (at export, from the decryption that checks the manifest's digest anyway) and noting
the state after every `chunk_size` bytes (a multiple of 64) lets a verifier hash the chunks on
separate cores: chunk k starts from noted state k and must end at noted state k + 1; the last
chunk, padded with the file's length, must end at the manifest's digest.

Soundness: if every chunk ends where it should, hashing the file from its first byte to its last
passes through exactly these states, so the file's SHA-256 *is* the manifest's digest: the check
is the whole-file SHA-256, computed in pieces, not a weaker one. The noted states need no trust:
a wrong state can only make a chunk fail, never make a changed file pass.

The states come from OpenSSL's own SHA-256 (libcrypto, the library behind `hashlib` here), through
its public `SHA256_CTX`, whose chaining state can be read and set at block boundaries; `hashlib`
and pyca/cryptography expose no such state. The binding checks itself against `hashlib` when
loaded; where libcrypto cannot be found, `available()` is False and callers hash start to end.

The hints file (`hints/sha256-chain.txt` of an export folder), UTF-8, one item a line:

    hcx sha256-chain/1
    chunk-size 67108864                                                   a power of two, ≥ 64 KiB
    file <size in bytes> <path in the bag, encoded as in a manifest>     every payload file, in
    <offset> <64 hex: the chaining state after the first <offset> bytes>  manifest order, each
    …                                                                     followed by its states
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import struct
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from hcx.evidence import pagecache

__all__ = ["CHAIN_FORMAT", "CHUNK_SIZE", "ChainFormatError", "ChainRecorder", "FileChain", "Sha256", "available",
           "format_chain", "hash_chunk", "parse_chain"]

CHAIN_FORMAT: Final = "hcx sha256-chain/1"
CHUNK_SIZE: Final = 64 << 20  # 16 chunks per GiB: enough to keep every core busy, few lines
MIN_CHUNK_SIZE: Final = 64 << 10
_BLOCK: Final = 64
_READ_SIZE: Final = 1 << 20  # read into a reused buffer that stays in the cache while it is hashed


class _Ctx(ctypes.Structure):
    # openssl/sha.h, SHA256state_st: h[8], Nl, Nh, data[16], num, md_len (SHA_LONG is 32 bits);
    # `spare` guards against a larger structure in some build.
    _fields_ = (("h", ctypes.c_uint32 * 8), ("Nl", ctypes.c_uint32), ("Nh", ctypes.c_uint32),
                ("data", ctypes.c_uint32 * 16), ("num", ctypes.c_uint), ("md_len", ctypes.c_uint),
                ("spare", ctypes.c_uint8 * 64))


def _candidates() -> Iterator[str]:
    """libcrypto as loaded by hashlib first (one OpenSSL in the process), then by name; only if
    none of those loads, as ctypes finds it (which may run ldconfig or a C compiler)."""
    mapped: set[str] = set()
    try:
        import _hashlib  # noqa: F401 - maps hashlib's libcrypto, so that /proc/self/maps names it

        with open("/proc/self/maps", encoding="utf-8") as maps:
            mapped = {line.split()[-1] for line in maps if "/libcrypto" in line}
    except (ImportError, OSError):
        pass
    yield from sorted(mapped)
    yield from ("libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.3.dylib")
    found = ctypes.util.find_library("crypto")
    # macOS aborts the process (no exception) that loads its unversioned libcrypto.dylib
    if found and os.path.basename(found) != "libcrypto.dylib":
        yield found


def _load() -> ctypes.CDLL | None:
    for name in _candidates():
        try:
            lib = ctypes.CDLL(name)  # a CDLL call releases the GIL: threads hash at the same time
            for function in (lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final):
                function.restype = ctypes.c_int
            lib.SHA256_Init.argtypes = (ctypes.POINTER(_Ctx),)
            lib.SHA256_Update.argtypes = (ctypes.POINTER(_Ctx), ctypes.c_void_p, ctypes.c_size_t)
            lib.SHA256_Final.argtypes = (ctypes.c_char_p, ctypes.POINTER(_Ctx))
        except (OSError, AttributeError):
            continue
        if _self_test(lib):
            return lib
    return None


def _self_test(lib: ctypes.CDLL) -> bool:
    """The binding agrees with hashlib, including a state read and resumed mid-message."""
    message = bytes(range(256)) * 5
    try:
        first = Sha256(lib=lib)
        first.update(message[:640])
        resumed = Sha256(first.state(), 640, lib=lib)
        resumed.update(message[640:])
        whole = Sha256(lib=lib)
        whole.update(message)
    except (OSError, ValueError):
        return False
    expected = hashlib.sha256(message).digest()
    return resumed.digest() == expected and whole.digest() == expected


_lib: ctypes.CDLL | None = None
_loaded = False
_lock = threading.Lock()


def _library() -> ctypes.CDLL | None:
    global _lib, _loaded
    with _lock:
        if not _loaded:
            _lib, _loaded = _load(), True
    return _lib


def available() -> bool:
    return _library() is not None


def _address(data: memoryview) -> tuple[int | bytes, object]:
    """A pointer to `data` for C, and what must stay alive while it is used."""
    if not data.readonly:
        anchor = ctypes.c_char.from_buffer(data)
        return ctypes.addressof(anchor), anchor
    copy = data.tobytes()  # read-only buffers are rare here (bytes given by a caller)
    return copy, copy


class Sha256:
    """SHA-256 over libcrypto whose chaining state can be read (`state`) at a block boundary and
    resumed from (`Sha256(state, length)`)."""

    __slots__ = ("_ctx", "_lib", "length")

    def __init__(self, state: bytes | None = None, length: int = 0, *, lib: ctypes.CDLL | None = None) -> None:
        found = lib or _library()
        if found is None:
            raise OSError("libcrypto's SHA-256 is not available")
        self._lib, self._ctx = found, _Ctx()
        found.SHA256_Init(ctypes.byref(self._ctx))
        if state is not None:
            if len(state) != 32 or length % _BLOCK:
                raise ValueError("a chaining state is 32 bytes, at a multiple of 64 bytes into the message")
            self._ctx.h[:] = struct.unpack(">8I", state)
            bits = length * 8
            self._ctx.Nl, self._ctx.Nh = bits & 0xFFFFFFFF, bits >> 32
        elif length:
            raise ValueError("a length needs a state")
        self.length = length

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        if not view:
            return
        pointer, anchor = _address(view)
        self._lib.SHA256_Update(ctypes.byref(self._ctx), pointer, len(view))
        del anchor
        self.length += len(view)

    def update_at(self, address: int, size: int) -> None:
        """Hash `size` bytes at `address` (memory mapped by the caller, readable while this runs)."""
        self._lib.SHA256_Update(ctypes.byref(self._ctx), address, size)
        self.length += size

    def state(self) -> bytes:
        if self.length % _BLOCK:
            raise ValueError("the chaining state is defined only at a multiple of 64 bytes")
        return struct.pack(">8I", *self._ctx.h)

    def digest(self) -> bytes:
        out = ctypes.create_string_buffer(32)
        self._lib.SHA256_Final(out, ctypes.byref(self._ctx))
        return out.raw

    def hexdigest(self) -> str:
        return self.digest().hex()


class ChainRecorder:
    """SHA-256 of a stream that notes the chaining state after every `chunk_size` bytes (an
    `update`/`digest` object, as `hashlib.sha256()`)."""

    def __init__(self, chunk_size: int = CHUNK_SIZE) -> None:
        _check_chunk_size(chunk_size)
        self.chunk_size = chunk_size
        self.states: list[bytes] = []
        self._hash = Sha256()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            room = self.chunk_size - self._hash.length % self.chunk_size
            self._hash.update(view[:room])
            view = view[room:]
            if self._hash.length % self.chunk_size == 0:
                self.states.append(self._hash.state())  # a state at the end of the file is not kept below

    @property
    def size(self) -> int:
        return self._hash.length

    def digest(self) -> bytes:
        if self.states and self._hash.length == len(self.states) * self.chunk_size:
            self.states.pop()  # the file ends on a boundary: its last state is no chunk's start
        return self._hash.digest()


def _check_chunk_size(chunk_size: int) -> None:
    # a power of two (so a multiple of the 64-byte block): one changed byte of the number never
    # gives another valid size, which for files of one chunk would change nothing checkable
    if chunk_size < MIN_CHUNK_SIZE or chunk_size & (chunk_size - 1):
        raise ValueError(f"a chunk size is a power of two, at least {MIN_CHUNK_SIZE}")


def chunk_count(size: int, chunk_size: int) -> int:
    return max(1, -(-size // chunk_size))


@dataclass(frozen=True, slots=True)
class FileChain:
    """The noted states of one payload file; `line` is its `file` line in the hints file."""

    path: str
    size: int
    chunk_size: int
    states: tuple[bytes, ...]  # after chunk 0, 1, …, n-2
    line: int

    @property
    def chunks(self) -> int:
        return chunk_count(self.size, self.chunk_size)

    def span(self, number: int) -> tuple[int, int]:
        start = number * self.chunk_size
        return start, min(self.size, start + self.chunk_size)

    def expected(self, number: int, digest: bytes) -> bytes:
        """What chunk `number` must end at: the next state, or for the last chunk the file's digest."""
        return digest if number == self.chunks - 1 else self.states[number]


_buffers = threading.local()


def hash_chunk(path: str | os.PathLike[str], chain: FileChain, number: int) -> bytes:
    """Hash chunk `number` of the file from its noted starting state: the chaining state at its
    end, or for the last chunk the SHA-256 of the whole file (if the earlier chunks hold). Where
    it is safe (`pagecache`), straight from the page cache; otherwise, and for whatever that
    leaves, read into a buffer."""
    start, end = chain.span(number)
    hasher = Sha256(chain.states[number - 1] if number else None, start)
    descriptor = os.open(path, os.O_RDONLY)
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(descriptor, start, end - start, os.POSIX_FADV_SEQUENTIAL)  # more read-ahead, if cold
        offset = pagecache.hash_mapped(descriptor, start, end, hasher.update_at) if end > start else start
        buffer = getattr(_buffers, "buffer", None)
        if buffer is None and offset < end:
            buffer = _buffers.buffer = bytearray(_READ_SIZE)  # one per thread, reused for every chunk
        view = memoryview(buffer or b"")
        while offset < end:
            got = os.preadv(descriptor, [view[: min(_READ_SIZE, end - offset)]], offset)
            if got <= 0:
                raise OSError(f"the file ended at byte {offset}, before the {chain.size} bytes it had")
            hasher.update(view[:got])
            offset += got
        last = number == chain.chunks - 1
        # the sizes were compared before hashing: a byte past the end now (a copy still being
        # written) would be left out of the digest, where hashing to the end would include it
        if last and os.pread(descriptor, 1, end):
            raise OSError(f"the file has more than the {chain.size} bytes it had")
    finally:
        os.close(descriptor)
    return hasher.digest() if last else hasher.state()


# --- the hints file --------------------------------------------------------------------------

class ChainFormatError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line, self.message = line, message


def format_chain(files: Iterable[tuple[str, int, Sequence[bytes]]], chunk_size: int = CHUNK_SIZE) -> bytes:
    """The hints file for (path, size, states) of each payload file, in manifest order."""
    from hcx.evidence.bagit import encode_path  # late: bagit imports this module

    lines = [CHAIN_FORMAT, f"chunk-size {chunk_size}"]
    for path, size, states in files:
        if len(states) != chunk_count(size, chunk_size) - 1:
            raise ValueError(f"{path}: {len(states)} states for {size} bytes in chunks of {chunk_size}")
        lines.append(f"file {size} {encode_path(path)}")
        lines += [f"{(n + 1) * chunk_size} {state.hex()}" for n, state in enumerate(states)]
    return ("\n".join(lines) + "\n").encode("utf-8")


_MAX_DIGITS: Final = 20  # 2**64 has 20: no file is larger, and int() refuses strings of over 4300


def _number(text: str, line: int, what: str) -> int:
    if not text.isascii() or not text.isdigit() or (text != "0" and text.startswith("0")):
        raise ChainFormatError(line, f"{what} {text[:40]!r} is not a decimal number")
    if len(text) > _MAX_DIGITS:
        raise ChainFormatError(line, f"{what} has more than {_MAX_DIGITS} digits")
    return int(text)


def parse_chain(data: bytes) -> list[FileChain]:
    """The chains of a hints file; ChainFormatError names the first line that is not as written."""
    from hcx.evidence.bagit import decode_path, encode_path  # late: bagit imports this module

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ChainFormatError(data.count(b"\n", 0, exc.start) + 1, "not UTF-8 text") from exc
    lines = text.split("\n")
    if lines[-1] != "":
        raise ChainFormatError(len(lines), "the last line has no line feed")
    lines.pop()
    if not lines or lines[0] != CHAIN_FORMAT:
        raise ChainFormatError(1, f"the first line is {CHAIN_FORMAT!r}")
    label, _, value = (lines[1] if len(lines) > 1 else "").partition(" ")
    if label != "chunk-size":
        raise ChainFormatError(2, "expected 'chunk-size <bytes>'")
    chunk_size = _number(value, 2, "the chunk size")
    try:
        _check_chunk_size(chunk_size)
    except ValueError as exc:
        raise ChainFormatError(2, str(exc)) from exc
    chains: list[FileChain] = []
    number = 3
    while number <= len(lines):
        label, _, rest = lines[number - 1].partition(" ")
        size_text, _, encoded = rest.partition(" ")
        if label != "file" or not encoded:
            raise ChainFormatError(number, "expected 'file <size> <path>'")
        size = _number(size_text, number, "the size")
        if encode_path(decode_path(encoded)) != encoded:  # one spelling per path, as the manifest's
            raise ChainFormatError(number, "the path is not encoded as a manifest encodes it")
        count = chunk_count(size, chunk_size) - 1
        states: list[bytes] = []
        for n in range(count):
            at = number + 1 + n
            offset_text, _, hex_state = (lines[at - 1] if at <= len(lines) else "").partition(" ")
            if _number(offset_text, at, "the offset") != (n + 1) * chunk_size:
                raise ChainFormatError(at, f"expected the state at byte {(n + 1) * chunk_size} of "
                                           f"{decode_path(encoded)}")
            if len(hex_state) != 64 or hex_state.lower() != hex_state or not all(c in "0123456789abcdef"
                                                                                   for c in hex_state):
                raise ChainFormatError(at, "a chaining state is 64 lowercase hex digits")
            states.append(bytes.fromhex(hex_state))
        chains.append(FileChain(decode_path(encoded), size, chunk_size, tuple(states), number))
        number += 1 + count
    return chains

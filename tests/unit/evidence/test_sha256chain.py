"""SHA-256 chaining states: the binding agrees with hashlib, the chunks of a file end where the
export noted, and the hints file is parsed strictly. Sizes are small: chunks of 64 KiB."""

from __future__ import annotations

import ctypes.util
import hashlib
import os
from pathlib import Path

import pytest

from hcx.evidence import sha256chain
from hcx.evidence.sha256chain import (
    MIN_CHUNK_SIZE,
    ChainFormatError,
    ChainRecorder,
    FileChain,
    Sha256,
    format_chain,
    hash_chunk,
    parse_chain,
)

CHUNK = MIN_CHUNK_SIZE
pytestmark = pytest.mark.skipif(not sha256chain.available(), reason="libcrypto's SHA-256 is not loadable here")


def test_the_binding_is_sha256_and_resumes_from_a_state() -> None:
    data = os.urandom(3 * CHUNK + 123)
    whole = Sha256()
    whole.update(data)
    assert whole.digest() == hashlib.sha256(data).digest()
    first = Sha256()
    first.update(data[:CHUNK])
    resumed = Sha256(first.state(), CHUNK)
    resumed.update(memoryview(bytearray(data[CHUNK:])))
    assert resumed.digest() == hashlib.sha256(data).digest()


def test_a_state_exists_only_at_a_block_boundary() -> None:
    odd = Sha256()
    odd.update(b"x" * 65)
    with pytest.raises(ValueError, match="multiple of 64"):
        odd.state()
    with pytest.raises(ValueError, match="multiple of 64"):
        Sha256(bytes(32), 65)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 4097])
def test_chunks_hashed_apart_end_at_the_recorded_states_and_the_whole_files_digest(tmp_path: Path,
                                                                                   size: int) -> None:
    data = os.urandom(size)
    recorder = ChainRecorder(CHUNK)
    for start in range(0, size, 10_000):  # pieces that do not line up with chunks
        recorder.update(memoryview(bytearray(data[start : start + 10_000])))
    digest = recorder.digest()
    assert digest == hashlib.sha256(data).digest()
    chain = FileChain("data/f", size, CHUNK, tuple(recorder.states), 3)
    assert len(chain.states) == chain.chunks - 1 == max(0, -(-size // CHUNK) - 1)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert [hash_chunk(path, chain, n) for n in range(chain.chunks)] == [*chain.states, digest]


def chained(tmp_path: Path, size: int = 5 * CHUNK + 10) -> tuple[Path, bytes, FileChain]:
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    recorder = ChainRecorder(CHUNK)
    recorder.update(data)
    digest = recorder.digest()
    return path, digest, FileChain("data/f", size, CHUNK, tuple(recorder.states), 3)


def failing(path: Path, chain: FileChain, digest: bytes) -> list[int]:
    return [n for n in range(chain.chunks) if hash_chunk(path, chain, n) != chain.expected(n, digest)]


def test_a_changed_byte_fails_exactly_its_chunk(tmp_path: Path) -> None:
    path, digest, chain = chained(tmp_path)
    for offset, chunk in [(0, 0), (2 * CHUNK + 5, 2), (5 * CHUNK + 9, 5)]:
        data = bytearray(path.read_bytes())
        data[offset] ^= 0x80
        changed = tmp_path / "changed"
        changed.write_bytes(bytes(data))
        assert failing(changed, chain, digest) == [chunk]


def test_a_wrong_state_fails_the_chunks_on_both_sides_of_it(tmp_path: Path) -> None:
    path, digest, chain = chained(tmp_path)
    states = list(chain.states)
    states[1] = bytes([states[1][0] ^ 1]) + states[1][1:]
    assert failing(path, FileChain(chain.path, chain.size, CHUNK, tuple(states), 3), digest) == [1, 2]


def test_states_of_another_content_cannot_make_a_changed_file_pass(tmp_path: Path) -> None:
    """An attacker who changes the file and notes the states of the changed file: every chunk but
    the last ends where noted, and the last ends at the changed file's digest, not the signed one."""
    path, digest, _ = chained(tmp_path)
    data = bytearray(path.read_bytes())
    data[CHUNK + 1] ^= 1
    path.write_bytes(bytes(data))
    recorder = ChainRecorder(CHUNK)
    recorder.update(bytes(data))
    recorder.digest()
    forged = FileChain("data/f", len(data), CHUNK, tuple(recorder.states), 3)
    assert failing(path, forged, digest) == [forged.chunks - 1]


def test_the_hints_file_round_trips() -> None:
    states = (bytes(range(32)), bytes(range(32, 64)))
    data = format_chain([("data/a b%.bin", 2 * CHUNK + 1, states), ("data/empty", 0, ())], CHUNK)
    assert data.decode().split("\n")[:4] == ["hcx sha256-chain/1", f"chunk-size {CHUNK}",
                                              f"file {2 * CHUNK + 1} data/a b%25.bin", f"{CHUNK} {states[0].hex()}"]
    assert parse_chain(data) == [FileChain("data/a b%.bin", 2 * CHUNK + 1, CHUNK, states, 3),
                                 FileChain("data/empty", 0, CHUNK, (), 6)]


def hints() -> bytes:
    states = tuple(os.urandom(32) for _ in range(3))
    return format_chain([("data/f", 3 * CHUNK + 1, states), ("data/g", 10, ())], CHUNK)


def edit(data: bytes, change: str) -> bytes:
    lines = data.decode().split("\n")
    if change == "truncated":
        return "\n".join(lines[:5]).encode() + b"\n"
    if change == "cut mid-line":
        return data[:-40]
    if change == "reordered":
        lines[3], lines[4] = lines[4], lines[3]
    elif change == "upper-case hex":
        lines[4] = lines[4].upper()
    elif change == "chunk size not a power of two":
        lines[1] = f"chunk-size {CHUNK + 64}"
    elif change == "chunk size too small":
        lines[1] = "chunk-size 4096"
    elif change == "wrong chunk size":
        lines[1] = f"chunk-size {2 * CHUNK}"
    elif change == "first line":
        lines[0] = "hcx sha256-chain/2"
    elif change == "size with a leading zero":
        lines[2] = lines[2].replace("file ", "file 0")
    elif change == "path spelt another way":
        lines[2] = lines[2].replace("data/f", "data/%66")
    return "\n".join(lines).encode()


@pytest.mark.parametrize(("change", "line"), [
    ("truncated", 6), ("cut mid-line", 6), ("reordered", 4), ("upper-case hex", 5),
    ("chunk size not a power of two", 2), ("chunk size too small", 2), ("wrong chunk size", 4),
    ("first line", 1), ("size with a leading zero", 3), ("path spelt another way", 3)])
def test_a_hints_file_not_as_written_is_refused_at_its_line(change: str, line: int) -> None:
    with pytest.raises(ChainFormatError) as caught:
        parse_chain(edit(hints(), change))
    assert caught.value.line == line, caught.value


@pytest.mark.parametrize("size", [0, CHUNK - 1, 3 * CHUNK, 3 * CHUNK + 5])
def test_a_file_longer_than_its_chain_does_not_end_at_the_digest(tmp_path: Path, size: int) -> None:
    """The verifier compares sizes before hashing; bytes appended after that look (a copy still
    being written) must not be left out of the hash, as a whole-file hash would not leave them."""
    path, _, chain = chained(tmp_path, size)
    with path.open("ab") as stream:
        stream.write(b"appended")
    with pytest.raises(OSError, match="more than"):
        hash_chunk(path, chain, chain.chunks - 1)


def test_the_library_is_looked_up_by_name_only_when_hashlibs_cannot_be_loaded(monkeypatch: pytest.MonkeyPatch
                                                                            ) -> None:
    """ctypes.util.find_library may run ldconfig or a C compiler: not on every `hcx verify`."""
    asked: list[str] = []
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: asked.append(name))
    assert sha256chain._load() is not None
    assert asked == []


def test_macos_unversioned_libcrypto_is_never_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS aborts a process that loads /usr/lib/libcrypto.dylib (no stable ABI): no fallback then."""
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "/usr/lib/libcrypto.dylib")
    assert "/usr/lib/libcrypto.dylib" not in list(sha256chain._candidates())


@pytest.mark.parametrize(("line", "number"), [(2, 2), (3, 3), (4, 4)])
def test_a_number_too_long_for_python_to_read_is_a_format_error(line: int, number: int) -> None:
    """The hints file is untrusted: a 5,000-digit number must not escape as a bare ValueError
    (Python's limit on int() of a string), which verify does not catch."""
    lines = hints().decode().split("\n")
    label, _, rest = lines[line - 1].partition(" ")
    if line == 4:  # an offset line: "<offset> <state>"
        lines[line - 1] = f"{'9' * 5000} {rest}"
    elif line == 3:
        lines[line - 1] = f"{label} {'9' * 5000} {rest.partition(' ')[2]}"
    else:
        lines[line - 1] = f"{label} {'9' * 5000}"
    with pytest.raises(ChainFormatError) as caught:
        parse_chain("\n".join(lines).encode())
    assert caught.value.line == number


"""The age format: keys, header, STREAM payload, tampering, and interop with pyrage (rage), an
independent implementation. Interop with Debian's `age` CLI is in tests/integration/test_age_cli.py.

Several tests shrink the payload batches to 2 chunks (`small_batches`), so that batch boundaries
are crossed with payloads of a few hundred KiB."""

from __future__ import annotations

import copy
import hashlib
import io
import pickle
import random
from collections.abc import Iterator

import pyrage
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hcx.crypto import _age_stream, age
from hcx.crypto import _primitives as p
from hcx.crypto.age import AgeIdentity, AgeRecipient, decrypt, encrypt
from hcx.errors import DecryptionError, InvalidInput

CHUNK = _age_stream.CHUNK_SIZE
SEALED = _age_stream.SEALED_CHUNK_SIZE
SIZES = [0, 1, 65535, 65536, 65537, 2 * 65536, 5 * 65536 + 17, 3 * 1024 * 1024 + 5]

# c2sp.org/age, "The X25519 recipient type": the example identity is the scalar 0x42 repeated (built
# here, so no private key sits in the repository as text) and this is its recipient.
SPEC_SECRET = bytes([0x42]) * 32
SPEC_IDENTITY = AgeIdentity(SPEC_SECRET).secret_text()
SPEC_RECIPIENT = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(_age_stream, "BATCH_CHUNKS", 2)
    yield


@pytest.fixture(scope="module")
def identity() -> AgeIdentity:
    return AgeIdentity.generate()


def sealed(data: bytes, *recipients: AgeRecipient, workers: int = 2) -> bytes:
    out = io.BytesIO()
    result = encrypt(io.BytesIO(data), out, list(recipients), workers=workers)
    assert (result.size, result.sha256) == (len(data), hashlib.sha256(data).digest())
    return out.getvalue()


def opened(blob: bytes, *identities: AgeIdentity, workers: int = 2) -> bytes:
    out = io.BytesIO()
    result = decrypt(io.BytesIO(blob), out, list(identities), workers=workers)
    assert (result.size, result.sha256) == (len(out.getvalue()), hashlib.sha256(out.getvalue()).digest())
    return out.getvalue()


def split(blob: bytes) -> tuple[bytes, bytes, list[bytes]]:
    """header (through the MAC line), payload nonce, sealed chunks."""
    end = blob.index(b"\n---") + 1
    end = blob.index(b"\n", end) + 1
    payload = blob[end + 16 :]
    return blob[:end], blob[end : end + 16], [payload[i : i + SEALED] for i in range(0, len(payload), SEALED)]


def craft(identity: AgeIdentity, chunks: list[tuple[bytes, int, bool]], *, extra_stanzas: bytes = b"") -> bytes:
    """An age file for `identity` with hand-made chunks (plaintext, counter, final flag) and a
    correct header MAC: for the payload rules the STREAM writer never breaks."""
    file_key = p.random_bytes(16)
    header = b"age-encryption.org/v1\n" + extra_stanzas + age._wrap(file_key, identity.recipient).encode() + b"---"
    mac = p.hmac_sha256(age._header_mac_key(file_key), header)
    nonce = p.random_bytes(16)
    key = age._payload_key(file_key, nonce)
    payload = b"".join(key.encrypt(_age_stream.chunk_nonce(counter, final), data) for data, counter, final in chunks)
    return header + b" " + age._b64encode(mac) + b"\n" + nonce + payload


# Keys


def test_spec_example_identity_gives_spec_recipient() -> None:
    identity = AgeIdentity.parse(SPEC_IDENTITY)
    assert str(identity.recipient) == SPEC_RECIPIENT
    assert identity.secret_text() == SPEC_IDENTITY
    assert AgeRecipient.parse(SPEC_RECIPIENT) == identity.recipient
    # an independent implementation reads our text form of the spec's secret as the same key
    assert str(pyrage.x25519.Identity.from_str(SPEC_IDENTITY).to_public()) == SPEC_RECIPIENT


def test_keys_round_trip_and_agree_with_pyrage() -> None:
    identity = AgeIdentity.generate()
    assert AgeIdentity.parse(identity.secret_text()).recipient == identity.recipient
    assert AgeRecipient.parse(str(identity.recipient)) == identity.recipient
    theirs = pyrage.x25519.Identity.from_str(identity.secret_text())
    assert str(theirs.to_public()) == str(identity.recipient)
    generated = pyrage.x25519.Identity.generate()
    assert str(AgeIdentity.parse(str(generated)).recipient) == str(generated.to_public())


def test_identity_shows_no_secret_and_refuses_pickling() -> None:
    identity = AgeIdentity.parse(SPEC_IDENTITY)
    secret_body = SPEC_IDENTITY.removeprefix("AGE-SECRET-KEY-1")
    for shown in (repr(identity), str(identity), f"{identity}"):
        assert secret_body not in shown.upper() and SPEC_RECIPIENT in shown
    with pytest.raises(TypeError):
        pickle.dumps(identity)
    with pytest.raises(TypeError):
        copy.copy(identity)


@pytest.mark.parametrize(("text", "why"), [
    (SPEC_RECIPIENT.upper(), "lower case"),
    (SPEC_RECIPIENT[:-1] + ("q" if SPEC_RECIPIENT[-1] != "q" else "p"), "checksum"),
    ("age1" + "q" * 58, "checksum"),
    ("age1pq1x34nzsvr0rxjsgdn8zgyhfe8j7ceq5r9rdelkjuh3y235jzxshfg87pzf5zrqtzdxz", "post-quantum"),
    (SPEC_IDENTITY.lower(), "starts with age1"),
    ("", "checksum"),
])
def test_bad_recipients_are_refused(text: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        AgeRecipient.parse(text)


def test_bech32m_and_wrong_length_are_refused() -> None:
    from bech32m import codecs

    raw = AgeRecipient.parse(SPEC_RECIPIENT).raw
    as_bech32m = codecs.bech32_encode("age", bytes(codecs.convertbits(raw, 8, 5)), codecs.Encoding.BECH32M)
    with pytest.raises(InvalidInput, match="starts with age1"):
        AgeRecipient.parse(as_bech32m)
    short = codecs.bech32_encode("age", bytes(codecs.convertbits(raw[:31], 8, 5)), codecs.Encoding.BECH32)
    with pytest.raises(InvalidInput, match="31 bytes"):
        AgeRecipient.parse(short)


def test_recipients_are_values() -> None:
    recipient = AgeRecipient.parse(SPEC_RECIPIENT)
    assert {recipient, AgeRecipient(recipient.raw)} == {recipient}
    assert recipient != SPEC_RECIPIENT and repr(recipient) == f"AgeRecipient({SPEC_RECIPIENT!r})"
    with pytest.raises(InvalidInput, match="32 bytes"):
        AgeRecipient(recipient.raw[:31])


def test_identities_are_upper_case_and_checked() -> None:
    assert AgeIdentity.parse(f"  {SPEC_IDENTITY}\n").recipient == AgeRecipient.parse(SPEC_RECIPIENT)
    with pytest.raises(InvalidInput, match="upper case"):
        AgeIdentity.parse(SPEC_IDENTITY.lower())
    with pytest.raises(InvalidInput, match="checksum"):
        AgeIdentity.parse(SPEC_IDENTITY[:-2] + "XX")
    with pytest.raises(InvalidInput, match="starts with AGE-SECRET-KEY-1"):
        AgeIdentity.parse(SPEC_RECIPIENT.upper())
    with pytest.raises(InvalidInput):
        AgeIdentity(b"\x00" * 31)


# Format


def test_header_layout(identity: AgeIdentity) -> None:
    blob = sealed(b"hello", identity.recipient, AgeIdentity.generate().recipient)
    header, _, chunks = split(blob)
    lines = header.split(b"\n")
    assert lines[0] == b"age-encryption.org/v1"
    for arg_line, body_line in (lines[1:3], lines[3:5]):
        kind, share = arg_line.split(b" ")[1:]
        assert arg_line.startswith(b"-> X25519 ") and kind == b"X25519"
        assert len(share) == 43 and len(body_line) == 43 and b"=" not in share + body_line
    assert lines[5].startswith(b"--- ") and len(lines[5]) == 4 + 43 and lines[6] == b""
    assert len(chunks) == 1 and len(chunks[0]) == 5 + 16


@pytest.mark.parametrize(("body_size", "lines"), [(0, [b""]), (32, [43]), (47, [63]), (48, [64, 0]), (49, [64, 2]), (96, [64, 64, 0])])
def test_stanza_bodies_wrap_at_64_columns(body_size: int, lines: list[int | bytes]) -> None:
    encoded = age._Stanza((b"test", b"arg"), bytes(range(body_size))).encode()
    body_lines = encoded.split(b"\n")[1:-1]
    assert [len(line) for line in body_lines] == [0 if line == b"" else line for line in lines]


@pytest.mark.parametrize("size", SIZES)
def test_chunking(identity: AgeIdentity, size: int) -> None:
    _, _, chunks = split(sealed(bytes(size), identity.recipient))
    expected = max(1, -(-size // CHUNK))
    assert len(chunks) == expected
    assert all(len(chunk) == SEALED for chunk in chunks[:-1])
    assert len(chunks[-1]) == (size - (expected - 1) * CHUNK) + 16


# Round trips


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("size", SIZES)
def test_round_trip(identity: AgeIdentity, size: int, workers: int, small_batches: None) -> None:
    data = random.Random(size).randbytes(size)
    assert opened(sealed(data, identity.recipient, workers=workers), identity, workers=workers) == data


def test_round_trip_with_production_batches(identity: AgeIdentity) -> None:
    data = random.Random(7).randbytes(_age_stream.BATCH_CHUNKS * CHUNK * 2 + 3)
    assert opened(sealed(data, identity.recipient), identity) == data


def test_any_recipient_decrypts_and_unknown_stanzas_are_ignored(identity: AgeIdentity) -> None:
    others = [AgeIdentity.generate() for _ in range(3)]
    blob = sealed(b"evidence", *(o.recipient for o in others), identity.recipient)
    assert opened(blob, identity) == b"evidence"
    assert opened(blob, AgeIdentity.generate(), others[1]) == b"evidence"
    grease = age._Stanza((b"example.com/grease", b"a", b"-b"), bytes(range(70))).encode()
    assert opened(craft(identity, [(b"x", 0, True)], extra_stanzas=grease), identity) == b"x"


@pytest.mark.parametrize("size", [0, 1, 65536, 65537, 3 * 65536, 200_001])
def test_pyrage_interop_both_ways(identity: AgeIdentity, size: int, small_batches: None) -> None:
    data = random.Random(size).randbytes(size)
    theirs = pyrage.x25519.Identity.from_str(identity.secret_text())
    assert pyrage.decrypt(sealed(data, identity.recipient), [theirs]) == data
    their_blob = pyrage.encrypt(data, [pyrage.x25519.Recipient.from_str(str(identity.recipient))])
    assert opened(their_blob, identity) == data


class Trickle(io.RawIOBase):
    """A raw stream that reads and writes at most 1000 bytes per call, like a pipe or a socket."""

    def __init__(self, data: bytes = b"") -> None:
        self.data, self.written = memoryview(data), bytearray()

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), 1000, len(self.data))
        buffer[:n] = self.data[:n]
        self.data = self.data[n:]
        return n

    def write(self, data: memoryview) -> int:  # type: ignore[override]
        self.written += data[:1000]
        return min(len(data), 1000)


class ReadOnly:
    """A minimal file-like object: read() and nothing else."""

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(min(size, 777))


def test_short_reads_and_writes(identity: AgeIdentity, small_batches: None) -> None:
    data = random.Random(3).randbytes(300_000)
    out = Trickle()
    recipients = [identity.recipient] + [AgeIdentity.generate().recipient for _ in range(20)]  # a long header
    result = encrypt(Trickle(data), out, recipients)  # type: ignore[arg-type]
    assert result.size == len(data)
    assert opened(bytes(out.written), identity) == data
    plain = Trickle()
    decrypt(Trickle(bytes(out.written)), plain, [identity])  # type: ignore[arg-type]
    assert bytes(plain.written) == data
    again = io.BytesIO()
    assert encrypt(ReadOnly(data), again, [identity.recipient]).size == len(data)  # type: ignore[arg-type]
    assert opened(again.getvalue(), identity) == data


# Refusals


def test_wrong_identity_is_refused(identity: AgeIdentity) -> None:
    blob = sealed(b"data", identity.recipient)
    with pytest.raises(DecryptionError, match="no identity matches") as caught:
        opened(blob, AgeIdentity.generate())
    assert caught.value.details and "age1" in caught.value.details[0]


def test_altered_header_fails_the_mac(identity: AgeIdentity) -> None:
    other = AgeIdentity.generate()
    blob = sealed(b"data", identity.recipient, other.recipient)
    header, rest = blob[: blob.index(b"---")], blob[blob.index(b"---") :]
    # Drop the other recipient's stanza: our stanza still unwraps, but the MAC covers the whole header.
    lines = header.split(b"\n")
    with pytest.raises(DecryptionError, match="header MAC"):
        opened(b"\n".join(lines[:3] + lines[5:]) + rest, identity)


def test_bad_mac_is_refused(identity: AgeIdentity) -> None:
    blob = sealed(b"data", identity.recipient)
    at = blob.index(b"--- ") + 4
    flipped = blob[:at] + (b"B" if blob[at : at + 1] == b"A" else b"A") + blob[at + 1 :]
    with pytest.raises(DecryptionError, match="header MAC"):
        opened(flipped, identity)


@pytest.mark.parametrize(("change", "why"), [
    (lambda b: b.replace(b"age-encryption.org/v1", b"age-encryption.org/v2"), "only version v1"),
    (lambda b: b"-----BEGIN AGE ENCRYPTED FILE-----\n" + b, "ASCII-armored"),
    (lambda b: b"hello", "does not start"),
    (lambda b: b[:30], "header is truncated"),
    (lambda b: b.replace(b"-> X25519 ", b"-> X25519  "), "empty argument"),
    (lambda b: b.replace(b"-> X25519 ", b"-> X25519 extra "), "X25519 stanza"),
    (lambda b: b.replace(b"\n---", b"=\n---"), "canonical base64"),
    (lambda b: b.replace(b"\n--- ", b"\n---"), "neither a stanza"),
    (lambda b: b.replace(b"--- ", b"--- A"), "MAC line"),
    (lambda b: b[: b.index(b"\n") + 1] + b[b.index(b"---") :], "no recipient stanza"),
])
def test_malformed_headers_are_refused(identity: AgeIdentity, change: object, why: str) -> None:
    blob = sealed(b"data", identity.recipient)
    with pytest.raises(DecryptionError, match=why):
        opened(change(blob), identity)  # type: ignore[operator]


def test_non_canonical_share_is_refused(identity: AgeIdentity) -> None:
    blob = sealed(b"data", identity.recipient)
    line_end = blob.index(b"\n", blob.index(b"-> X25519 "))
    last = blob[line_end - 1 : line_end]
    # The last of 43 characters carries 4 bits and 2 zero bits; set one of the zero bits.
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    flipped = bytes([alphabet[alphabet.index(last) ^ 1]])
    with pytest.raises(DecryptionError, match="X25519 stanza"):
        opened(blob[: line_end - 1] + flipped + blob[line_end:], identity)


def test_overlong_stanza_body_is_refused(identity: AgeIdentity) -> None:
    stanza = age._Stanza((b"example.com/big",), bytes(70_000)).encode()
    with pytest.raises(DecryptionError, match="stanza body is too long"):
        opened(craft(identity, [(b"x", 0, True)], extra_stanzas=stanza), identity)


def test_too_many_stanzas_are_refused(identity: AgeIdentity, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(age, "_MAX_STANZAS", 3)
    assert opened(sealed(b"x", *(AgeIdentity.generate().recipient for _ in range(2)), identity.recipient), identity)
    with pytest.raises(DecryptionError, match="more than 3 stanzas"):
        opened(sealed(b"x", *(AgeIdentity.generate().recipient for _ in range(3)), identity.recipient), identity)


def test_chunk_counter_is_bounded() -> None:
    assert _age_stream.chunk_nonce(2**88 - 1, True) == b"\xff" * 11 + b"\x01"
    with pytest.raises(InvalidInput, match="too long"):
        _age_stream.chunk_nonce(2**88, False)


def test_low_order_share_is_refused(identity: AgeIdentity) -> None:
    stanza = age._Stanza((b"X25519", age._b64encode(bytes(32))), bytes(32)).encode()
    blob = craft(identity, [(b"x", 0, True)], extra_stanzas=stanza)
    with pytest.raises(DecryptionError, match="low-order"):
        opened(blob, identity)


def test_passphrase_files_are_refused(identity: AgeIdentity) -> None:
    stanza = age._Stanza((b"scrypt", age._b64encode(bytes(16)), b"18"), bytes(32)).encode()
    with pytest.raises(DecryptionError, match="scrypt"):
        opened(craft(identity, [(b"x", 0, True)], extra_stanzas=stanza), identity)
    blob = craft(identity, [(b"x", 0, True)])  # the scrypt stanza after ours: refused all the same
    at = blob.index(b"---")
    with pytest.raises(DecryptionError, match="scrypt"):
        opened(blob[:at] + stanza + blob[at:], identity)


@pytest.fixture
def three_chunks(identity: AgeIdentity) -> tuple[bytes, bytes, list[bytes]]:
    return split(sealed(random.Random(1).randbytes(2 * CHUNK + 100), identity.recipient))


@pytest.mark.usefixtures("small_batches")
def test_reordered_chunks_are_refused(identity: AgeIdentity, three_chunks: tuple[bytes, bytes, list[bytes]]) -> None:
    header, nonce, (a, b, c) = three_chunks
    with pytest.raises(DecryptionError, match="chunk 0 of the age payload failed authentication"):
        opened(header + nonce + b + a + c, identity)


@pytest.mark.usefixtures("small_batches")
def test_dropped_chunk_is_refused(identity: AgeIdentity, three_chunks: tuple[bytes, bytes, list[bytes]]) -> None:
    header, nonce, (a, _, c) = three_chunks
    with pytest.raises(DecryptionError, match="chunk 1 of the age payload failed authentication"):
        opened(header + nonce + a + c, identity)


@pytest.mark.usefixtures("small_batches")
def test_truncated_payloads_are_refused(identity: AgeIdentity, three_chunks: tuple[bytes, bytes, list[bytes]]) -> None:
    header, nonce, (a, b, c) = three_chunks
    with pytest.raises(DecryptionError, match="truncated: chunk 1 is not the final chunk"):
        opened(header + nonce + a + b, identity)
    with pytest.raises(DecryptionError, match="chunk 2 of the age payload failed"):
        opened(header + nonce + a + b + c[:-1], identity)
    with pytest.raises(DecryptionError, match="shorter than its tag"):
        opened(header + nonce + a + b + c[:5], identity)
    with pytest.raises(DecryptionError, match="it has no chunks"):
        opened(header + nonce, identity)
    with pytest.raises(DecryptionError, match="nonce is missing"):
        opened(header + nonce[:15], identity)


@pytest.mark.usefixtures("small_batches")
def test_data_after_the_final_chunk_is_refused(identity: AgeIdentity) -> None:
    full_final = [(bytes(CHUNK), 0, False), (bytes(CHUNK), 1, True)]
    assert opened(craft(identity, full_final), identity) == bytes(2 * CHUNK)
    with pytest.raises(DecryptionError, match=r"data after its final chunk \(chunk 1\)"):
        opened(craft(identity, [*full_final, (b"more", 2, True)]), identity)
    with pytest.raises(DecryptionError, match="chunk 1 of the age payload failed"):  # garbage appended
        opened(craft(identity, [*full_final[:1], (bytes(CHUNK - 1), 1, True)]) + b"\x00" * 20, identity)


@pytest.mark.usefixtures("small_batches")
def test_final_flag_rules(identity: AgeIdentity) -> None:
    assert opened(craft(identity, [(b"", 0, True)]), identity) == b""
    with pytest.raises(DecryptionError, match=r"final chunk of the age payload \(chunk 1\) is empty"):
        opened(craft(identity, [(bytes(CHUNK), 0, False), (b"", 1, True)]), identity)
    with pytest.raises(DecryptionError, match="truncated: chunk 1 is not the final chunk"):
        opened(craft(identity, [(bytes(CHUNK), 0, False), (bytes(CHUNK), 1, False)]), identity)
    with pytest.raises(DecryptionError, match="chunk 0 of the age payload failed"):
        opened(craft(identity, [(b"short", 0, False)]), identity)
    with pytest.raises(DecryptionError, match="chunk 1 of the age payload failed"):
        opened(craft(identity, [(bytes(CHUNK), 0, False), (b"x", 2, True)]), identity)


def test_low_order_recipient_is_refused_when_encrypting() -> None:
    with pytest.raises(InvalidInput, match="low-order"):
        sealed(b"data", AgeRecipient(bytes(32)))


def test_bad_arguments_are_refused(identity: AgeIdentity) -> None:
    with pytest.raises(InvalidInput, match="at least one recipient"):
        encrypt(io.BytesIO(b""), io.BytesIO(), [])
    with pytest.raises(InvalidInput, match="AgeRecipient objects"):
        encrypt(io.BytesIO(b""), io.BytesIO(), [str(identity.recipient)])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="at least one worker"):
        encrypt(io.BytesIO(b""), io.BytesIO(), [identity.recipient], workers=0)
    with pytest.raises(InvalidInput, match="at least one identity"):
        decrypt(io.BytesIO(b""), io.BytesIO(), [])
    with pytest.raises(InvalidInput, match="AgeIdentity objects"):
        decrypt(io.BytesIO(b""), io.BytesIO(), [identity.secret_text()])  # type: ignore[list-item]


# Properties


@settings(max_examples=25, deadline=None)
@given(size=st.integers(0, 5 * CHUNK + 10), workers=st.integers(1, 3), seed=st.integers(0, 2**32))
def test_property_round_trip(size: int, workers: int, seed: int) -> None:
    identity = AgeIdentity.parse(SPEC_IDENTITY)
    data = random.Random(seed).randbytes(size)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_age_stream, "BATCH_CHUNKS", 2)
        assert opened(sealed(data, identity.recipient, workers=workers), identity, workers=workers) == data


@settings(max_examples=40, deadline=None)
@given(size=st.integers(0, 3 * CHUNK + 10), where=st.floats(0, 1, exclude_max=True), delta=st.integers(1, 255),
       cut=st.booleans())
def test_property_any_change_is_refused(size: int, where: float, delta: int, cut: bool) -> None:
    identity = AgeIdentity.parse(SPEC_IDENTITY)
    blob = sealed(bytes(size), identity.recipient)
    at = int(where * len(blob))
    changed = blob[:at] if cut else blob[:at] + bytes([(blob[at] + delta) % 256]) + blob[at + 1 :]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_age_stream, "BATCH_CHUNKS", 2)
        with pytest.raises(DecryptionError):
            opened(changed, identity)

"""Keys: ids, fingerprints, export/load under a passphrase, and reprs that leak nothing."""

from __future__ import annotations

import base64
import copy
import hashlib
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hcx.crypto import _primitives
from hcx.crypto.keys import (
    DecryptionKey,
    EncryptionKey,
    SigningKey,
    VerifyKey,
    b64d,
    b64e,
    fingerprint,
    kid_of,
    parse_fingerprint,
)
from hcx.errors import DecryptionError, InvalidInput, InvalidSignature
from tests.unit.crypto.conftest import PRODUCTION_SCRYPT_LOG2_N

# RFC 8032 §7.1, TEST 1: the seed, its public key and the signature of the empty message.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIG = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def test_signing_key_matches_rfc8032() -> None:
    key = SigningKey.from_seed(RFC8032_SEED)
    assert key.public.raw == RFC8032_PUBLIC
    assert key.sign(b"") == RFC8032_SIG
    key.public.verify(RFC8032_SIG, b"")


def test_sign_and_verify() -> None:
    key = SigningKey.generate()
    signature = key.sign(b"data")
    key.public.verify(signature, b"data")
    with pytest.raises(InvalidSignature):
        key.public.verify(signature, b"Data")
    with pytest.raises(InvalidSignature):
        SigningKey.generate().public.verify(signature, b"data")
    with pytest.raises(InvalidSignature):
        key.public.verify(signature[:-1], b"data")


def test_kid_is_stable_and_derived_from_sha256() -> None:
    public = VerifyKey.from_bytes(RFC8032_PUBLIC)
    expected = base64.b32encode(hashlib.sha256(RFC8032_PUBLIC).digest()).decode()[:16].lower()
    assert public.kid == expected == kid_of(RFC8032_PUBLIC)
    assert public.kid == "eh7ddx5bksrgcytl"  # pinned: a change here breaks every peer's lookups


def test_fingerprint_shape_and_pinned_value() -> None:
    text = fingerprint(RFC8032_PUBLIC)
    groups = text.split("-")
    assert len(groups) == 8 and all(len(g) == 4 for g in groups)
    assert text.replace("-", "") == base64.b32encode(hashlib.sha256(RFC8032_PUBLIC).digest()[:20]).decode()
    assert VerifyKey.from_bytes(RFC8032_PUBLIC).fingerprint == text == "EH7D-DX5B-KSRG-CYTL-7BKA-I36S-E4NX-X3KL"


@pytest.mark.parametrize(
    "typed",
    ["eh7ddx5bksrgcytl7bkai36se4nxx3kl", "  EH7D DX5B KSRG CYTL 7BKA I36S E4NX X3KL ", "eh7d-dx5b-ksrg-cytl-7bka-i36s-e4nx-x3kl"],
)
def test_parse_fingerprint_normalises(typed: str) -> None:
    assert parse_fingerprint(typed) == "EH7D-DX5B-KSRG-CYTL-7BKA-I36S-E4NX-X3KL"


@pytest.mark.parametrize(
    "typed",
    ["", "EH7D-DX5B", "EH7D-DX5B-KSRG-CYTL-7BKA-I36S-E4NX-X3K0", "EH7D-DX5B-KSRG-CYTL-7BKA-I36S-E4NX-X3KL-AAAA", 42],
)
def test_parse_fingerprint_refuses(typed: str) -> None:
    with pytest.raises(InvalidInput):
        parse_fingerprint(typed)


@given(raw=st.binary(min_size=1, max_size=64))
def test_fingerprint_parses_back(raw: bytes) -> None:
    assert parse_fingerprint(fingerprint(raw).lower()) == fingerprint(raw)


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_verify_key_size(size: int) -> None:
    with pytest.raises(InvalidInput):
        VerifyKey.from_bytes(b"\x01" * size)


def test_verify_key_equality() -> None:
    a, b = VerifyKey.from_bytes(RFC8032_PUBLIC), VerifyKey.from_bytes(bytes(RFC8032_PUBLIC))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != SigningKey.generate().public
    assert a != RFC8032_PUBLIC
    assert repr(a) == f"VerifyKey(kid={a.kid!r})"


def test_encryption_key_from_bytes_round_trip() -> None:
    public = DecryptionKey.generate().public
    again = EncryptionKey.from_bytes(public.raw)
    assert again == public and hash(again) == hash(public)
    assert again != DecryptionKey.generate().public
    assert again != public.raw
    assert len(public.raw) == 1184 + 32
    assert len(public.kid) == 16 and public.kid == kid_of(public.raw)
    assert public.fingerprint == fingerprint(public.raw)
    assert repr(public) == f"EncryptionKey(kid={public.kid!r})"


@pytest.mark.parametrize("raw", [b"", b"\x00" * 1215, b"\x00" * 1217, b"\xff" * 1216], ids=["empty", "short", "long", "malformed-mlkem"])
def test_encryption_key_refuses(raw: bytes) -> None:
    with pytest.raises(InvalidInput):
        EncryptionKey.from_bytes(raw)


def test_decryption_key_seed_is_deterministic() -> None:
    seed = bytes(range(96))
    assert DecryptionKey.from_seed(seed).public == DecryptionKey.from_seed(seed).public
    with pytest.raises(InvalidInput):
        DecryptionKey.from_seed(seed[:95])
    with pytest.raises(InvalidInput):
        SigningKey.from_seed(seed[:31])


def test_signing_key_export_load() -> None:
    key = SigningKey.generate()
    blob = key.export(b"correct horse battery staple")
    loaded = SigningKey.load(blob, b"correct horse battery staple")
    assert loaded.public == key.public
    assert loaded.sign(b"x") == key.sign(b"x")  # Ed25519 is deterministic
    with pytest.raises(DecryptionError):
        SigningKey.load(blob, b"correct horse battery stapler")


def test_decryption_key_export_load() -> None:
    key = DecryptionKey.generate()
    blob = key.export(b"pass")
    assert DecryptionKey.load(blob, b"pass").public == key.public
    with pytest.raises(DecryptionError):
        DecryptionKey.load(blob, b"Pass")


def test_key_file_layout() -> None:
    blob = SigningKey.generate().export(b"pass")
    assert blob[0] == 0x01
    assert blob[1] == 14  # the tests' cost; production writes SCRYPT_LOG2_N
    assert len(blob) == 1 + 1 + 16 + 12 + 32 + 16
    assert _primitives.SCRYPT_LOG2_N == 14


def test_production_scrypt_cost() -> None:
    assert PRODUCTION_SCRYPT_LOG2_N == 17  # 128 MiB per derivation


def test_a_key_file_does_not_load_as_another_kind() -> None:
    blob = SigningKey.generate().export(b"pass")
    with pytest.raises(DecryptionError):
        DecryptionKey.load(blob, b"pass")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:-1],
        lambda b: b[:20],
        lambda b: b"",
        lambda b: b"\x02" + b[1:],
        lambda b: b[:1] + b"\x28" + b[2:],  # scrypt cost 2**40: refused before any work
        lambda b: b[:1] + b"\x0f" + b[2:],  # another valid cost: the derived key differs
        lambda b: b[:5] + bytes([b[5] ^ 1]) + b[6:],  # salt
        lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:],  # nonce
        lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # tag
    ],
    ids=["truncated", "header-only", "empty", "version", "cost-huge", "cost-other", "salt", "nonce", "tag"],
)
def test_corrupt_key_files(mangle: object) -> None:
    blob = SigningKey.generate().export(b"pass")
    with pytest.raises(DecryptionError):
        SigningKey.load(mangle(blob), b"pass")  # type: ignore[operator]


def test_empty_passphrase_is_refused() -> None:
    with pytest.raises(InvalidInput):
        SigningKey.generate().export(b"")


def _secret_forms(raw: bytes) -> list[str]:
    return [raw.hex(), raw.hex().upper(), b64e(raw), base64.b64encode(raw).decode(), repr(raw), str(list(raw))]


def test_repr_leaks_nothing() -> None:
    signing, decryption = SigningKey.generate(), DecryptionKey.generate()
    seed = signing._key.seed()
    private = decryption._key.private_bytes()
    for text in (repr(signing), str(signing), f"{signing}", repr([signing])):
        assert text == f"SigningKey(kid={signing.public.kid!r})" or signing.public.kid in text
        for form in _secret_forms(seed):
            assert form not in text
    for text in (repr(decryption), str(decryption)):
        assert decryption.public.kid in text
        for form in _secret_forms(private) + _secret_forms(private[:64]) + _secret_forms(private[64:]):
            assert form not in text
    assert "_key" not in repr(signing) and not hasattr(signing, "__dict__")


@pytest.mark.parametrize("make", [SigningKey.generate, DecryptionKey.generate])
def test_private_keys_refuse_pickling_and_copying(make: object) -> None:
    key = make()  # type: ignore[operator]
    with pytest.raises(TypeError, match="export"):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        copy.copy(key)


@given(data=st.binary(max_size=100))
def test_b64_round_trip(data: bytes) -> None:
    text = b64e(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64d(text) == data


@pytest.mark.parametrize("text", ["A", "AB", "AAB", "AA==", "A+B/", "AA AA", "é", b"AAAA"], ids=repr)
def test_b64d_refuses(text: str) -> None:
    with pytest.raises(InvalidInput):
        b64d(text)


@given(text=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= \n", max_size=12))
def test_b64d_accepts_exactly_the_canonical_spellings(text: str) -> None:
    try:
        data = b64d(text)
    except InvalidInput:
        return
    assert b64e(data) == text

"""Interop with Debian's `age` and `age-keygen` (1.1.1, installed by .ci/run): files that hcx
encrypts decrypt with `age -d`, files that `age -e` writes decrypt in hcx, on real files."""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from hcx.crypto.age import AgeIdentity, AgeRecipient, decrypt, encrypt
from hcx.errors import DecryptionError

pytestmark = pytest.mark.skipif(shutil.which("age") is None or shutil.which("age-keygen") is None,
                                reason="Debian's age CLI is not installed (apt-get install age; .ci/run does)")

SIZES = [0, 1, 65535, 65536, 65537, 2 * 65536, 3 * 1024 * 1024, 4 * 1024 * 1024 + 65536 * 3 + 11,
         *random.Random(2026).sample(range(2, 6 * 1024 * 1024), 2)]  # and two sizes drawn at random


@pytest.fixture(scope="module")
def keyfile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("age") / "key.txt"
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    return path


def identity_of(keyfile: Path) -> AgeIdentity:
    line = next(line for line in keyfile.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-1"))
    return AgeIdentity.parse(line)


def write_random(path: Path, size: int) -> bytes:
    data = random.Random(size).randbytes(size)
    path.write_bytes(data)
    return data


def test_age_keygen_identity_parses(keyfile: Path) -> None:
    recipient = subprocess.run(["age-keygen", "-y", str(keyfile)], check=True, capture_output=True, text=True).stdout
    assert str(identity_of(keyfile).recipient) == recipient.strip()
    assert AgeRecipient.parse(recipient.strip()) == identity_of(keyfile).recipient


@pytest.mark.parametrize("size", SIZES)
def test_ours_decrypts_with_age(tmp_path: Path, keyfile: Path, size: int) -> None:
    data = write_random(tmp_path / "plain", size)
    with (tmp_path / "plain").open("rb") as src, (tmp_path / "file.age").open("wb") as dst:
        result = encrypt(src, dst, [AgeIdentity.generate().recipient, identity_of(keyfile).recipient])
    assert (result.size, result.sha256) == (size, hashlib.sha256(data).digest())
    # To stdout: `age -o` creates no file at all for an empty plaintext.
    cli = subprocess.run(["age", "-d", "-i", str(keyfile), str(tmp_path / "file.age")], check=True, capture_output=True)
    assert cli.stdout == data


@pytest.mark.parametrize("size", SIZES)
def test_age_decrypts_with_ours(tmp_path: Path, keyfile: Path, size: int) -> None:
    data = write_random(tmp_path / "plain", size)
    other = AgeIdentity.generate()
    subprocess.run(["age", "-e", "-r", str(other.recipient), "-r", str(identity_of(keyfile).recipient),
                    "-o", str(tmp_path / "file.age"), str(tmp_path / "plain")], check=True, capture_output=True)
    for identity in (identity_of(keyfile), other):
        with (tmp_path / "file.age").open("rb") as src, (tmp_path / "out").open("wb") as dst:
            result = decrypt(src, dst, [identity])
        assert (result.size, result.sha256) == (size, hashlib.sha256(data).digest())
        assert (tmp_path / "out").read_bytes() == data


def test_age_refuses_what_we_refuse(tmp_path: Path, keyfile: Path) -> None:
    """A truncated file: both implementations refuse it."""
    write_random(tmp_path / "plain", 3 * 65536)
    with (tmp_path / "plain").open("rb") as src, (tmp_path / "file.age").open("wb") as dst:
        encrypt(src, dst, [identity_of(keyfile).recipient])
    blob = (tmp_path / "file.age").read_bytes()
    (tmp_path / "cut.age").write_bytes(blob[: -(65536 + 16)])
    cli = subprocess.run(["age", "-d", "-i", str(keyfile), str(tmp_path / "cut.age")], capture_output=True)
    assert cli.returncode != 0
    with (tmp_path / "cut.age").open("rb") as src, (tmp_path / "out").open("wb") as dst, \
            pytest.raises(DecryptionError, match="truncated"):
        decrypt(src, dst, [identity_of(keyfile)])

"""The BagIt writer and our strict validator, on bags written here and on hostile bags built by hand."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hcx.evidence.bagit import (
    bagit_txt,
    check_bag,
    decode_path,
    encode_path,
    format_manifest,
    format_tags,
    payload_oxum,
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_bag(root: Path, files: dict[str, bytes], *, manifest: bytes | None = None,
             info: list[tuple[str, str]] | None = None) -> Path:
    """A bag as hcx writes one: bagit.txt, bag-info.txt, manifest and tag manifest."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "data").mkdir(parents=True, exist_ok=True)
    tags = {
        "bagit.txt": bagit_txt(),
        "bag-info.txt": format_tags(info if info is not None else
                                    [("Payload-Oxum", payload_oxum(len(d) for d in files.values()))]),
        "manifest-sha256.txt": manifest if manifest is not None else format_manifest(
            (name, sha(data)) for name, data in files.items()),
    }
    for name, data in tags.items():
        (root / name).write_bytes(data)
    (root / "tagmanifest-sha256.txt").write_bytes(format_manifest((n, sha(d)) for n, d in tags.items()))
    return root


def problems(root: Path) -> list[str]:
    return [str(p) for p in check_bag(root).problems]


def test_a_bag_we_write_is_valid_and_its_report_holds_the_digests(tmp_path: Path) -> None:
    bag = make_bag(tmp_path, {"data/a.txt": b"alpha", "data/sub/b.bin": b"\x00" * 1000})
    report = check_bag(bag)
    assert report.valid, report.problems
    assert report.payload["data/a.txt"] == {"sha256": sha(b"alpha")}
    assert report.sizes == {"data/a.txt": 5, "data/sub/b.bin": 1000}
    assert ("Payload-Oxum", "1005.2") in report.info


def test_names_with_cr_lf_and_percent_are_percent_encoded_and_read_back(tmp_path: Path) -> None:
    name = "data/odd %41 name\r\nwith breaks.txt"
    assert encode_path(name) == "data/odd %2541 name%0D%0Awith breaks.txt"
    assert decode_path(encode_path(name)) == name
    bag = make_bag(tmp_path, {name: b"x"})
    assert check_bag(bag).valid, problems(bag)


def test_an_empty_payload_is_a_valid_bag(tmp_path: Path) -> None:
    assert check_bag(make_bag(tmp_path, {})).valid


@pytest.mark.parametrize(("path", "reason"), [
    ("data/../../etc/passwd", "leaves the bag"),
    ("../outside.txt", "leaves the bag"),
    ("/etc/passwd", "absolute path"),
    ("C:/Windows/win.ini", "absolute path"),
    ("~/secrets", "absolute path"),
    ("data//double", "empty or '.' component"),
    ("data/./dot", "empty or '.' component"),
    ("data\\back", "backslash"),
])
def test_hostile_paths_in_a_manifest_are_refused(tmp_path: Path, path: str, reason: str) -> None:
    bag = make_bag(tmp_path, {"data/a.txt": b"a"},
                   manifest=f"{sha(b'a')}  data/a.txt\n{sha(b'x')}  {path}\n".encode())
    found = problems(bag)
    assert any(reason in p and "manifest-sha256.txt:2" in p for p in found), found


def test_a_symlink_in_the_payload_is_refused_even_if_listed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside")
    bag = make_bag(tmp_path / "bag", {"data/a.txt": b"a"})
    os.symlink(secret, bag / "data" / "link.txt")
    (bag / "manifest-sha256.txt").write_bytes(format_manifest([("data/a.txt", sha(b"a")),
                                                               ("data/link.txt", sha(b"outside"))]))
    found = problems(bag)
    assert any("data/link.txt: is a symbolic link" in p for p in found), found


def test_a_symlinked_directory_and_a_symlinked_tag_file_are_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bag = make_bag(tmp_path / "bag", {"data/a.txt": b"a"})
    os.symlink(elsewhere, bag / "data" / "dir")
    os.symlink(bag / "bagit.txt", bag / "extra-tag.txt")
    found = problems(bag)
    assert any("data/dir: is a symbolic link" in p for p in found)
    assert any("extra-tag.txt: is a symbolic link" in p for p in found)


def test_duplicate_names_in_a_manifest_are_refused(tmp_path: Path) -> None:
    bag = make_bag(tmp_path, {"data/a.txt": b"a"},
                   manifest=f"{sha(b'a')}  data/a.txt\n{sha(b'a')}  data/a.txt\n".encode())
    assert any("manifest-sha256.txt:2: 'data/a.txt' is listed twice" in p for p in problems(bag))


def test_names_equal_up_to_case_or_unicode_normalisation_are_refused(tmp_path: Path) -> None:
    composed, decomposed = "data/caf\u00e9.txt", "data/cafe\u0301.txt"
    bag = make_bag(tmp_path / "nfc", {composed: b"1", decomposed: b"2"})
    assert any("one name" in p for p in problems(bag))
    bag = make_bag(tmp_path / "case", {"data/Report.txt": b"1", "data/report.txt": b"2"})
    assert any("duplicate name" in p for p in problems(bag))


def test_files_not_listed_and_listed_files_missing_are_refused(tmp_path: Path) -> None:
    bag = make_bag(tmp_path, {"data/a.txt": b"a"},
                   manifest=f"{sha(b'b')}  data/b.txt\n".encode())
    found = problems(bag)
    assert "data/a.txt: is in the payload but not listed in manifest-sha256.txt" in found
    assert "manifest-sha256.txt:1: data/b.txt: listed but not in the bag" in found


def test_a_changed_payload_byte_is_named_at_its_manifest_line(tmp_path: Path) -> None:
    bag = make_bag(tmp_path, {"data/a.txt": b"a", "data/b.txt": b"b"})
    (bag / "data" / "b.txt").write_bytes(b"c")
    found = problems(bag)
    assert any(p.startswith("manifest-sha256.txt:2: data/b.txt: the sha256 digest") for p in found), found
    assert any("Payload-Oxum" not in p for p in found)


def test_a_changed_tag_file_is_named_at_its_tag_manifest_line(tmp_path: Path) -> None:
    bag = make_bag(tmp_path, {"data/a.txt": b"a"})
    (bag / "bag-info.txt").write_bytes(b"Payload-Oxum: 1.1\nExtra: x\n")
    assert any(p.startswith("tagmanifest-sha256.txt:1: bag-info.txt") for p in problems(bag))


@pytest.mark.parametrize(("bagit", "line"), [
    (b"BagIt-Version : 1.0\nTag-File-Character-Encoding: UTF-8\n", 1),
    (b"BagIt-Version: 1.0 \nTag-File-Character-Encoding: UTF-8\n", 1),
    (b"BagIt-Version:  1.0\nTag-File-Character-Encoding: UTF-8\n", 1),
    (b"BagIt-Version: 1.0\nTag-File-Character-Encoding:UTF-8\n", 2),
])
def test_bad_whitespace_in_tag_files_is_refused(tmp_path: Path, bagit: bytes, line: int) -> None:
    bag = make_bag(tmp_path, {"data/a.txt": b"a"})
    (bag / "bagit.txt").write_bytes(bagit)
    assert any(p.startswith(f"bagit.txt:{line}:") for p in problems(bag)), problems(bag)


def test_other_versions_a_bom_and_fetch_txt_are_refused(tmp_path: Path) -> None:
    bag = make_bag(tmp_path / "v", {"data/a.txt": b"a"})
    (bag / "bagit.txt").write_bytes(b"BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n")
    assert any("not supported" in p for p in problems(bag))
    bag = make_bag(tmp_path / "bom", {"data/a.txt": b"a"})
    (bag / "bagit.txt").write_bytes(b"\xef\xbb\xbf" + bagit_txt())
    assert any("byte-order mark" in p for p in problems(bag))
    bag = make_bag(tmp_path / "fetch", {"data/a.txt": b"a"})
    (bag / "fetch.txt").write_bytes(b"http://example.invalid/x 1 data/x\n")
    assert any("fetch.txt" in p for p in problems(bag))


def test_a_wrong_payload_oxum_and_a_malformed_checksum_are_refused(tmp_path: Path) -> None:
    bag = make_bag(tmp_path / "oxum", {"data/a.txt": b"a"}, info=[("Payload-Oxum", "2.1")])
    assert any("Payload-Oxum says 2.1" in p for p in problems(bag))
    bag = make_bag(tmp_path / "hex", {"data/a.txt": b"a"}, manifest=b"abc  data/a.txt\n")
    assert any("64 hex digits" in p for p in problems(bag))


def test_not_a_bag(tmp_path: Path) -> None:
    assert problems(tmp_path / "absent") == ["(bag): is not a directory"]
    assert problems(tmp_path) == ["bagit.txt: is missing: not a bag"]

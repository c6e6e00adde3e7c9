"""BagIt 1.0 (RFC 8493): the tag files we write, and a strict validator of our own.

The validator reads a bag as untrusted input and reports every problem it finds, each naming a
file and, where there is one, a line. It is stricter than the RFC where a court needs it to be:

- no symlinks, devices or other non-regular files anywhere in the bag;
- no path that is absolute, has a `..`, `.` or empty component, or leaves `data/`;
- no two names (on disk or in one manifest) equal after Unicode NFC normalisation and case
  folding: they are the same file on some file systems, and a bag must mean one thing everywhere;
- no `fetch.txt` (a bag handed to a court is complete);
- every payload file in every payload manifest, every listed file present, every digest right;
- tag files strictly `Label: value` (one space or tab after the colon, no space before it).

Tag files not listed in a tag manifest are allowed, as the RFC allows (our manifest signature
is one); `hcx.evidence.package` says which ones a package may have.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from hcx.evidence.sha256chain import FileChain, hash_chunk

__all__ = [
    "ALGORITHMS",
    "BagProblem",
    "BagReport",
    "check_bag",
    "decode_path",
    "encode_path",
    "format_manifest",
    "format_tags",
    "payload_oxum",
]

ALGORITHMS: Final[dict[str, Callable[[], hashlib._Hash]]] = {
    "sha512": hashlib.sha512, "sha256": hashlib.sha256, "sha1": hashlib.sha1, "md5": hashlib.md5}
_HEX_SIZE: Final = {"sha512": 128, "sha256": 64, "sha1": 40, "md5": 32}
_CHUNK: Final = 1 << 20
_VERSIONS: Final = ("1.0",)
_LABEL = re.compile(r"[^\s:][^:]*[^\s:]|[^\s:]")
_MANIFEST_NAME = re.compile(r"(tag)?manifest-([a-z0-9]+)\.txt")
_ENCODED = re.compile(r"%(0[AaDd]|25)")
_OXUM = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")


@dataclass(frozen=True, slots=True)
class BagProblem:
    path: str  # relative to the bag, "/" separated; "" for the bag itself
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path or "(bag)"
        return f"{where}:{self.line}: {self.message}" if self.line is not None else f"{where}: {self.message}"


@dataclass
class BagReport:
    """What a validation found: the problems, and the digests and sizes it checked."""

    problems: list[BagProblem] = field(default_factory=list)
    payload: dict[str, dict[str, str]] = field(default_factory=dict)  # path -> {algorithm: hex}
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    info: list[tuple[str, str]] = field(default_factory=list)
    # payload files hashed in chunks whose chunks did not end at the noted SHA-256 states: path ->
    # (chunk numbers, whether the file, then hashed start to end, has its manifest's digest)
    chain_faults: dict[str, tuple[list[int], bool]] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.problems

    def add(self, path: str, line: int | None, message: str) -> None:
        self.problems.append(BagProblem(path, line, message))


# --- writing ---------------------------------------------------------------------------------

def encode_path(path: str) -> str:
    """A manifest's spelling of a path: CR, LF and % percent-encoded (RFC 8493 §2.1.3)."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_path(text: str) -> str:
    return _ENCODED.sub(lambda m: chr(int(m.group(1), 16)), text)


def format_manifest(entries: Iterable[tuple[str, str]]) -> bytes:
    """`<hex digest>  <encoded path>` lines, sorted by path so that a bag has one spelling."""
    return "".join(f"{digest}  {encode_path(path)}\n" for path, digest in sorted(entries)).encode("utf-8")


def format_tags(elements: Iterable[tuple[str, str]]) -> bytes:
    lines = []
    for label, value in elements:
        if not _LABEL.fullmatch(label) or "\n" in value or "\r" in value:
            raise ValueError(f"not a BagIt metadata element: {label!r}")
        lines.append(f"{label}: {value}\n")
    return "".join(lines).encode("utf-8")


def bagit_txt() -> bytes:
    return b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"


def payload_oxum(sizes: Iterable[int]) -> str:
    sizes = list(sizes)
    return f"{sum(sizes)}.{len(sizes)}"


# --- validating ------------------------------------------------------------------------------

def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def _walk(root: Path, report: BagReport) -> tuple[list[str], list[str]]:
    """Regular files under root, as (payload paths, tag paths); anything else is a problem."""
    payload: list[str] = []
    tags: list[str] = []

    def visit(directory: Path, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            report.add(prefix.rstrip("/"), None, f"cannot read the directory: {exc.strerror}")
            return
        folded: dict[str, str] = {}
        for entry in entries:
            relative = prefix + entry.name
            other = folded.setdefault(_fold(entry.name), entry.name)
            if other != entry.name:
                report.add(relative, None, f"duplicate name: {entry.name!r} and {other!r} are one name on "
                                           "case-insensitive or normalising file systems")
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                report.add(relative, None, "is a symbolic link; a bag holds regular files only")
            elif stat.S_ISDIR(mode):
                visit(Path(entry.path), relative + "/")
            elif not stat.S_ISREG(mode):
                report.add(relative, None, "is not a regular file")
            elif relative.startswith("data/"):
                payload.append(relative)
            else:
                tags.append(relative)

    visit(root, "")
    return payload, tags


def _read_text(root: Path, name: str, encoding: str, report: BagReport) -> list[str] | None:
    try:
        raw = (root / name).read_bytes()
    except OSError as exc:
        report.add(name, None, f"cannot be read: {exc.strerror}")
        return None
    if raw.startswith(b"\xef\xbb\xbf"):
        report.add(name, 1, "starts with a byte-order mark")
        return None
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        report.add(name, raw.count(b"\n", 0, exc.start) + 1, f"is not valid {encoding}")
        return None
    if text and not text.endswith("\n"):
        report.add(name, text.count("\n") + 1, "the last line has no line ending")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:-1] if text else []


def _parse_elements(name: str, lines: list[str], report: BagReport) -> list[tuple[str, str]]:
    """`Label: value` elements, with RFC 8493 continuation lines (leading space or tab)."""
    elements: list[tuple[str, str]] = []
    for number, line in enumerate(lines, start=1):
        if line[:1] in (" ", "\t") and elements:
            label, value = elements[-1]
            elements[-1] = (label, value + " " + line.strip())
            continue
        label, colon, value = line.partition(":")
        if not colon or not _LABEL.fullmatch(label):
            report.add(name, number, "not a 'Label: value' line (no space is allowed before the colon)")
        elif value[:1] not in (" ", "\t") or value[1:2] in (" ", "\t") or value != value.rstrip():
            report.add(name, number, "after the colon comes one space or tab, then the value, with no trailing "
                                     "whitespace")
        else:
            elements.append((label, value[1:]))
    return elements


def _check_bagit_txt(root: Path, report: BagReport) -> str | None:
    """The tag files' encoding, or None if bagit.txt is unusable."""
    lines = _read_text(root, "bagit.txt", "utf-8", report)
    if lines is None:
        return None
    before = len(report.problems)
    elements = _parse_elements("bagit.txt", lines, report)
    if len(report.problems) > before:
        return None
    labels = [label for label, _ in elements]
    if labels != ["BagIt-Version", "Tag-File-Character-Encoding"]:
        report.add("bagit.txt", None, "holds exactly BagIt-Version then Tag-File-Character-Encoding")
        return None
    version, encoding = elements[0][1], elements[1][1]
    if version not in _VERSIONS:
        report.add("bagit.txt", 1, f"BagIt-Version {version!r} is not supported (only {', '.join(_VERSIONS)})")
        return None
    try:
        "".encode(encoding)
    except LookupError:
        report.add("bagit.txt", 2, f"unknown character encoding {encoding!r}")
        return None
    return encoding


def unsafe_path(path: str) -> str | None:
    """Why `path` may not appear in a manifest, or None if it may."""
    if path.startswith("/") or re.match(r"[A-Za-z]:", path) or path.startswith("~"):
        return "is an absolute path"
    parts = path.split("/")
    if any(part == ".." for part in parts):
        return "leaves the bag ('..')"
    if any(part in ("", ".") for part in parts):
        return "has an empty or '.' component"
    if "\\" in path or "\x00" in path:
        return "has a backslash or NUL character"
    return None


def _parse_manifest(root: Path, name: str, algorithm: str, encoding: str, report: BagReport,
                    *, payload: bool) -> dict[str, tuple[str, int]]:
    """path -> (lowercase hex digest, line number)."""
    lines = _read_text(root, name, encoding, report)
    listed: dict[str, tuple[str, int]] = {}
    folded: dict[str, str] = {}
    for number, line in enumerate(lines or [], start=1):
        match = re.fullmatch(r"([0-9A-Fa-f]+)[ \t]+(\S.*)", line)
        if match is None:
            report.add(name, number, "not a '<checksum> <path>' line")
            continue
        digest, path = match.group(1).lower(), decode_path(match.group(2))
        if len(digest) != _HEX_SIZE[algorithm]:
            report.add(name, number, f"a {algorithm} checksum has {_HEX_SIZE[algorithm]} hex digits")
            continue
        why = unsafe_path(path)
        if why is not None:
            report.add(name, number, f"{path!r} {why}")
            continue
        if payload != path.startswith("data/"):
            report.add(name, number, f"{path!r}: " + ("a payload manifest lists files under data/ only" if payload
                                                      else "a tag manifest lists no payload file"))
            continue
        if path in listed:
            report.add(name, number, f"{path!r} is listed twice (first on line {listed[path][1]})")
            continue
        other = folded.setdefault(_fold(path), path)
        if other != path:
            report.add(name, number, f"{path!r} and {other!r} are one name on case-insensitive or normalising "
                                     "file systems")
            continue
        listed[path] = (digest, number)
    return listed


def _digests(path: Path, algorithms: Iterable[str]) -> tuple[dict[str, str], int]:
    hashes = {a: ALGORITHMS[a]() for a in algorithms}
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            for h in hashes.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashes.items()}, size


def _check_digests(root: Path, manifests: dict[str, dict[str, tuple[str, int]]], report: BagReport,
                   sizes: dict[str, int] | None, chains: Mapping[str, FileChain] | None = None
                   ) -> dict[str, dict[str, str]]:
    """Hash each listed file once for every manifest naming it; report each mismatch at its line.
    A file with a SHA-256 chain (and only SHA-256 to check) is hashed in chunks, on all cores."""
    by_path: dict[str, dict[str, str]] = {}
    for name, listed in manifests.items():
        for path in listed:
            by_path.setdefault(path, {})[name] = _MANIFEST_NAME.fullmatch(name).group(2)  # type: ignore[union-attr]
    checked: dict[str, dict[str, str]] = {}
    whole: dict[str, Future[tuple[dict[str, str], int]]] = {}
    chunked: dict[str, tuple[FileChain, list[Future[bytes]]]] = {}
    # hashlib and libcrypto release the GIL on large buffers: files, and chunks of a file, are
    # hashed in parallel, one thread per core
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        for path in sorted(by_path):
            chain = (chains or {}).get(path)
            if chain is not None and set(by_path[path].values()) == {"sha256"} and _size(root / path) == chain.size:
                chunked[path] = (chain, [pool.submit(hash_chunk, root / path, chain, n) for n in range(chain.chunks)])
            else:
                whole[path] = pool.submit(_digests, root / path, set(by_path[path].values()))
    for path in sorted(by_path):
        try:
            if path in chunked:
                actual, size = _chunked_digest(root, path, *chunked[path], manifests, report)
            else:
                actual, size = whole[path].result()
        except OSError as exc:
            report.add(path, None, f"cannot be read: {exc.strerror or exc}")
            continue
        if sizes is not None:
            sizes[path] = size
        checked[path] = {}
        for name, algorithm in by_path[path].items():
            expected, line = manifests[name][path]
            if actual[algorithm] != expected:
                report.add(name, line, f"{path}: the {algorithm} digest of the file is {actual[algorithm]}, "
                                       f"the manifest says {expected}")
            checked[path][algorithm] = actual[algorithm]
    return checked


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _chunked_digest(root: Path, path: str, chain: FileChain, futures: list[Future[bytes]],
                    manifests: dict[str, dict[str, tuple[str, int]]], report: BagReport) -> tuple[dict[str, str], int]:
    """The file's SHA-256 from its chunks: when each chunk ends at the next noted state, the last
    one's result is the SHA-256 of the whole file (sha256chain). Otherwise the file is hashed start
    to end, and the chunks that failed are kept in `report.chain_faults`."""
    expected = next(digest for listed in manifests.values() for p, (digest, _) in listed.items() if p == path)
    results = [future.result() for future in futures]
    faults = [n for n, result in enumerate(results) if result != chain.expected(n, bytes.fromhex(expected))]
    if not faults:
        return {"sha256": expected}, chain.size
    actual, size = _digests(root / path, {"sha256"})
    report.chain_faults[path] = (faults, actual["sha256"] == expected)
    return actual, size


def check_bag(root: Path, *, chains: Mapping[str, FileChain] | None = None) -> BagReport:
    """Validate the bag at `root` completely; the report lists every problem found. `chains`: the
    SHA-256 chaining states of payload files (by path), with which they are hashed on all cores."""
    report = BagReport()
    if root.is_symlink() or not root.is_dir():
        report.add("", None, "is not a directory")
        return report
    payload_files, tag_files = _walk(root, report)
    if "bagit.txt" not in tag_files:
        report.add("bagit.txt", None, "is missing: not a bag")
        return report
    encoding = _check_bagit_txt(root, report)
    if encoding is None:
        return report
    if not (root / "data").is_dir() or (root / "data").is_symlink():
        report.add("data", None, "the payload directory is missing")
    if "fetch.txt" in tag_files:
        report.add("fetch.txt", None, "fetch.txt is refused: the bag must be complete")
    if "bag-info.txt" in tag_files:
        lines = _read_text(root, "bag-info.txt", encoding, report)
        report.info = _parse_elements("bag-info.txt", lines or [], report)

    manifests: dict[str, dict[str, tuple[str, int]]] = {}
    tagmanifests: dict[str, dict[str, tuple[str, int]]] = {}
    for name in tag_files:
        match = _MANIFEST_NAME.fullmatch(name)
        if match is None:
            continue
        algorithm = match.group(2)
        if algorithm not in ALGORITHMS:
            report.add(name, None, f"unsupported checksum algorithm {algorithm!r}")
            continue
        target = tagmanifests if match.group(1) else manifests
        target[name] = _parse_manifest(root, name, algorithm, encoding, report, payload=not match.group(1))
    if not manifests:
        report.add("", None, "has no payload manifest (manifest-<algorithm>.txt)")

    on_disk = set(payload_files)
    for name, listed in manifests.items():
        for path in sorted(on_disk - set(listed)):
            report.add(path, None, f"is in the payload but not listed in {name}")
        for path, (_, line) in sorted(listed.items()):
            if path not in on_disk:
                report.add(name, line, f"{path}: listed but not in the bag")
        manifests[name] = {p: v for p, v in listed.items() if p in on_disk}
    tags_on_disk = set(tag_files)
    for name, listed in tagmanifests.items():
        for path, (_, line) in sorted(listed.items()):
            if path not in tags_on_disk:
                report.add(name, line, f"{path}: listed but not in the bag")
        tagmanifests[name] = {p: v for p, v in listed.items() if p in tags_on_disk}

    report.payload = _check_digests(root, manifests, report, report.sizes, chains)
    report.tags = _check_digests(root, tagmanifests, report, None)
    _check_oxum(report, payload_files)
    return report


def _check_oxum(report: BagReport, payload_files: list[str]) -> None:
    for label, value in report.info:
        if label.lower() != "payload-oxum":
            continue
        match = _OXUM.fullmatch(value)
        if match is None:
            report.add("bag-info.txt", None, f"Payload-Oxum {value!r} is not '<octets>.<files>'")
        elif report.sizes and len(report.sizes) == len(payload_files):
            actual = payload_oxum(report.sizes.values())
            if actual != value:
                report.add("bag-info.txt", None, f"Payload-Oxum says {value}; the payload is {actual}")


"""Evidence packages: a BagIt bag whose payload is stored age-encrypted, signed by its authority.

In the blob store, under `packages/<id>/`:

    payload/000000.age …    payload file n (in manifest order), age-encrypted to the recipients
    tags/bagit.txt          the bag's tag files, in the clear
    tags/bag-info.txt
    tags/manifest-sha256.txt        digests of the *plaintext* payload (fixity of the evidence)
    tags/case.jsonld                CASE/UCO provenance graph
    tags/tagmanifest-sha256.txt     digests of the four tag files above
    tags/tagmanifest-sha256.txt.sig the sending authority's signature over the tag manifest

The package digest, which custody entries name, is `sha256:` + SHA-256 of the tag manifest: it
fixes every byte of the bag, and is the same for the stored (encrypted) and exported (decrypted)
forms. `seal` reads each source file once, in chunks: SHA-256 and encryption in one pass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import stat
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from hcx import __version__
from hcx.crypto.age import AgeIdentity, AgeRecipient, decrypt, encrypt
from hcx.crypto.keys import SigningKey
from hcx.domain.ports import BlobStore
from hcx.errors import InvalidInput, VerificationError
from hcx.evidence import bagit, sha256chain
from hcx.evidence.caseuco import CustodyFact, PayloadFile, provenance_graph
from hcx.evidence.signature import SIGNATURE_NAME, sign_manifest

__all__ = ["PACKAGE_TAGS", "OpenedPayload", "PackageMeta", "SealedPackage", "SourceFile", "collect_sources",
           "open_payload", "package_digest", "seal"]

PACKAGE_TAGS: Final = ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "case.jsonld")
TAGMANIFEST: Final = "tagmanifest-sha256.txt"
_CHUNK: Final = 1 << 20
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str  # its name in the bag: "data/…"
    source: Path
    size: int
    blob_key: str | None = None  # read from the blob store (a completed upload), not from `source`
    sha256: str | None = None  # the digest the bytes must have (an upload's declared SHA-256)


@dataclass(frozen=True, slots=True)
class PackageMeta:
    package_id: str
    case_ref: str
    request_ref: str | None
    party: str
    authority_id: str
    authority_name: str
    sealed_at: dt.datetime
    custody: Sequence[CustodyFact] = ()


@dataclass(frozen=True, slots=True)
class SealedPackage:
    digest: str
    files: tuple[PayloadFile, ...]
    payload_bytes: int
    stored_bytes: int
    tags: dict[str, bytes]


def package_digest(tagmanifest: bytes) -> str:
    return "sha256:" + hashlib.sha256(tagmanifest).hexdigest()


def prefix(package_id: str) -> str:
    return f"packages/{package_id}"


def payload_key(package_id: str, number: int) -> str:
    return f"{prefix(package_id)}/payload/{number:06d}.age"


def tag_key(package_id: str, name: str) -> str:
    return f"{prefix(package_id)}/tags/{name}"


# --- choosing the files ----------------------------------------------------------------------

def collect_sources(paths: Sequence[Path]) -> list[SourceFile]:
    """The files to seal, named `data/<name>` (a directory keeps its own name as a prefix).

    Symlinks, special files and names that are one name on another file system are refused before
    anything is written."""
    found: list[SourceFile] = []

    def add(source: Path, name: str) -> None:
        mode = source.lstat().st_mode
        if stat.S_ISLNK(mode):
            raise InvalidInput(f"{source} is a symbolic link; seal the file it points to instead")
        if stat.S_ISDIR(mode):
            for child in sorted(os.scandir(source), key=lambda e: e.name):
                add(Path(child.path), f"{name}/{child.name}")
        elif stat.S_ISREG(mode):
            found.append(SourceFile("data/" + name, source, source.stat().st_size))
        else:
            raise InvalidInput(f"{source} is not a regular file or directory")

    if not paths:
        raise InvalidInput("name at least one file or directory to seal")
    for path in paths:
        try:
            add(path, path.resolve().name if path.name in ("", ".", "..") else path.name)
        except FileNotFoundError as exc:
            raise InvalidInput(f"{path}: no such file or directory") from exc
        except OSError as exc:
            raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
    seen: dict[str, str] = {}
    for file in found:
        if "\x00" in file.path or "\\" in file.path:
            raise InvalidInput(f"{file.source}: a name with a NUL or backslash cannot go into a bag")
        folded = unicodedata.normalize("NFC", file.path).casefold()
        if folded in seen:
            raise InvalidInput(f"two files would be one in the bag: {seen[folded]!r} and {file.path!r}")
        seen[folded] = file.path
    return found


# --- sealing ---------------------------------------------------------------------------------

class _Counting(io.RawIOBase):
    """Reads a source file, telling `progress` how many bytes went by (a raw stream, so that the
    age reader can read its header line by line from it too)."""

    def __init__(self, stream: IO[bytes], progress: Progress | None) -> None:
        super().__init__()
        self._stream, self._progress = stream, progress

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:  # straight into the caller's buffer: no bytes object, no copy
            got = readinto(buffer) or 0
        else:
            data = self._stream.read(len(buffer))
            got = len(data)
            buffer[:got] = data
        if self._progress is not None and got:
            self._progress(got)
        return got

    def readable(self) -> bool:
        return True


def _bag_info(meta: PackageMeta, files: Sequence[PayloadFile]) -> bytes:
    elements = [("Source-Organization", f"{meta.party} {meta.authority_name}"),
                ("Hcx-Package-Id", meta.package_id), ("Hcx-Case-Ref", meta.case_ref)]
    if meta.request_ref:
        elements.append(("Hcx-Request-Ref", meta.request_ref))
    elements += [("Hcx-Sender-Party", meta.party), ("Hcx-Sender-Authority", meta.authority_id),
                 ("Bagging-Date", meta.sealed_at.astimezone(dt.UTC).date().isoformat()),
                 ("Payload-Oxum", bagit.payload_oxum(f.size for f in files)),
                 ("Bag-Software-Agent", f"hcx {__version__}")]
    try:
        return bagit.format_tags(elements)
    except ValueError as exc:
        raise InvalidInput(f"cannot write bag-info.txt: {exc}") from exc


def _open_source(source: SourceFile, blobs: BlobStore) -> AbstractContextManager[IO[bytes]]:
    return blobs.reader(source.blob_key) if source.blob_key is not None else source.source.open("rb")


def seal(sources: Sequence[SourceFile], meta: PackageMeta, *, blobs: BlobStore, recipients: Sequence[AgeRecipient],
         signer: SigningKey, progress: Progress | None = None) -> SealedPackage:
    """Encrypt and hash every source file once into the blob store, then write and sign the tag
    files. On any error every blob written is deleted again."""
    written: list[str] = []
    try:
        files: list[PayloadFile] = []
        stored = 0
        for number, source in enumerate(sources):
            key = payload_key(meta.package_id, number)
            written.append(key)
            with _open_source(source, blobs) as raw, blobs.writer(key) as out:
                result = encrypt(_Counting(raw, progress), out, recipients)  # type: ignore[arg-type]
            if source.sha256 is not None and result.sha256.hex() != source.sha256:
                raise VerificationError(f"{source.path}: read with SHA-256 {result.sha256.hex()}, not the "
                                        f"declared {source.sha256}")
            files.append(PayloadFile(source.path, result.size, result.sha256.hex()))
            stored += blobs.size(key) or 0
        tags = {
            "bagit.txt": bagit.bagit_txt(),
            "bag-info.txt": _bag_info(meta, files),
            "manifest-sha256.txt": bagit.format_manifest((f.path, f.sha256) for f in files),
            "case.jsonld": provenance_graph(
                package_id=meta.package_id, case_ref=meta.case_ref, request_ref=meta.request_ref, party=meta.party,
                authority_id=meta.authority_id, authority_name=meta.authority_name, sealed_at=meta.sealed_at,
                tool_version=__version__, files=files, custody=meta.custody),
        }
        tagmanifest = bagit.format_manifest((name, hashlib.sha256(data).hexdigest()) for name, data in tags.items())
        tags[TAGMANIFEST] = tagmanifest
        tags[SIGNATURE_NAME] = sign_manifest(tagmanifest, party=meta.party, authority=meta.authority_id, key=signer,
                                             at=meta.sealed_at).format()
        keys = [tag_key(meta.package_id, name) for name in tags]
        written += keys
        # each tag blob is made durable on its own (fsync of the file, then of its directory):
        # written side by side, the disk serves those waits together, not twelve in a row
        with ThreadPoolExecutor(max_workers=len(tags), thread_name_prefix="hcx-seal-tags") as pool:
            for done in [pool.submit(_write_blob, blobs, key, data) for key, data in zip(keys, tags.values(),
                                                                                           strict=True)]:
                done.result()
        return SealedPackage(package_digest(tagmanifest), tuple(files), sum(f.size for f in files), stored, tags)
    except BaseException:
        for key in written:
            blobs.delete(key)
        raise


def _write_blob(blobs: BlobStore, key: str, data: bytes) -> None:
    with blobs.writer(key) as out:
        out.write(data)


def discard(package_id: str, files: int, blobs: BlobStore) -> None:
    """Delete a package's blobs (a seal whose database record failed)."""
    for number in range(files):
        blobs.delete(payload_key(package_id, number))
    for name in (*PACKAGE_TAGS, TAGMANIFEST, SIGNATURE_NAME):
        blobs.delete(tag_key(package_id, name))


# --- reading back ----------------------------------------------------------------------------

def read_tags(package_id: str, blobs: BlobStore, digest: str) -> dict[str, bytes]:
    """The stored tag files, checked: the tag manifest is the one of `digest`, and lists each."""
    tags = {}
    for name in (*PACKAGE_TAGS, TAGMANIFEST, SIGNATURE_NAME):
        with blobs.reader(tag_key(package_id, name)) as stream:
            tags[name] = stream.read()
    check_tags(package_id, tags, digest)
    return tags


def check_tags(package_id: str, tags: dict[str, bytes], digest: str) -> None:
    """VerificationError unless `tags` are the tag files of `digest`, each listed, with safe paths."""
    if set(tags) != {*PACKAGE_TAGS, TAGMANIFEST, SIGNATURE_NAME}:
        raise VerificationError(f"package {package_id} needs exactly the tag files "
                                f"{', '.join(sorted((*PACKAGE_TAGS, TAGMANIFEST, SIGNATURE_NAME)))}")
    if package_digest(tags[TAGMANIFEST]) != digest:
        raise VerificationError(f"the stored tag manifest of {package_id} is not the one sealed ({digest})")
    listed = dict(manifest_entries(tags[TAGMANIFEST]))
    for name in PACKAGE_TAGS:
        if listed.get(name) != hashlib.sha256(tags[name]).hexdigest():
            raise VerificationError(f"the stored {name} of {package_id} is not the one sealed")
    for path, _ in manifest_entries(tags["manifest-sha256.txt"]):
        if not path.startswith("data/") or bagit.unsafe_path(path) is not None:
            raise VerificationError(f"the manifest of {package_id} names an unsafe path {path!r}")


def manifest_entries(manifest: bytes) -> list[tuple[str, str]]:
    """(path, hex digest) in manifest order, as `seal` wrote them."""
    entries = []
    for line in manifest.decode("utf-8").splitlines():
        digest, _, path = line.partition("  ")
        entries.append((bagit.decode_path(path), digest))
    return entries


@dataclass(frozen=True, slots=True)
class OpenedPayload:
    size: int
    sha256_states: tuple[bytes, ...] | None  # SHA-256 chaining states every CHUNK_SIZE bytes (sha256chain)


def open_payload(package_id: str, number: int, expected_sha256: str, *, blobs: BlobStore,
                 identities: Sequence[AgeIdentity], dst: IO[bytes], progress: Progress | None = None
                 ) -> OpenedPayload:
    """Decrypt payload file `number` into `dst`; VerificationError unless its digest is the manifest's.
    The same hashing notes the SHA-256 chaining states that let `hcx verify` check the file on
    several cores (none where libcrypto's SHA-256 is not available)."""
    recorder = sha256chain.ChainRecorder() if sha256chain.available() else None
    with blobs.reader(payload_key(package_id, number)) as src:
        result = decrypt(io.BufferedReader(_Counting(src, progress), _CHUNK), dst, identities,  # type: ignore[arg-type]
                         hasher=recorder)
    if result.sha256.hex() != expected_sha256:
        raise VerificationError(f"payload file {number} of package {package_id} decrypts to SHA-256 "
                                f"{result.sha256.hex()}, not the {expected_sha256} of its manifest")
    return OpenedPayload(result.size, tuple(recorder.states) if recorder is not None else None)

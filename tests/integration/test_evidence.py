"""Evidence packages end to end: seal → export → `hcx verify`, on SQLite and PostgreSQL.

Stock tools are the referees where the issue names them: the `bagit` library's validator and
`sha256sum -c` on the exported bag, Debian's `age -d` on a stored payload, `case_validate`
(case-utils) on the provenance graph. Tampering with any verified byte of the folder must make
`verify_folder` fail and name the file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import bagit
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hcx.errors import Conflict, DecryptionError, InvalidInput, NotFound, PolicyDenied, VerificationError
from hcx.evidence import package as pkg
from hcx.evidence import pagecache, sha256chain
from hcx.evidence.verify import VerifyReport, verify_folder
from hcx.services import accounts, custody, evidence, federation
from hcx.services.context import Context
from hcx.storage.blobs import FileBlobStore
from tests.conftest import World

AGE = shutil.which("age")
CASE_VALIDATE = shutil.which("case_validate", path=str(Path(sys.executable).parent))


@pytest.fixture
def ctx(world: World, tmp_path: Path) -> Context:
    return dataclasses.replace(world.ctx, blobs=FileBlobStore(tmp_path / "blobs"))


@pytest.fixture
def evidence_dir(tmp_path: Path) -> Path:
    root = tmp_path / "seized"
    (root / "phone" / "photos").mkdir(parents=True)
    (root / "phone" / "photos" / "IMG_0001.jpg").write_bytes(os.urandom(300_000))
    (root / "phone" / "messages.db").write_bytes(b"SQLite format 3\x00" + os.urandom(70_000))
    (root / "phone" / "notes ü.txt").write_bytes("lừa đảo trực tuyến\n".encode())
    (root / "phone" / "empty.bin").write_bytes(b"")
    return root / "phone"


@pytest.fixture
def exported(ctx: Context, world: World, evidence_dir: Path, tmp_path: Path) -> tuple[evidence.PackageView, Path]:
    view = evidence.seal(ctx, world.officer, [evidence_dir], case_ref="VNM-CASE-2026-17")
    out = tmp_path / "court"
    evidence.export(ctx, world.officer, view.id, out)
    return view, out


def failures(report: VerifyReport) -> list[str]:
    return [f"{c.name}: {c.where} {c.detail}" for c in report.checks if not c.ok]


# --- the happy path --------------------------------------------------------------------------

def test_seal_export_verify(ctx: Context, world: World, exported: tuple[evidence.PackageView, Path],
                            evidence_dir: Path) -> None:
    view, out = exported
    assert view.payload_files == 4 and view.custody_index is not None
    report = verify_folder(out)
    assert report.ok, failures(report)
    assert report.package_id == view.id and report.digest == view.digest
    assert report.trusted[0][0].startswith("node key of VNM")
    assert report.trusted[0][1] == federation.node_fingerprint(ctx)
    assert verify_folder(out, expected_fingerprint=federation.node_fingerprint(ctx)).ok
    # the court gets the very bytes that were seized
    for source in evidence_dir.rglob("*"):
        if source.is_file():
            exported_file = out / "bag" / "data" / "phone" / source.relative_to(evidence_dir)
            assert exported_file.read_bytes() == source.read_bytes()
    # custody: sealed then exported, both naming the package digest
    entries = sorted((out / "custody" / "entries").glob("*.tlog-proof"))
    assert len(entries) == 2
    html = (out / "report.html").read_text()
    assert view.digest in html and "sealed" in html and "exported" in html
    assert evidence.get(ctx, world.officer, view.id).digest == view.digest
    # the export noted SHA-256 chains, and verify used them
    if sha256chain.available():
        chains = sha256chain.parse_chain((out / "hints" / "sha256-chain.txt").read_bytes())
        assert sorted(c.path for c in chains) == sorted(pkg.manifest_entries((out / "bag" / "manifest-sha256.txt")
                                                                             .read_bytes())[i][0] for i in range(4))
        assert any(c.name == "sha256 chain" and c.ok for c in report.checks)


def test_a_wrong_expected_fingerprint_fails(exported: tuple[evidence.PackageView, Path]) -> None:
    report = verify_folder(exported[1], expected_fingerprint="AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA")
    assert not report.ok and any("keys/descriptor.json" in f and "expected" in f for f in failures(report))


def test_stock_tools_agree_bagit_library_and_sha256sum(exported: tuple[evidence.PackageView, Path]) -> None:
    bag = exported[1] / "bag"
    library_bag = bagit.Bag(str(bag))
    library_bag.validate()  # raises BagValidationError if the library disagrees
    assert library_bag.is_valid()
    for manifest in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        checked = subprocess.run(["sha256sum", "--strict", "-c", manifest], cwd=bag, capture_output=True, text=True,
                                 check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.skipif(AGE is None, reason="Debian's age is not installed (.ci/run installs it)")
def test_debian_age_decrypts_a_stored_payload(ctx: Context, world: World, exported: tuple[evidence.PackageView, Path],
                                              tmp_path: Path) -> None:
    view, out = exported
    identity_file = tmp_path / "identity.txt"
    identity_file.write_text(evidence.age_identity(ctx, world.officer.authority_id).secret_text() + "\n")
    identity_file.chmod(0o600)
    entries = pkg.manifest_entries((out / "bag" / "manifest-sha256.txt").read_bytes())
    for number, (path, digest) in enumerate(entries):
        stored = tmp_path / "blobs" / pkg.payload_key(view.id, number)
        plain = subprocess.run([str(AGE), "-d", "-i", str(identity_file), str(stored)], capture_output=True, check=True)
        assert hashlib.sha256(plain.stdout).hexdigest() == digest, path
    assert (tmp_path / "blobs" / pkg.payload_key(view.id, 0)).read_bytes().startswith(b"age-encryption.org/v1\n")


@pytest.mark.skipif(CASE_VALIDATE is None, reason="case-utils is not installed")
def test_the_provenance_graph_passes_case_validate(exported: tuple[evidence.PackageView, Path]) -> None:
    checked = subprocess.run([str(CASE_VALIDATE), str(exported[1] / "case.jsonld")], capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0 and "Conforms: True" in checked.stdout, checked.stdout + checked.stderr


def test_the_descriptor_publishes_the_age_recipient(ctx: Context, world: World,
                                                    exported: tuple[evidence.PackageView, Path]) -> None:
    recipient = str(evidence.age_identity(ctx, world.officer.authority_id).recipient)
    authorities = federation.descriptor(ctx)["document"]["authorities"]
    published = {a["id"]: a.get("age_recipient") for a in authorities}
    assert published[world.officer.authority_id] == recipient
    assert published[world.other_officer.authority_id] is None  # absent, as in older descriptors
    assert exported[0].recipients == [recipient]


# --- tampering -------------------------------------------------------------------------------

def flip(path: Path, offset: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= mask
    path.write_bytes(bytes(data))


def tamper_cases(out: Path) -> dict[str, tuple[Path, int, str]]:
    """name -> (file, offset, what the failure must name)."""
    photo = out / "bag" / "data" / "phone" / "photos" / "IMG_0001.jpg"
    sig = out / "bag" / "tagmanifest-sha256.txt.sig"
    proof = out / "custody" / "entries" / "000000000000.tlog-proof"
    proof_lines = proof.read_bytes().split(b"\n")
    extra_at = len(proof_lines[0]) + 1 + 10
    hash_at = sum(len(line) + 1 for line in proof_lines[:3]) + 5
    checkpoint = out / "custody" / "checkpoint.txt"
    return {
        "payload": (photo, 12345, "data/phone/photos/IMG_0001.jpg"),
        "manifest": (out / "bag" / "manifest-sha256.txt", 3, "manifest-sha256.txt"),
        "tag manifest": (out / "bag" / "tagmanifest-sha256.txt", 3, "tagmanifest-sha256.txt"),
        "signature": (sig, len(sig.read_bytes()) - 20, "tagmanifest-sha256.txt.sig"),
        "custody entry": (proof, extra_at, "custody/entries/000000000000.tlog-proof"),
        "inclusion proof": (proof, hash_at, "custody/entries/000000000000.tlog-proof"),
        "checkpoint": (checkpoint, len(checkpoint.read_bytes().split(b"\n")[0]) + 1, "custody/checkpoint.txt"),
        "descriptor": (out / "keys" / "descriptor.json", 100, "keys/descriptor.json"),
        "provenance graph": (out / "case.jsonld", 50, "case.jsonld"),
    }


@pytest.mark.parametrize("case", ["payload", "manifest", "tag manifest", "signature", "custody entry",
                                  "inclusion proof", "checkpoint", "descriptor", "provenance graph"])
def test_one_flipped_byte_fails_verification_and_names_the_place(exported: tuple[evidence.PackageView, Path],
                                                                 case: str) -> None:
    out = exported[1]
    path, offset, named = tamper_cases(out)[case]
    flip(path, offset)
    report = verify_folder(out)
    assert not report.ok
    assert any(named in f for f in failures(report)), failures(report)


def verified_files(out: Path) -> list[Path]:
    """Every file `hcx verify` vouches for (report.html, FINGERPRINTS.txt and the peer README are
    for people, not evidence)."""
    skip = {"report.html", "FINGERPRINTS.txt", "README.txt"}
    return sorted(p for p in out.rglob("*") if p.is_file() and p.name not in skip and p.stat().st_size)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_byte_flipped_anywhere_is_caught(exported: tuple[evidence.PackageView, Path], tmp_path_factory: pytest.TempPathFactory,
                                            data: st.DataObject) -> None:
    copy = tmp_path_factory.mktemp("tampered") / "court"
    shutil.copytree(exported[1], copy)
    files = verified_files(copy)
    target = data.draw(st.sampled_from(files), label="file")
    offset = data.draw(st.integers(0, target.stat().st_size - 1), label="offset")
    mask = data.draw(st.integers(1, 255), label="xor mask")
    flip(target, offset, mask)
    report = verify_folder(copy)
    assert not report.ok
    relative = target.relative_to(copy).as_posix()
    named = relative.removeprefix("bag/")
    assert any(named in f for f in failures(report)), (relative, failures(report))


def test_a_missing_or_extra_file_fails(exported: tuple[evidence.PackageView, Path]) -> None:
    out = exported[1]
    (out / "custody" / "entries" / "000000000000.tlog-proof").unlink()
    (out / "bag" / "data" / "planted.txt").write_bytes(b"planted")
    found = failures(verify_folder(out))
    assert any("data/planted.txt: is in the payload but not listed" in f for f in found), found
    assert any("custody chain" in f for f in found), found


# --- SHA-256 chains (hints/sha256-chain.txt) -------------------------------------------------

HINTS = "hints/sha256-chain.txt"
SMALL_CHUNK = sha256chain.MIN_CHUNK_SIZE  # the photo of the fixture is 5 chunks of it
needs_chains = pytest.mark.skipif(not sha256chain.available(), reason="libcrypto's SHA-256 is not loadable here")


def rechain(out: Path) -> list[str]:
    """Note the chains of the exported payload again in chunks of 64 KiB (the export's 64 MiB
    chunks would need files of hundreds of MiB to have states); returns the hints file's lines."""
    files = []
    for path, _ in pkg.manifest_entries((out / "bag" / "manifest-sha256.txt").read_bytes()):
        recorder = sha256chain.ChainRecorder(SMALL_CHUNK)
        recorder.update((out / "bag" / path).read_bytes())
        recorder.digest()
        files.append((path, recorder.size, recorder.states))
    data = sha256chain.format_chain(files, SMALL_CHUNK)
    (out / HINTS).write_bytes(data)
    return data.decode().split("\n")


def state_line(lines: list[str], nth: int) -> int:
    """The line number (1-based) of the photo's state `nth` (0-based)."""
    return next(n for n, line in enumerate(lines, start=1) if line.endswith("IMG_0001.jpg")) + 1 + nth


@needs_chains
def test_chunks_hashed_in_parallel_verify_and_an_export_without_hints_still_verifies(
        exported: tuple[evidence.PackageView, Path]) -> None:
    out = exported[1]
    lines = rechain(out)
    assert len(lines) > 8  # the photo has states
    report = verify_folder(out)
    assert report.ok, failures(report)
    assert any(c.name == "sha256 chain" and c.ok and "chunks" in c.detail for c in report.checks)
    (out / HINTS).unlink()  # an export made before hints: every file hashed from start to end
    report = verify_folder(out)
    assert report.ok and not any(c.name == "sha256 chain" for c in report.checks), failures(report)


@needs_chains
@pytest.mark.parametrize("change", ["flipped state", "truncated", "reordered", "wrong chunk size", "size",
                                    "file dropped", "file twice", "other path", "not UTF-8", "states of another file"])
def test_a_hints_file_not_as_exported_fails_and_names_its_line(exported: tuple[evidence.PackageView, Path],
                                                                change: str) -> None:
    out = exported[1]
    lines = rechain(out)
    photo_line = state_line(lines, -1)
    if change == "flipped state":
        at = state_line(lines, 2)
        lines[at - 1] = lines[at - 1][:-1] + ("0" if lines[at - 1][-1] != "0" else "1")
        expected = f"{HINTS}:{at}"
    elif change == "truncated":
        lines = [*lines[: state_line(lines, 1)], ""]
        expected = f"{HINTS}:{state_line(lines, 1) + 1}"
    elif change == "reordered":
        a, b = state_line(lines, 0), state_line(lines, 1)
        lines[a - 1], lines[b - 1] = lines[b - 1], lines[a - 1]
        expected = f"{HINTS}:{a}"
    elif change == "wrong chunk size":
        lines[1] = f"chunk-size {2 * SMALL_CHUNK}"
        expected = f"{HINTS}:"
    elif change == "size":
        label, size, path = lines[photo_line - 1].split(" ", 2)
        lines[photo_line - 1] = f"{label} {int(size) - 1} {path}"
        expected = f"{HINTS}:{photo_line}"
    elif change == "file dropped":
        end = next((n for n in range(photo_line, len(lines)) if lines[n].startswith("file ")), len(lines) - 1)
        lines = lines[: photo_line - 1] + lines[end:]
        expected = f"{HINTS}"
    elif change == "file twice":
        other = next(n for n, line in enumerate(lines) if line.startswith("file ") and line.endswith("empty.bin"))
        lines.insert(other + 1, lines[other])
        expected = f"{HINTS}:{other + 2}"
    elif change == "other path":
        lines[photo_line - 1] = lines[photo_line - 1].replace("IMG_0001.jpg", "IMG_0002.jpg")
        expected = f"{HINTS}:{photo_line}"
    elif change == "not UTF-8":
        lines[photo_line - 1] += "\udcff"
        expected = f"{HINTS}:{photo_line}"
    else:  # the photo's states noted from other bytes of the same size
        photo = out / "bag" / "data" / "phone" / "photos" / "IMG_0001.jpg"
        recorder = sha256chain.ChainRecorder(SMALL_CHUNK)
        recorder.update(os.urandom(photo.stat().st_size))
        recorder.digest()
        for n, state in enumerate(recorder.states):
            lines[state_line(lines, n) - 1] = f"{(n + 1) * SMALL_CHUNK} {state.hex()}"
        expected = f"{HINTS}:{state_line(lines, 0)}"
    (out / HINTS).write_bytes("\n".join(lines).encode("utf-8", "surrogateescape"))
    report = verify_folder(out)
    assert not report.ok
    assert any(f.startswith("sha256 chain: ") and expected in f for f in failures(report)), failures(report)
    # the hints are not evidence: the payload itself is still found intact
    assert not any(f.startswith("bag:") for f in failures(report)), failures(report)


@needs_chains
def test_a_changed_payload_is_named_by_its_byte_range_even_with_hints_noted_from_it(
        exported: tuple[evidence.PackageView, Path]) -> None:
    out = exported[1]
    rechain(out)
    photo = out / "bag" / "data" / "phone" / "photos" / "IMG_0001.jpg"
    flip(photo, 3 * SMALL_CHUNK + 7)
    found = failures(verify_folder(out))
    assert any(f"bytes {3 * SMALL_CHUNK} to {4 * SMALL_CHUNK - 1} (chunk 4 of 5)" in f for f in found), found
    assert any("manifest-sha256.txt" in f and "IMG_0001.jpg" in f for f in found), found
    # the hints noted again from the changed file: each chunk ends where noted but the last,
    # which ends at the changed file's digest, not the signed manifest's
    rechain(out)
    found = failures(verify_folder(out))
    assert any("bag/data/phone/photos/IMG_0001.jpg" in f and "chunk 5 of 5" in f for f in found), found
    assert any("manifest-sha256.txt" in f and "IMG_0001.jpg" in f for f in found), found



@needs_chains
def test_a_payload_file_truncated_while_verify_hashes_it_is_a_failure_not_a_crash(
        exported: tuple[evidence.PackageView, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """After verify compared the sizes: its pages past the new end must never be touched through a
    mapping (SIGBUS would end the process); the chunk is read, and the short read is reported."""
    out = exported[1]
    rechain(out)
    photo = out / "bag" / "data" / "phone" / "photos" / "IMG_0001.jpg"
    real = pagecache.hash_mapped

    def truncating(descriptor: int, start: int, end: int, update: Callable[[int, int], None]) -> int:
        if start == 2 * SMALL_CHUNK and os.fstat(descriptor).st_size > start:
            os.truncate(photo, start + 100)  # someone else, between the size check and the hashing
        return real(descriptor, start, end, update)

    monkeypatch.setattr(pagecache, "hash_mapped", truncating)
    report = verify_folder(out)
    assert not report.ok
    found = failures(report)
    assert any(f.startswith("bag: bag/data/phone/photos/IMG_0001.jpg") and "cannot be read" in f
               and f"ended at byte {2 * SMALL_CHUNK + 100}" in f for f in found), found

# --- refusals leave nothing behind -----------------------------------------------------------

def blobs_of(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] if (tmp_path / "blobs").exists() else []


def test_bad_input_is_refused_before_anything_is_written(ctx: Context, world: World, tmp_path: Path,
                                                         evidence_dir: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        evidence.seal(ctx, world.officer, [tmp_path / "absent"], case_ref="C-1")
    os.symlink(tmp_path / "elsewhere", evidence_dir / "link")
    with pytest.raises(InvalidInput, match="symbolic link"):
        evidence.seal(ctx, world.officer, [evidence_dir], case_ref="C-1")
    (evidence_dir / "link").unlink()
    with pytest.raises(InvalidInput, match="case reference"):
        evidence.seal(ctx, world.officer, [evidence_dir], case_ref="bad\nref")
    a, b = tmp_path / "a" / "same.txt", tmp_path / "b" / "same.txt"
    for path in (a, b):
        path.parent.mkdir()
        path.write_bytes(b"x")
    with pytest.raises(InvalidInput, match="would be one"):
        evidence.seal(ctx, world.officer, [a, b], case_ref="C-1")
    with pytest.raises(PolicyDenied):
        evidence.seal(ctx, world.auditor, [evidence_dir], case_ref="C-1")
    assert not blobs_of(tmp_path)


def test_a_failing_seal_deletes_its_blobs(ctx: Context, world: World, tmp_path: Path, evidence_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise Conflict("the database said no")

    monkeypatch.setattr(evidence.custody, "record", broken)
    with pytest.raises(Conflict):
        evidence.seal(ctx, world.officer, [evidence_dir], case_ref="C-1")
    assert not blobs_of(tmp_path)


def test_export_refuses_a_used_folder_and_other_authorities(ctx: Context, world: World, evidence_dir: Path,
                                                            tmp_path: Path) -> None:
    view = evidence.seal(ctx, world.officer, [evidence_dir], case_ref="C-1")
    used = tmp_path / "used"
    used.mkdir()
    (used / "something").write_text("x")
    with pytest.raises(Conflict):
        evidence.export(ctx, world.officer, view.id, used)
    with pytest.raises(NotFound):
        evidence.export(ctx, world.other_officer, view.id, tmp_path / "other")
    assert not (tmp_path / "other").exists() and not list(tmp_path.glob(".*.partial"))


def test_an_altered_stored_payload_is_refused_at_export(ctx: Context, world: World, evidence_dir: Path,
                                                        tmp_path: Path) -> None:
    view = evidence.seal(ctx, world.officer, [evidence_dir], case_ref="C-1")
    recorded = len(custody.entries_for(ctx, view.id))
    flip(tmp_path / "blobs" / pkg.payload_key(view.id, 1), 500)
    with pytest.raises(DecryptionError, match="failed authentication"):
        evidence.export(ctx, world.officer, view.id, tmp_path / "court")
    assert not (tmp_path / "court").exists() and not list(tmp_path.glob(".*.partial"))
    # an export that never happened is not in the append-only custody log, nor on the audit trail
    assert len(custody.entries_for(ctx, view.id)) == recorded
    assert not [e for e in accounts.list_audit(ctx, limit=100) if e.action == "evidence.exported"]


# --- a package answering a request; the other side's custody slot ----------------------------

def pin_peer_with_age_recipient(ctx: Context, party: str, authority_id: str, recipient: str) -> None:
    from hcx.crypto.keys import SigningKey, b64e
    from hcx.domain.descriptor import DescribedAuthority, DescribedKey, Descriptor

    now = ctx.clock.now()
    node_key = SigningKey.generate().public
    document = Descriptor(party=party, node_url="http://aus.invalid", version=1, issued=now,
                          expires=now + dt.timedelta(days=30), node_key=DescribedKey(kid=node_key.kid,
                                                                                      key=b64e(node_key.raw)),
                          authorities=[DescribedAuthority(id=authority_id, name="AUS Central Authority",
                                                          kind="central_authority", signing_keys=[],
                                                          encryption_keys=[], age_recipient=recipient)])
    with ctx.unit_of_work() as uow:
        uow.add_peer(party=party, url=document.node_url, node_key=node_key.raw, descriptor=document.model_dump(
            mode="json"), descriptor_version=1, expires_at=document.expires, pinned_at=now, refreshed_at=now)
        uow.commit()


@pytest.mark.skipif(AGE is None, reason="Debian's age is not installed (.ci/run installs it)")
def test_a_package_for_a_request_is_encrypted_to_the_requesting_authority_too(
        ctx: Context, world: World, evidence_dir: Path, tmp_path: Path) -> None:
    from hcx.crypto.age import AgeIdentity
    from hcx.domain.lifecycle import Direction
    from hcx.services import requests
    from hcx.services.requests import NewRequest
    from tests.conftest import EXAMPLES

    document = json.loads((EXAMPLES / "mutual_legal_assistance.json").read_text(encoding="utf-8"))
    incoming = requests.create(ctx, world.officer, NewRequest.model_validate({
        "draft": document | {"requesting_party": "AUS", "requested_party": "VNM"}, "direction": Direction.incoming}))
    aus = AgeIdentity.generate()
    pin_peer_with_age_recipient(ctx, "AUS", "AUS-CA", str(aus.recipient))
    with ctx.unit_of_work() as uow:
        record = uow.get_request(incoming.id, authority_id=world.officer.authority_id)
        assert record is not None
        record.counterpart_authority = "AUS-CA"
        uow.commit()

    view = evidence.seal(ctx, world.officer, [evidence_dir / "notes ü.txt"], case_ref="C-9", request_id=incoming.id)
    assert view.request_id == incoming.id and str(aus.recipient) in view.recipients
    identity_file = tmp_path / "aus.txt"
    identity_file.write_text(aus.secret_text() + "\n")
    stored = tmp_path / "blobs" / pkg.payload_key(view.id, 0)
    plain = subprocess.run([str(AGE), "-d", "-i", str(identity_file), str(stored)], capture_output=True, check=True)
    assert plain.stdout == (evidence_dir / "notes ü.txt").read_bytes()
    info = (tmp_path / "blobs" / pkg.tag_key(view.id, "bag-info.txt")).read_text()
    assert f"Hcx-Request-Ref: {incoming.reference}\n" in info
    with pytest.raises(NotFound):
        evidence.seal(ctx, world.officer, [evidence_dir], case_ref="C-9", request_id="01JD0000000000000000000000")


def test_the_other_sides_entries_are_checked_when_present(exported: tuple[evidence.PackageView, Path]) -> None:
    out = exported[1]
    peer = out / "custody" / "peer"
    shutil.copy(out / "custody" / "log.vkey", peer / "log.vkey")  # a stand-in for the peer's log
    shutil.copy(out / "custody" / "checkpoint.txt", peer / "checkpoint.txt")
    for proof in (out / "custody" / "entries").glob("*.tlog-proof"):
        shutil.copy(proof, peer / proof.name)
    report = verify_folder(out)
    assert report.ok, failures(report)
    assert sum(c.name == "custody entry" and c.where.startswith("custody/peer/") for c in report.checks) == 2
    # a checkpoint nobody cosigned holds, but is said (here the stand-in "peer" is this node itself)
    assert any(where == "custody/peer/checkpoint.txt" and "not cosigned" in what for where, what in report.warnings)
    flip(peer / "000000000000.tlog-proof", 40)
    assert any("custody/peer/000000000000.tlog-proof" in f for f in failures(verify_folder(out)))


def test_an_altered_stored_manifest_is_refused_at_export(ctx: Context, world: World, evidence_dir: Path,
                                                         tmp_path: Path) -> None:
    view = evidence.seal(ctx, world.officer, [evidence_dir], case_ref="C-1")
    manifest = tmp_path / "blobs" / pkg.tag_key(view.id, "manifest-sha256.txt")
    manifest.write_bytes(manifest.read_bytes().replace(b"data/phone/", b"data/../../", 1))
    with pytest.raises(VerificationError, match=r"manifest-sha256\.txt"):
        evidence.export(ctx, world.officer, view.id, tmp_path / "court")
    assert not (tmp_path / "court").exists() and not (tmp_path.parent / "phone").exists()

"""`hcx verify FOLDER`: check an exported package offline, with the keys in the folder only.

Trust is anchored in one key: the sending node's key, whose fingerprint the verifier prints (and,
given `expected_fingerprint`, compares) for a person to confirm out of band. From it:

    keys/descriptor.json     signed by the node key            → the authority's signing keys
    bag/…sig                 signed by an authority key in it  → the tag manifest → every file
    hints/sha256-chain.txt   no trust needed: SHA-256 chaining states that let a large payload
                             file be hashed on several cores (sha256chain), the check unchanged
    custody/checkpoint.txt   signed by the node key (origin hcx/<party>), cosigned by witnesses
    custody/entries/*        each entry's commitment is in the checkpoint's tree (inclusion proof)
                             and names this package's digest
    custody/peer/log.vkey    the other side's log key (its fingerprint printed as trusted)
    custody/peer/checkpoint.txt   signed by it, cosigned by the node key above
    custody/peer/*.tlog-proof     the other side's entries, proved to that checkpoint

A checkpoint not cosigned by the other side is a warning (printed, the check still holds): the
entries are proved, but to a checkpoint only one side vouches for.

Every check is run (one failure does not hide the next) and reported with the file, and the line
or field, at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from hcx.crypto.canonical import canonical, parse_json
from hcx.crypto.envelope import verify_document
from hcx.crypto.keys import VerifyKey, b64d, fingerprint, parse_fingerprint
from hcx.domain.descriptor import Descriptor
from hcx.errors import Error
from hcx.evidence.bagit import BagReport, check_bag
from hcx.evidence.package import PACKAGE_TAGS, TAGMANIFEST, package_digest
from hcx.evidence.sha256chain import ChainFormatError, FileChain, available, parse_chain
from hcx.evidence.signature import SIGNATURE_NAME, ManifestSignature, SignatureFormatError
from hcx.ledger.checkpoint import CosignatureVerifier, open_checkpoint
from hcx.ledger.entry import SALT_SIZE, CustodyEntry, CustodyEvent, custody_leaf_hash
from hcx.ledger.note import Ed25519NoteVerifier, Note
from hcx.ledger.proof import TlogProof, verify_tlog_proof

__all__ = ["Check", "VerifyReport", "verify_folder"]

MAX_SMALL_FILE: Final = 4 * 1024 * 1024  # keys, checkpoints, proofs, signatures
MAX_HINTS_FILE: Final = 64 * 1024 * 1024  # about 750,000 chaining states: 48 TiB in 64 MiB chunks
CHAIN_HINTS: Final = "hints/sha256-chain.txt"  # as export.CHAIN_HINTS (export imports jinja2: not here)
PEER: Final = "custody/peer"  # the other side's log: its key, checkpoint and entries
WARNINGS: Final = "custody/WARNINGS.txt"  # as export.WARNINGS: the exporter's own warnings, repeated


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    where: str  # file (and line or field) checked or at fault
    detail: str


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)
    trusted: list[tuple[str, str]] = field(default_factory=list)  # (what, fingerprint)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (where, what): held, but weaker than it could
    package_id: str | None = None
    digest: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def passed(self, name: str, where: str, detail: str = "") -> None:
        self.checks.append(Check(name, True, where, detail))

    def failed(self, name: str, where: str, detail: str) -> None:
        self.checks.append(Check(name, False, where, detail))

    def warn(self, where: str, detail: str) -> None:
        self.warnings.append((where, detail))


def _read(folder: Path, relative: str, report: VerifyReport, name: str, limit: int = MAX_SMALL_FILE) -> bytes | None:
    path = folder / relative
    try:
        if path.is_symlink() or not path.is_file():
            report.failed(name, relative, "missing (or not a regular file)")
            return None
        if path.stat().st_size > limit:
            report.failed(name, relative, f"larger than {limit} bytes")
            return None
        return path.read_bytes()
    except OSError as exc:
        report.failed(name, relative, f"cannot be read: {exc.strerror}")
        return None


def _text(data: bytes, relative: str, report: VerifyReport, name: str) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        report.failed(name, f"{relative}:{line}", "not UTF-8 text")
        return None


def _guard(report: VerifyReport, name: str, where: str, action: Callable[[], str]) -> bool:
    """Run one check; an hcx error is a failure at `where`, with its message."""
    try:
        detail = action()
    except Error as exc:
        report.failed(name, where, exc.message)
        return False
    except (ValueError, KeyError, TypeError) as exc:
        report.failed(name, where, f"malformed: {exc}")
        return False
    report.passed(name, where, detail)
    return True


# --- the parts -------------------------------------------------------------------------------

def _read_chains(folder: Path, report: VerifyReport) -> list[FileChain] | None:
    """The export's SHA-256 chains, or None (no hints file, or one that does not parse: every
    payload file is then hashed from start to end)."""
    path = folder / CHAIN_HINTS
    if not path.exists() and not path.is_symlink():
        return None  # an export made before hints were written
    raw = _read(folder, CHAIN_HINTS, report, "sha256 chain", MAX_HINTS_FILE)
    if raw is None:
        return None
    try:
        return parse_chain(raw)
    except ChainFormatError as exc:
        report.failed("sha256 chain", f"{CHAIN_HINTS}:{exc.line}", f"{exc.message}; the payload is hashed from start "
                                                                  "to end instead")
        return None


def _check_chains(chains: list[FileChain], bag: BagReport, report: VerifyReport, *, used: bool) -> None:
    """The hints file names each payload file once, with its size; chunks that did not end at
    their noted state are named: in the payload if the file's digest is wrong, else in the hints."""
    problems = 0
    seen: dict[str, int] = {}
    for chain in chains:
        where = f"{CHAIN_HINTS}:{chain.line}"
        if chain.path in seen:
            report.failed("sha256 chain", where, f"{chain.path} is named twice (first on line {seen[chain.path]})")
        elif chain.path not in bag.payload:
            report.failed("sha256 chain", where, f"{chain.path} is not a payload file checked in the bag")
        elif bag.sizes.get(chain.path) != chain.size:
            report.failed("sha256 chain", where, f"{chain.path} is {bag.sizes.get(chain.path)} bytes, not "
                                                 f"{chain.size}: its chain was not used")
        else:
            seen[chain.path] = chain.line
            continue
        problems += 1
    missing = sorted(set(bag.payload) - {c.path for c in chains})
    if missing:
        problems += 1
        report.failed("sha256 chain", CHAIN_HINTS, f"no chain for {', '.join(missing)}")
    by_path = {c.path: c for c in chains}
    for path, (faults, intact) in sorted(bag.chain_faults.items()):
        chain = by_path[path]
        for number in faults:
            start, end = chain.span(number)
            span = f"bytes {start} to {end - 1} (chunk {number + 1} of {chain.chunks})"
            if intact:
                lines = [chain.line + n for n in (number, number + 1) if 0 < n < chain.chunks]
                report.failed("sha256 chain", f"{CHAIN_HINTS}:{'/'.join(map(str, lines)) or chain.line}",
                              f"a noted state of {path} is wrong ({span} do not end where noted); the file "
                              "itself, hashed start to end, has its manifest's digest")
            else:
                report.failed("bag", f"bag/{path}", f"{span}: not the bytes exported (the SHA-256 state at the "
                                                    "end of this range differs); the file's digest is wrong")
        problems += 1
    if not problems and not used:
        report.passed("sha256 chain", CHAIN_HINTS, "names every payload file with its size; not used (libcrypto's "
                                                   "SHA-256 is not loadable here): each file hashed start to end")
    elif not problems:
        chunks = sum(c.chunks for c in chains)
        report.passed("sha256 chain", CHAIN_HINTS, f"{len(chains)} payload files hashed in {chunks} chunks in "
                                                   "parallel; each chunk ended at its noted state, so each file's "
                                                   "SHA-256 is the one computed start to end")


def _check_bag(folder: Path, report: VerifyReport) -> None:
    chains = _read_chains(folder, report)
    used = chains is not None and available()  # without libcrypto's SHA-256, hashed start to end
    bag = check_bag(folder / "bag", chains={c.path: c for c in chains} if used and chains is not None else None)
    for problem in bag.problems:
        report.failed("bag", f"bag/{problem}".replace("bag/(bag)", "bag"), "")
    if bag.valid:
        report.passed("bag", "bag/", f"BagIt 1.0 valid: {len(bag.payload)} payload files, every digest right")
    if chains is not None:
        _check_chains(chains, bag, report, used=used)
    listed = set(bag.tags)
    for name in PACKAGE_TAGS:
        if name not in listed:
            report.failed("package layout", f"bag/{TAGMANIFEST}", f"does not list {name}")
    extra = sorted(p.name for p in (folder / "bag").iterdir() if p.is_file()) if (folder / "bag").is_dir() else []
    unlisted = [n for n in extra if n not in listed and n not in (TAGMANIFEST, SIGNATURE_NAME)]
    if unlisted:
        report.failed("package layout", "bag/", f"tag files outside the signed tag manifest: {', '.join(unlisted)}")
    for label, value in bag.info:
        if label == "Hcx-Package-Id":
            report.package_id = value


def _check_descriptor(folder: Path, report: VerifyReport, expected: str | None) -> Descriptor | None:
    where = "keys/descriptor.json"
    raw = _read(folder, where, report, "node descriptor")
    if raw is None:
        return None
    found: list[Descriptor] = []

    def check() -> str:
        signed: Any = parse_json(raw)
        if canonical(signed) != raw:
            raise ValueError("not in RFC 8785 canonical form: its bytes were changed")
        key = VerifyKey(b64d(signed["document"]["node_key"]["key"]))
        document = Descriptor.model_validate(verify_document("descriptor", signed, key))
        node_fingerprint = fingerprint(key.raw)
        report.trusted.append((f"node key of {document.party} (signs the descriptor and the custody log)",
                               node_fingerprint))
        if expected is not None and parse_fingerprint(expected) != node_fingerprint:
            raise ValueError(f"the node key's fingerprint is {node_fingerprint}, not the expected "
                             f"{parse_fingerprint(expected)}")
        found.append(document)
        return f"signed by the node key of {document.party}, version {document.version}"

    _guard(report, "node descriptor", where, check)
    return found[0] if found else None


def _check_signature(folder: Path, report: VerifyReport, descriptor: Descriptor | None) -> None:
    where = f"bag/{SIGNATURE_NAME}"
    raw = _read(folder, where, report, "manifest signature")
    tagmanifest = _read(folder, f"bag/{TAGMANIFEST}", report, "manifest signature")
    if raw is None or tagmanifest is None:
        return
    report.digest = package_digest(tagmanifest)
    try:
        signature = ManifestSignature.parse(raw)
    except SignatureFormatError as exc:
        report.failed("manifest signature", f"{where}:{exc.line}", exc.message)
        return
    if descriptor is None:
        report.failed("manifest signature", where, "no verified node descriptor to find the authority's key in")
        return
    authority = descriptor.authority(signature.authority)
    if descriptor.party != signature.party or authority is None:
        report.failed("manifest signature", f"{where}:3", f"authority {signature.party}/{signature.authority} is "
                                                          "not in the node descriptor")
        return
    if not any(k.kid == signature.key.kid and b64d(k.key) == signature.key.raw for k in authority.signing_keys):
        report.failed("manifest signature", f"{where}:4", f"key {signature.key.kid} is not a signing key of "
                                                          f"authority {signature.authority} in the descriptor")
        return
    report.trusted.append((f"signing key of authority {signature.authority} ({authority.name})",
                           signature.key.fingerprint))

    def check() -> str:
        signature.verify(tagmanifest)
        return f"by {signature.party}/{authority.name}, key {signature.key.kid}, at {signature.signed_at}"

    _guard(report, "manifest signature", f"{where}:6", check)


def _check_case(folder: Path, report: VerifyReport) -> None:
    top, inner = folder / "case.jsonld", folder / "bag" / "case.jsonld"
    try:
        same = top.read_bytes() == inner.read_bytes()
    except OSError:
        same = False
    if same:
        report.passed("provenance graph", "case.jsonld", "the same bytes as the signed bag/case.jsonld")
    else:
        report.failed("provenance graph", "case.jsonld", "missing or not the same as the signed bag/case.jsonld")


def _verifiers(folder: Path, report: VerifyReport, descriptor: Descriptor | None
               ) -> tuple[Ed25519NoteVerifier | None, list[CosignatureVerifier]]:
    log_key = None
    if descriptor is not None:
        log_key = Ed25519NoteVerifier(f"hcx/{descriptor.party}", VerifyKey(b64d(descriptor.node_key.key)))
        raw = _read(folder, "custody/log.vkey", report, "custody log key")
        if raw is not None:
            if raw == (log_key.vkey() + "\n").encode():
                report.passed("custody log key", "custody/log.vkey", f"{log_key.name}, the descriptor's node key")
            else:
                report.failed("custody log key", "custody/log.vkey:1", "is not the descriptor's node key")
    witnesses: list[CosignatureVerifier] = []
    raw = _read(folder, "custody/witnesses.vkeys", report, "witness keys")
    text = _text(raw, "custody/witnesses.vkeys", report, "witness keys") if raw is not None else None
    lines = (text or "").split("\n")
    if lines[-1] != "":
        report.failed("witness keys", f"custody/witnesses.vkeys:{len(lines)}", "the last line has no line feed")
    for number, line in enumerate(lines[:-1], start=1):
        try:
            witness = CosignatureVerifier.from_vkey(line)
        except Error as exc:
            report.failed("witness keys", f"custody/witnesses.vkeys:{number}", exc.message)
            continue
        witnesses.append(witness)
        report.trusted.append((f"cosigner key of {witness.name} (a witness)", fingerprint(witness.public.raw)))
    return log_key, witnesses


def _foreign_signatures(note: Note, known: list[tuple[str, bytes]]) -> list[tuple[int, str]]:
    """(line, name) of each signature on a checkpoint by no key this folder holds. An export keeps
    only the signatures its keys check, so another one is a changed line, not a stranger's."""
    first = note.text.count("\n") + 2  # the text's lines, then the blank line
    return [(first + n, s.name) for n, s in enumerate(note.signatures) if (s.name, s.key_id) not in set(known)]


def _check_checkpoint(name: str, where: str, text: str, log_key: Ed25519NoteVerifier, witnesses: list[CosignatureVerifier],
                      other: CosignatureVerifier | None, report: VerifyReport) -> None:
    """Signed by the log key; every other signature a valid cosignature by a known witness; and,
    when the other side's key is known, cosigned by it (else a warning: weaker, not false)."""
    found: list[Note] = []

    def check() -> str:
        checkpoint, note = open_checkpoint(text, [log_key], origin=log_key.name)
        found.append(note)
        cosigned = [w.name for w in witnesses if w.cosignatures(note)]
        return (f"{checkpoint.origin} size {checkpoint.size}, signed by the log key; cosigned by "
                f"{', '.join(cosigned) or 'no known witness'}")

    if not _guard(report, name, where, check):
        return
    note = found[0]
    known = [(log_key.name, log_key.key_id), *((w.name, w.key_id) for w in witnesses)]
    for line, signer in _foreign_signatures(note, known):
        report.failed(name, f"{where}:{line}", f"a signature by {signer!r} whose key ID is no key of this "
                                               "folder's (a changed line?)")
    if other is not None and not any(w.name == other.name and w.key_id == other.key_id and w.cosignatures(note)
                                     for w in witnesses):
        report.warn(where, f"not cosigned by {other.name}, the other side: its entries are proved to a checkpoint "
                           "the other side did not vouch for")
    elif other is None and not any(w.cosignatures(note) for w in witnesses):
        report.warn(where, "cosigned by no witness: the log's checkpoint is vouched for by no peer")


def _check_custody(folder: Path, report: VerifyReport, descriptor: Descriptor | None,
                   other: CosignatureVerifier | None) -> list[str]:
    """The node's own log: checkpoint, entries, chain. Returns the verified entries' events."""
    log_key, witnesses = _verifiers(folder, report, descriptor)
    where = "custody/checkpoint.txt"
    raw = _read(folder, where, report, "checkpoint")
    checkpoint_text = _text(raw, where, report, "checkpoint") if raw is not None else None
    if log_key is None or checkpoint_text is None:
        if log_key is None:
            report.failed("checkpoint", where, "no verified node key to check the checkpoint with")
        return []
    _check_checkpoint("checkpoint", where, checkpoint_text, log_key, witnesses, other, report)
    entries_dir = folder / "custody" / "entries"
    proofs = sorted(entries_dir.glob("*.tlog-proof")) if entries_dir.is_dir() else []
    events: list[str] = []
    for path in proofs:
        relative = f"custody/entries/{path.name}"
        data = _read(folder, relative, report, "custody entry")
        text = _text(data, relative, report, "custody entry") if data is not None else None
        if text is not None:
            _check_proof(relative, text, checkpoint_text, log_key, witnesses, report, events)
    if not any(e in (CustodyEvent.sealed, CustodyEvent.received) for e in events):
        report.failed("custody chain", "custody/entries/", "no verified 'sealed' or 'received' entry for the package")
    else:
        report.passed("custody chain", "custody/entries/", f"{len(events)} entries: {', '.join(events)}")
    return events


def _check_proof(relative: str, text: str, checkpoint_text: str | None, log_key: Ed25519NoteVerifier,
                 witnesses: list[CosignatureVerifier], report: VerifyReport, events: list[str]) -> None:
    try:
        proof = TlogProof.parse(text)
    except Error as exc:
        line = _failing_line(text, exc.message)
        report.failed("custody entry", f"{relative}:{line}" if line else relative, exc.message)
        return
    if proof.extra is None or len(proof.extra) <= SALT_SIZE:
        report.failed("custody entry", f"{relative}:2", "carries no entry (erased?): its commitment cannot be checked")
        return
    salt, entry_bytes = proof.extra[:SALT_SIZE], proof.extra[SALT_SIZE:]
    try:
        entry = CustodyEntry.parse(entry_bytes)
    except Error as exc:
        report.failed("custody entry", f"{relative}:2 (extra)", exc.message)
        return
    problems = []
    if report.package_id is not None and entry.ref != report.package_id:
        problems.append(f"field ref: {entry.ref!r} is not this package ({report.package_id})")
    if report.digest is not None and entry.object_digest != report.digest:
        problems.append(f"field object: {entry.object_digest} is not this package's digest {report.digest}")
    if checkpoint_text is not None and proof.checkpoint != checkpoint_text:
        beside = f"{PEER}/checkpoint.txt" if relative.startswith(PEER + "/") else "custody/checkpoint.txt"
        problems.append(f"its checkpoint is not {beside}")
    for problem in problems:
        report.failed("custody entry", f"{relative}:2 (extra)", problem)
    if problems:
        return

    def check() -> str:
        verify_tlog_proof(proof, custody_leaf_hash(salt, entry_bytes), log=[log_key], origin=log_key.name,
                          witnesses=witnesses)
        return f"entry {proof.index} '{entry.event.value}' at {entry.as_dict()['at']} is in the checkpoint"

    if _guard(report, "custody entry", f"{relative}:3 (index {proof.index})", check):
        events.append(entry.event.value)


def _failing_line(text: str, message: str) -> int | None:
    """The line a proof parse error names ('inclusion proof line N' counts from the index line)."""
    lines = text.split("\n")
    if "inclusion proof line" in message:
        index_line = next((n for n, line in enumerate(lines, start=1) if line.startswith("index ")), 2)
        number = int(message.split("inclusion proof line")[1].split()[0].strip(":,"))
        return index_line + number
    if "index" in message:
        return next((n for n, line in enumerate(lines, start=1) if not line.startswith(("c2sp", "extra "))), None)
    if "extra" in message:
        return 2
    return 1


def verify_folder(folder: Path, *, expected_fingerprint: str | None = None) -> VerifyReport:
    """Check everything in an exported folder; the report says what held and what did not."""
    report = VerifyReport()
    if not folder.is_dir():
        report.failed("folder", str(folder), "is not a directory")
        return report
    _check_bag(folder, report)
    descriptor = _check_descriptor(folder, report, expected_fingerprint)
    _check_signature(folder, report, descriptor)
    _check_case(folder, report)
    peer_key = _peer_log_key(folder, report)
    other = CosignatureVerifier(peer_key.name, peer_key.public) if peer_key is not None else None
    _exporter_warnings(folder, report)
    events = _check_custody(folder, report, descriptor, other)
    if peer_key is not None:
        _check_peer_custody(folder, report, peer_key, descriptor)
    elif CustodyEvent.sent.value in events:
        report.warn(f"{PEER}/", "the package was sent to the other side, but this folder holds none of its "
                                "custody entries")
    return report


def _exporter_warnings(folder: Path, report: VerifyReport) -> None:
    """What the node said it could not do at export (not evidence: the checks below stand alone,
    and find a checkpoint the other side did not cosign whether or not this file says so)."""
    if not (folder / WARNINGS).is_file():
        return
    raw = _read(folder, WARNINGS, report, "export warnings")
    text = _text(raw, WARNINGS, report, "export warnings") if raw is not None else None
    for number, line in enumerate((text or "").splitlines(), start=1):
        if line.strip():
            report.warn(f"{WARNINGS}:{number}", f"the export says: {line.strip()}")


def _peer_log_key(folder: Path, report: VerifyReport) -> Ed25519NoteVerifier | None:
    """The other side's log key (custody/peer/log.vkey), when the folder holds the other side's
    entries; None for a package never exchanged (custody/peer/ has its README only)."""
    peer = folder / PEER
    if not peer.is_dir() or not any(p.name != "README.txt" for p in peer.iterdir()):
        return None
    raw = _read(folder, f"{PEER}/log.vkey", report, "peer custody")
    if raw is None:
        return None
    try:
        key = Ed25519NoteVerifier.from_vkey(raw.decode("ascii").removesuffix("\n"))
    except (Error, UnicodeDecodeError) as exc:
        report.failed("peer custody", f"{PEER}/log.vkey:1", getattr(exc, "message", str(exc)))
        return None
    report.trusted.append((f"node key of the other side's log {key.name}", fingerprint(key.public.raw)))
    return key


def _check_peer_custody(folder: Path, report: VerifyReport, key: Ed25519NoteVerifier,
                        descriptor: Descriptor | None) -> None:
    """The other side's entries: its checkpoint signed by its log key and cosigned by this
    folder's node (whose key the descriptor vouches for), and each entry proved to it."""
    where = f"{PEER}/checkpoint.txt"
    raw = _read(folder, where, report, "peer checkpoint")
    checkpoint_text = _text(raw, where, report, "peer checkpoint") if raw is not None else None
    ours = None
    if descriptor is not None:
        ours = CosignatureVerifier(f"hcx/{descriptor.party}", VerifyKey(b64d(descriptor.node_key.key)))
    if checkpoint_text is not None:
        _check_checkpoint("peer checkpoint", where, checkpoint_text, key, [ours] if ours else [], ours, report)
    events: list[str] = []
    for path in sorted((folder / PEER).glob("*.tlog-proof")):
        relative = f"{PEER}/{path.name}"
        data = _read(folder, relative, report, "peer custody entry")
        text = _text(data, relative, report, "peer custody entry") if data is not None else None
        if text is not None and checkpoint_text is not None:
            _check_proof(relative, text, checkpoint_text, key, [ours] if ours else [], report, events)
    if events:
        report.passed("peer custody", f"{PEER}/", f"{len(events)} entries of {key.name}: {', '.join(events)}")
    else:
        report.warn(f"{PEER}/", f"no entry of {key.name} about the package")


def as_json(report: VerifyReport) -> dict[str, Any]:
    return {"ok": report.ok, "package": report.package_id, "digest": report.digest,
            "trusted": [{"key": what, "fingerprint": fp} for what, fp in report.trusted],
            "warnings": [{"where": where, "warning": what} for where, what in report.warnings],
            "checks": [{"check": c.name, "ok": c.ok, "where": c.where, "detail": c.detail} for c in report.checks]}

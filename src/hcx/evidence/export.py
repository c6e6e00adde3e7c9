"""The court folder of a package: everything `hcx verify` needs, and a report a judge can read.

    bag/                      a BagIt 1.0 bag, payload decrypted; tag files as sealed, including
                              case.jsonld and tagmanifest-sha256.txt.sig (the authority's signature)
    keys/descriptor.json      the sending node's signed descriptor (RFC 8785 JSON): its node key, and the authority's
                              signing key the signature names
    keys/FINGERPRINTS.txt     the fingerprints to confirm out of band
    custody/checkpoint.txt    the node's signed custody-log checkpoint (with cosignatures)
    custody/log.vkey          the log's verifier key (= the node key; `hcx log verify` takes it)
    custody/witnesses.vkeys   cosigner keys of the node's peers, one per line
    custody/entries/<index>.tlog-proof   one c2sp.org/tlog-proof per custody entry of the package
    custody/peer/log.vkey     the other side's log verifier key (when the package was exchanged)
    custody/peer/checkpoint.txt   the other side's checkpoint, cosigned by the node above
    custody/peer/<index>.tlog-proof   the other side's entries about the package, proved to it
    custody/WARNINGS.txt      what the export could not do (the other side unreachable), if anything
    hints/sha256-chain.txt    SHA-256 chaining states of the payload files, noted while decrypting
                              them: `hcx verify` hashes a large file on several cores with them
                              (sha256chain; not evidence: a wrong state can only fail a check)
    case.jsonld               the provenance graph (a copy of bag/case.jsonld)
    report.html               the human report
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from hcx.crypto.canonical import canonical
from hcx.crypto.keys import VerifyKey, b64d, fingerprint
from hcx.evidence import sha256chain
from hcx.evidence.package import PACKAGE_TAGS, TAGMANIFEST, OpenedPayload, manifest_entries
from hcx.evidence.signature import SIGNATURE_NAME, ManifestSignature
from hcx.ledger.entry import SALT_SIZE, CustodyEntry
from hcx.ledger.proof import TlogProof

__all__ = ["CHAIN_HINTS", "PEER_README", "WARNINGS", "ExportInput", "PeerRecords", "render_report", "write_bag", "write_records"]

PEER_README: Final = """The other side's custody entries for this package go here, one c2sp.org/tlog-proof
per entry (<index>.tlog-proof), with its log verifier key in log.vkey and the checkpoint they are
proved to in checkpoint.txt (signed by that log, cosigned by the node of custody/log.vkey). A
package sealed here and never exchanged has none. `hcx verify` checks whatever this folder holds.
"""
CHAIN_HINTS: Final = "hints/sha256-chain.txt"
WARNINGS: Final = "custody/WARNINGS.txt"  # what the export could not do, one per line (for people)
PayloadWriter = Callable[[int, str, IO[bytes]], OpenedPayload]


@dataclass(frozen=True, slots=True)
class PeerRecords:
    """The other side's log: its verifier key, its checkpoint (cosigned by this side) and proofs."""

    log_vkey: str
    checkpoint: str
    proofs: Sequence[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class ExportInput:
    package_id: str
    case_ref: str
    party: str
    authority_name: str
    digest: str
    tags: dict[str, bytes]
    sealed_at: dt.datetime
    exported_at: dt.datetime
    checkpoint: str
    log_vkey: str
    witness_vkeys: Sequence[str]
    proofs: Sequence[tuple[int, str]]
    descriptor: dict[str, Any]
    tool_version: str
    peer: PeerRecords | None = None
    warnings: Sequence[str] = ()  # what the export could not do (a peer unreachable), for the report


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("xb") as stream:  # never over an existing file
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def write_bag(folder: Path, tags: dict[str, bytes], *, payload: PayloadWriter) -> list[dict[str, Any]]:
    """The bag (tag files and the decrypted payload): the long part of an export, which may fail.
    Returns the files written (path, size, sha256) for `write_records`."""
    bag = folder / "bag"
    for name in (*PACKAGE_TAGS, TAGMANIFEST, SIGNATURE_NAME):
        _write(bag / name, tags[name])
    (bag / "data").mkdir(exist_ok=True)
    files = []
    for number, (path, digest) in enumerate(manifest_entries(tags["manifest-sha256.txt"])):
        target = bag / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("xb") as stream:
            opened = payload(number, digest, stream)
            stream.flush()
            os.fsync(stream.fileno())
        files.append({"path": path, "size": opened.size, "sha256": digest, "sha256_states": opened.sha256_states})
    return files


def write_records(folder: Path, data: ExportInput, files: list[dict[str, Any]]) -> None:
    """Keys, custody (checkpoint and proofs, the "exported" entry's included), case and report:
    written once the bag is whole and its custody entry recorded."""
    signature = ManifestSignature.parse(data.tags[SIGNATURE_NAME])
    node_key = VerifyKey(b64d(data.descriptor["document"]["node_key"]["key"]))
    _write(folder / "keys" / "descriptor.json", canonical(data.descriptor))  # exact bytes: RFC 8785
    _write(folder / "keys" / "FINGERPRINTS.txt", (
        f"node key of {data.party} (signs the descriptor and the custody log): {fingerprint(node_key.raw)}\n"
        f"authority {signature.authority} signing key (signs the tag manifest): {signature.key.fingerprint}\n"
        "Confirm the node key's fingerprint with the sending State out of band (the directory, a letter, "
        "a call):\nevery other key in this folder is vouched for by it.\n").encode())
    _write(folder / "custody" / "checkpoint.txt", data.checkpoint.encode())
    _write(folder / "custody" / "log.vkey", (data.log_vkey + "\n").encode())
    _write(folder / "custody" / "witnesses.vkeys", "".join(v + "\n" for v in data.witness_vkeys).encode())
    for index, proof in data.proofs:
        _write(folder / "custody" / "entries" / f"{index:012d}.tlog-proof", proof.encode())
    _write(folder / "custody" / "peer" / "README.txt", PEER_README.encode())
    if data.peer is not None:
        peer = folder / "custody" / "peer"
        _write(peer / "log.vkey", (data.peer.log_vkey + "\n").encode())
        _write(peer / "checkpoint.txt", data.peer.checkpoint.encode())
        for index, proof in data.peer.proofs:
            _write(peer / f"{index:012d}.tlog-proof", proof.encode())
    if data.warnings:
        _write(folder / WARNINGS, "".join(" ".join(w.split()) + "\n" for w in data.warnings).encode())
    _write(folder / "case.jsonld", data.tags["case.jsonld"])
    if all(f.get("sha256_states") is not None for f in files):
        _write(folder / CHAIN_HINTS, sha256chain.format_chain((f["path"], f["size"], f["sha256_states"]) for f in files))
    _write(folder / "report.html", render_report(data, files, signature, fingerprint(node_key.raw)).encode())


def _custody_rows(proofs: Sequence[tuple[int, str]]) -> list[dict[str, str]]:
    rows = []
    for index, text in proofs:
        proof = TlogProof.parse(text)
        if proof.extra is None or len(proof.extra) <= SALT_SIZE:
            rows.append({"index": str(index), "event": "(erased)", "at": "", "role": "", "object": ""})
            continue
        entry = CustodyEntry.parse(proof.extra[SALT_SIZE:]).as_dict()
        rows.append({"index": str(index), "event": entry["event"], "at": entry["at"], "role": entry["role"],
                     "object": entry["object"]})
    return rows


def render_report(data: ExportInput, files: list[dict[str, Any]], signature: ManifestSignature,
                  node_fingerprint: str) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape  # late: `hcx verify` never renders

    environment = Environment(loader=PackageLoader("hcx.evidence", "templates"),
                              autoescape=select_autoescape(default=True, default_for_string=True))
    template = environment.get_template("report.html.j2")
    peer = data.peer
    return template.render(data=data, files=files, signature=signature, node_fingerprint=node_fingerprint,
                           custody=_custody_rows(data.proofs), checkpoint_lines=data.checkpoint.split("\n")[:3],
                           peer_name=peer.log_vkey.split("+")[0] if peer else None,
                           peer_custody=_custody_rows(peer.proofs) if peer else [],
                           peer_checkpoint_lines=peer.checkpoint.split("\n")[:3] if peer else [])

"""c2sp.org/tlog-proof@v1: an offline proof that an entry is in a log, as one text file.

    c2sp.org/tlog-proof@v1
    extra <base64 of salt || canonical custody entry>      (optional)
    index 73894
    <base64 inclusion proof hashes, leaf sibling first, one per line>

    <the signed checkpoint, cosignatures included, verbatim>

hcx puts the entry's salt and canonical bytes in `extra`: unauthenticated on its own, but the
verifier recomputes the leaf hash from it, so a changed byte fails the inclusion proof. After
lawful erasure there is nothing to put there, and the proof carries the leaf hash alone.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from hcx.errors import InvalidInput, InvalidSignature
from hcx.ledger.checkpoint import Checkpoint, CosignatureVerifier, open_checkpoint
from hcx.ledger.merkle import verify_inclusion
from hcx.ledger.note import Verifier, b64decode_strict

__all__ = ["TLOG_PROOF_HEADER", "TlogProof", "VerifiedProof", "verify_tlog_proof"]

TLOG_PROOF_HEADER: Final = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"index (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True)
class TlogProof:
    index: int
    proof: tuple[bytes, ...]
    checkpoint: str  # the signed note, verbatim
    extra: bytes | None = None

    def format(self) -> str:
        lines = [TLOG_PROOF_HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode("ascii"))
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(h).decode("ascii") for h in self.proof)
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def parse(cls, text: str) -> TlogProof:
        head, blank, checkpoint = text.partition("\n\n")
        lines = head.split("\n")
        if not blank or lines[0] != TLOG_PROOF_HEADER:
            raise InvalidInput(f"not a tlog proof: it starts with {TLOG_PROOF_HEADER!r} and has a blank line")
        position, extra = 1, None
        if len(lines) > 1 and lines[1].startswith("extra "):
            extra = b64decode_strict(lines[1][len("extra "):], "the proof's extra data")
            position = 2
        match = _INDEX.fullmatch(lines[position]) if len(lines) > position else None
        if match is None:
            raise InvalidInput("a tlog proof names its entry on a line 'index <decimal>'")
        proof = tuple(b64decode_strict(line, f"inclusion proof line {n}")
                      for n, line in enumerate(lines[position + 1:], start=1))
        return cls(int(match.group(1)), proof, checkpoint, extra)


@dataclass(frozen=True)
class VerifiedProof:
    checkpoint: Checkpoint
    witnesses: tuple[str, ...]  # the names of the cosigners whose cosignatures verified


def verify_tlog_proof(proof: TlogProof, leaf: bytes, *, log: Sequence[Verifier], origin: str | None = None,
                      witnesses: Sequence[CosignatureVerifier] = (), min_witnesses: int = 0) -> VerifiedProof:
    """The four steps of the spec, in order; raise at the first that fails. `leaf` is the RFC
    6962 leaf hash the caller computed (step 1, application specific)."""
    checkpoint, note = open_checkpoint(proof.checkpoint, log, origin=origin)
    cosigned = tuple(w.name for w in witnesses if w.cosignatures(note))
    if len(cosigned) < min_witnesses:
        raise InvalidSignature(f"the checkpoint has {len(cosigned)} known cosignatures; the policy asks for "
                               f"{min_witnesses}")
    verify_inclusion(proof.index, checkpoint.size, leaf, proof.proof, checkpoint.root)
    return VerifiedProof(checkpoint, cosigned)

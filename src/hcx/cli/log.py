"""`hcx log`: the node's custody log — sign a checkpoint, prove an entry, verify a proof offline.

`hcx log verify` opens no node and no database: it needs the proof file and the public keys
(`hcx log vkey` prints them), so a court can run it on its own machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hcx.cli.node import Node
from hcx.cli.options import JsonOpt
from hcx.cli.output import console, print_json, table
from hcx.errors import InvalidInput
from hcx.ledger.checkpoint import CosignatureVerifier
from hcx.ledger.entry import SALT_SIZE, CustodyEntry, custody_leaf_hash
from hcx.ledger.note import Ed25519NoteVerifier
from hcx.ledger.proof import TlogProof, verify_tlog_proof
from hcx.services import custody, witness

app = typer.Typer(help="The custody log: checkpoints and proofs.", no_args_is_help=True)
MAX_PROOF_BYTES = 1_048_576


@app.command("checkpoint")
def checkpoint_cmd(ctx: typer.Context) -> None:
    """Sign (if the log grew) and print the current checkpoint, with the cosignatures received."""
    node: Node = ctx.obj
    print(custody.checkpoint(node.context()), end="")


@app.command("vkey")
def vkey_cmd(ctx: typer.Context) -> None:
    """Print this log's verifier key and this node's cosigner key, to publish out of band."""
    node: Node = ctx.obj
    context = node.context()
    print(custody.log_vkey(context))
    print(custody.cosigner_vkey(context))


@app.command("prove")
def prove_cmd(
    ctx: typer.Context,
    index: Annotated[int, typer.Argument(help="the entry's index in the log")],
    size: Annotated[int | None, typer.Option(help="prove in the checkpoint of this size (default: the latest)")] = None,
    out: Annotated[Path | None, typer.Option(help="write the .tlog-proof file here instead of stdout")] = None,
) -> None:
    """Print a c2sp.org/tlog-proof that entry INDEX is in a signed checkpoint."""
    node: Node = ctx.obj
    text = custody.prove_inclusion(node.context(), index, size).format()
    if out is None:
        print(text, end="")
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}", highlight=False)


@app.command("verify")
def verify_cmd(
    proof_file: Annotated[Path, typer.Argument(help="a .tlog-proof file")],
    vkey: Annotated[str, typer.Option(help="the log's verifier key (hcx/<party>+…)")],
    witness: Annotated[list[str] | None, typer.Option(help="a cosigner key to check (repeatable)")] = None,
    min_witnesses: Annotated[int, typer.Option(help="how many of the witnesses must have cosigned")] = 0,
    leaf_hash: Annotated[str | None, typer.Option(help="hex leaf hash, for an erased entry (no extra line)")] = None,
    json_: JsonOpt = False,
) -> None:
    """Verify a proof offline: the log's signature, the witnesses, the inclusion of the entry."""
    try:
        if proof_file.stat().st_size > MAX_PROOF_BYTES:
            raise InvalidInput(f"{proof_file} is larger than {MAX_PROOF_BYTES} bytes")
        proof = TlogProof.parse(proof_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read {proof_file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{proof_file} is not UTF-8 text") from exc
    try:
        given = bytes.fromhex(leaf_hash) if leaf_hash is not None else None
    except ValueError as exc:
        raise InvalidInput("--leaf-hash is a hex string") from exc
    entry = None
    if proof.extra is not None:
        if len(proof.extra) <= SALT_SIZE:
            raise InvalidInput("the proof's extra data is not a salt followed by a custody entry")
        leaf = custody_leaf_hash(proof.extra[:SALT_SIZE], proof.extra[SALT_SIZE:])
        entry = CustodyEntry.parse(proof.extra[SALT_SIZE:])
        if given is not None and given != leaf:
            raise InvalidInput("--leaf-hash does not match the entry the proof carries")
    elif given is not None:
        leaf = given
    else:
        raise InvalidInput("the proof carries no entry (erased?): give its --leaf-hash")
    log_key = Ed25519NoteVerifier.from_vkey(vkey)
    verified = verify_tlog_proof(proof, leaf, log=[log_key], origin=log_key.name,
                                 witnesses=[CosignatureVerifier.from_vkey(w) for w in witness or []],
                                 min_witnesses=min_witnesses)
    result = {"verified": True, "origin": verified.checkpoint.origin, "size": verified.checkpoint.size,
              "index": proof.index, "leaf_hash": leaf.hex(), "witnesses": list(verified.witnesses),
              "entry": entry.as_dict() if entry else None}
    if json_:
        print_json(result)
        return
    console.print(f"[green]verified[/]: entry {proof.index} is in {verified.checkpoint.origin} at size "
                  f"{verified.checkpoint.size}; cosigned by {', '.join(verified.witnesses) or 'no known witness'}",
                  highlight=False)
    if entry is not None:
        table("Custody entry", ["event", "object", "role", "at", "ref"],
              [[entry.event.value, entry.object_digest, entry.actor_role, entry.as_dict()["at"], entry.ref]])


@app.command("alarms")
def alarms_cmd(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Forks and rollbacks seen in peers' logs."""
    node: Node = ctx.obj
    alarms = custody.alarms(node.context())
    rows = [{"id": a.id, "party": a.party, "kind": a.kind, "detail": a.detail, "raised_at": a.raised_at.isoformat()}
            for a in alarms]
    if json_:
        print_json(rows)
    else:
        table("Custody-log alarms", ["raised at", "party", "kind", "detail"],
              [[r["raised_at"], r["party"], r["kind"], r["detail"]] for r in rows])


@app.command("witnesses")
def witnesses_cmd(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Per pinned peer: our largest checkpoint it cosigned, its largest we cosigned, its alarms."""
    node: Node = ctx.obj
    rows = witness.witnesses(node.context())
    if json_:
        print_json(rows)
        return
    table("Witnesses of the custody log", ["peer", "our log", "it cosigned our size", "at",
                                           "we cosigned its size", "at", "alarms"],
          [[r["party"], r["log_size"], r["cosigned_our_size"] if r["cosigned_our_size"] is not None else "-",
            r["cosigned_our_at"] or "-", r["we_cosigned_size"] if r["we_cosigned_size"] is not None else "-",
            r["we_cosigned_at"] or "-", r["alarms"]] for r in rows])


@app.command("witness")
def witness_cmd(ctx: typer.Context, party: Annotated[str, typer.Argument(help="the pinned peer, e.g. AUS")]) -> None:
    """Exchange cosignatures with a peer now (the delivery worker does it when the log grew)."""
    node: Node = ctx.obj
    done = witness.exchange(node.context(), party.upper())
    console.print(f"{done.party} cosigned our checkpoint of size {done.our_size}; we cosigned its checkpoint of "
                  f"size {done.their_size if done.their_size is not None else '(skipped)'}", highlight=False)

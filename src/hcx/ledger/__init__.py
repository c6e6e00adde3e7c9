"""The custody log's pure core: RFC 9162 Merkle maths and the C2SP note formats.

    merkle.py      leaf and node hashes; roots, inclusion and consistency proofs (generate, verify)
    frontier.py    the rightmost perfect subtrees of a growing tree: incremental appends
    note.py        c2sp.org/signed-note: parse, format, Ed25519 signatures, verifier keys
    checkpoint.py  c2sp.org/tlog-checkpoint bodies and c2sp.org/tlog-cosignature (type 0x04)
    proof.py       c2sp.org/tlog-proof: an offline proof that an entry is in a signed checkpoint
    entry.py       custody entries: salted commitments to custody events, never personal data

Nothing here reads a clock, the environment, randomness or storage: timestamps, salts and keys
come in as arguments, and subtree hashes through a callable (see `merkle.FetchSubtrees`).
"""

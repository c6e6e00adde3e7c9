"""Keys, a tiny key directory and an envelope factory for the crypto tests.

Key generation is cheap, so each test session makes fresh keys; the scrypt cost of key files is
lowered to its floor (2**14) because production cost takes half a second per export or load.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from hcx.crypto import _primitives
from hcx.crypto.keys import DecryptionKey, SigningKey, VerifyKey
from hcx.errors import NotFound

PRODUCTION_SCRYPT_LOG2_N = _primitives.SCRYPT_LOG2_N  # read before the fixture lowers it


@pytest.fixture(autouse=True, scope="session")
def _cheap_scrypt() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_primitives, "SCRYPT_LOG2_N", 14)
        yield


@dataclass
class Directory:
    """What a node knows: its own decryption keys and its peers' verify keys, by (party, authority, kid)."""

    decryption: dict[tuple[str, str, str], DecryptionKey] = field(default_factory=dict)
    verify: dict[tuple[str, str, str], VerifyKey] = field(default_factory=dict)

    def decryption_key_for(self, party: str, authority: str, kid: str) -> DecryptionKey:
        try:
            return self.decryption[(party, authority, kid)]
        except KeyError:
            raise NotFound(f"no decryption key {party}/{authority}/{kid}") from None

    def verify_key_for(self, party: str, authority: str, kid: str) -> VerifyKey:
        try:
            return self.verify[(party, authority, kid)]
        except KeyError:
            raise NotFound(f"no verify key {party}/{authority}/{kid}") from None


@dataclass
class Parties:
    sender: SigningKey  # VNM / central-authority
    recipient: DecryptionKey  # AUS / attorney-general
    other_signer: SigningKey
    other_recipient: DecryptionKey  # AUS / federal-police, a second authority of the recipient party
    directory: Directory


@pytest.fixture(scope="session")
def parties() -> Parties:
    sender, recipient = SigningKey.generate(), DecryptionKey.generate()
    other_signer, other_recipient = SigningKey.generate(), DecryptionKey.generate()
    directory = Directory()
    directory.decryption[("AUS", "attorney-general", recipient.public.kid)] = recipient
    directory.decryption[("AUS", "federal-police", other_recipient.public.kid)] = other_recipient
    directory.verify[("VNM", "central-authority", sender.public.kid)] = sender.public
    directory.verify[("THA", "central-authority", other_signer.public.kid)] = other_signer.public
    return Parties(sender, recipient, other_signer, other_recipient, directory)


def make_envelope(**changes: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "v": 1,
        "id": "01JDB6Z8Q9M5W7X3K2N4P6R8T0",
        "type": "request.submitted",
        "from": {"party": "VNM", "authority": "central-authority"},
        "to": {"party": "AUS", "authority": "attorney-general"},
        "created": "2026-11-23T09:00:00Z",
        "in_reply_to": None,
        "request_ref": "VNM-2026-0001",
        "body": {"summary": "Preservation of stored computer data (art. 42)", "items": [1, 2.5, True, None]},
    }
    envelope.update(changes)
    return envelope

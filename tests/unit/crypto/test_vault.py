"""The node key vault: one passphrase stretch, then cheap sealing of each private key."""

from __future__ import annotations

import pickle

import pytest

from hcx.crypto.keys import DecryptionKey, SigningKey, Vault
from hcx.errors import DecryptionError, InvalidInput


def test_keys_round_trip_through_the_vault_and_need_the_same_passphrase_and_salt() -> None:
    salt = Vault.new_salt()
    vault = Vault(b"correct horse", salt)
    signing, decryption = SigningKey.generate(), DecryptionKey.generate()
    sealed_signing, sealed_decryption = vault.seal(signing), vault.seal(decryption)
    again = Vault(b"correct horse", salt)
    assert again.open_signing(sealed_signing).public == signing.public
    assert again.open_decryption(sealed_decryption).public == decryption.public
    for wrong in (Vault(b"wrong horse", salt), Vault(b"correct horse", Vault.new_salt())):
        with pytest.raises(DecryptionError):
            wrong.open_signing(sealed_signing)


def test_a_sealed_key_opens_only_as_its_own_kind_and_only_unaltered() -> None:
    vault = Vault(b"pass", Vault.new_salt())
    sealed = vault.seal(SigningKey.generate())
    with pytest.raises(DecryptionError):
        vault.open_decryption(sealed)
    with pytest.raises(DecryptionError):
        vault.open_signing(sealed[:-1] + bytes([sealed[-1] ^ 1]))
    with pytest.raises(DecryptionError, match="unknown version"):
        vault.open_signing(b"\x01" + sealed[1:])
    with pytest.raises(DecryptionError):
        vault.open_signing(b"\x02short")


def test_the_vault_refuses_empty_passphrases_bad_salts_and_pickling() -> None:
    with pytest.raises(InvalidInput):
        Vault(b"", Vault.new_salt())
    with pytest.raises(DecryptionError, match="salt"):
        Vault(b"pass", b"\x11" + b"\x00" * 3)
    with pytest.raises(DecryptionError, match="salt"):
        Vault(b"pass", b"\x30" + b"\x00" * 16)  # a cost outside the accepted range
    vault = Vault(b"pass", Vault.new_salt())
    with pytest.raises(TypeError):
        pickle.dumps(vault)
    assert repr(vault) == "Vault()"


def test_other_secrets_are_sealed_under_their_own_purpose() -> None:
    vault = Vault(b"pass", Vault.new_salt())
    sealed = vault.seal_secret(b"s" * 32, purpose="indicator index")
    assert b"s" * 32 not in sealed
    assert vault.open_secret(sealed, purpose="indicator index") == b"s" * 32
    with pytest.raises(DecryptionError):
        vault.open_secret(sealed, purpose="something else")

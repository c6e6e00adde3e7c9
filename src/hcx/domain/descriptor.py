"""The node descriptor: what a node publishes about itself, signed by its node key. Pure."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DescribedKey(Strict):
    kid: str = Field(min_length=1, max_length=32)
    key: str = Field(min_length=1, max_length=4096, description="base64url of the raw public key")
    status: Literal["active", "revoked"] = "active"


class DescribedAuthority(Strict):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=32)
    languages: list[str] = []
    signing_keys: list[DescribedKey] = Field(max_length=16)
    encryption_keys: list[DescribedKey] = Field(max_length=16)
    # where evidence for this authority is encrypted to (age X25519); absent in older descriptors
    age_recipient: str | None = Field(default=None, pattern=r"^age1[02-9ac-hj-np-z]{58}$")

    def signing_key(self, kid: str) -> DescribedKey | None:
        return next((k for k in self.signing_keys if k.kid == kid and k.status == "active"), None)

    def encryption_key(self, kid: str | None = None) -> DescribedKey | None:
        active = [k for k in self.encryption_keys if k.status == "active"]
        if kid is None:
            return active[-1] if active else None
        return next((k for k in active if k.kid == kid), None)


class Descriptor(Strict):
    party: str = Field(pattern=r"^[A-Z]{3}$")
    node_url: str = Field(min_length=1, max_length=300)
    version: int = Field(ge=1)
    issued: dt.datetime
    expires: dt.datetime
    node_key: DescribedKey
    authorities: list[DescribedAuthority] = Field(max_length=200)
    declarations: dict[str, object] = {}

    def authority(self, authority_id: str) -> DescribedAuthority | None:
        return next((a for a in self.authorities if a.id == authority_id), None)

    def authority_for(self, kind: str) -> DescribedAuthority | None:
        """The authority of `kind`, else the central authority, to address a request to."""
        return next((a for a in self.authorities if a.kind == kind), None) or next(
            (a for a in self.authorities if a.kind == "central_authority"), None)

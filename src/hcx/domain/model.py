"""Value objects of the core: a request draft and the findings of its validation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hcx.rules.schema import Cited


class Draft(BaseModel):
    """What an officer writes: the request type, the two parties, the language and the fields."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=64)
    requesting_party: str = Field(pattern=r"^[A-Z]{3}$")
    requested_party: str = Field(pattern=r"^[A-Z]{3}$")
    language: str = Field(pattern=r"^[a-z]{2,3}$", description="ISO 639 code of the request's language")
    fields: dict[str, Any] = {}


class Severity(StrEnum):
    error = "error"
    warning = "warning"
    info = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong or worth knowing about a draft, with the rule it comes from."""

    severity: Severity
    path: str
    code: str
    message: str
    article: str
    source: str
    verified: bool

    @classmethod
    def of(cls, severity: Severity, path: str, code: str, message: str, rule: Cited) -> Finding:
        return cls(severity, path, code, message, rule.article, rule.source, rule.verified)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message} (art. {self.article})"


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.error for f in findings)

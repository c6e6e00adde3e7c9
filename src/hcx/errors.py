"""The whole error hierarchy of hcx.

    Error
    ├── InvalidInput          bad data from a user, a file or a peer (carries findings)
    ├── NotFound              no such object, or not visible in the caller's scope
    ├── Conflict              the object changed meanwhile, or the action does not fit its state
    ├── NotAcceptable         no answer in a media type the client accepts (TAXII: 406)
    ├── UnsupportedMediaType  a body in a media type this interface does not take (TAXII: 415)
    ├── PolicyDenied          the caller's role or authority may not do this
    │   └── MatchRefused      a matching responder declines (rate limit, size cap, unknown session)
    ├── Unauthenticated       no valid credentials
    ├── VerificationError     a signature, proof or digest does not check out
    │   ├── InvalidSignature
    │   ├── DecryptionError
    │   └── InclusionProofError
    ├── PeerError             a peer node misbehaved or could not be reached
    │   ├── PeerUnreachable
    │   └── PeerProtocolError
    └── ConfigError           the node's settings or rule files are wrong; the node must not start

Core errors carry no HTTP status: `api/errors.py` maps classes to statuses once, and the CLI
maps them to exit codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Error(Exception):
    """Base of every error hcx raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, details: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)

    def diagnostics(self) -> list[str]:
        """Lines a person can read, for the CLI."""
        lines = [self.message]
        for detail in self.details:
            lines.append(f"  - {detail}")
        return lines


class InvalidInput(Error):
    code = "invalid_input"


class NotFound(Error):
    code = "not_found"


class Conflict(Error):
    code = "conflict"


class NotAcceptable(Error):
    code = "not_acceptable"


class UnsupportedMediaType(Error):
    code = "unsupported_media_type"


class PolicyDenied(Error):
    code = "policy_denied"


class MatchRefused(PolicyDenied):
    """The matching responder declines: told to the peer, sealed (services/matching.py)."""


class Unauthenticated(Error):
    code = "unauthenticated"


class VerificationError(Error):
    code = "verification_failed"


class InvalidSignature(VerificationError):
    code = "invalid_signature"


class DecryptionError(VerificationError):
    code = "decryption_failed"


class InclusionProofError(VerificationError):
    code = "inclusion_proof_failed"


class PeerError(Error):
    code = "peer_error"


class PeerUnreachable(PeerError):
    code = "peer_unreachable"


class PeerProtocolError(PeerError):
    code = "peer_protocol_error"


class ConfigError(Error):
    code = "config_error"

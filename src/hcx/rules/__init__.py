"""The convention as data: request types, offences, refusal grounds, deadlines, lifecycle, parties.

`load_rules()` reads the package data and validates it against `schema`; a bad file raises
`ConfigError` and the node does not start.
"""

from hcx.rules.load import load_rules
from hcx.rules.schema import Rules

__all__ = ["Rules", "load_rules"]

"""The node a command works on: its settings, and (opened on first use) its service context."""

from __future__ import annotations

from dataclasses import dataclass, field

from hcx.config import Settings
from hcx.services.context import Context
from hcx.wiring import build_context


@dataclass
class Node:
    settings: Settings
    _context: Context | None = field(default=None, repr=False)

    def context(self, *, create: bool = False) -> Context:
        if self._context is None:
            self._context = build_context(self.settings, create=create)
        return self._context

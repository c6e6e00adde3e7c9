"""The node a command works on: its settings, and (opened on first use) its service context."""

from __future__ import annotations

from dataclasses import dataclass, field

from hcx.config import Settings
from hcx.errors import ConfigError
from hcx.rules import load_rules
from hcx.services.context import Context, Policy, SystemClock
from hcx.storage.db import is_initialised, make_engine, migrate
from hcx.storage.unit_of_work import Database


@dataclass
class Node:
    settings: Settings
    _context: Context | None = field(default=None, repr=False)

    def context(self, *, create: bool = False) -> Context:
        """Open the node's database (migrating it); refuse if it was never initialised."""
        if self._context is None:
            if create:
                self.settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            elif self.settings.database_url is None and not (self.settings.data_dir / "node.db").exists():
                raise ConfigError(f"no node in {self.settings.data_dir}; run `hcx --data-dir DIR init --party ISO3`")
            database = Database(make_engine(self.settings.resolved_database_url))
            if not create and not is_initialised(database.engine):
                raise ConfigError(f"the database of {self.settings.data_dir} holds no node; run `hcx init` first")
            migrate(database.engine)
            s = self.settings
            self._context = Context(unit_of_work=database.unit_of_work, rules=load_rules(), clock=SystemClock(),
                                    policy=Policy(four_eyes=s.four_eyes, sla_days=s.sla_days, token_days=s.token_days))
        return self._context

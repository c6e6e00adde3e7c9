"""Build the service context from settings: the one place storage and transport are wired in."""

from __future__ import annotations

import datetime as dt

from hcx.config import Settings
from hcx.errors import ConfigError
from hcx.federation.blob_transport import HttpBlobTransport
from hcx.rules import load_rules
from hcx.services.context import Context, Policy, SystemClock
from hcx.storage.blobs import make_blob_store
from hcx.storage.db import is_initialised, make_engine, migrate
from hcx.storage.unit_of_work import Database


def policy_from(settings: Settings) -> Policy:
    return Policy(four_eyes=settings.four_eyes, sla_days=settings.sla_days, token_days=settings.token_days,
                  message_max_age=dt.timedelta(hours=settings.message_max_age_hours),
                  clock_skew=dt.timedelta(seconds=settings.clock_skew_seconds),
                  replay_window=dt.timedelta(hours=settings.replay_window_hours),
                  descriptor_days=settings.descriptor_days,
                  retry_max=dt.timedelta(seconds=settings.retry_max_seconds),
                  lease=dt.timedelta(seconds=settings.lease_seconds),
                  upload_chunk_bytes=settings.upload_chunk_bytes, upload_max_bytes=settings.upload_max_bytes,
                  witness_interval=dt.timedelta(seconds=settings.witness_interval_seconds),
                  match_max_set=settings.match_max_set, match_sessions_per_hour=settings.match_sessions_per_hour,
                  match_items_per_day=settings.match_items_per_day, match_chunk=settings.match_chunk,
                  match_workers=settings.match_workers)


def build_context(settings: Settings, *, create: bool = False) -> Context:
    """Open (and migrate) the node's database; refuse if it holds no node unless `create`."""
    if create:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    elif settings.database_url is None and not (settings.data_dir / "node.db").exists():
        raise ConfigError(f"no node in {settings.data_dir}; run `hcx --data-dir DIR init --party ISO3`")
    database = Database(make_engine(settings.resolved_database_url))
    if not create and not is_initialised(database.engine):
        raise ConfigError(f"the database of {settings.data_dir} holds no node; run `hcx init` first")
    migrate(database.engine)
    return Context(unit_of_work=database.unit_of_work, read_unit_of_work=database.read_unit_of_work,
                   rules=load_rules(), clock=SystemClock(),
                   policy=policy_from(settings), key_passphrase=settings.passphrase(), transport=HttpBlobTransport(),
                   blobs=make_blob_store(settings), locks=database.exclusive)

"""Settings of a node, read from the environment (HCX_*) at the entry points only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from hcx.errors import ConfigError

DEV_PASSPHRASE = b"hcx-dev-only-passphrase"


def default_data_dir() -> Path:
    """Per-user default: $XDG_DATA_HOME/hcx, else ~/.local/share/hcx."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hcx"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HCX_", extra="forbid")

    env: Literal["dev", "prod"] = Field("prod", description="dev relaxes nothing about security; it only marks a demo node")
    data_dir: Path = Field(default_factory=default_data_dir, description="the node's directory: database, blobs, keys")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite file node.db in the data dir")
    host: str = Field("127.0.0.1", description="address `hcx serve` listens on")
    port: int = Field(8401, ge=1, le=65535, description="port `hcx serve` listens on")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="largest accepted API request body")
    four_eyes: bool = Field(True, description="a supervisor must approve what leaves the node (exempt types excepted)")
    sla_days: dict[str, int] = Field(default_factory=dict, description="service-level days per deadline rule code")
    token_days: int = Field(90, ge=1, description="lifetime of new API tokens, in days")
    log_format: Literal["text", "json"] = Field("text", description="log line format")
    public_url: str = Field("", description="URL peers reach this node at; default http://HOST:PORT")
    key_passphrase: SecretStr | None = Field(None, description="encrypts the node's private keys at rest")
    message_max_age_hours: int = Field(72, ge=1, description="undelivered messages are parked after this age")
    replay_window_hours: int = Field(168, ge=1, description="older messages from peers are refused as replays")
    clock_skew_seconds: int = Field(300, ge=0, description="tolerated difference between the nodes' clocks")
    descriptor_days: int = Field(30, ge=1, description="validity of this node's signed descriptor")
    worker_interval_seconds: float = Field(0.5, gt=0, description="how often the delivery worker looks for work")
    retry_max_seconds: float = Field(900, gt=0, description="longest wait between two delivery attempts")
    lease_seconds: float = Field(60, gt=0, description="how long a worker owns a message it is sending")
    blob_url: str = Field("", description="where evidence bytes live: s3://bucket/prefix; default the data dir's blobs/")
    s3_endpoint_url: str = Field("", description="S3-compatible endpoint (MinIO, Ceph...); default AWS")
    s3_region: str = Field("", description="S3 region; default from the standard AWS settings")
    s3_access_key_id: str = Field("", description="S3 access key; default from the standard AWS settings")
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret key; default from the standard AWS settings")
    s3_part_size: int = Field(8_388_608, ge=5_242_880, description="multipart part size (bytes) of S3 uploads")
    upload_chunk_bytes: int = Field(8_388_608, ge=1024, le=268_435_456, description="largest chunk of a resumable upload")
    upload_max_bytes: int = Field(1 << 40, ge=1, description="largest file a resumable upload may declare")
    witness_interval_seconds: float = Field(30, ge=0, description="least time between two witnessing rounds with the peers")
    match_max_set: int = Field(2_000_000, ge=0, description="largest indicator set a peer may declare for one match session")
    match_sessions_per_hour: int = Field(4, ge=0, description="match sessions one peer may open per hour")
    match_items_per_day: int = Field(4_000_000, ge=0, description="indicators one peer may submit for matching per 24 hours")
    match_chunk: int = Field(50_000, ge=1, le=60_000, description="points per match protocol message")
    match_workers: int = Field(0, ge=0, description="processes for matching's public-key operations; 0: one per core")

    @property
    def advertised_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def passphrase(self) -> bytes:
        """The key passphrase; only a dev node may run on the built-in one."""
        if self.key_passphrase is not None and self.key_passphrase.get_secret_value():
            return self.key_passphrase.get_secret_value().encode()
        if self.env == "dev":
            return DEV_PASSPHRASE
        raise ConfigError("HCX_KEY_PASSPHRASE is required: it encrypts the node's private keys "
                          "(only HCX_ENV=dev nodes may run without it)")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'node.db'}"


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [f"HCX_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("the node settings are invalid", details=problems) from exc

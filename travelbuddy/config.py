"""Settings, read from environment variables prefixed `TRAVELBUDDY_`.

No MongoDB URL means the embedded default; no Kafka bootstrap servers means the
in-process bus. Every setting has a default that works on a laptop.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The service's configuration; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="TRAVELBUDDY_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP API binds to.")
    port: int = Field(8000, description="Port of the HTTP API.")
    mongodb_url: str | None = Field(
        None, description="MongoDB connection string (a replica set, for change streams)."
    )
    mongodb_database: str = Field("travelbuddy", description="MongoDB database name.")
    kafka_bootstrap_servers: str | None = Field(
        None, description="Kafka bootstrap servers; unset means the in-process bus."
    )
    data_dir: Path = Field(Path(".travelbuddy"), description="Embedded default's data folder.")
    read_your_writes_timeout: float = Field(
        2.0, description="Longest wait, in seconds, of `booking(id, minVersion)`."
    )
    readiness_max_lag: int = Field(
        1000, description="Most events the projector may be behind for /readyz to say ready."
    )
    readiness_timeout: float = Field(
        3.0, description="Seconds /readyz waits for the stores to answer."
    )
    partner_latency: float = Field(
        0.2, description="Seconds the simulated hotel and flight services take to reply."
    )
    partner_rejection_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Share of reservations the simulated partners reject."
    )
    log_level: str = Field("INFO", description="Logging level.")

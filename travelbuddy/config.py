"""Settings, read from environment variables prefixed `TRAVELBUDDY_`.

No MongoDB URL means the embedded default; no Kafka bootstrap servers means the
SQLite bus in the data folder. Every setting has a default that works on a laptop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
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
    mongodb_timeout_seconds: float = Field(
        5.0, gt=0, description="How long a request waits for an unreachable MongoDB before "
        "it is answered UNAVAILABLE (selecting a server, connecting)."
    )
    kafka_bootstrap_servers: str | None = Field(
        None, description="Kafka bootstrap servers; unset means the SQLite bus."
    )
    data_dir: Path = Field(Path(".travelbuddy"), description="Embedded default's data folder.")
    read_your_writes_timeout: float = Field(
        2.0, description="Longest wait, in seconds, of `booking(id, minVersion)`."
    )
    readiness_max_lag: int = Field(
        1000, description="Most events the projector may be behind for /readyz to say ready."
    )
    readiness_relay_stuck_seconds: float = Field(
        30.0, gt=0, description="How long the relay of this process may fail to publish "
        "before /readyz answers 503."
    )
    readiness_grace_seconds: float = Field(
        10.0, ge=0, description="For this long after a ready answer, a readiness check that "
        "times out or fails answers that one again (stale) instead of 503."
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
    tracing_enabled: bool = Field(
        True, description="OpenTelemetry tracing: spans, and the W3C trace context carried "
        "into events and bus messages; exported when OTEL_EXPORTER_OTLP_ENDPOINT is set."
    )
    log_format: Literal["json", "text"] = Field(
        "text", description="Log lines as JSON objects or as key=value text."
    )
    metrics_enabled: bool = Field(
        True, description="Prometheus metrics: /metrics on the API, a worker's metrics port, "
        "and the commands and GraphQL operations counted and timed; false: none of them."
    )
    metrics_port: int = Field(
        9464, ge=0, le=65535, description="Port on which a worker command (projector, relay, "
        "inbound, partners) serves /metrics; 0 turns it off. The API serves it on its own port."
    )
    lease_ttl_seconds: float = Field(
        6.0, gt=0, description="How long a single-active worker's lease lasts unrenewed: "
        "a standby takes over at most this long after the holder died."
    )
    lease_renew_seconds: float = Field(
        2.0, gt=0, description="How often the holder of a lease renews it."
    )
    retry_initial_seconds: float = Field(
        0.1, gt=0, description="Wait before an operation that failed on the broker "
        "or the store is tried again; it doubles with each failure."
    )
    retry_max_seconds: float = Field(
        5.0, gt=0, description="Longest wait between two tries of an operation."
    )
    retry_jitter_seconds: float = Field(
        0.2, ge=0, description="Most seconds added at random to each wait (retries "
        "and restarts), so replicas do not retry in step."
    )
    worker_restart_initial_seconds: float = Field(
        0.5, gt=0, description="Wait before a crashed worker is started "
        "again; it doubles with each crash."
    )
    worker_restart_max_seconds: float = Field(
        10.0, gt=0, description="Longest wait before a crashed worker is "
        "started again."
    )

    # GraphQL abuse limits: each request is refused (a GraphQL error, or 413 / 400 before
    # parsing) when it goes over one; see the README's "Limits".
    graphql_max_depth: int = Field(12, ge=1, description="Deepest selection nesting allowed.")
    graphql_max_aliases: int = Field(15, ge=0, description="Most aliases in one document.")
    graphql_max_fields: int = Field(
        500, ge=1, description="Most fields one operation (or fragment) selects, fragments "
        "expanded."
    )
    graphql_max_field_repeats: int = Field(
        20, ge=1, description="Most times one operation selects the same field at the same "
        "place (`myBookings.edges.node.id`), fragments expanded."
    )
    graphql_max_tokens: int = Field(2000, ge=1, description="Most tokens in one document.")
    graphql_max_body_bytes: int = Field(
        1_100_000, ge=1, description="Largest HTTP request body; larger ones are answered 413."
    )
    graphql_max_batch: int = Field(
        0, ge=0, description="Most operations in one batched request; 0 turns batching off."
    )
    graphql_max_subscriptions_per_connection: int = Field(
        20, ge=1, description="Most live subscriptions on one websocket connection."
    )
    graphql_introspection: bool = Field(
        True, description="Answer introspection queries (turn off in production)."
    )
    debug: bool = Field(
        False, description="Show internal error messages to clients (never in production)."
    )
    api_docs: bool = Field(
        False, description="Serve FastAPI's /docs, /redoc and /openapi.json pages."
    )

    # Websockets (subscriptions): every cap closes or refuses the one over it, never others.
    graphql_max_websockets: int = Field(
        1000, ge=1, description="Most open websockets in one serving process."
    )
    graphql_max_websockets_per_customer: int = Field(
        10, ge=1, description="Most open websockets of one customer (token `sub`)."
    )
    graphql_max_subscriptions: int = Field(
        10_000, ge=1, description="Most live subscriptions in one serving process."
    )
    graphql_max_subscriptions_per_customer: int = Field(
        100, ge=1, description="Most live subscriptions of one customer, all sockets together."
    )
    graphql_websocket_init_timeout_seconds: float = Field(
        10.0, gt=0, description="Seconds a websocket may take to send connection_init."
    )
    graphql_websocket_max_message_bytes: int = Field(
        262_144, ge=1024, description="Largest websocket message a client may send."
    )
    graphql_ws_legacy_protocol: bool = Field(
        False, description="Also accept the legacy `graphql-ws` websocket subprotocol."
    )

    # HTTP connections: what one client may hold before its request is complete.
    http_header_timeout_seconds: float = Field(
        10.0, gt=0, description="Seconds a client may take to send a request's headers."
    )
    http_body_timeout_seconds: float = Field(
        30.0, gt=0, description="Seconds a client may take to send a request's body."
    )
    http_max_header_bytes: int = Field(
        65_536, ge=1024, description="Largest request line and headers; larger: 431."
    )
    http_keep_alive_timeout_seconds: float = Field(
        5.0, gt=0, description="Seconds an idle keep-alive connection stays open."
    )

    # Authentication: bearer JWTs on both GraphQL endpoints and in the websocket's
    # connection_init payload; see the README's configuration table.
    jwt_secret: SecretStr | None = Field(
        None, description="HS256 signing secret; unset: generated once into <data_dir>/jwt-secret."
    )
    jwt_algorithm: Literal["HS256", "RS256"] = Field(
        "HS256", description="HS256 (the secret) or RS256 (a public key or JWKS file)."
    )
    jwt_public_key_file: Path | None = Field(None, description="RS256 public key, PEM.")
    jwks_file: Path | None = Field(None, description="RS256 keys as a JWKS document.")
    jwks_url: str | None = Field(
        None, description="RS256 keys fetched from an identity provider's JWKS URL (https)."
    )
    jwks_cache_seconds: float = Field(
        300.0, gt=0, description="Seconds the JWKS URL's keys are used before fetched again."
    )
    jwks_refresh_interval_seconds: float = Field(
        10.0, ge=0, description="Least seconds between fetches for a token naming an unknown key."
    )
    jwks_timeout_seconds: float = Field(5.0, gt=0, description="Timeout of one JWKS fetch.")
    jwt_audience: str | None = Field(None, description="Required `aud` claim, when set.")
    jwt_issuer: str | None = Field(None, description="Required `iss` claim, when set.")
    token_ttl_seconds: int = Field(
        3600, ge=1, description="Lifetime of tokens `travelbuddy token` issues."
    )
    jwt_max_lifetime_seconds: int = Field(
        86_400, ge=1, description="Longest a token may still live (`exp` - now); longer: 401."
    )

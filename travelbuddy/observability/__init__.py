"""Seeing inside the running service: metrics (Prometheus), traces (OpenTelemetry), structured
logs (structlog) and retries with backoff (stamina), each set up in one module of this package."""

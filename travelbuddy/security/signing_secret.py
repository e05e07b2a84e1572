"""The HS256 signing secret: configured, or generated once into the data folder."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from travelbuddy.config import Settings

log = logging.getLogger(__name__)

SECRET_FILE_NAME = "jwt-secret"


def secret_file(settings: Settings) -> Path:
    """Where the generated secret lives when `TRAVELBUDDY_JWT_SECRET` is not set."""
    return settings.data_dir / SECRET_FILE_NAME


def resolve_secret(settings: Settings) -> str:
    """`TRAVELBUDDY_JWT_SECRET`, else the secret in `<data_dir>/jwt-secret`, created (0600)
    with a random value on first use so that a laptop needs no configuration."""
    if settings.jwt_secret is not None and settings.jwt_secret.get_secret_value():
        return settings.jwt_secret.get_secret_value()
    path = secret_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once keep the one secret the first one wrote.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(secrets.token_urlsafe(48))
    log.warning("event=jwt_secret_created path=%s hint=set TRAVELBUDDY_JWT_SECRET to choose "
                "one", path)
    return path.read_text(encoding="utf-8").strip()

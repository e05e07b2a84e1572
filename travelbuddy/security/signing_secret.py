"""The HS256 signing secret: configured, or generated once into the data folder.

A secret shorter than `MIN_SECRET_BYTES` is refused wherever it comes from: an empty HMAC
key verifies tokens anyone can sign (PyJWT before 2.13), and a short one can be guessed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from travelbuddy.config import Settings
from travelbuddy.observability.logs import get_logger

log = get_logger(__name__)

SECRET_FILE_NAME = "jwt-secret"
MIN_SECRET_BYTES = 32
"""RFC 7518 §3.2: an HS256 key at least as long as the hash output (256 bits)."""
GENERATED_SECRET_BYTES = 48


class UnusableSecret(ValueError):
    """A signing secret that is empty, blank or too short: the service must not start."""


def secret_file(settings: Settings) -> Path:
    """Where the generated secret lives when `TRAVELBUDDY_JWT_SECRET` is not set."""
    return settings.data_dir / SECRET_FILE_NAME


def resolve_secret(settings: Settings) -> str:
    """`TRAVELBUDDY_JWT_SECRET`, else the secret in `<data_dir>/jwt-secret`, created (0600)
    with a random value on first use so that a laptop needs no configuration. Raises
    UnusableSecret when the secret found is empty, blank or shorter than 32 bytes."""
    if settings.jwt_secret is not None:
        return checked_secret(settings.jwt_secret.get_secret_value(), "TRAVELBUDDY_JWT_SECRET")
    path = secret_file(settings)
    if not path.exists():
        _create_secret_file(path)
    return checked_secret(path.read_text(encoding="utf-8").strip(), str(path))


def checked_secret(secret: str, source: str) -> str:
    """`secret` when it is usable; otherwise UnusableSecret naming `source` and the fix."""
    fix = ("set TRAVELBUDDY_JWT_SECRET to at least 32 random bytes" if source.startswith(
        "TRAVELBUDDY_") else f"delete {source} to have a new one generated, or set "
        "TRAVELBUDDY_JWT_SECRET")
    if not secret.strip():
        raise UnusableSecret(f"the token signing secret ({source}) is empty: {fix}")
    if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
        raise UnusableSecret(f"the token signing secret ({source}) is shorter than "
                             f"{MIN_SECRET_BYTES} bytes: {fix}")
    return secret


def _create_secret_file(path: Path) -> None:
    """Writes a new secret into a temporary file beside `path` and links it into place only
    once complete: a process starting at the same time, or after a crash mid-write, finds
    either no file or the whole secret, never an empty one. When two processes race, the
    first link wins and both use its secret (a link never replaces an existing file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                             suffix=".tmp")  # created 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(secrets.token_urlsafe(GENERATED_SECRET_BYTES))
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return  # another process linked its secret first: that one counts
        log.warning("jwt_secret_created", path=str(path),
                    hint="set TRAVELBUDDY_JWT_SECRET to choose one")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)

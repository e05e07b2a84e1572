"""The HS256 signing secret: generated whole or not at all, however many processes start at
once, and an empty, blank or short secret refused wherever it comes from."""

from __future__ import annotations

import base64
import hashlib
import hmac
import multiprocessing
import os
from pathlib import Path
from typing import Any

import jwt
import pytest

from travelbuddy.config import Settings
from travelbuddy.security import TokenVerifier
from travelbuddy.security.signing_secret import (
    MIN_SECRET_BYTES,
    UnusableSecret,
    resolve_secret,
    secret_file,
)

STARTERS = 40


def generated(data_dir: Path) -> Settings:
    return Settings(jwt_secret=None, data_dir=data_dir)


def _start(data_dir: str, barrier: Any, results: Any) -> None:
    barrier.wait()  # all at once, as 40 processes started together
    try:
        results.put(resolve_secret(generated(Path(data_dir))))
    except Exception as error:  # reported to the test, which fails on it
        results.put(f"error: {error!r}")


def test_forty_processes_starting_on_a_fresh_folder_all_use_the_same_full_secret(
    tmp_path: Path,
) -> None:
    context = multiprocessing.get_context("forkserver")  # not fork: no inherited threads
    barrier, results = context.Barrier(STARTERS), context.Queue()
    starters = [context.Process(target=_start, args=(str(tmp_path / "data"), barrier, results))
                for _ in range(STARTERS)]
    for starter in starters:
        starter.start()
    secrets = [results.get(timeout=60) for _ in starters]
    for starter in starters:
        starter.join(timeout=30)

    on_disk = secret_file(generated(tmp_path / "data")).read_text().strip()
    assert len(set(secrets)) == 1, secrets
    assert secrets[0] == on_disk
    assert len(on_disk.encode()) >= MIN_SECRET_BYTES
    assert [path.name for path in (tmp_path / "data").iterdir()] == ["jwt-secret"]


def _crash_while_writing(data_dir: str) -> None:
    def killed(descriptor: Any) -> None:  # the temporary file is written, not yet linked
        os._exit(9)

    os.fsync = killed  # type: ignore[assignment]
    resolve_secret(generated(Path(data_dir)))


def test_a_crash_while_writing_the_secret_leaves_no_empty_secret_behind(
    tmp_path: Path,
) -> None:
    crashed = multiprocessing.get_context("forkserver").Process(
        target=_crash_while_writing, args=(str(tmp_path / "data"),))
    crashed.start()
    crashed.join(timeout=30)

    assert crashed.exitcode == 9
    assert not secret_file(generated(tmp_path / "data")).exists()
    assert len(resolve_secret(generated(tmp_path / "data"))) >= MIN_SECRET_BYTES


@pytest.mark.parametrize("secret", ["", "   ", "\n", "x" * (MIN_SECRET_BYTES - 1)],
                         ids=["empty", "blank", "newline", "short"])
def test_an_unusable_configured_secret_is_refused(secret: str, tmp_path: Path) -> None:
    settings = Settings(jwt_secret=secret, data_dir=tmp_path)

    with pytest.raises(UnusableSecret, match="TRAVELBUDDY_JWT_SECRET"):
        TokenVerifier.from_settings(settings)
    assert not secret_file(settings).exists()  # no silent fallback to a generated one


@pytest.mark.parametrize("content", ["", "  \n", "too-short"], ids=["empty", "blank", "short"])
def test_an_unusable_secret_file_is_refused(content: str, tmp_path: Path) -> None:
    settings = generated(tmp_path)
    secret_file(settings).write_text(content)

    with pytest.raises(UnusableSecret, match=str(secret_file(settings))):
        TokenVerifier.from_settings(settings)


def test_a_secret_of_32_bytes_is_enough(tmp_path: Path) -> None:
    assert resolve_secret(Settings(jwt_secret="s" * 32, data_dir=tmp_path)) == "s" * 32


def test_pyjwt_refuses_an_empty_hmac_key() -> None:
    """The pin (pyjwt>=2.15): PyJWT 2.10 verified a token signed with an empty key."""
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    claims = base64.urlsafe_b64encode(b'{"sub":"mallory","exp":4102444800}').rstrip(b"=")
    signature = base64.urlsafe_b64encode(
        hmac.new(b"", header + b"." + claims, hashlib.sha256).digest()).rstrip(b"=")
    forged = b".".join([header, claims, signature]).decode()

    with pytest.raises(jwt.InvalidKeyError):
        jwt.decode(forged, "", algorithms=["HS256"])

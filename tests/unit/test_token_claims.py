"""What a token's `exp` and `sub` must be: a number within the maximum lifetime, and a
customer id without control characters that names none of the application's own callers."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
import typer
from typer.testing import CliRunner

from travelbuddy.config import Settings
from travelbuddy.security import InvalidToken, TokenVerifier, TokenWithoutCustomer, issue_token
from travelbuddy.security.token_cli import token

SECRET = "unit-test-secret-0123456789abcdef0123456789abcdef"


def verifier(**settings: Any) -> TokenVerifier:
    return TokenVerifier.from_settings(Settings(jwt_secret=SECRET, **settings))


def signed(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


def raw_signed(payload: str) -> str:
    """A token whose payload is exactly `payload` (JSON that jwt.encode would not write)."""
    def part(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")
    signing_input = part(b'{"alg":"HS256","typ":"JWT"}') + b"." + part(payload.encode())
    signature = hmac.new(SECRET.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + part(signature)).decode()


def in_minutes(minutes: float) -> int:
    return int(time.time() + minutes * 60)


def reason_for(token: str, **settings: Any) -> str:
    with pytest.raises(InvalidToken) as refused:
        verifier(**settings).verify(token)
    return refused.value.reason


@pytest.mark.parametrize("minutes", [5, None], ids=["now+5min", "far"])
def test_an_expiry_written_as_a_string_is_refused(minutes: int | None) -> None:
    # Computed when the test runs, not when it is collected: a long run would let it expire.
    expiry = "9999999999" if minutes is None else str(in_minutes(minutes))

    assert reason_for(signed({"sub": "alice", "exp": expiry})) == "exp must be a number"


@pytest.mark.parametrize("expiry", ["1e30", "99999999999999999999999999"])
def test_an_expiry_far_beyond_the_maximum_lifetime_is_refused(expiry: str) -> None:
    token = raw_signed(f'{{"sub": "alice", "exp": {expiry}}}')

    assert reason_for(token) == "token lives longer than allowed"


@pytest.mark.parametrize("expiry", ["Infinity", "1e400", "NaN"])
def test_an_expiry_that_is_no_finite_number_is_refused_not_a_crash(expiry: str) -> None:
    token = raw_signed(f'{{"sub": "alice", "exp": {expiry}}}')

    assert reason_for(token) == "malformed token"  # PyJWT >= 2.15; 2.13 raised OverflowError


def test_an_expiry_within_the_maximum_lifetime_is_accepted_and_kept() -> None:
    expiry = in_minutes(60 * 23)

    identity = verifier().verify(signed({"sub": "alice", "exp": expiry}))

    assert identity.expires_at == expiry


def test_the_maximum_lifetime_follows_its_setting() -> None:
    token = signed({"sub": "alice", "exp": in_minutes(10)})

    assert verifier(jwt_max_lifetime_seconds=900).verify(token).customer_id == "alice"
    assert reason_for(token, jwt_max_lifetime_seconds=300) == "token lives longer than allowed"


def test_a_boolean_expiry_is_refused() -> None:
    assert reason_for(raw_signed('{"sub": "alice", "exp": true}')) == "token expired"  # 1


def test_a_deeply_nested_claim_is_refused_not_a_crash() -> None:
    nested = "[" * 100_000 + "]" * 100_000
    token = raw_signed(f'{{"sub": "alice", "exp": {in_minutes(5)}, "x": {nested}}}')

    assert reason_for(token) == "malformed token"


@pytest.mark.parametrize("subject", [
    "alice\x00", "\x1falice", "ali\nce", "alice\u202e", "al\u200bice", "\ud800", "a\u2028b",
], ids=["nul", "unit-separator", "newline", "bidi-override", "zero-width", "surrogate",
        "line-separator"])
def test_a_customer_id_with_control_characters_is_refused(subject: str) -> None:
    token = raw_signed(json.dumps({"sub": subject, "exp": in_minutes(5)}))

    with pytest.raises(TokenWithoutCustomer, match="control characters"):
        verifier().verify(token)


@pytest.mark.parametrize("subject", ["system:hotel-service", "system:flight-service",
                                     "SYSTEM:anything", " system:x"])
def test_a_customer_id_naming_the_applications_own_callers_is_refused(subject: str) -> None:
    with pytest.raises(TokenWithoutCustomer, match="reserved"):
        verifier().verify(signed({"sub": subject, "exp": in_minutes(5)}))


@pytest.mark.parametrize("subject", ["alice", "José", "客户-42", "user@example.com",
                                     "auth0|5f7c8ec7c33c6c004bbafe82", "systematic"])
def test_ordinary_customer_ids_are_accepted(subject: str) -> None:
    identity = verifier().verify(signed({"sub": subject, "exp": in_minutes(5)}))

    assert identity.customer_id == subject


def test_no_token_is_issued_beyond_the_maximum_lifetime() -> None:
    settings = Settings(jwt_secret=SECRET, jwt_max_lifetime_seconds=600)

    with pytest.raises(ValueError, match="at most 600 seconds"):
        issue_token(settings, "alice", ttl=dt.timedelta(seconds=601))
    assert verifier(jwt_max_lifetime_seconds=600).verify(
        issue_token(settings, "alice", ttl=dt.timedelta(seconds=600))).customer_id == "alice"


def test_travelbuddy_token_says_why_it_refuses_a_lifetime_over_the_maximum() -> None:
    app = typer.Typer()
    app.command()(token)  # `travelbuddy token` alone: the CLI's other commands stay out
    result = CliRunner().invoke(app, ["alice", "--ttl", "90000"],
                                env={"TRAVELBUDDY_JWT_SECRET": SECRET})

    assert result.exit_code == 1
    assert "at most 86400 seconds" in result.output

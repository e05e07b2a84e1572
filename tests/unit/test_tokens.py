"""Token verification and issuing: what a token must prove before it names a caller."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from travelbuddy.config import Settings
from travelbuddy.security import (
    Identity,
    InvalidToken,
    TokenVerifier,
    TokenWithoutCustomer,
    issue_token,
)
from travelbuddy.security.signing_secret import resolve_secret, secret_file

SECRET = "unit-test-secret-0123456789abcdef0123456789abcdef"


def hs256(**settings: Any) -> Settings:
    return Settings(jwt_secret=SECRET, **settings)


def claims(**changes: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {"sub": "alice", "exp": now + dt.timedelta(minutes=5)} | changes


def reason_for(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as refused:
        verifier.verify(token)
    return refused.value.reason


def test_an_issued_token_names_the_customer_and_roles() -> None:
    token = issue_token(hs256(), "alice", ["agent"])

    identity = TokenVerifier.from_settings(hs256()).verify(token)

    assert identity == Identity("alice", frozenset({"agent"}))
    assert identity.is_agent


def test_a_customer_token_is_not_an_agent() -> None:
    identity = TokenVerifier.from_settings(hs256()).verify(issue_token(hs256(), "bob"))

    assert not identity.is_agent


def test_issued_tokens_live_as_long_as_configured() -> None:
    token = issue_token(hs256(token_ttl_seconds=90), "alice")

    decoded = jwt.decode(token, SECRET, algorithms=["HS256"])

    assert decoded["exp"] - decoded["iat"] == 90


LIFETIME_CASES = {
    "expired": ({"exp": -1}, "token expired"),
    "not-yet-valid": ({"nbf": 60}, "token not yet valid"),
}


@pytest.mark.parametrize("case", list(LIFETIME_CASES))
def test_a_token_outside_its_lifetime_is_refused(case: str) -> None:
    offsets, reason = LIFETIME_CASES[case]
    now = dt.datetime.now(dt.UTC)
    token_claims = claims(**{name: now + dt.timedelta(seconds=seconds)
                             for name, seconds in offsets.items()})
    token = jwt.encode(token_claims, SECRET, algorithm="HS256")

    assert reason_for(TokenVerifier.from_settings(hs256()), token) == reason


def test_a_token_that_never_expires_is_refused() -> None:
    token = jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256")

    assert reason_for(TokenVerifier.from_settings(hs256()), token) == "missing claim"


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = jwt.encode(claims(), "another-secret-0123456789abcdef0123456789", algorithm="HS256")

    assert reason_for(TokenVerifier.from_settings(hs256()), token) == "invalid signature"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30"])
def test_a_malformed_token_is_refused(token: str) -> None:
    assert reason_for(TokenVerifier.from_settings(hs256()), token) == "malformed token"


def test_an_unsigned_token_is_refused() -> None:
    token = jwt.encode(claims(), "", algorithm="none")

    assert reason_for(TokenVerifier.from_settings(hs256()), token) == "algorithm not accepted"


@pytest.mark.parametrize("subject", [None, "", "   ", "c" * 101])
def test_a_token_without_a_usable_customer_is_valid_but_without_rights(
    subject: str | None,
) -> None:
    token_claims = claims() if subject is not None else {"exp": claims()["exp"]}
    if subject is not None:
        token_claims["sub"] = subject
    token = jwt.encode(token_claims, SECRET, algorithm="HS256")

    with pytest.raises(TokenWithoutCustomer):
        TokenVerifier.from_settings(hs256()).verify(token)


def test_a_customer_id_that_is_not_a_string_is_refused() -> None:
    token = jwt.encode(claims(sub=42), SECRET, algorithm="HS256")

    assert reason_for(TokenVerifier.from_settings(hs256()), token) == "invalid token"


def test_roles_must_be_a_list_of_names() -> None:
    token = jwt.encode(claims(roles="agent"), SECRET, algorithm="HS256")

    assert reason_for(TokenVerifier.from_settings(hs256()), token) == (
        "roles must be a list of strings")


def test_audience_and_issuer_are_checked_when_configured() -> None:
    settings = hs256(jwt_audience="travelbuddy", jwt_issuer="https://id.example")
    verifier = TokenVerifier.from_settings(settings)

    assert verifier.verify(issue_token(settings, "alice")).customer_id == "alice"
    assert reason_for(verifier, issue_token(hs256(), "alice")) == "missing claim"
    other = jwt.encode(claims(aud="travelbuddy", iss="https://other"), SECRET, algorithm="HS256")
    assert reason_for(verifier, other) == "wrong issuer"


# --- RS256 ---


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_settings(private_key: rsa.RSAPrivateKey, folder: Path) -> Settings:
    key_file = folder / "public.pem"
    key_file.write_bytes(private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return Settings(jwt_algorithm="RS256", jwt_public_key_file=key_file)


def jwks_settings(private_key: rsa.RSAPrivateKey, folder: Path, kid: str = "k1") -> Settings:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    key_file = folder / "jwks.json"
    key_file.write_text(json.dumps({"keys": [jwk | {"kid": kid}]}))
    return Settings(jwt_algorithm="RS256", jwks_file=key_file)


def test_rs256_with_a_public_key_file(private_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    verifier = TokenVerifier.from_settings(pem_settings(private_key, tmp_path))

    good = jwt.encode(claims(), private_key, algorithm="RS256")
    hs256_with_the_public_key = jwt.encode(claims(), SECRET, algorithm="HS256")

    assert verifier.verify(good).customer_id == "alice"
    assert reason_for(verifier, hs256_with_the_public_key) == "algorithm not accepted"


def test_rs256_with_a_jwks_file_picks_the_key_by_kid(
    private_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    verifier = TokenVerifier.from_settings(jwks_settings(private_key, tmp_path))

    named = jwt.encode(claims(), private_key, algorithm="RS256", headers={"kid": "k1"})
    unnamed = jwt.encode(claims(), private_key, algorithm="RS256")
    unknown = jwt.encode(claims(), private_key, algorithm="RS256", headers={"kid": "k9"})

    assert verifier.verify(named).customer_id == "alice"
    assert verifier.verify(unnamed).customer_id == "alice"  # the set's only key
    assert reason_for(verifier, unknown) == "unknown signing key"


def test_rs256_with_another_key_is_refused(
    private_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    verifier = TokenVerifier.from_settings(jwks_settings(private_key, tmp_path))
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    token = jwt.encode(claims(), stranger, algorithm="RS256", headers={"kid": "k1"})

    assert reason_for(verifier, token) == "invalid signature"


def test_rs256_without_a_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="RS256 needs"):
        TokenVerifier.from_settings(Settings(jwt_algorithm="RS256"))


def test_tokens_are_issued_with_the_hs256_secret_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="HS256"):
        issue_token(Settings(jwt_algorithm="RS256"), "alice")


# --- The generated secret ---


def test_without_a_secret_one_is_generated_once_into_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(jwt_secret=None, data_dir=tmp_path / "data")

    first = resolve_secret(settings)
    again = resolve_secret(settings)

    path = secret_file(settings)
    assert first == again == path.read_text().strip()
    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_configured_secret_wins_over_the_file(tmp_path: Path) -> None:
    settings = Settings(jwt_secret=SECRET, data_dir=tmp_path)

    assert resolve_secret(settings) == SECRET
    assert not secret_file(settings).exists()

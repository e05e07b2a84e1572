"""Bearer tokens: a JWT verified into the identity the service trusts, and issued for
developers (`travelbuddy token`).

HS256 with a shared secret by default; RS256 with a public key (PEM) or a JWKS file when
another service issues the tokens. Only the configured algorithm is accepted.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from travelbuddy.config import Settings
from travelbuddy.security.signing_secret import resolve_secret

AGENT_ROLE = "agent"
"""Support staff: may see and cancel any booking."""

MAX_CUSTOMER_ID_LENGTH = 100

_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidSignatureError, "invalid signature"),
    (jwt.InvalidAlgorithmError, "algorithm not accepted"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.MissingRequiredClaimError, "missing claim"),
    (jwt.DecodeError, "malformed token"),
)


class InvalidToken(Exception):
    """A token that proves nothing: missing, malformed, wrongly signed, expired..."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenWithoutCustomer(InvalidToken):
    """A correctly signed, current token that names no usable customer (`sub`)."""


@dataclass(frozen=True)
class Identity:
    """What a verified token says: the customer and their roles."""

    customer_id: str
    roles: frozenset[str]

    @property
    def is_agent(self) -> bool:
        return AGENT_ROLE in self.roles


class TokenVerifier:
    """Verifies bearer tokens against one key source and algorithm."""

    def __init__(
        self,
        algorithm: str,
        key: str | Any | None = None,
        key_set: jwt.PyJWKSet | None = None,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> None:
        if (key is None) == (key_set is None):
            raise ValueError("a token verifier needs exactly one of a key or a key set")
        self._algorithm = algorithm
        self._key = key
        self._key_set = key_set
        self._audience = audience
        self._issuer = issuer

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        """The verifier the settings describe; raises ValueError when they are incomplete."""
        audience, issuer = settings.jwt_audience, settings.jwt_issuer
        if settings.jwt_algorithm == "HS256":
            return cls("HS256", key=resolve_secret(settings), audience=audience, issuer=issuer)
        if settings.jwks_file is not None:
            key_set = jwt.PyJWKSet.from_dict(
                json.loads(settings.jwks_file.read_text(encoding="utf-8")))
            return cls("RS256", key_set=key_set, audience=audience, issuer=issuer)
        if settings.jwt_public_key_file is not None:
            public_key = settings.jwt_public_key_file.read_text(encoding="utf-8")
            return cls("RS256", key=public_key, audience=audience, issuer=issuer)
        raise ValueError("RS256 needs TRAVELBUDDY_JWT_PUBLIC_KEY_FILE or TRAVELBUDDY_JWKS_FILE")

    def verify(self, token: str) -> Identity:
        """The token's identity; raises InvalidToken (with a reason) otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._signing_key(token),
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(_reason(error)) from error
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise TokenWithoutCustomer("token names no customer (sub)")
        if len(subject) > MAX_CUSTOMER_ID_LENGTH:
            raise TokenWithoutCustomer(f"sub longer than {MAX_CUSTOMER_ID_LENGTH} characters")
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise InvalidToken("roles must be a list of strings")
        return Identity(customer_id=subject, roles=frozenset(roles))

    def _signing_key(self, token: str) -> Any:
        if self._key_set is None:
            return self._key
        try:
            key_id = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as error:
            raise InvalidToken(_reason(error)) from error
        if key_id is None:
            if len(self._key_set.keys) != 1:
                raise InvalidToken("token names no signing key (kid)")
            return self._key_set.keys[0]
        try:
            return self._key_set[key_id]
        except KeyError:
            raise InvalidToken("unknown signing key") from None


def issue_token(
    settings: Settings,
    customer: str,
    roles: Iterable[str] = (),
    ttl: dt.timedelta | None = None,
) -> str:
    """A token for `customer` signed with the configured HS256 secret (a developer's helper:
    RS256 tokens come from whoever holds the private key)."""
    if settings.jwt_algorithm != "HS256":
        raise ValueError("tokens can be issued here only with the HS256 secret")
    now = dt.datetime.now(dt.UTC)
    lifetime = ttl if ttl is not None else dt.timedelta(seconds=settings.token_ttl_seconds)
    claims: dict[str, Any] = {
        "sub": customer, "roles": sorted(set(roles)), "iat": now, "exp": now + lifetime,
    }
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, resolve_secret(settings), algorithm="HS256")


def _reason(error: jwt.PyJWTError) -> str:
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    return "invalid token"

"""Bearer tokens: a JWT verified into the identity the service trusts, and issued for
developers (`travelbuddy token`).

HS256 with a shared secret by default; RS256 with a public key (PEM), a JWKS file or a
JWKS URL when another service issues the tokens. Only the configured algorithm is
accepted, and a token must expire: `exp` a number no further away than the configured
maximum lifetime.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt

from travelbuddy.config import Settings
from travelbuddy.security.jwks_endpoint import JwksEndpoint
from travelbuddy.security.signing_secret import resolve_secret

AGENT_ROLE = "agent"
"""Support staff: may see and cancel any booking."""

MAX_CUSTOMER_ID_LENGTH = 100
RESERVED_CUSTOMER_PREFIXES = ("system:",)
"""The application's own callers (`Caller.system`, e.g. the inbound consumer's
`system:hotel-service`): no token may name one."""

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
    expires_at: float = field(default=math.inf, compare=False)
    """The token's `exp`, seconds since the epoch: a websocket is closed then."""

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
        max_lifetime: float = 86_400.0,
        endpoint: JwksEndpoint | None = None,
    ) -> None:
        if [key, key_set, endpoint].count(None) != 2:
            raise ValueError("a token verifier needs exactly one of a key, a key set or a "
                             "JWKS endpoint")
        self._algorithm = algorithm
        self._key = key
        self._key_set = key_set
        self._endpoint = endpoint
        self._audience = audience
        self._issuer = issuer
        self._max_lifetime = max_lifetime

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        """The verifier the settings describe; raises ValueError when they are incomplete
        (UnusableSecret, a ValueError, for an empty or short HS256 secret)."""
        common: dict[str, Any] = {"audience": settings.jwt_audience,
                                  "issuer": settings.jwt_issuer,
                                  "max_lifetime": settings.jwt_max_lifetime_seconds}
        if settings.jwt_algorithm == "HS256":
            return cls("HS256", key=resolve_secret(settings), **common)
        if settings.jwks_url is not None:
            endpoint = JwksEndpoint(
                settings.jwks_url, max_age=settings.jwks_cache_seconds,
                refresh_interval=settings.jwks_refresh_interval_seconds,
                timeout=settings.jwks_timeout_seconds)
            return cls("RS256", endpoint=endpoint, **common)
        if settings.jwks_file is not None:
            key_set = jwt.PyJWKSet.from_dict(
                json.loads(settings.jwks_file.read_text(encoding="utf-8")))
            return cls("RS256", key_set=key_set, **common)
        if settings.jwt_public_key_file is not None:
            public_key = settings.jwt_public_key_file.read_text(encoding="utf-8")
            return cls("RS256", key=public_key, **common)
        raise ValueError("RS256 needs TRAVELBUDDY_JWT_PUBLIC_KEY_FILE, TRAVELBUDDY_JWKS_FILE "
                         "or TRAVELBUDDY_JWKS_URL")

    async def prepare_keys(self, token: str) -> None:
        """With a JWKS URL: fetch the keys (in a worker thread) when the token names one not
        yet known. Nothing to do for the other key sources. Never raises: a token whose key
        cannot be had is refused by `verify`."""
        if self._endpoint is None:
            return
        try:
            key_id = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return
        if key_id is None or isinstance(key_id, str):
            await self._endpoint.prepare(key_id)

    def verify(self, token: str) -> Identity:
        """The token's identity; raises InvalidToken (with a reason) otherwise. With a JWKS
        URL, only the keys already fetched count (see `prepare_keys`)."""
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
        expires_at = self._checked_expiry(claims["exp"])
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise TokenWithoutCustomer("token names no customer (sub)")
        if len(subject) > MAX_CUSTOMER_ID_LENGTH:
            raise TokenWithoutCustomer(f"sub longer than {MAX_CUSTOMER_ID_LENGTH} characters")
        if any(_is_control(character) for character in subject):
            raise TokenWithoutCustomer("sub has control characters")
        if subject.strip().casefold().startswith(RESERVED_CUSTOMER_PREFIXES):
            raise TokenWithoutCustomer("sub names a reserved caller")
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise InvalidToken("roles must be a list of strings")
        return Identity(customer_id=subject, roles=frozenset(roles), expires_at=expires_at)

    def _checked_expiry(self, expiry: Any) -> float:
        # PyJWT accepts any `exp` that int() takes: "2000000000", 1e30, True.
        if isinstance(expiry, bool) or not isinstance(expiry, int | float):
            raise InvalidToken("exp must be a number")
        if not math.isfinite(expiry) or expiry - time.time() > self._max_lifetime:
            raise InvalidToken("token lives longer than allowed")
        return float(expiry)

    def _signing_key(self, token: str) -> Any:
        if self._key_set is None and self._endpoint is None:
            return self._key
        try:
            key_id = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as error:
            raise InvalidToken(_reason(error)) from error
        if key_id is not None and not isinstance(key_id, str):
            raise InvalidToken("malformed token")
        if self._endpoint is not None:
            if (key := self._endpoint.key(key_id)) is None:
                raise InvalidToken("unknown signing key")
            return key
        assert self._key_set is not None
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
    if lifetime.total_seconds() > settings.jwt_max_lifetime_seconds:
        raise ValueError(f"a token may live at most {settings.jwt_max_lifetime_seconds} "
                         "seconds (TRAVELBUDDY_JWT_MAX_LIFETIME_SECONDS)")
    claims: dict[str, Any] = {
        "sub": customer, "roles": sorted(set(roles)), "iat": now, "exp": now + lifetime,
    }
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, resolve_secret(settings), algorithm="HS256")


def _is_control(character: str) -> bool:
    # Cc controls (NUL...), Cf format characters (bidi overrides, zero-width), Cs lone
    # surrogates, Co private use, Cn unassigned; and the line and paragraph separators.
    return unicodedata.category(character) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def _reason(error: jwt.PyJWTError) -> str:
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    return "invalid token"

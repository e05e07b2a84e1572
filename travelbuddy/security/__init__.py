"""Who is calling: bearer JWTs verified into a customer id and roles."""

from travelbuddy.security.tokens import (
    AGENT_ROLE,
    Identity,
    InvalidToken,
    TokenVerifier,
    TokenWithoutCustomer,
    issue_token,
)

__all__ = [
    "AGENT_ROLE",
    "Identity",
    "InvalidToken",
    "TokenVerifier",
    "TokenWithoutCustomer",
    "issue_token",
]

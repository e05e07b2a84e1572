"""`travelbuddy token` (a bearer token for the configured HS256 secret, for developers)
and the token `serve` and `api` print at start-up."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated
from urllib.parse import quote

import typer

from travelbuddy.config import Settings
from travelbuddy.security.signing_secret import secret_file
from travelbuddy.security.tokens import AGENT_ROLE, TokenVerifier, issue_token


def token(
    customer: str = typer.Argument(help="Customer id: the token's `sub`."),
    role: Annotated[list[str] | None, typer.Option(
        "--role", help=f"A role to grant ({AGENT_ROLE}: see and cancel any booking)."
    )] = None,
    ttl: int | None = typer.Option(
        None, min=1, help="Lifetime in seconds (default: TRAVELBUDDY_TOKEN_TTL_SECONDS)."
    ),
) -> None:
    """Print a bearer token for CUSTOMER, signed with the configured secret."""
    settings = Settings()
    if settings.jwt_algorithm != "HS256":
        typer.echo("travelbuddy token signs with the HS256 secret; with RS256 the tokens "
                   "come from the holder of the private key", err=True)
        raise typer.Exit(1)
    lifetime = dt.timedelta(seconds=ttl) if ttl is not None else None
    try:
        typer.echo(issue_token(settings, customer, role or (), lifetime))
    except ValueError as error:  # an unusable secret, a lifetime over the maximum
        typer.echo(f"travelbuddy token: {error}", err=True)
        raise typer.Exit(1) from error


def print_start_up_token(settings: Settings, base: str) -> None:
    """For `serve` and `api`: refuse to start (exit 1, one line saying why) on incomplete
    token settings or an empty or short secret and, with HS256, show a token to try and a
    GraphiQL link with it filled in (GraphiQL reads `?headers=`)."""
    try:
        TokenVerifier.from_settings(settings)  # creates the secret file on first start
        demo_token = (issue_token(settings, "demo-customer")
                      if settings.jwt_algorithm == "HS256" else None)
    except (ValueError, OSError) as error:
        typer.echo(f"travelbuddy: cannot start: {error}", err=True)
        raise typer.Exit(1) from error
    if demo_token is None:
        typer.echo("  tokens: RS256, verified with the configured public key(s)")
        return
    if settings.jwt_secret is None:
        typer.echo(f"  token secret: {secret_file(settings)} (or set TRAVELBUDDY_JWT_SECRET)")
    headers = json.dumps({"Authorization": f"Bearer {demo_token}"})
    typer.echo(f"  try, as demo-customer (GraphiQL's Headers tab): {headers}")
    typer.echo(f"  or open GraphiQL with it filled in: {base}/graphql?headers={quote(headers)}")
    typer.echo("  more tokens: travelbuddy token CUSTOMER [--role agent]")

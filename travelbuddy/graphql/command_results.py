"""How the outcome of a command, or the reason it failed, is answered as GraphQL data."""

from __future__ import annotations

import re
from collections.abc import Iterable

import strawberry

from travelbuddy.application import CommandOutcome, ConcurrencyConflict
from travelbuddy.domain.errors import (
    BookingNotFound,
    DomainError,
    NotAllowed,
    Problem,
    ValidationFailed,
)
from travelbuddy.graphql.command_types import (
    BookingNotFoundError,
    CommandAccepted,
    ConcurrencyConflictError,
    FieldProblem,
    InvalidTransitionError,
    NotAllowedError,
    ValidationError,
)

# "hotel_stays[0]" is the one stay the GraphQL input calls "hotelStay".
_STAY = re.compile(r"^hotel_stays\[0\]")
_INDEX = re.compile(r"\[(\d+)\]")


def graphql_path(field: str | None) -> list[str] | None:
    """A domain field path ("flights[1].seats") as GraphQL argument path segments."""
    if field is None:
        return None
    field = _STAY.sub("hotel_stay", field)
    segments: list[str] = ["input"]
    for part in _INDEX.sub(r".\1", field).split("."):
        head, *rest = part.split("_")
        segments.append(head + "".join(word.capitalize() for word in rest))
    return segments


def validation_error(
    problems: Iterable[Problem], *, paths_are_graphql: bool = False
) -> ValidationError:
    listed = [
        FieldProblem(
            code=p.code,
            message=p.message,
            path=(p.field.split(".") if p.field else None)
            if paths_are_graphql
            else graphql_path(p.field),
        )
        for p in problems
    ]
    return ValidationError(
        code="VALIDATION_FAILED",
        message="; ".join(p.message for p in listed) or "invalid input",
        problems=listed,
    )


def accepted(outcome: CommandOutcome) -> CommandAccepted:
    return CommandAccepted(
        booking_id=strawberry.ID(outcome.booking_id),
        version=outcome.version,
        replayed=outcome.replayed,
    )


def failure(
    error: DomainError | ConcurrencyConflict, booking_id: str
) -> (ValidationError | BookingNotFoundError | InvalidTransitionError | ConcurrencyConflictError
      | NotAllowedError):
    """The union member that says why a command was not carried out."""
    booking = strawberry.ID(booking_id)
    if isinstance(error, ConcurrencyConflict):
        return ConcurrencyConflictError(
            code="CONCURRENCY_CONFLICT", message=str(error), booking_id=booking
        )
    if isinstance(error, ValidationFailed):
        return validation_error(error.problems)
    if isinstance(error, BookingNotFound):
        return BookingNotFoundError(code=error.code, message=error.message, booking_id=booking)
    if isinstance(error, NotAllowed):
        return NotAllowedError(code=error.code, message=error.message, booking_id=booking)
    # InvalidTransition, BookingAlreadyExists: the booking's state forbids the command.
    return InvalidTransitionError(code=error.code, message=error.message, booking_id=booking)

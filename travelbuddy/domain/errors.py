"""Domain errors: a broken business rule, with a code the client can act on.

Every rule has its own code. Input rules raise `ValidationFailed` carrying every
`Problem` found, so a client can show them all at once; rules about the booking's
current state raise `InvalidTransition`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# Input rules (reported as problems of ValidationFailed).
VALIDATION_FAILED = "VALIDATION_FAILED"
CHECK_OUT_NOT_AFTER_CHECK_IN = "CHECK_OUT_NOT_AFTER_CHECK_IN"
STAY_TOO_LONG = "STAY_TOO_LONG"
CHECK_IN_IN_PAST = "CHECK_IN_IN_PAST"
GUESTS_OUT_OF_RANGE = "GUESTS_OUT_OF_RANGE"
SEATS_OUT_OF_RANGE = "SEATS_OUT_OF_RANGE"
NO_ITEMS = "NO_ITEMS"
TOO_MANY_STAYS = "TOO_MANY_STAYS"
TOO_MANY_FLIGHTS = "TOO_MANY_FLIGHTS"
DUPLICATE_FLIGHT = "DUPLICATE_FLIGHT"
FLIGHT_IN_PAST = "FLIGHT_IN_PAST"
NO_TRAVELERS = "NO_TRAVELERS"
UNKNOWN_HOTEL = "UNKNOWN_HOTEL"
UNKNOWN_ROOM_TYPE = "UNKNOWN_ROOM_TYPE"
UNKNOWN_FLIGHT = "UNKNOWN_FLIGHT"
UNKNOWN_CABIN = "UNKNOWN_CABIN"
UNKNOWN_PERK = "UNKNOWN_PERK"

# State rules (raised as InvalidTransition).
PERK_NOT_OFFERED = "PERK_NOT_OFFERED"
PERK_ALREADY_APPLIED = "PERK_ALREADY_APPLIED"
NO_HOTEL_STAY = "NO_HOTEL_STAY"
CHECK_IN_PASSED = "CHECK_IN_PASSED"
BOOKING_CANCELLED = "BOOKING_CANCELLED"
BOOKING_REJECTED = "BOOKING_REJECTED"
ITEM_NOT_PENDING = "ITEM_NOT_PENDING"
FLIGHT_NOT_IN_BOOKING = "FLIGHT_NOT_IN_BOOKING"
ALREADY_CANCELLED = "ALREADY_CANCELLED"

# Stream rules.
BOOKING_NOT_FOUND = "BOOKING_NOT_FOUND"
BOOKING_ALREADY_EXISTS = "BOOKING_ALREADY_EXISTS"

# Who may send a command.
NOT_ALLOWED = "NOT_ALLOWED"
COMMAND_ID_REUSED = "COMMAND_ID_REUSED"


class Problem(BaseModel):
    """One broken input rule.

    `field` is a path in the command's own terms, such as "hotel_stays[0].check_out"
    or "flights[2].seats"; None when the problem is about the command as a whole.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    message: str
    field: str | None = None


class DomainError(Exception):
    """A command broke a business rule; nothing was recorded."""

    def __init__(self, code: str, message: str) -> None:
        """Carry a machine-readable code and a message a person can read."""
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ValidationFailed(DomainError):
    """The command's input breaks one or more rules; `problems` lists them all."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        """Collect the problems; there is at least one."""
        if not problems:
            raise ValueError("ValidationFailed needs at least one problem")
        summary = " ".join(problem.message for problem in problems)
        super().__init__(VALIDATION_FAILED, summary)
        self.problems = problems

    @property
    def codes(self) -> tuple[str, ...]:
        """The code of each problem, in the order found."""
        return tuple(problem.code for problem in self.problems)


class InvalidTransition(DomainError):
    """The command is not allowed in the booking's current state."""


class BookingNotFound(DomainError):
    """The command is about a booking that was never requested."""

    def __init__(self, booking_id: str) -> None:
        """Name the booking that does not exist."""
        super().__init__(BOOKING_NOT_FOUND, f"There is no booking {booking_id}.")
        self.booking_id = booking_id


class BookingAlreadyExists(DomainError):
    """A booking was requested with an id that is already taken."""

    def __init__(self, booking_id: str) -> None:
        """Name the booking that already exists."""
        super().__init__(BOOKING_ALREADY_EXISTS, f"Booking {booking_id} already exists.")
        self.booking_id = booking_id


class NotAllowed(DomainError):
    """The caller may not send this command for this booking (a customer recording the
    hotel's or airline's answer, for one)."""

    def __init__(self, booking_id: str, message: str) -> None:
        """Name the booking and say who may send the command."""
        super().__init__(NOT_ALLOWED, message)
        self.booking_id = booking_id


class CommandIdReused(DomainError):
    """A command id the sender used before, sent now with another command: refused, as a
    payment API refuses an idempotency key reused for another payment."""

    def __init__(self, command_id: str) -> None:
        """Name the command id."""
        super().__init__(COMMAND_ID_REUSED, f"Command id {command_id} was used before for "
                         "another command; use a new id for a new command.")
        self.command_id = command_id

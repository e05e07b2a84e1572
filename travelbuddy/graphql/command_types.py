"""GraphQL types of the command schema: inputs mapped to commands, results as data."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

import strawberry

from travelbuddy.domain import Cabin as DomainCabin
from travelbuddy.domain.booking_request import MAX_FLIGHTS, MAX_TRAVELERS
from travelbuddy.graphql.input_checks import max_items


@strawberry.enum(description="Cabin class of a flight fare.")
class Cabin(Enum):
    ECONOMY = DomainCabin.ECONOMY.value
    PREMIUM = DomainCabin.PREMIUM.value
    FIRST = DomainCabin.FIRST.value


@strawberry.input(description="A hotel stay to book: one room for the given nights.")
class HotelStayInput:
    hotel_id: str = strawberry.field(description="Catalog id of the hotel, e.g. hotel-tokyo-1.")
    room_type: str = strawberry.field(description="Code of a room type of that hotel.")
    check_in: dt.date = strawberry.field(description="First night, not in the past.")
    check_out: dt.date = strawberry.field(description="Day of departure, after check-in.")
    guests: int = strawberry.field(description="Guests in the room, 1 to 9.")


@strawberry.input(description="A flight to book on a given day.")
class FlightInput:
    flight_id: str = strawberry.field(description="Catalog id of the flight.")
    date: dt.date = strawberry.field(description="Day of departure, not in the past.")
    seats: int = strawberry.field(description="Seats to reserve, 1 to 9.")
    cabin: Cabin = strawberry.field(description="Cabin class of the fare.")


@strawberry.input(description="Someone who travels.")
class TravelerInput:
    name: str = strawberry.field(description="Full name as on the passport.")


@strawberry.input(description="Request a trip: at most one hotel stay and up to four flights.")
class RequestBookingInput:
    hotel_stay: HotelStayInput | None = strawberry.field(
        default=None, description="The hotel stay, if the trip has one."
    )
    # The domain's own limits, at the GraphQL layer too: a longer list is refused before
    # its objects are built (see `input_checks`).
    flights: list[FlightInput] = strawberry.field(
        default_factory=list, description="Up to four flights.",
        metadata=max_items(MAX_FLIGHTS),
    )
    travelers: list[TravelerInput] = strawberry.field(
        description="One to nine travelers.", metadata=max_items(MAX_TRAVELERS)
    )


@strawberry.input(description="The hotel reserved the stay.")
class ConfirmHotelReservationInput:
    booking_id: strawberry.ID
    confirmation_code: str = strawberry.field(description="The hotel's reservation code.")


@strawberry.input(description="The hotel could not reserve the stay.")
class RejectHotelReservationInput:
    booking_id: strawberry.ID
    reason: str = strawberry.field(description="Why, in words the customer understands.")


@strawberry.input(description="The airline reserved the seats on one flight.")
class ConfirmFlightReservationInput:
    booking_id: strawberry.ID
    flight_id: str
    confirmation_code: str = strawberry.field(description="The airline's reservation code.")


@strawberry.input(description="The airline could not reserve the seats on one flight.")
class RejectFlightReservationInput:
    booking_id: strawberry.ID
    flight_id: str
    reason: str = strawberry.field(description="Why, in words the customer understands.")


@strawberry.input(description="Use a perk the booked hotel or a booked fare offers.")
class ApplyPerkInput:
    booking_id: strawberry.ID
    perk_code: str = strawberry.field(description="Code of the perk, as offered in the booking.")


@strawberry.input(description="Move the hotel stay to other nights.")
class ChangeStayDatesInput:
    booking_id: strawberry.ID
    check_in: dt.date
    check_out: dt.date


@strawberry.input(description="Call the whole trip off before it starts.")
class CancelBookingInput:
    booking_id: strawberry.ID
    reason: str | None = None


@strawberry.type(description="The command was accepted.")
class CommandAccepted:
    booking_id: strawberry.ID = strawberry.field(description="The booking the command acted on.")
    version: int = strawberry.field(
        description="The booking's version after the command; pass it to the query schema's "
        "`booking(id, minVersion)` to read your own write."
    )
    replayed: bool = strawberry.field(
        description="True when this command id was handled before: the first outcome, "
        "nothing appended now."
    )


@strawberry.interface(description="A command that was not carried out, and why.")
class CommandError:
    code: str = strawberry.field(description="Stable machine-readable code.")
    message: str = strawberry.field(description="What went wrong, for people.")


@strawberry.type(description="One problem with the input.")
class FieldProblem:
    code: str
    message: str
    path: list[str] | None = strawberry.field(
        description="Where in the mutation's arguments, e.g. [input, flights, 1, seats]."
    )


@strawberry.type(description="The input breaks one or more rules; nothing was changed.")
class ValidationError(CommandError):
    problems: list[FieldProblem]


@strawberry.type(description="No booking with this id that the caller may see.")
class BookingNotFoundError(CommandError):
    booking_id: strawberry.ID


@strawberry.type(description="The booking's current state does not allow this command.")
class InvalidTransitionError(CommandError):
    booking_id: strawberry.ID


@strawberry.type(description="The booking kept changing while the command was decided; retry.")
class ConcurrencyConflictError(CommandError):
    booking_id: strawberry.ID


@strawberry.type(description="The caller may not send this command (a customer recording "
                 "the hotel's or airline's answer, for one).")
class NotAllowedError(CommandError):
    booking_id: strawberry.ID


@strawberry.type(description="The request names no caller (no bearer token).")
class NotAuthenticatedError(CommandError):
    pass


CommandResult = Annotated[
    CommandAccepted
    | ValidationError
    | BookingNotFoundError
    | InvalidTransitionError
    | ConcurrencyConflictError
    | NotAllowedError
    | NotAuthenticatedError,
    strawberry.union("CommandResult", description="What became of a command."),
]

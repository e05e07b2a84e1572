"""The command schema: one mutation per Booking command, results as data.

Served on POST /graphql/command (GraphiQL on GET). It exposes no read-model data.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from travelbuddy.application import CommandContext, ConcurrencyConflict
from travelbuddy.config import Settings
from travelbuddy.domain import (
    ApplyPerk,
    CancelBooking,
    ChangeStayDates,
    Command,
    ConfirmFlightReservation,
    ConfirmHotelReservation,
    FlightRequest,
    HotelStayRequest,
    RejectFlightReservation,
    RejectHotelReservation,
    RequestBooking,
    Traveler,
)
from travelbuddy.domain import Cabin as DomainCabin
from travelbuddy.domain.errors import DomainError
from travelbuddy.graphql.command_results import accepted, failure, validation_error
from travelbuddy.graphql.command_types import (
    ApplyPerkInput,
    CancelBookingInput,
    ChangeStayDatesInput,
    CommandResult,
    ConfirmFlightReservationInput,
    ConfirmHotelReservationInput,
    NotAuthenticatedError,
    RejectFlightReservationInput,
    RejectHotelReservationInput,
    RequestBookingInput,
)
from travelbuddy.graphql.context import GraphQLContext
from travelbuddy.graphql.errors import ServiceSchema
from travelbuddy.graphql.input_limits import text_problems
from travelbuddy.graphql.limits import (
    default_settings,
    execution_context_class,
    schema_config,
    schema_extensions,
)
from travelbuddy.graphql.operation_metrics import OperationMetrics

SCHEMA_VERSION = "1"

CommandId = Annotated[
    strawberry.ID | None,
    strawberry.argument(
        description="Client-chosen id of this command. Sending it again (a retry after a "
        "timeout) returns the first outcome and changes nothing."
    ),
]


async def dispatch(
    info: Info[GraphQLContext, None],
    arguments: Any,
    command_id: strawberry.ID | None,
    build: Callable[[str], Command],
) -> CommandResult:
    """Check the caller and the input, build the command, hand it to the application."""
    context = info.context
    if context.caller is None:
        return NotAuthenticatedError(
            code="NOT_AUTHENTICATED", message="send a bearer token"
        )
    problems = text_problems(arguments) + text_problems(command_id or "", "commandId")
    if problems:
        return validation_error(problems, paths_are_graphql=True)
    command: Command = build(context.caller.customer_id)
    try:
        outcome = await context.services.commands.handle(
            command,
            context.caller,
            CommandContext(command_id=str(command_id) if command_id else None),
        )
    except (DomainError, ConcurrencyConflict) as error:
        return failure(error, command.booking_id)
    return accepted(outcome)


@strawberry.type(description="What a command client needs besides the mutations.")
class Query:
    @strawberry.field(description="Version of the command schema.")
    def schema_version(self) -> str:
        return SCHEMA_VERSION


@strawberry.type(description="Commands to the Booking; each answers with a CommandResult.")
class Mutation:
    @strawberry.mutation(description="Request a new booking; prices and perks come from the "
                         "catalog at this moment.")
    async def request_booking(
        self, info: Info[GraphQLContext, None], input: RequestBookingInput,
        command_id: CommandId = None,
    ) -> CommandResult:
        booking_id = str(uuid.uuid4())

        def build(customer_id: str) -> Command:
            stay = input.hotel_stay
            return RequestBooking(
                booking_id=booking_id,
                customer_id=customer_id,
                hotel_stays=() if stay is None else (HotelStayRequest(
                    hotel_id=stay.hotel_id, room_type=stay.room_type,
                    check_in=stay.check_in, check_out=stay.check_out, guests=stay.guests,
                ),),
                flights=tuple(
                    FlightRequest(flight_id=f.flight_id, date=f.date, seats=f.seats,
                                  cabin=DomainCabin(f.cabin.value))
                    for f in input.flights
                ),
                travelers=tuple(Traveler(name=t.name) for t in input.travelers),
            )

        return await dispatch(info, input, command_id, build)

    @strawberry.mutation(description="Record that the hotel reserved the stay (agents "
                         "only; hotels answer through Kafka).")
    async def confirm_hotel_reservation(
        self, info: Info[GraphQLContext, None], input: ConfirmHotelReservationInput,
        command_id: CommandId = None,
    ) -> CommandResult:
        return await dispatch(info, input, command_id, lambda _: ConfirmHotelReservation(
            booking_id=str(input.booking_id), confirmation_code=input.confirmation_code))

    @strawberry.mutation(description="Record that the hotel could not reserve the stay "
                         "(agents only).")
    async def reject_hotel_reservation(
        self, info: Info[GraphQLContext, None], input: RejectHotelReservationInput,
        command_id: CommandId = None,
    ) -> CommandResult:
        return await dispatch(info, input, command_id, lambda _: RejectHotelReservation(
            booking_id=str(input.booking_id), reason=input.reason))

    @strawberry.mutation(description="Record that the airline reserved seats on one "
                         "flight (agents only).")
    async def confirm_flight_reservation(
        self, info: Info[GraphQLContext, None], input: ConfirmFlightReservationInput,
        command_id: CommandId = None,
    ) -> CommandResult:
        return await dispatch(info, input, command_id, lambda _: ConfirmFlightReservation(
            booking_id=str(input.booking_id), flight_id=input.flight_id,
            confirmation_code=input.confirmation_code))

    @strawberry.mutation(description="Record that the airline could not reserve one "
                         "flight (agents only).")
    async def reject_flight_reservation(
        self, info: Info[GraphQLContext, None], input: RejectFlightReservationInput,
        command_id: CommandId = None,
    ) -> CommandResult:
        return await dispatch(info, input, command_id, lambda _: RejectFlightReservation(
            booking_id=str(input.booking_id), flight_id=input.flight_id, reason=input.reason))

    @strawberry.mutation(description="Use a perk of the booked hotel or a booked fare.")
    async def apply_perk(
        self, info: Info[GraphQLContext, None], input: ApplyPerkInput,
        command_id: CommandId = None,
    ) -> CommandResult:
        return await dispatch(info, input, command_id, lambda _: ApplyPerk(
            booking_id=str(input.booking_id), perk_code=input.perk_code))

    @strawberry.mutation(description="Move the hotel stay to other nights (before check-in).")
    async def change_stay_dates(
        self, info: Info[GraphQLContext, None], input: ChangeStayDatesInput,
        command_id: CommandId = None,
    ) -> CommandResult:
        return await dispatch(info, input, command_id, lambda _: ChangeStayDates(
            booking_id=str(input.booking_id), check_in=input.check_in,
            check_out=input.check_out))

    @strawberry.mutation(description="Cancel the booking (before the trip starts).")
    async def cancel_booking(
        self, info: Info[GraphQLContext, None], input: CancelBookingInput,
        command_id: CommandId = None,
    ) -> CommandResult:
        return await dispatch(info, input, command_id, lambda _: CancelBooking(
            booking_id=str(input.booking_id), reason=input.reason))


def build_schema(settings: Settings) -> strawberry.Schema:
    """The command schema with the error masking and abuse limits the settings ask for."""
    return ServiceSchema(query=Query, mutation=Mutation,
                         extensions=[*OperationMetrics.of("command", settings),
                                     *schema_extensions(settings)],
                         config=schema_config(settings),
                         execution_context_class=execution_context_class(settings))


schema = build_schema(default_settings())

"""The query schema: queries and subscriptions over query collections only.

Served on GET/POST /graphql with GraphiQL; subscriptions on the same path over
websockets (graphql-transport-ws).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from travelbuddy.config import Settings
from travelbuddy.graphql.catalog_types import FlightOffer, HotelOffer
from travelbuddy.graphql.context import GraphQLContext
from travelbuddy.graphql.endpoint_hints import CommandEndpointHint
from travelbuddy.graphql.errors import ServiceSchema
from travelbuddy.graphql.fanout import SubscriberTooSlow
from travelbuddy.graphql.limits import (
    default_settings,
    execution_context_class,
    schema_config,
    schema_extensions,
)
from travelbuddy.graphql.operation_metrics import OperationMetrics
from travelbuddy.graphql.query_types import (
    Booking,
    BookingConnection,
    BookingEdge,
    BookingStatus,
    NightOccupancy,
    PageInfo,
)
from travelbuddy.readmodels.ports import View
from travelbuddy.readmodels.queries import MAX_PAGE_SIZE, InvalidCursor, Reader

MAX_OCCUPANCY_DAYS = 366
MAX_STAY_NIGHTS = 30


def reader_of(info: Info[GraphQLContext, None]) -> Reader:
    caller = info.context.caller
    if caller is None:
        raise GraphQLError(
            "send a bearer token", extensions={"code": "NOT_AUTHENTICATED"}
        )
    return Reader(caller.customer_id, sees_every_booking=caller.may_act_on_any_booking)


@strawberry.type(description="Read bookings and occupancy.")
class Query:
    @strawberry.field(description="One booking of the caller, or null.")
    async def booking(
        self,
        info: Info[GraphQLContext, None],
        id: strawberry.ID,
        min_version: Annotated[int | None, strawberry.argument(
            description="Wait (at most about 2 s) until the view has this version, "
            "e.g. the one a mutation returned."
        )] = None,
    ) -> Booking | None:
        queries = info.context.services.queries
        reader = reader_of(info)
        if min_version is None:
            view = await queries.booking(reader, str(id))
            return Booking.from_view(view) if view else None
        view, behind = await queries.booking_at_least(reader, str(id), min_version)
        return Booking.from_view(view, behind=behind) if view else None

    @strawberry.field(description="The caller's bookings ordered by check-in.")
    async def my_bookings(
        self,
        info: Info[GraphQLContext, None],
        status: BookingStatus | None = None,
        first: Annotated[int, strawberry.argument(
            description=f"Page size, 1 to {MAX_PAGE_SIZE}.")] = 20,
        after: str | None = None,
    ) -> BookingConnection:
        if not 1 <= first <= MAX_PAGE_SIZE:
            raise GraphQLError(f"first must be between 1 and {MAX_PAGE_SIZE}",
                               extensions={"code": "BAD_USER_INPUT"})
        try:
            page = await info.context.services.queries.my_bookings(
                reader_of(info), status.value if status else None, first, after
            )
        except InvalidCursor as error:
            raise GraphQLError(str(error), extensions={"code": "BAD_USER_INPUT"}) from error
        edges = [BookingEdge(cursor=c, node=Booking.from_view(v))
                 for v, c in zip(page.views, page.cursors, strict=True)]
        return BookingConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next_page,
                               end_cursor=edges[-1].cursor if edges else None),
        )

    @strawberry.field(description="Rooms booked per night at a hotel, from..to inclusive.")
    async def hotel_occupancy(
        self,
        info: Info[GraphQLContext, None],
        hotel_id: str,
        from_: Annotated[dt.date, strawberry.argument(name="from")],
        to: dt.date,
    ) -> list[NightOccupancy]:
        reader_of(info)
        if to < from_ or (to - from_).days > MAX_OCCUPANCY_DAYS:
            raise GraphQLError(f"from..to must be in order and at most {MAX_OCCUPANCY_DAYS} "
                               "days", extensions={"code": "BAD_USER_INPUT"})
        nights = await info.context.services.queries.hotel_occupancy(hotel_id, from_, to)
        return [NightOccupancy(night=dt.date.fromisoformat(n), rooms=r) for n, r in nights]


    @strawberry.field(description="Hotels in a city with the price of the stay in each "
                      "room type, and their perks.")
    async def hotels(
        self, info: Info[GraphQLContext, None], city: str, check_in: dt.date,
        check_out: dt.date,
    ) -> list[HotelOffer]:
        if not 0 < (check_out - check_in).days <= MAX_STAY_NIGHTS:
            raise GraphQLError(f"checkOut must be 1 to {MAX_STAY_NIGHTS} nights after checkIn",
                               extensions={"code": "BAD_USER_INPUT"})
        found = await info.context.services.read_models.catalog.hotels_in(city)
        return [HotelOffer.of(h, check_in, check_out) for h in found]

    @strawberry.field(description="Flights from one airport to another on a day, with "
                      "their fares and perks.")
    async def flights(
        self, info: Info[GraphQLContext, None],
        from_: Annotated[str, strawberry.argument(name="from", description="IATA code.")],
        to: Annotated[str, strawberry.argument(description="IATA code.")],
        date: dt.date,
    ) -> list[FlightOffer]:
        found = await info.context.services.read_models.catalog.flights_between(from_, to)
        return [FlightOffer.of(f, date) for f in found]


@strawberry.type(description="Live booking updates.")
class Subscription:
    @strawberry.subscription(description="The booking now, then every change to it.")
    async def booking_updated(
        self, info: Info[GraphQLContext, None], booking_id: strawberry.ID
    ) -> AsyncGenerator[Booking, None]:
        async for view in _watch(info, str(booking_id)):
            yield Booking.from_view(view)

    @strawberry.subscription(description="All of the caller's bookings now, then every change.")
    async def my_booking_updates(
        self, info: Info[GraphQLContext, None]
    ) -> AsyncGenerator[Booking, None]:
        async for view in _watch(info, None):
            yield Booking.from_view(view)


async def _watch(info: Info[GraphQLContext, None], booking_id: str | None
                 ) -> AsyncGenerator[View, None]:
    """The caller's updates from the process's fan-out; a subscriber ended for being slow
    gets an error it can act on (subscribe again), not an internal one."""
    reader = reader_of(info)
    try:
        async for view in info.context.services.updates.watch(reader, booking_id):
            yield view
    except SubscriberTooSlow as error:
        raise GraphQLError(str(error), extensions={"code": "SUBSCRIBER_TOO_SLOW"}) from error


def build_schema(settings: Settings) -> strawberry.Schema:
    """The query schema with the error masking and abuse limits the settings ask for."""
    return ServiceSchema(query=Query, subscription=Subscription,
                         extensions=[*OperationMetrics.of("query", settings),
                                     *schema_extensions(settings, check_text=True),
                                     CommandEndpointHint],
                         config=schema_config(settings),
                         execution_context_class=execution_context_class(settings))


schema = build_schema(default_settings())

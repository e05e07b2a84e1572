"""`myBookings` pages through a customer's bookings in (check-in, id) order over GraphQL.

Alice has 250 bookings on 30 check-in days (about eight a day, so the id decides the order
within a day), some confirmed and some cancelled; Bob has a few on the same days.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.auth import bearer
from tests.integration.booking_traffic import Traffic, day, event_count, eventually
from travelbuddy.bootstrap import Services
from travelbuddy.readmodels.runner import ProjectorRunner

BOTH_BACKENDS = True  # MongoDB and the embedded default (tests/integration/conftest.py)

MY_BOOKINGS = """
query Mine($first: Int!, $after: String, $status: BookingStatus) {
  myBookings(first: $first, after: $after, status: $status) {
    edges { cursor node { id checkIn status } }
    pageInfo { hasNextPage endCursor }
  }
}"""

ALICE_BOOKINGS = 250
PAGE_SIZE = 40


class Bookings:
    """Who has which booking, and the status each should have."""

    def __init__(self) -> None:
        self.check_in: dict[str, str] = {}
        self.status: dict[str, str] = {}
        self.alice: list[str] = []
        self.bob: list[str] = []


async def book(services: Services) -> Bookings:
    traffic = Traffic(services)
    made = Bookings()

    async def one(n: int, customer: str) -> None:
        days_ahead = 5 + n % 30
        # Every third trip is flights only: its check-in is the flight's date.
        booking = await traffic.request(customer, days_ahead=days_ahead, nights=1 + n % 3,
                                        hotel=n % 3 != 0, flight=n % 3 != 1)
        status = "PENDING"
        if n % 5 == 0:
            await traffic.cancel(booking)
            status = "CANCELLED"
        elif n % 3 == 1:  # a hotel-only trip
            await traffic.confirm_hotel(booking)
            status = "CONFIRMED"
        made.check_in[booking] = day(days_ahead).isoformat()
        made.status[booking] = status
        (made.alice if customer == "alice" else made.bob).append(booking)

    for start in range(0, ALICE_BOOKINGS, 50):
        await asyncio.gather(*(one(n, "alice") for n in range(start, start + 50)))
    await asyncio.gather(*(one(n, "bob") for n in range(0, 30, 3)))
    return made


@pytest.fixture
async def bookings(services: Services, projector: ProjectorRunner) -> AsyncIterator[Bookings]:
    made = await book(services)
    total = await event_count(services)

    async def applied() -> int:
        return projector.applied

    await eventually(applied, lambda n: n >= total, 15, f"{total} events projected")
    yield made


async def my_bookings(
    http: httpx.AsyncClient, customer: str = "alice", **variables: Any
) -> dict[str, Any]:
    """The whole GraphQL response body (data and errors) of one `myBookings` query."""
    response = await http.post("/graphql", json={"query": MY_BOOKINGS, "variables": variables},
                               headers=bearer(customer))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def all_pages(
    http: httpx.AsyncClient, customer: str = "alice", **variables: Any
) -> list[dict[str, Any]]:
    """Every page of `myBookings`, following `endCursor` until `hasNextPage` is false."""
    pages: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        body = await my_bookings(http, customer, first=PAGE_SIZE, after=after, **variables)
        assert "errors" not in body, body
        page: dict[str, Any] = body["data"]["myBookings"]
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
        assert len(pages) <= ALICE_BOOKINGS // PAGE_SIZE + 1, "more pages than bookings"


def in_order(made: Bookings, ids: list[str]) -> list[str]:
    return sorted(ids, key=lambda booking: (made.check_in[booking], booking))


async def test_walking_every_page_yields_each_of_alices_bookings_once_in_check_in_order(
    http: httpx.AsyncClient, bookings: Bookings
) -> None:
    pages = await all_pages(http)

    seen = [edge["node"] for page in pages for edge in page["edges"]]
    assert [node["id"] for node in seen] == in_order(bookings, bookings.alice)
    assert all(node["checkIn"] == bookings.check_in[node["id"]] for node in seen)
    assert [len(page["edges"]) for page in pages] == [40] * 6 + [10]
    assert [page["pageInfo"]["hasNextPage"] for page in pages] == [True] * 6 + [False]
    assert not set(bookings.bob) & {node["id"] for node in seen}
    # The id breaks ties: days with several bookings exist, and pages split some of them.
    days = [node["checkIn"] for node in seen]
    assert len(set(days)) == 30 and len(days) == ALICE_BOOKINGS
    assert any(page["edges"][-1]["node"]["checkIn"] == following["edges"][0]["node"]["checkIn"]
               for page, following in itertools.pairwise(pages))


async def test_bob_sees_only_his_own_bookings(
    http: httpx.AsyncClient, bookings: Bookings
) -> None:
    pages = await all_pages(http, customer="bob")

    assert [e["node"]["id"] for p in pages for e in p["edges"]] == in_order(bookings, bookings.bob)


@pytest.mark.parametrize("status", ["PENDING", "CONFIRMED", "CANCELLED"])
async def test_the_status_filter_pages_through_only_bookings_in_that_status(
    http: httpx.AsyncClient, bookings: Bookings, status: str
) -> None:
    pages = await all_pages(http, status=status)

    nodes = [edge["node"] for page in pages for edge in page["edges"]]
    wanted = [b for b in bookings.alice if bookings.status[b] == status]
    assert len(wanted) >= 30
    assert [node["id"] for node in nodes] == in_order(bookings, wanted)
    assert {node["status"] for node in nodes} == {status}


async def test_a_rejected_filter_with_no_bookings_is_one_empty_last_page(
    http: httpx.AsyncClient, bookings: Bookings
) -> None:
    body = await my_bookings(http, first=PAGE_SIZE, status="REJECTED")

    assert body == {"data": {"myBookings": {
        "edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}}}


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize("variables", [
    pytest.param({"first": 0}, id="first-0"),
    pytest.param({"first": -1}, id="first-negative"),
    pytest.param({"first": 101}, id="first-101"),
    pytest.param({"first": 10, "after": "not a cursor"}, id="after-not-base64"),
    pytest.param({"first": 10, "after": ""}, id="after-empty"),
    pytest.param({"first": 10, "after": base64.urlsafe_b64encode(b"\xff\xfe").decode()},
                 id="after-not-utf8"),
    pytest.param({"first": 10, "after": cursor_of(7)}, id="after-a-number"),
    pytest.param({"first": 10, "after": cursor_of(["2030-01-01"])}, id="after-one-item"),
    pytest.param({"first": 10, "after": cursor_of([1, "id"])}, id="after-check-in-a-number"),
    pytest.param({"first": 10, "after": cursor_of(["2030-01-01", 5])}, id="after-id-a-number"),
    pytest.param({"first": 10, "after": cursor_of({"check_in": "x", "_id": "y"})},
                 id="after-an-object"),
    pytest.param({"first": 10, "after": cursor_of("ab")}, id="after-a-string"),
])
async def test_a_bad_page_size_or_cursor_is_a_graphql_error_not_a_server_error(
    http: httpx.AsyncClient, services: Services, variables: dict[str, Any]
) -> None:
    await Traffic(services).request()  # there is something to page through

    body = await my_bookings(http, **variables)

    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["path"] == ["myBookings"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["message"] != "Internal server error."


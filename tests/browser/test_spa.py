"""The customer's SPA at / in a real browser, offline: sign in, search, compare the perks
and prices of each offer side by side, book for named travelers, watch the booking turn
CONFIRMED live (and say so when the connection drops and comes back), apply a perk,
change dates, cancel; my bookings page by page and by status; errors as the schema
returns them."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from playwright.async_api import Page, expect

from tests.auth import bearer, token
from tests.browser.conftest import BrowserPage
from tests.browser.live_connections import LiveConnections
from tests.e2e.conftest import RunningService
from travelbuddy.domain.catalog import Cabin
from travelbuddy.domain.sample_catalog import sample_catalog

CATALOG = sample_catalog()
HOTEL = CATALOG.hotel("hotel-sapporo-1")
FLIGHT = CATALOG.flight("NH-061-HND-CTS")
LIVE_WAIT = 15_000  # ms: the partners answer in 1.5 s


def day(offset: int) -> str:
    return (dt.date.today() + dt.timedelta(days=offset)).isoformat()


def yen(amount: int) -> str:
    return f"¥{amount:,}"


async def search(page: Page, city: str, check_in: str, check_out: str,
                 route: tuple[str, str]) -> None:
    form = page.get_by_role("form", name="Search")
    await form.get_by_label("City").fill(city)
    await form.get_by_label("Check-in").fill(check_in)
    await form.get_by_label("Check-out").fill(check_out)
    await form.get_by_label("From").fill(route[0])
    await form.get_by_label("To", exact=True).fill(route[1])
    await form.get_by_label("Day", exact=True).fill(check_in)
    await form.get_by_role("button", name="Search").click()


async def test_search_compare_book_watch_confirm_live_reconnect_change_and_cancel(
    browser_page: BrowserPage, demo_service: RunningService,
) -> None:
    assert HOTEL is not None and FLIGHT is not None
    page = browser_page.page
    live = LiveConnections()
    await live.attach(page)
    await page.goto(demo_service.base_url + "/")

    # Sign-in: the demo button exists because the service signs with its generated secret.
    await page.get_by_role("button", name=re.compile("demo customer")).click()
    await expect(page.get_by_test_id("signed-in-as")).to_have_text("demo-customer")

    # Search: the city in any case; hotels and flights with their perks and prices.
    check_in, check_out = day(21), day(24)
    await search(page, HOTEL.city.lower(), check_in, check_out, (FLIGHT.origin, FLIGHT.destination))
    hotel = page.get_by_role("article", name=HOTEL.name)
    for perk in HOTEL.perks:
        await expect(hotel.get_by_role("list", name="Perks")).to_contain_text(perk.title)
    for room in HOTEL.room_types:
        await expect(hotel).to_contain_text(room.name)
        await expect(hotel).to_contain_text(yen(room.nightly_price * 3))
    hotels = page.get_by_test_id("hotel-offer")
    await expect(hotels).to_have_count(len([h for h in CATALOG.hotels() if h.city == HOTEL.city]))

    flight = page.get_by_role("article", name=f"{FLIGHT.airline} {FLIGHT.flight_number}")
    for fare in FLIGHT.fares:  # each fare's price beside its perks, in one table
        row = flight.get_by_role("row").filter(has_text=fare.cabin.value)
        await expect(row).to_contain_text(yen(fare.price))
        for perk in fare.perks:
            await expect(row).to_contain_text(perk.title)

    # Choose a room and the economy fare, then book: first without a name.
    room = HOTEL.room_types[0]
    economy = FLIGHT.fare(Cabin.ECONOMY)
    assert economy is not None
    await page.get_by_role("button", name=f"Choose {room.name} at {HOTEL.name}").click()
    await page.get_by_role("button", name=f"Choose ECONOMY on {FLIGHT.flight_number}").click()
    trip = page.get_by_role("form", name="Your trip")
    await trip.get_by_role("button", name="Book").click()
    traveler = trip.locator(".traveler").first
    await expect(traveler.get_by_role("alert")).to_contain_text("name")  # beside the field
    await expect(traveler.get_by_label("Traveler 1")).to_have_attribute("aria-invalid", "true")

    await trip.get_by_label("Traveler 1").fill("Hanako Yamada")
    await trip.get_by_role("button", name="Add a traveler").click()
    await trip.get_by_label("Traveler 2").fill("Taro Yamada")
    await trip.get_by_role("button", name="Book").click()

    # The booking page: PENDING, then CONFIRMED without a reload.
    await expect(page).to_have_url(re.compile(r"/bookings/[^/?]+"), timeout=LIVE_WAIT)
    status = page.get_by_test_id("booking-status")
    await expect(status).to_have_text("PENDING")
    await page.evaluate("window.sameDocument = true")
    await expect(page.get_by_test_id("connection")).to_have_text("Live updates on")
    await expect(status).to_have_text("CONFIRMED", timeout=LIVE_WAIT)
    assert await page.evaluate("window.sameDocument === true"), "the page was reloaded"
    base = room.nightly_price * 3 + economy.price * 2
    await expect(page.get_by_test_id("price-total")).to_have_text(yen(base))
    await expect(page.get_by_role("region", name="History")).to_contain_text("confirm",
                                                                            ignore_case=True)

    # The connection drops: the page says so, and again when it is back.
    connections = live.opened
    await live.drop_and_hold()
    await expect(page.get_by_test_id("connection")).to_have_text(
        "Connection lost: reconnecting…", timeout=LIVE_WAIT)
    live.release()
    await expect(page.get_by_test_id("connection")).to_have_text(
        "Reconnected: live updates are back", timeout=LIVE_WAIT)
    assert live.opened > connections

    # A perk: the price breakdown updates live.
    discount = next(p for p in HOTEL.perks if p.discount_percent > 0)
    perks = page.get_by_role("region", name="Perks")
    await perks.get_by_role("listitem").filter(has_text=discount.title).get_by_role(
        "button", name="Apply").click()
    await expect(perks.get_by_role("status")).to_have_text("Perk applied.")
    off = room.nightly_price * 3 * discount.discount_percent // 100
    await expect(page.get_by_test_id("price-total")).to_have_text(yen(base - off),
                                                                 timeout=LIVE_WAIT)

    # Other dates: the stay waits for the hotel again, then is confirmed again.
    new_check_out = day(23)
    change = page.get_by_role("form", name="Change dates")
    await change.get_by_label("Check-out").fill(new_check_out)
    await change.get_by_role("button", name="Change dates").click()
    await expect(change.get_by_role("status")).to_have_text("Dates changed.")
    await expect(page.get_by_test_id("hotel-stay")).to_contain_text(
        f"{check_in} to {new_check_out}", timeout=LIVE_WAIT)
    await expect(status).to_have_text("CONFIRMED", timeout=LIVE_WAIT)

    # Cancel.
    cancel = page.get_by_role("form", name="Cancel booking")
    await cancel.get_by_label("Reason (optional)").fill("plans changed")
    await cancel.get_by_role("button", name="Cancel booking").click()
    await expect(status).to_have_text("CANCELLED", timeout=LIVE_WAIT)
    await expect(page.get_by_text("Cancelled: plans changed", exact=True)).to_be_visible()

    # My bookings lists it, by its status.
    await page.get_by_role("link", name="My bookings").click()
    await expect(page.get_by_role("table")).to_contain_text("CANCELLED")
    await page.get_by_label("Status").select_option("CONFIRMED")
    await expect(page.get_by_text("No bookings with status CONFIRMED")).to_be_visible()

    browser_page.assert_clean()


async def test_my_bookings_page_by_page_and_by_status_after_signing_in_with_a_token(
    browser_page: BrowserPage, service: RunningService,
) -> None:
    customer = "browser-pager"
    booked = _book_directly(service, customer, count=12)
    _cancel_directly(service, customer, booked[0])
    page = browser_page.page
    await page.goto(service.base_url + "/bookings")

    # No demo button with a configured secret; a refused token is said beside the field.
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_role("button", name=re.compile("demo customer"))).to_have_count(0)
    await page.get_by_label("Bearer token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("alert")).to_contain_text("refused this token")
    await page.get_by_label("Bearer token").fill(token(customer))
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_test_id("signed-in-as")).to_have_text(customer)

    rows = page.get_by_role("table").locator("tbody tr")
    await expect(rows).to_have_count(10)
    await page.get_by_role("button", name="Next page").click()
    await expect(rows).to_have_count(2)
    await expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    await page.get_by_role("button", name="Previous page").click()
    await expect(rows).to_have_count(10)

    await page.get_by_label("Status").select_option("CANCELLED")
    await expect(rows).to_have_count(1)
    await rows.first.get_by_role("link").click()
    await expect(page.get_by_test_id("booking-status")).to_have_text("CANCELLED")

    browser_page.assert_clean()


async def test_a_booking_that_is_not_yours_is_not_found_and_never_a_blank_page(
    browser_page: BrowserPage, service: RunningService,
) -> None:
    (someone_elses,) = _book_directly(service, "browser-other", count=1)
    page = browser_page.page
    await page.goto(service.base_url + "/")
    await page.get_by_label("Bearer token").fill(token("browser-nosy"))
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_test_id("signed-in-as")).to_have_text("browser-nosy")

    await page.goto(f"{service.base_url}/bookings/{someone_elses}")
    await expect(page.get_by_role("heading", name="Booking not found")).to_be_visible()
    await page.goto(f"{service.base_url}/bookings/no-such-booking")
    await expect(page.get_by_role("heading", name="Booking not found")).to_be_visible()

    browser_page.assert_clean()


REQUEST = """mutation ($input: RequestBookingInput!) {
  requestBooking(input: $input) { __typename ... on CommandAccepted { bookingId } }
}"""


def _book_directly(service: RunningService, customer: str, count: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=service.base_url, headers=bearer(customer), timeout=10) as http:
        for index in range(count):
            trip = {"hotelStay": {"hotelId": "hotel-tokyo-2", "roomType": "STD",
                                  "checkIn": day(40 + index), "checkOut": day(42 + index),
                                  "guests": 1},
                    "travelers": [{"name": f"Traveler {index}"}]}
            answer = http.post("/graphql/command", json={"query": REQUEST,
                                                         "variables": {"input": trip}})
            result = answer.json()["data"]["requestBooking"]
            assert result["__typename"] == "CommandAccepted", result
            ids.append(result["bookingId"])
    return ids


def _cancel_directly(service: RunningService, customer: str, booking_id: str) -> None:
    cancel = ('mutation ($id: ID!) { cancelBooking(input: {bookingId: $id}) '
              '{ __typename } }')
    with httpx.Client(base_url=service.base_url, headers=bearer(customer), timeout=10) as http:
        answer = http.post("/graphql/command", json={"query": cancel,
                                                     "variables": {"id": booking_id}})
    assert answer.json()["data"]["cancelBooking"]["__typename"] == "CommandAccepted"

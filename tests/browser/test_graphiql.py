"""GraphiQL on both endpoints in a real browser, offline: it loads from the service alone
(no CDN), runs a query and a subscription (graphql-transport-ws, the token in
connection_init) on /graphql and a mutation on /graphql/command, opens from the link
`./run` prints, and keeps the bearer token out of the browser's storage."""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import quote

import httpx
from playwright.async_api import Page, expect

from tests.auth import bearer
from tests.browser.conftest import BrowserPage
from tests.e2e.conftest import RunningService

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
RESPONSE = ".graphiql-response .CodeMirror"
VISIBLE_TOOL_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESPONSE_WAIT = 15_000  # ms


def start_up_link(service: RunningService) -> str:
    """The GraphiQL link `./run` printed, with the demo customer's token in `?headers=`."""
    printed = re.search(r"open GraphiQL with it filled in: (\S+)", service.log.read_text())
    assert printed, "./run printed no GraphiQL link"
    return printed.group(1)


async def set_editor(page: Page, selector: str, text: str) -> None:
    await page.wait_for_selector(selector)
    await page.evaluate("([selector, text]) => document.querySelector(selector)"
                        ".CodeMirror.setValue(text)", [selector, text])


async def editor_text(page: Page, selector: str) -> str:
    await page.wait_for_selector(selector)
    text: str = await page.evaluate(
        "selector => document.querySelector(selector).CodeMirror.getValue()", selector)
    return text


async def run_and_await(page: Page, operation: str, expected: str) -> None:
    """Run `operation` (one named operation) and wait until the response pane shows
    `expected`. GraphiQL reads the operation's name from the editor a moment after an edit
    (debounced) and sends the name it has then: wait until it has this one."""
    name = re.match(r"\s*(?:query|mutation|subscription)\s+(\w+)", operation)
    assert name, "name the operation: GraphiQL sends the name of the one it runs"
    await set_editor(page, QUERY_EDITOR, operation)
    await page.wait_for_function(
        "([selector, name]) => document.querySelector(selector).CodeMirror.operationName === name",
        arg=[QUERY_EDITOR, name.group(1)])
    await page.locator(".graphiql-execute-button").click()
    await page.wait_for_function(
        "([selector, expected]) => document.querySelector(selector)?.CodeMirror"
        ".getValue().includes(expected)", arg=[RESPONSE, expected], timeout=RESPONSE_WAIT)


def book_for(service: RunningService, authorization: str) -> str:
    day = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    leave = (dt.date.today() + dt.timedelta(days=32)).isoformat()
    trip = {"hotelStay": {"hotelId": "hotel-kyoto-1", "roomType": "TAT", "checkIn": day,
                          "checkOut": leave, "guests": 1},
            "travelers": [{"name": "Graphi Ql"}]}
    answer = httpx.post(f"{service.base_url}/graphql/command", timeout=10,
                        headers={"Authorization": authorization},
                        json={"query": "mutation ($input: RequestBookingInput!) { requestBooking"
                              "(input: $input) { ... on CommandAccepted { bookingId } } }",
                              "variables": {"input": trip}})
    booking_id: str = answer.json()["data"]["requestBooking"]["bookingId"]
    return booking_id


async def test_graphiql_from_the_start_up_link_runs_a_query_and_a_subscription_offline(
    browser_page: BrowserPage, service: RunningService,
) -> None:
    page = browser_page.page
    link = start_up_link(service)
    await page.goto(link)

    # The token is in the headers editor, and out of the address bar.
    await expect(page.locator(".graphiql-container")).to_be_visible()
    headers = json.loads(await editor_text(page, VISIBLE_TOOL_EDITOR))
    authorization = headers["Authorization"]
    assert authorization.startswith("Bearer ")
    assert "headers=" not in page.url

    day = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    leave = (dt.date.today() + dt.timedelta(days=31)).isoformat()
    await run_and_await(
        page, f'query Hotels {{ hotels(city: "tokyo", checkIn: "{day}", checkOut: "{leave}") '
              '{ name } }', "Shinjuku Skyline Hotel")

    # The schema was read with the link's token: the docs know the subscriptions.
    await page.get_by_role("button", name="Show Documentation Explorer").click()
    await expect(page.locator(".graphiql-doc-explorer")).to_contain_text(
        "Subscription", timeout=RESPONSE_WAIT)

    booking_id = book_for(service, authorization)
    await run_and_await(
        page, f'subscription Watch {{ bookingUpdated(bookingId: "{booking_id}") '
              '{ status version } }', '"status": "CONFIRMED"')

    # Nothing GraphiQL stored holds the token; a new visit starts without it.
    token = authorization.removeprefix("Bearer ")
    stored = await page.evaluate("JSON.stringify(Object.entries(localStorage))")
    assert token not in stored
    assert token not in await page.evaluate("JSON.stringify(Object.entries(sessionStorage))")
    await page.goto(f"{service.base_url}/graphql")
    await expect(page.locator(".graphiql-container")).to_be_visible()
    await page.get_by_role("button", name="Headers").click()
    assert token not in await editor_text(page, VISIBLE_TOOL_EDITOR)

    browser_page.assert_clean()


async def test_graphiql_on_the_command_endpoint_runs_a_mutation_with_the_explorer_offline(
    browser_page: BrowserPage, service: RunningService,
) -> None:
    page = browser_page.page
    await page.goto(f"{service.base_url}/graphql/command")
    await expect(page.locator(".graphiql-container")).to_be_visible()

    # The token typed into the headers editor, as a developer would.
    await page.get_by_role("button", name="Headers").click()
    await set_editor(page, VISIBLE_TOOL_EDITOR, json.dumps(bearer("graphiql-commander")))
    await run_and_await(page, "query Version { schemaVersion }", '"schemaVersion"')
    await run_and_await(
        page, 'mutation CancelNothing { cancelBooking(input: {bookingId: "no-such-booking"}) '
              '{ __typename ... on CommandError { code message } } }',
        '"__typename": "BookingNotFoundError"')

    # The explorer plugin, built in too, lists the schema's mutations.
    await page.get_by_role("button", name="Show GraphiQL Explorer").click()
    await expect(page.locator(".graphiql-plugin")).to_contain_text("requestBooking",
                                                                  timeout=RESPONSE_WAIT)

    browser_page.assert_clean()


async def test_a_mutation_sent_to_the_query_endpoint_names_the_command_endpoint(
    browser_page: BrowserPage, service: RunningService,
) -> None:
    page = browser_page.page
    await page.goto(f"{service.base_url}/graphql?headers="
                    + quote(json.dumps(bearer("graphiql-lost"))))
    await expect(page.locator(".graphiql-container")).to_be_visible()
    await run_and_await(page, 'mutation Lost { cancelBooking(input: {bookingId: "x"}) '
                        '{ __typename } }',
                        "send mutations to /graphql/command")

    browser_page.assert_clean()


# GraphiQL's settings dialog inserts a <style> element to stop the page behind it from
# scrolling (react-remove-scroll); the pages' policy refuses it, and the dialog works.
DIALOG_SCROLL_LOCK = re.compile(r"Applying inline style violates .*style-src 'self'")


async def test_graphiql_remembers_the_token_only_when_asked_in_its_settings(
    browser_page: BrowserPage, service: RunningService,
) -> None:
    page = browser_page.page
    await page.goto(start_up_link(service))
    await expect(page.locator(".graphiql-container")).to_be_visible()
    token = json.loads(await editor_text(page, VISIBLE_TOOL_EDITOR))["Authorization"]

    settings = page.locator(".graphiql-dialog-section").filter(has_text="Persist headers")
    await page.get_by_role("button", name="Open settings dialog").click()
    await settings.get_by_role("button", name="On").click()
    await page.wait_for_function(
        "token => Object.values(localStorage).some(value => value.includes(token))", arg=token)
    await page.keyboard.press("Escape")

    await page.goto(f"{service.base_url}/graphql")
    await page.get_by_role("button", name="Headers").click()
    assert token in await editor_text(page, VISIBLE_TOOL_EDITOR)

    await page.get_by_role("button", name="Open settings dialog").click()
    await settings.get_by_role("button", name="Off").click()
    await page.wait_for_function("() => !Object.keys(localStorage).some("
                                 "key => key.startsWith('graphiql:'))")

    browser_page.assert_clean(tolerated=DIALOG_SCROLL_LOCK)

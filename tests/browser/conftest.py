"""Browser tests: Debian's Chromium, headless, driven by Playwright (no browser download),
against the service started as the README says (tests/e2e/conftest.py `start_service`).

Each test gets a fresh browser context whose every request is recorded and kept on this
machine (`offline.py`), fails on any console error (a CSP violation, an uncaught
exception), and leaves a full-page screenshot in $TRAVELBUDDY_BROWSER_ARTIFACTS
(build/browser-artifacts) when it fails.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from tests.browser.offline import RequestLog, keep_offline
from tests.e2e.conftest import RunningService, start_service, stop_service

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("TRAVELBUDDY_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TRAVELBUDDY_BROWSER_ARTIFACTS",
                                ROOT / "build" / "browser-artifacts"))
BROWSER_TEST_TIMEOUT = 90  # seconds, for pytest-timeout; each wait inside is shorter
DEMO_PARTNER_LATENCY = 1.5  # seconds the simulated hotel and airline take to answer

# A page the service answers without a token: GraphiQL's introspection before the user
# fills in the headers is refused with 401, which the browser logs as an error.
EXPECTED_CONSOLE_ERRORS = re.compile(r"status of 401 \(Unauthorized\)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.timeout(BROWSER_TEST_TIMEOUT))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@dataclass
class BrowserPage:
    """A page of a fresh context, what it asked for, and what its console complained of."""

    page: Page
    requests: RequestLog
    console_errors: list[str] = field(default_factory=list)

    def assert_clean(self, tolerated: re.Pattern[str] | None = None) -> None:
        """No request left this machine and nothing went wrong in the page (but for the
        `tolerated` errors, which a test names and explains)."""
        self.requests.assert_stayed_local()
        errors = [e for e in self.console_errors if not (tolerated and tolerated.search(e))]
        assert errors == [], errors


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    _require_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            # offline.py hands each page to Chromium itself (to set the policy), so the
            # page has no IP address of its own; Chromium would take it for a public page
            # and refuse its websocket to 127.0.0.1 (Local Network Access checks).
            args=["--disable-features=LocalNetworkAccessChecks"])
        yield launched
        await launched.close()


@pytest.fixture
async def browser_page(browser: Browser, request: pytest.FixtureRequest
                       ) -> AsyncIterator[BrowserPage]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    requests = await keep_offline(context)
    page = await context.new_page()
    opened = BrowserPage(page, requests)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not EXPECTED_CONSOLE_ERRORS.search(message.text):
            opened.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: opened.console_errors.append(f"uncaught: {error}"))
    try:
        yield opened
    finally:
        if request.node.stash.get(_FAILED, False):
            await page.screenshot(path=str(_screenshot_path(request.node.nodeid)),
                                  full_page=True)
        await context.close()


def _require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: tests/run installs Debian's chromium")


def _screenshot_path(test_id: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", test_id)
    return ARTIFACTS / f"{name}.png"


def _serve(data_dir: Path, env: dict[str, str], unset: tuple[str, ...] = ()
           ) -> Iterator[RunningService]:
    service = start_service(data_dir, env, unset)
    try:
        if httpx.get(f"{service.base_url}/", timeout=5).status_code != 200:
            pytest.fail("the web pages are not built: tests/run builds them (scripts/build-web)")
        yield service
    finally:
        stop_service(service)


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """The service as the tests' tokens know it (tests/auth.py), partners answering fast."""
    yield from _serve(tmp_path_factory.mktemp("browser") / "data", {})


@pytest.fixture(scope="session")
def demo_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """The service as `./run` starts on a laptop: no TRAVELBUDDY_JWT_SECRET, so it signs
    with its generated development secret and offers the demo sign-in; the partners take
    long enough to answer that the booking page is seen PENDING before it is CONFIRMED."""
    yield from _serve(tmp_path_factory.mktemp("browser-demo") / "data",
                      {"TRAVELBUDDY_PARTNER_LATENCY": str(DEMO_PARTNER_LATENCY)},
                      unset=("TRAVELBUDDY_JWT_SECRET",))

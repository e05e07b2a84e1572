"""What a page in the browser tests may reach: this machine only. Every request the page
makes (documents, scripts, styles, fonts, fetches, websockets) is recorded; one to another
host is refused, as it would fail on a machine without internet, and fails the test. The
pages are served under `travelbuddy.web.CONTENT_SECURITY_POLICY`, the strictest policy
they are meant to work with, whatever headers the service sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Route, WebSocket

from travelbuddy.web import CONTENT_SECURITY_POLICY

LOCAL_HOST = "127.0.0.1"


@dataclass
class RequestLog:
    """Every URL the browser asked for, in order."""

    urls: list[str] = field(default_factory=list)

    def elsewhere(self) -> list[str]:
        """The URLs that were not for 127.0.0.1."""
        return [url for url in self.urls if urlsplit(url).hostname != LOCAL_HOST]

    def assert_stayed_local(self) -> None:
        assert self.urls, "the page made no request at all"
        assert self.elsewhere() == [], f"requests left {LOCAL_HOST}: {self.elsewhere()}"


async def keep_offline(context: BrowserContext) -> RequestLog:
    """Record and police every request of `context`'s pages (see the module doc)."""
    log = RequestLog()

    async def route(route: Route) -> None:
        request = route.request
        log.urls.append(request.url)
        if urlsplit(request.url).hostname != LOCAL_HOST:
            await route.abort("internetdisconnected")
            return
        if request.resource_type != "document":
            await route.continue_()
            return
        response = await route.fetch()
        headers = {name: value for name, value in response.headers.items()
                   if name.lower() != "content-security-policy"}
        headers["content-security-policy"] = CONTENT_SECURITY_POLICY
        await route.fulfill(response=response, headers=headers)

    def on_websocket(socket: WebSocket) -> None:
        log.urls.append(socket.url)

    await context.route("**/*", route)
    context.on("page", lambda page: page.on("websocket", on_websocket))
    return log

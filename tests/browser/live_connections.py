"""The page's websockets to the service, passed through Playwright so that a test can
drop them as a restarting service would (close code 1012) and hold the reconnection's
answers until the test has seen the page say that the connection is lost."""

from __future__ import annotations

from playwright.async_api import Page, WebSocketRoute

SERVICE_RESTART = 1012  # "Service Restart": a client is expected to reconnect


class LiveConnections:
    """Every websocket of one page, proxied to the service."""

    def __init__(self) -> None:
        self.opened = 0
        self._current: tuple[WebSocketRoute, WebSocketRoute] | None = None
        self._holding = False
        self._held: list[tuple[WebSocketRoute, str | bytes]] = []

    async def attach(self, page: Page, url_pattern: str = "**/graphql") -> None:
        await page.route_web_socket(url_pattern, self._proxy)

    def _proxy(self, page_side: WebSocketRoute) -> None:
        service_side = page_side.connect_to_server()
        self.opened += 1
        self._current = (page_side, service_side)

        def to_page(message: str | bytes) -> None:
            if self._holding:
                self._held.append((page_side, message))
            else:
                page_side.send(message)

        service_side.on_message(to_page)

    async def drop_and_hold(self) -> None:
        """Close the page's connection as a restarting service does, and keep whatever
        the service answers the reconnection from the page until `release`."""
        assert self._current is not None, "the page has no live connection"
        page_side, service_side = self._current
        self._holding = True
        await page_side.close(code=SERVICE_RESTART, reason="service restart")
        await service_side.close(code=1000, reason="test dropped the page")

    def release(self) -> None:
        """Let the service's answers through again, the held ones first."""
        self._holding = False
        held, self._held = self._held, []
        for page_side, message in held:
            page_side.send(message)

"""The uvicorn server the service runs on, with what uvicorn leaves unbounded bounded:

- a client gets `http_header_timeout_seconds` to send a request's line and headers, from
  connecting or from the end of the previous response; then the connection is closed
  (uvicorn waits for ever: 40 s later an unfinished request still held its socket);
- the request line and headers may take `http_max_header_bytes`; a larger one is answered
  431 and the connection closed (uvicorn's httptools parser took a 50 MB header line);
- the body's deadline, and authentication before the body, are the app's (`RequestGuard`);
- a websocket message may take `graphql_websocket_max_message_bytes` (uvicorn: 16 MB).

`uvicorn_options` is what `travelbuddy serve` and `api` pass to uvicorn; tests that need a
real socket pass the same.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from travelbuddy.config import Settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's `Config` options for the settings' limits (with `GuardedHttpProtocol`)."""

    class ConfiguredProtocol(GuardedHttpProtocol):
        header_timeout = settings.http_header_timeout_seconds
        max_header_bytes = settings.http_max_header_bytes

    return {
        "http": ConfiguredProtocol,
        "timeout_keep_alive": settings.http_keep_alive_timeout_seconds,
        "ws_max_size": settings.graphql_websocket_max_message_bytes,
    }


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit for each request's
    line and headers (see the module doc)."""

    header_timeout: float = 10.0
    max_header_bytes: int = 65_536
    linger_seconds: float = 1.0
    """After refusing: what the client still sends is read and dropped this long, so that
    it gets the answer (closing on unread data would reset the connection instead)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._reading_headers = True
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # dropped: the connection is closing
        super().data_received(data)
        if self._reading_headers and not self.transport.is_closing():
            # Counted after parsing: a chunk that completes the headers does not count.
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._refuse(431, "Request Header Fields Too Large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers = True
        self._header_bytes = 0

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._stop_header_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        next_request_read = bool(self.pipeline)  # its headers are in: uvicorn starts it
        super().on_response_complete()
        if not next_request_read and not self.transport.is_closing():
            self._await_headers()  # of the next request on this connection

    def handle_websocket_upgrade(self) -> None:
        self._stop_header_deadline()
        super().handle_websocket_upgrade()

    def _await_headers(self) -> None:
        self._stop_header_deadline()
        self._reading_headers = True
        self._header_bytes = 0
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_late)

    def _stop_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        if self._reading_headers and not self.transport.is_closing():
            self._refuse(408, "Request Timeout")

    def _refuse(self, status: int, reason: str) -> None:
        self._stop_header_deadline()
        self._reading_headers = False
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # a response is under way: only closing is left
            return
        body = f'{{"detail": "{reason}"}}'.encode()
        self.transport.write(
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(self.linger_seconds, self.transport.close)

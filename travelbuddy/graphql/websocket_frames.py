"""What a client's websocket message must look like before strawberry's handlers see it.

strawberry indexes into each message as if it were well formed: a frame such as `42`,
`{"type": "subscribe", "id": {}}` or `{"type": "start", "payload": "x"}` raises inside its
handler, logs a traceback and drops the socket without a close frame. Each message is
checked here first; the handlers close the socket with 4400 and the reason given.

Every close, the handlers' and strawberry's own (a syntax error quoting the client's
document), goes through `JsonFrames.close`, which clips the reason to what a close frame
holds: sent longer, the frame would be refused and the socket dropped without one.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived

MAX_OPERATION_ID_LENGTH = 64
"""Clients use UUIDs or counters. Short and printable, so that an id echoed in a close
reason (at most 123 bytes) or in a log line stays intact."""

MAX_CLOSE_REASON_BYTES = 123
"""A close frame's payload is at most 125 bytes, two of them the code (RFC 6455 5.5)."""

Check = Callable[[Mapping[str, Any]], str | None]


class JsonFrames(ASGIWebSocketAdapter):
    """strawberry's websocket adapter, reporting any text that does not decode (deeply
    nested arrays, a number of 5,000 digits) as not JSON, never as an exception."""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                try:
                    text = await self.ws.receive_text()
                except KeyError as error:  # a binary frame: no "text" in the message
                    raise NonTextMessageReceived from error
                try:
                    message = self.view.decode_json(text)
                except (ValueError, RecursionError) as error:
                    if ignore_parsing_errors:
                        continue
                    raise NonJsonMessageReceived from error
                yield message
        except WebSocketDisconnect:
            pass

    async def close(self, code: int, reason: str) -> None:
        await super().close(code, close_reason(reason))


def close_reason(reason: str) -> str:
    """`reason` as UTF-8 of at most MAX_CLOSE_REASON_BYTES, cut between characters (a lone
    surrogate from the client's text becomes "?")."""
    encoded = reason.encode("utf-8", "replace")[:MAX_CLOSE_REASON_BYTES]
    return encoded.decode("utf-8", "ignore")  # drops only a character the cut split


def transport_frame_problem(message: object) -> str | None:
    """Why a graphql-transport-ws message is malformed, or None when it is well formed
    (an unknown type is left to strawberry, which closes with 4400 too)."""
    return _problem(message, _TRANSPORT_CHECKS)


def legacy_frame_problem(message: object) -> str | None:
    """Why a legacy graphql-ws message is malformed (an unknown type included), or None."""
    problem = _problem(message, _LEGACY_CHECKS)
    if problem is None and message["type"] not in _LEGACY_CHECKS:  # type: ignore[index]
        return "Unknown message type"
    return problem


def _problem(message: object, checks: Mapping[str, Check]) -> str | None:
    if not isinstance(message, dict):
        return "Message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "Message type must be a string"
    check = checks.get(kind)
    return check(message) if check is not None else None


def _optional_object_payload(message: Mapping[str, Any]) -> str | None:
    payload = message.get("payload")
    return None if payload is None or isinstance(payload, dict) else "Payload must be an object"


def _operation_id(message: Mapping[str, Any]) -> str | None:
    operation_id = message.get("id")
    if (not isinstance(operation_id, str) or not operation_id
            or len(operation_id) > MAX_OPERATION_ID_LENGTH
            or not all(" " <= character <= "~" for character in operation_id)):
        return f"Operation id must be 1 to {MAX_OPERATION_ID_LENGTH} printable ASCII characters"
    return None


def _operation(message: Mapping[str, Any]) -> str | None:
    if (problem := _operation_id(message)) is not None:
        return problem
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return "Payload must be an object"
    if not isinstance(payload.get("query"), str):
        return "Query must be a string"
    for name, kind in (("variables", dict), ("operationName", str), ("extensions", dict)):
        if payload.get(name) is not None and not isinstance(payload[name], kind):
            return f"{name} must be {'an object' if kind is dict else 'a string'}"
    return None


_TRANSPORT_CHECKS: dict[str, Check] = {
    "connection_init": _optional_object_payload,
    "ping": _optional_object_payload,
    "pong": _optional_object_payload,
    "subscribe": _operation,
    "complete": _operation_id,
}
_LEGACY_CHECKS: dict[str, Check] = {
    "connection_init": _optional_object_payload,
    "connection_terminate": lambda message: None,
    "start": _operation,
    "stop": _operation_id,
}

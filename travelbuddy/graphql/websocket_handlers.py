"""strawberry's two websocket protocols, with what a public service needs around them:

- authentication in `connection_init` (the router's `on_ws_connect`), refused with 4401
  (4403 for a token without a usable customer) instead of strawberry's 4403 for all;
- the process's and the customer's caps on sockets and subscriptions (`WebSocketBudget`);
- the socket closed with 4401 when its token expires;
- `connection_init` awaited at most `graphql_websocket_init_timeout_seconds` (4408), on the
  legacy protocol too, which strawberry never times out;
- a malformed message (`websocket_frames`) closes the socket with 4400 and one INFO line,
  before or after authentication, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any

from graphql import GraphQLError
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyConnectionInitMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import (
    OperationMessage,
    StartMessage,
)

from travelbuddy.graphql.authentication import UNAUTHORIZED_CLOSE_CODE, WebSocketRefused
from travelbuddy.graphql.websocket_budget import WebSocketBudget
from travelbuddy.graphql.websocket_frames import legacy_frame_problem, transport_frame_problem
from travelbuddy.observability.logs import get_logger
from travelbuddy.observability.metrics import WEBSOCKETS_OPEN

log = get_logger(__name__)

MALFORMED_CLOSE_CODE = 4400
INIT_TIMEOUT_CLOSE_CODE = 4408
TRY_AGAIN_LATER_CLOSE_CODE = 1013


class SocketGuard:
    """One socket's share of the budget, its token's expiry and its closing, for either
    protocol's handler."""

    def __init__(self, websocket: Any, context: Any, budget: WebSocketBudget) -> None:
        self._websocket = websocket
        self._context = context
        self._budget = budget
        self._counted = False
        self._expiry: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.closing = False

    async def open(self) -> bool:
        """Counts the socket; when the process is full, closes it (1013) and says False."""
        self._counted = self._budget.open_socket()
        if self._counted:
            WEBSOCKETS_OPEN.inc()
        else:
            await self.close(TRY_AGAIN_LATER_CLOSE_CODE, "Too many open websockets")
        return self._counted

    def release(self) -> None:
        """Gives back what the socket held: called once, when its handler ends."""
        if self._expiry is not None:
            self._expiry.cancel()
        customer = getattr(self._context, "admitted_customer", None)
        if customer is not None:
            self._budget.leave(customer)
            self._context.admitted_customer = None
        if self._counted:
            self._budget.close_socket()
            WEBSOCKETS_OPEN.dec()
            self._counted = False

    async def refuse_frame(self, reason: str) -> None:
        """Closes the socket with 4400 for a malformed message."""
        await self.close(MALFORMED_CLOSE_CODE, reason)

    async def refuse_connection(self, refused: WebSocketRefused) -> None:
        await self.close(refused.code, refused.reason)

    async def close(self, code: int, reason: str) -> None:
        """Closes once with `code`, logged as one INFO line; later messages are ignored."""
        if self.closing:
            return
        self.closing = True
        log.info("websocket_closed", code=code, reason=reason)
        # The client may have gone already: nothing left to tell it.
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnected):
            await self._websocket.close(code=code, reason=reason)

    def close_when_token_expires(self) -> None:
        """After an acknowledged connection_init: close with 4401 at the token's `exp`."""
        expires_at = getattr(self._context, "token_expires_at", None)
        if expires_at is None or not math.isfinite(expires_at):
            return
        delay = max(0.0, expires_at - time.time())
        self._expiry = asyncio.get_running_loop().call_later(delay, self._token_expired)

    def _token_expired(self) -> None:
        task = asyncio.ensure_future(self.close(UNAUTHORIZED_CLOSE_CODE, "Token expired"))
        self._tasks.add(task)  # kept until it ends
        task.add_done_callback(self._tasks.discard)

    def take_subscription(self) -> str | None:
        """Counts a new operation of the socket's customer; otherwise why not."""
        return self._budget.start_subscription(self._context.caller.customer_id)

    def hold_subscription_until(self, task: asyncio.Task[Any] | None) -> None:
        """The operation counted by `take_subscription` ends with `task` (None: now)."""
        customer = self._context.caller.customer_id
        if task is None:
            self._budget.end_subscription(customer)
        else:
            task.add_done_callback(lambda _: self._budget.end_subscription(customer))


class AuthenticatingTransportWSHandler(BaseGraphQLTransportWSHandler[Any, None]):
    """graphql-transport-ws, guarded (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = SocketGuard(self.websocket, self.context, _budget_of(self.view))

    async def handle(self) -> None:
        if not await self.guard.open():
            return
        try:
            await super().handle()
        finally:
            self.guard.release()

    async def handle_message(self, message: Message) -> None:
        if self.guard.closing:
            return
        if (problem := transport_frame_problem(message)) is not None:
            await self.guard.refuse_frame(problem)
            return
        await super().handle_message(message)

    async def handle_invalid_message(self, error_message: str) -> None:
        await self.guard.refuse_frame(error_message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except WebSocketRefused as refused:
            await self.guard.refuse_connection(refused)
            return
        if self.connection_acknowledged:
            self.guard.close_when_token_expires()

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if not self.connection_acknowledged or message["id"] in self.operations:
            await super().handle_subscribe(message)  # strawberry closes: 4401, 4409
            return
        if (problem := self.guard.take_subscription()) is not None:
            await self.send_message({"id": message["id"], "type": "error",
                                     "payload": [GraphQLError(problem).formatted]})
            return
        await super().handle_subscribe(message)
        operation = self.operations.get(message["id"])
        self.guard.hold_subscription_until(operation.task if operation else None)


class AuthenticatingLegacyWSHandler(BaseGraphQLWSHandler[Any, None]):
    """The legacy graphql-ws protocol (off unless `graphql_ws_legacy_protocol`), refusing
    and guarded the same way; it has no close codes of its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = SocketGuard(self.websocket, self.context, _budget_of(self.view))
        self.connection_init_received = False

    async def handle(self) -> None:
        # strawberry's loop, with undecodable and binary messages refused (it ignores the
        # first and closes with 1002 on the second) and connection_init awaited for a time.
        if not await self.guard.open():
            return
        init_timeout = asyncio.create_task(self._close_without_connection_init())
        try:
            try:
                async for message in self.websocket.iter_json():
                    await self.handle_message(message)  # type: ignore[arg-type]
            except (NonTextMessageReceived, NonJsonMessageReceived):
                await self.guard.refuse_frame("WebSocket message must be JSON text")
        except WebSocketDisconnected:
            pass
        finally:
            init_timeout.cancel()
            if self.keep_alive_task:
                self.keep_alive_task.cancel()
                with contextlib.suppress(BaseException):
                    await self.keep_alive_task
            await self.cleanup()
            self.guard.release()

    async def _close_without_connection_init(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.connection_init_received:
            await self.guard.close(INIT_TIMEOUT_CLOSE_CODE, "Connection initialisation timeout")

    async def handle_message(self, message: OperationMessage) -> None:
        if self.guard.closing:
            return
        if (problem := legacy_frame_problem(message)) is not None:
            await self.guard.refuse_frame(problem)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: LegacyConnectionInitMessage) -> None:
        if self.connection_init_received:
            await self.guard.close(4429, "Too many initialisation requests")
            return
        self.connection_init_received = True
        try:
            await super().handle_connection_init(message)
        except WebSocketRefused as refused:
            await self.send_message({"type": "connection_error",
                                     "payload": {"message": refused.reason}})
            await self.guard.refuse_connection(refused)
            return
        if self.connection_acknowledged:
            self.guard.close_when_token_expires()

    async def handle_start(self, message: StartMessage) -> None:
        operation_id = message["id"]
        if not self.connection_acknowledged:
            await super().handle_start(message)  # strawberry closes: 4401
            return
        if operation_id in self.tasks:  # a start for a running id replaces its operation
            await self.cleanup_operation(operation_id)
        if (problem := self.guard.take_subscription()) is not None:
            await self.send_message({"type": "error", "id": operation_id,
                                     "payload": {"message": problem}})
            return
        await super().handle_start(message)
        self.guard.hold_subscription_until(self.tasks.get(operation_id))


def _budget_of(view: Any) -> WebSocketBudget:
    budget: WebSocketBudget = view.websocket_budget  # the router's (see `router`)
    return budget

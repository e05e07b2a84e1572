"""strawberry's FastAPI router, with request bodies that are not JSON objects refused,
every request without a valid bearer token refused (see `authentication`), websockets
guarded (see `websocket_handlers`), and every HTTP refusal answered as JSON (see
`http_errors`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cross_web import HTTPException
from fastapi import Request
from fastapi.responses import Response
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types.unset import UNSET

from travelbuddy.config import Settings
from travelbuddy.graphql.authentication import (
    WebSocketRefused,
    authorization_in,
    caller_of,
    refusal_response,
)
from travelbuddy.graphql.http_errors import error_response, operation_name_problem
from travelbuddy.graphql.websocket_budget import WebSocketBudget
from travelbuddy.graphql.websocket_frames import JsonFrames
from travelbuddy.graphql.websocket_handlers import (
    AuthenticatingLegacyWSHandler,
    AuthenticatingTransportWSHandler,
)
from travelbuddy.security import InvalidToken
from travelbuddy.web import graphiql_page

TOO_MANY_CLOSE_CODE = 4429


class TravelBuddyGraphQLRouter(GraphQLRouter[Any, None]):
    """A GraphQL router that answers a JSON body other than an object (or a batch) with 400.

    strawberry 0.341 calls `.get` on whatever JSON it parsed, so a body such as `42` or
    `"query"` would otherwise end in a 500.
    """

    graphql_transport_ws_handler_class = AuthenticatingTransportWSHandler
    graphql_ws_handler_class = AuthenticatingLegacyWSHandler
    websocket_adapter_class = JsonFrames

    def __init__(self, schema: Any, *, settings: Settings, websocket_budget: WebSocketBudget,
                 **options: Any) -> None:
        protocols = ((GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL)
                     if settings.graphql_ws_legacy_protocol else (GRAPHQL_TRANSPORT_WS_PROTOCOL,))
        super().__init__(
            schema,
            subscription_protocols=protocols,
            connection_init_wait_timeout=dt.timedelta(
                seconds=settings.graphql_websocket_init_timeout_seconds),
            max_subscriptions_per_connection=settings.graphql_max_subscriptions_per_connection,
            **options,
        )
        self.websocket_budget = websocket_budget

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        # GraphiQL's page loads without a token; every GraphQL request over HTTP needs one.
        if (not self.is_websocket_request(request)
                and getattr(context, "refusal", None) is not None
                and not self.should_render_graphql_ide(self.request_adapter_class(request))):
            return refusal_response(context.refusal)
        if self.is_websocket_request(request):
            return await super().run(request, context, root_value)
        try:
            return await super().run(request, context, root_value)
        except HTTPException as error:  # strawberry would answer it as plain text
            return error_response(error)

    async def render_graphql_ide(self, request: Request) -> Response:  # type: ignore[override]
        # The GraphiQL built into web/dist, not strawberry's page, which loads its
        # scripts from a public CDN and keeps the bearer token in browser storage.
        return graphiql_page(request)

    async def on_ws_connect(self, context: Any) -> Any:
        """Authenticates connection_init and admits the socket under its customer's cap."""
        try:
            identity = await context.authenticator.identity(
                authorization_in(context.connection_params))
        except InvalidToken as refusal:
            raise WebSocketRefused.for_token(refusal) from refusal
        if not self.websocket_budget.admit(identity.customer_id):
            raise WebSocketRefused(TOO_MANY_CLOSE_CODE, "Too many open websockets of this "
                                   "customer")
        context.admitted_customer = identity.customer_id
        context.caller = caller_of(identity)
        context.token_expires_at = identity.expires_at
        return UNSET

    async def parse_http_body(self, request: Any) -> Any:
        parsed = await super().parse_http_body(request)
        for operation in parsed if isinstance(parsed, list) else [parsed]:
            if (problem := operation_name_problem(operation.operation_name)) is not None:
                raise HTTPException(400, problem)
        return parsed

    def parse_json(self, data: str | bytes) -> Any:
        try:
            parsed = super().parse_json(data)
        except RecursionError as error:  # JSON nested thousands deep: json.loads gives up
            raise HTTPException(400, "The request body is nested too deeply") from error
        except UnicodeDecodeError as error:
            raise HTTPException(400, "The request body is not valid UTF-8") from error
        except ValueError as error:  # e.g. an integer of more digits than Python converts
            raise HTTPException(400, "The request body is not valid JSON") from error
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        if isinstance(parsed, list) and not all(isinstance(item, dict) for item in parsed):
            raise HTTPException(400, "Each operation of a batch must be a JSON object")
        return parsed

"""strawberry's FastAPI router, with request bodies that are not JSON objects refused and
every request without a valid bearer token refused (see `authentication`)."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from strawberry.fastapi import GraphQLRouter
from strawberry.types.unset import UNSET

from travelbuddy.graphql.authentication import (
    AuthenticatingLegacyWSHandler,
    AuthenticatingTransportWSHandler,
    WebSocketRefused,
    authorization_in,
    refusal_response,
)
from travelbuddy.security import InvalidToken


class TravelBuddyGraphQLRouter(GraphQLRouter[Any, None]):
    """A GraphQL router that answers a JSON body other than an object (or a batch) with 400.

    strawberry 0.341 calls `.get` on whatever JSON it parsed, so a body such as `42` or
    `"query"` would otherwise end in a 500.
    """

    graphql_transport_ws_handler_class = AuthenticatingTransportWSHandler
    graphql_ws_handler_class = AuthenticatingLegacyWSHandler

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        # GraphiQL's page loads without a token; every GraphQL request over HTTP needs one.
        if (not self.is_websocket_request(request)
                and getattr(context, "refusal", None) is not None
                and not self.should_render_graphql_ide(self.request_adapter_class(request))):
            return refusal_response(context.refusal)
        return await super().run(request, context, root_value)

    async def on_ws_connect(self, context: Any) -> Any:
        try:
            context.caller = context.authenticator.caller(
                authorization_in(context.connection_params))
        except InvalidToken as refusal:
            raise WebSocketRefused(refusal) from refusal
        return UNSET

    def parse_json(self, data: str | bytes) -> Any:
        try:
            parsed = super().parse_json(data)
        except RecursionError as error:  # JSON nested thousands deep: json.loads gives up
            raise HTTPException(400, "The request body is nested too deeply") from error
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        if isinstance(parsed, list) and not all(isinstance(item, dict) for item in parsed):
            raise HTTPException(400, "Each operation of a batch must be a JSON object")
        return parsed

"""strawberry's FastAPI router, with request bodies that are not JSON objects refused."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from strawberry.fastapi import GraphQLRouter


class TravelBuddyGraphQLRouter(GraphQLRouter[Any, None]):
    """A GraphQL router that answers a JSON body other than an object (or a batch) with 400.

    strawberry 0.341 calls `.get` on whatever JSON it parsed, so a body such as `42` or
    `"query"` would otherwise end in a 500.
    """

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        return parsed

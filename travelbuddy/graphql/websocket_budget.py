"""How many websockets and subscriptions one serving process holds, in total and per
customer, so that no one client can take the memory and CPU that idle sockets and live
subscriptions cost (about 17 KB and some CPU per subscription, measured).

Counted here, refused by the websocket handlers (`websocket_handlers`): a socket over the
process's cap is closed with 1013 (try again later) before connection_init, one over its
customer's cap with 4429 after it, and a subscription over a cap gets an `error` message
for its id while the socket and its other subscriptions go on.
"""

from __future__ import annotations

from collections import Counter

from travelbuddy.config import Settings


class WebSocketBudget:
    """Open websockets and live subscriptions, in total and per customer (token `sub`)."""

    def __init__(
        self,
        max_sockets: int,
        max_sockets_per_customer: int,
        max_subscriptions: int,
        max_subscriptions_per_customer: int,
    ) -> None:
        self.max_sockets = max_sockets
        self.max_sockets_per_customer = max_sockets_per_customer
        self.max_subscriptions = max_subscriptions
        self.max_subscriptions_per_customer = max_subscriptions_per_customer
        self.sockets = 0
        self.subscriptions = 0
        self._customer_sockets: Counter[str] = Counter()
        self._customer_subscriptions: Counter[str] = Counter()

    @classmethod
    def from_settings(cls, settings: Settings) -> WebSocketBudget:
        """The caps the settings give (`TRAVELBUDDY_GRAPHQL_MAX_WEBSOCKETS...`)."""
        return cls(settings.graphql_max_websockets,
                   settings.graphql_max_websockets_per_customer,
                   settings.graphql_max_subscriptions,
                   settings.graphql_max_subscriptions_per_customer)

    def open_socket(self) -> bool:
        """Counts a newly accepted socket; False (nothing counted) when the process is full."""
        if self.sockets >= self.max_sockets:
            return False
        self.sockets += 1
        return True

    def close_socket(self) -> None:
        self.sockets -= 1

    def admit(self, customer_id: str) -> bool:
        """Counts an authenticated socket of `customer_id`; False when they have enough."""
        if self._customer_sockets[customer_id] >= self.max_sockets_per_customer:
            return False
        self._customer_sockets[customer_id] += 1
        return True

    def leave(self, customer_id: str) -> None:
        self._customer_sockets[customer_id] -= 1
        if self._customer_sockets[customer_id] <= 0:
            del self._customer_sockets[customer_id]

    def start_subscription(self, customer_id: str) -> str | None:
        """Counts a new subscription (or other operation) of `customer_id`; otherwise the
        message its client gets, nothing counted."""
        if self.subscriptions >= self.max_subscriptions:
            return "Subscription limit of the server reached"
        if self._customer_subscriptions[customer_id] >= self.max_subscriptions_per_customer:
            return "Subscription limit of this customer reached"
        self.subscriptions += 1
        self._customer_subscriptions[customer_id] += 1
        return None

    def end_subscription(self, customer_id: str) -> None:
        self.subscriptions -= 1
        self._customer_subscriptions[customer_id] -= 1
        if self._customer_subscriptions[customer_id] <= 0:
            del self._customer_subscriptions[customer_id]

    def sockets_of(self, customer_id: str) -> int:
        return self._customer_sockets[customer_id]

    def subscriptions_of(self, customer_id: str) -> int:
        return self._customer_subscriptions[customer_id]

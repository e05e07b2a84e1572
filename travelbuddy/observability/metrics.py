"""The service's Prometheus metrics, on prometheus_client's default registry: one per
process, with its process_* and python_* collectors. The README's "Metrics" lists them.

Every label value comes from the service's code (command types, error codes, follower
names, topics, exception class names), except a GraphQL operation's name, which the
client chooses: `OperationNames` bounds those. No label holds a customer id, a booking
id or a token, so a scrape says nothing about anyone.

The follower gauges (lag, checkpoint age) are sampled when /metrics is scraped
(`travelbuddy.metrics_endpoint`); everything else is counted where it happens.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar, cast

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from travelbuddy.domain.errors import DomainError

# No `*_created` series beside each counter and histogram: Prometheus has no use for them.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client

Publish = TypeVar("Publish", bound=Callable[..., Coroutine[Any, Any, None]])
Handle = TypeVar("Handle", bound=Callable[..., Coroutine[Any, Any, Any]])

COMMANDS = Counter(
    "travelbuddy_commands_total",
    "Booking commands handled, by command type and outcome: accepted, replayed (a command "
    "id seen before), conflict (the booking kept changing), a domain error's code, or "
    "error (the store failed)",
    ["command", "outcome"],
)
COMMAND_DURATION = Histogram(
    "travelbuddy_command_duration_seconds",
    "Time to handle a booking command, whatever its outcome", ["command"],
)

GRAPHQL_OPERATIONS = Counter(
    "travelbuddy_graphql_operations_total",
    "GraphQL operations, by schema (command|query), operation name and outcome (ok, or "
    "the code of the first error)",
    ["schema", "operation", "outcome"],
)
GRAPHQL_DURATION = Histogram(
    "travelbuddy_graphql_operation_duration_seconds",
    "Time to answer a GraphQL query or mutation (subscriptions are not timed)",
    ["schema", "operation"],
)

FOLLOWER_HANDLED = Counter(
    "travelbuddy_follower_handled_total",
    "Events (projector, relay) or messages (catalog, inbound) a follower handled",
    ["follower"],
)
FOLLOWER_PARKED = Counter(
    "travelbuddy_follower_parked_total",
    "Events a follower parked, or messages it dead-lettered (inbound) or skipped "
    "(catalog), by reason",
    ["follower", "reason"],
)
FOLLOWER_LAG_EVENTS = Gauge(
    "travelbuddy_follower_lag_events",
    "Events (projector, relay) or messages (catalog, inbound) not handled yet", ["follower"],
)
FOLLOWER_LAG_SECONDS = Gauge(
    "travelbuddy_follower_lag_seconds",
    "How far behind a follower is in time: the age of the oldest event not applied "
    "(projector, relay); how long the group has had a backlog (catalog, inbound)",
    ["follower"],
)
FOLLOWER_CHECKPOINT_AGE = Gauge(
    "travelbuddy_follower_checkpoint_age_seconds",
    "Seconds since the follower last saved its checkpoint (committed its offsets)",
    ["follower"],
)
FOLLOWER_LEASE_HELD = Gauge(
    "travelbuddy_follower_lease_held",
    "1 while this process holds the follower's lease (it is the active replica), else 0",
    ["follower"],
)

KAFKA_PUBLISH_DURATION = Histogram(
    "travelbuddy_kafka_publish_duration_seconds",
    "Time for a published message to be acknowledged (Kafka: by every in-sync replica; "
    "the SQLite bus: committed to its file)",
    ["topic"],
)
KAFKA_PUBLISH_ERRORS = Counter(
    "travelbuddy_kafka_publish_errors_total",
    "Publishes that failed, by the class name of the error behind the failure", ["kind"],
)
KAFKA_PARTITIONS_ASSIGNED = Gauge(
    "travelbuddy_kafka_partitions_assigned",
    "Partitions this process's members of a consumer group read now", ["group"],
)

WEBSOCKETS_OPEN = Gauge("travelbuddy_websockets_open", "Open GraphQL websockets")
SUBSCRIPTIONS_OPEN = Gauge(
    "travelbuddy_subscriptions_open", "Live subscriptions watching booking updates"
)
SUBSCRIPTION_PUSHES = Counter(
    "travelbuddy_subscription_pushes_total", "Booking views sent to subscriptions"
)
SUBSCRIBERS_DROPPED = Counter(
    "travelbuddy_subscribers_dropped_total",
    "Subscriptions ended by the service, by reason (too_slow: the client did not keep up)",
    ["reason"],
)

PARTNER_REPLIES = Counter(
    "travelbuddy_partner_replies_total",
    "Replies the simulated partners sent, by partner (hotel, flight) and outcome "
    "(reserved, rejected)",
    ["partner", "outcome"],
)

PROJECTOR, RELAY, CATALOG, INBOUND = "projector", "relay", "catalog", "inbound"
FOLLOWERS = (PROJECTOR, RELAY, CATALOG, INBOUND)
"""The `follower` label's values."""
FOLLOWER_OF = {
    "read-models": PROJECTOR,
    "kafka-relay": RELAY,
    "sqlite-bus-relay": RELAY,
    "catalog-projector": CATALOG,
}
"""The `follower` label of each checkpoint and lease name (bootstrap.READ_MODELS_PROJECTOR,
relay.RELAY and EMBEDDED_RELAY, workers.CATALOG_PROJECTOR); other names (a test's) are
their own label."""


def follower_of(name: str) -> str:
    """The `follower` label of a checkpoint or lease name."""
    return FOLLOWER_OF.get(name, name)


def offsets_committed(follower: str) -> None:
    """A follower on the bus (catalog, inbound) committed its offsets now: its checkpoint
    age counts from here, in this process."""
    committed = time.time()
    FOLLOWER_CHECKPOINT_AGE.labels(follower).set_function(lambda: time.time() - committed)


ANONYMOUS = "anonymous"
OTHER = "other"
MAX_OPERATION_NAMES = 100
MAX_OPERATION_NAME_CHARS = 64
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


class OperationNames:
    """The `operation` label of GraphQL operations: a name as the client sent it only if
    it is a plain GraphQL name of at most MAX_OPERATION_NAME_CHARS characters and one of
    the first `limit` distinct names this process saw; any other name is "other", no
    name "anonymous". So no client can grow the label set without bound."""

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self.limit = limit
        self._known: set[str] = set()

    def label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if name in self._known:
            return name
        if (len(self._known) >= self.limit or len(name) > MAX_OPERATION_NAME_CHARS
                or not _GRAPHQL_NAME.fullmatch(name)):
            return OTHER
        self._known.add(name)
        return name


OPERATION_NAMES = OperationNames()
"""The process's operation names, shared by both schemas."""


class AssignedPartitions:
    """One consumer's share of `travelbuddy_kafka_partitions_assigned{group}`: the gauge
    is the sum over this process's members of the group."""

    def __init__(self, group: str | None) -> None:
        self._gauge = None if group is None else KAFKA_PARTITIONS_ASSIGNED.labels(group)
        self._count = 0

    def set(self, count: int) -> None:
        """This member reads `count` partitions now (0 once stopped)."""
        if self._gauge is not None and count != self._count:
            self._gauge.inc(count - self._count)
        self._count = count


def observed_publish(publish: Publish) -> Publish:
    """A bus's `publish(topic, ...)`, timed until acknowledged; a failure is counted by
    the class of the error behind it (the port's BusUnavailable names its cause)."""

    @functools.wraps(publish)
    async def observed(bus: Any, topic: str, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            await publish(bus, topic, *args, **kwargs)
        except Exception as error:
            KAFKA_PUBLISH_ERRORS.labels(type(error.__cause__ or error).__name__).inc()
            raise
        KAFKA_PUBLISH_DURATION.labels(topic).observe(time.perf_counter() - started)

    return cast(Publish, observed)


class _Measured(Protocol):
    measured: bool
    """Whether its commands are counted and timed (False: metrics off)."""


def measured_command(conflict: type[Exception]) -> Callable[[Handle], Handle]:
    """A command handler's `handle(command, ...)` (BookingCommands.handle), counted by
    command type and outcome, and timed, unless its handler says `measured` is False.
    The outcome of a `conflict` (the booking kept changing) is "conflict"."""

    def decorate(handle: Handle) -> Handle:
        @functools.wraps(handle)
        async def measured(self: _Measured, command: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.measured:
                return await handle(self, command, *args, **kwargs)
            started = time.perf_counter()
            try:
                result = await handle(self, command, *args, **kwargs)
            except Exception as error:
                _count(command, started, error.code if isinstance(error, DomainError)
                       else "conflict" if isinstance(error, conflict) else "error")
                raise
            _count(command, started, "replayed" if result.replayed else "accepted")
            return result

        return cast(Handle, measured)

    return decorate


def _count(command: object, started: float, outcome: str) -> None:
    kind = type(command).__name__
    COMMANDS.labels(kind, outcome).inc()
    COMMAND_DURATION.labels(kind).observe(time.perf_counter() - started)

"""The partners' catalog: projected from `partners.catalog.v1` into the catalog store
(`hotels`, `flights`), which the query schema searches and which prices booking requests."""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError

from travelbuddy.integration.bus import Bus, by_partition
from travelbuddy.integration.messages import CatalogEntry, CatalogFlight, CatalogHotel
from travelbuddy.integration.topics import CATALOG
from travelbuddy.observability import metrics
from travelbuddy.observability.logs import get_logger
from travelbuddy.readmodels.ports import CatalogStore

log = get_logger(__name__)

CATALOG_GROUP = "booking-service-catalog"
POLL_SECONDS = 1.0
_ENTRY: TypeAdapter[CatalogHotel | CatalogFlight] = TypeAdapter(CatalogEntry)


async def run_catalog_projector(
    catalog: CatalogStore,
    bus: Bus,
    group_id: str = CATALOG_GROUP,
) -> None:
    """Follow `partners.catalog.v1` into the catalog store until cancelled; offsets are
    committed after the entries are stored (storing one again changes nothing). A
    malformed entry is logged and skipped; a tombstone removes its entry."""
    await bus.ensure_topics()
    subscription = bus.subscribe([CATALOG], group_id)
    await subscription.start()
    try:
        while True:
            batch = await subscription.poll(POLL_SECONDS)
            for message in batch:
                # A key that is not UTF-8 names no entry (U+FFFD in no id), and must not
                # stop the projector.
                key = message.key.decode(errors="replace") if message.key else ""
                if message.value is None:
                    await catalog.remove(key)
                    continue
                try:
                    entry = _ENTRY.validate_json(message.value)
                except ValidationError as error:
                    log.warning("catalog_entry_skipped", key=key,
                                error=error.errors()[0]["msg"])
                    metrics.FOLLOWER_PARKED.labels(metrics.CATALOG, "invalid_entry").inc()
                    continue
                await catalog.put(entry.hotel if isinstance(entry, CatalogHotel)
                                  else entry.flight)
            metrics.FOLLOWER_HANDLED.labels(metrics.CATALOG).inc(len(batch))
            for messages in by_partition(batch).values():
                await subscription.commit(messages[-1])
            if batch:
                metrics.offsets_committed(metrics.CATALOG)
    finally:
        await subscription.stop()

"""Simulated partner services, for local runs, demos and tests: the hotel service and
the flight service answer booking events, and the partners publish their catalog."""

from __future__ import annotations

import asyncio

from travelbuddy.integration.bus import Bus
from travelbuddy.partners.catalog_publisher import publish_catalog
from travelbuddy.partners.flight_service import FlightService
from travelbuddy.partners.hotel_service import HotelService

__all__ = ["FlightService", "HotelService", "publish_catalog", "run_partners"]


async def run_partners(bus: Bus, latency: float = 0.05, rejection_rate: float = 0.0) -> None:
    """Ensure the topics, publish the catalog, then run both services until cancelled."""
    await bus.ensure_topics()
    await publish_catalog(bus)
    services = (
        HotelService(bus, latency=latency, rejection_rate=rejection_rate),
        FlightService(bus, latency=latency, rejection_rate=rejection_rate),
    )
    async with asyncio.TaskGroup() as group:
        for service in services:
            group.create_task(service.run())

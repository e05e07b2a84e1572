"""Where prices and perks come from when a booking is requested."""

from __future__ import annotations

from typing import Protocol

from travelbuddy.domain import CatalogView, InMemoryCatalog
from travelbuddy.domain.sample_catalog import sample_catalog


class Catalog(Protocol):
    """The catalog port: an in-memory view of the entries a command refers to."""

    async def view(self, hotel_ids: set[str], flight_ids: set[str]) -> CatalogView:
        """A view holding at least the named hotels and flights (those that exist)."""
        ...


class StaticCatalog:
    """A fixed catalog held in memory: the built-in sample unless given another."""

    def __init__(self, catalog: InMemoryCatalog | None = None) -> None:
        self._catalog = catalog or sample_catalog()

    async def view(self, hotel_ids: set[str], flight_ids: set[str]) -> CatalogView:
        """The whole catalog: it is in memory already."""
        return self._catalog

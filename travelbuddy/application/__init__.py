"""Command handling: load a booking's events, decide, append."""

from travelbuddy.application.catalog import Catalog, StaticCatalog
from travelbuddy.application.handler import (
    BookingCommands,
    Caller,
    CommandContext,
    CommandOutcome,
    ConcurrencyConflict,
)

__all__ = [
    "BookingCommands",
    "Caller",
    "Catalog",
    "CommandContext",
    "CommandOutcome",
    "ConcurrencyConflict",
    "StaticCatalog",
]

"""Bringing events stored by earlier versions of the service to the current form.

An event stored before its stream's owner was kept beside it (see the EventStore port)
has no `owner`; such an event also predates the length-prefixed command keys, so its key
may be the older `sender<US>command id` form, under which a retried command would not be
recognised and would run twice. Both adapters migrate such events at start-up, once per
store (SQLite: `PRAGMA user_version`; MongoDB: a document in `event_store_migrations`):
the owner becomes the customer of the stream's first event, and the key is made again
from the event's own command id and sender. Migrating twice changes nothing.
"""

from __future__ import annotations

from typing import Any

from travelbuddy.eventstore.port import command_key

OWNER_AND_COMMAND_KEYS = 1
"""The store format this module migrates to (SQLite's `user_version`)."""
MIGRATION_ID = "owner-and-command-keys"
"""Its name where MongoDB records that it was done."""


def current_command_key(metadata: dict[str, Any]) -> str | None:
    """An older event's command key in the current form, made from its own metadata."""
    command_id = metadata.get("command_id")
    return None if command_id is None else command_key(command_id, metadata.get("issued_by"))


def stream_owner(first_event_metadata: dict[str, Any] | None, metadata: dict[str, Any]) -> str:
    """The owner of an older event's stream: the customer of the stream's first event
    (the event's own customer when the first is missing, which the handler never does)."""
    return str((first_event_metadata or metadata)["customer_id"])

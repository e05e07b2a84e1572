"""Who travels: shared by the command that requests a booking and the event that records it."""

from pydantic import BaseModel, ConfigDict


class Traveler(BaseModel):
    """A person on the trip, as named on the booking."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Blank names are a business rule (NO_TRAVELERS) reported with the other problems of
    # the request, so the model itself accepts any string.
    name: str

"""The base of every wire type and the value types every domain validates alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict

from essc.kit.names import check_person_name

# Instants a request may name: timezone-aware, and once in UTC within these bounds. An offset can push a
# datetime that parses past the year 1 or 9999 in UTC (0001-01-01T00:00:00+14:00), which Python cannot
# represent; nothing the platform stores lies outside these years either.
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(2200, 1, 1, tzinfo=UTC)


class WireModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)


def utc_instant(value: datetime) -> datetime:
    """An aware datetime as UTC, refused (ValueError) outside EARLIEST_INSTANT..LATEST_INSTANT."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_INSTANT <= utc < LATEST_INSTANT:
        raise ValueError(
            f"must lie between {EARLIEST_INSTANT.isoformat()} and {LATEST_INSTANT.isoformat()} in UTC"
        )
    return utc


# Every datetime a request carries, in a body or a query: aware, in range, given to the service in UTC.
Instant = Annotated[AwareDatetime, AfterValidator(utc_instant)]
# Every person's name (aac003) a request carries (essc.kit.names).
PersonName = Annotated[str, AfterValidator(check_person_name)]

"""The base of every wire type and the value types every domain validates alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    GetJsonSchemaHandler,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from essc.kit.names import check_display_name, check_person_name, display_name_pattern

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


# What the OpenAPI document promises: RFC 3339 date-times of the years 1971-2198 with an offset, which lie in
# range whatever the offset (a schema may promise less than the code accepts, never more).
INSTANT_JSON_SCHEMA = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^(197[1-9]|19[89][0-9]|20[0-9]{2}|21[0-8][0-9]|219[0-8])-.*(Z|z|[+-][0-9]{2}:[0-9]{2})$",
}
# Every datetime a request carries, in a body or a query: aware, in range, given to the service in UTC.
Instant = Annotated[AwareDatetime, AfterValidator(utc_instant), WithJsonSchema(INSTANT_JSON_SCHEMA)]
# Every person's name (aac003) a request carries (essc.kit.names).
PersonName = Annotated[str, AfterValidator(check_person_name)]


class _DisplayNamePattern:
    """Adds the display-name rule's pattern to a string's JSON Schema (keeping its lengths)."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = display_name_pattern()
        return json_schema


# Every other name or short text a request carries that people read: app, organisation, institution and
# contact names, reasons (essc.kit.names); the document states the rule as a pattern.
DisplayName = Annotated[str, AfterValidator(check_display_name), _DisplayNamePattern()]

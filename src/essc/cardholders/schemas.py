"""Wire types of the cardholder base."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import Field

from essc.cardholders.lifecycle import CardEventType
from essc.cardholders.models import CardEvent
from essc.kit.schemas import Instant, WireModel


class NewCard(WireModel):
    aaz500: str = Field(pattern=r"^[A-Za-z0-9]{9}$")
    aaz501: str = Field(pattern=r"^[A-Za-z0-9]{1,32}$")
    aab301: str = Field(pattern=r"^[0-9]{6}$")
    generation: int = Field(ge=2, le=3)
    bank_account_active: bool = Field(alias="bankAccountActive")


class CardEventIn(WireModel):
    """A status event of one physical card, sent by its province's card system."""

    event_id: str = Field(alias="eventId", min_length=1, max_length=64)
    aaz500: str = Field(pattern=r"^[A-Za-z0-9]{9}$")
    type: CardEventType
    occurred_at: Instant = Field(alias="occurredAt")
    new_card: NewCard | None = Field(default=None, alias="newCard")


class CardEventOut(WireModel):
    event_id: str = Field(alias="eventId")
    aaz500: str
    type: CardEventType
    previous_status: str = Field(alias="previousStatus")
    status: str
    replacement_aaz500: str | None = Field(alias="replacementAaz500")
    recorded_at: datetime = Field(alias="recordedAt")
    replayed: bool

    @classmethod
    def of(cls, row: CardEvent, aaz500: str, replacement: str | None, replayed: bool) -> CardEventOut:
        return cls(
            event_id=row.source_event_id,
            aaz500=aaz500,
            type=CardEventType(row.event_type),
            previous_status=row.from_status,
            status=row.to_status,
            replacement_aaz500=replacement,
            recorded_at=row.recorded_at,
            replayed=replayed,
        )


@dataclass(frozen=True, slots=True)
class ClearPerson:
    """Decrypted personal fields, for callers entitled to them."""

    aac002: str
    aac003: str
    aac067: str | None

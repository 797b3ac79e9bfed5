"""What the cardholder base announces to the domains built on it."""

from __future__ import annotations

from dataclasses import dataclass

from essc.cardholders.lifecycle import CardEventType
from essc.cardholders.models import Card
from essc.core.events import Event


@dataclass(frozen=True, slots=True)
class CardChanged(Event):
    """A physical card moved to a new status (replacement: the new card a 'replaced' event issued)."""

    card: Card
    replacement: Card | None
    event_type: CardEventType

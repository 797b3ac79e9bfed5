"""How the e-card domain reacts to events of the domains below it."""

from __future__ import annotations

from essc.cardholders.events import CardChanged
from essc.core.uow import UnitOfWork
from essc.ecards import service


def follow_card(uow: UnitOfWork, changed: CardChanged) -> None:
    """The e-card mirrors its physical card and every channel that holds it is told."""
    service.follow_card(uow, changed.card, changed.replacement, changed.event_type)

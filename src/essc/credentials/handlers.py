"""How the credentials domain reacts to events of the domains below it."""

from __future__ import annotations

from essc.cardholders.events import CardChanged
from essc.core.uow import UnitOfWork
from essc.credentials import service
from essc.ecards.events import EcardStopped


def follow_card(uow: UnitOfWork, changed: CardChanged) -> None:
    """A credential's status follows its card: the next status list tells every verifier."""
    service.follow_card(uow, changed.card)


def stop_unlinked(uow: UnitOfWork, stopped: EcardStopped) -> None:
    """An e-card unlinked from one channel stops that channel's credentials (card changes: CardChanged)."""
    if stopped.issuance_id is not None:
        service.stop_issuance(uow, stopped.province, stopped.issuance_id)

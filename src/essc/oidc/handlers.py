"""How the OpenID provider reacts to events of the domains below it."""

from __future__ import annotations

from essc.core.uow import UnitOfWork
from essc.ecards.events import EcardStopped
from essc.oidc import service


def end_sessions(uow: UnitOfWork, stopped: EcardStopped) -> None:
    """A card reported lost (or otherwise unusable) ends the holder's sessions at every relying party.

    An e-card unlinked from one channel (issuance_id set) keeps working elsewhere: its sessions stay.
    """
    if stopped.issuance_id is None:
        service.end_sessions_of_holder(uow, stopped.province, stopped.ecard_id, stopped.reason[:32])

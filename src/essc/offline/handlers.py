"""How the offline domain reacts to events of the domains below it."""

from __future__ import annotations

from essc.core.uow import UnitOfWork
from essc.ecards.events import EcardStopped
from essc.offline import service


def revoke_certificates(uow: UnitOfWork, stopped: EcardStopped) -> None:
    """Devices must stop making offline codes for a stopped e-card; the next status list names them."""
    service.revoke_for_ecard(uow, stopped.province, stopped.ecard_id, stopped.reason, stopped.issuance_id)

"""What the e-card domain announces to the domains built on it."""

from __future__ import annotations

from dataclasses import dataclass

from essc.core.events import Event


@dataclass(frozen=True, slots=True)
class EcardStopped(Event):
    """An e-card stopped working: everywhere (card unusable) or in one channel (issuance_id: unlinked)."""

    province: str
    ecard_id: str
    reason: str
    issuance_id: str | None = None

"""The composition root of domain events: which domain reacts to what; every entry point calls it once."""

from __future__ import annotations

from essc.cardholders.events import CardChanged
from essc.core.events import handlers
from essc.ecards import handlers as ecards_handlers
from essc.ecards.events import EcardStopped
from essc.offline import handlers as offline_handlers


def register_handlers() -> None:
    """Wire every event to its handlers, in the order they run; calling it again changes nothing."""
    handlers.register(
        {
            CardChanged: [ecards_handlers.follow_card],
            EcardStopped: [offline_handlers.revoke_certificates],
        }
    )

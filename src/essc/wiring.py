"""The composition root: which domain reacts to what, and the audit log; every entry point calls it once."""

from __future__ import annotations

from essc.audit import repository as audit_repository
from essc.cardholders.events import CardChanged
from essc.core.auditing import audit_log
from essc.core.conflicts import name_conflicts
from essc.core.events import handlers
from essc.credentials import handlers as credentials_handlers
from essc.ecards import handlers as ecards_handlers
from essc.ecards.errors import PasswordAlreadySet
from essc.ecards.events import EcardStopped
from essc.eligibility.errors import AlreadyCertified
from essc.offline import handlers as offline_handlers
from essc.oidc import handlers as oidc_handlers


def register_handlers() -> None:
    """Wire events to their handlers in order, units of work to the audit log, constraints to their conflicts.

    Calling it again changes nothing.
    """
    audit_log.register(audit_repository.append)
    handlers.register(
        {
            CardChanged: [ecards_handlers.follow_card, credentials_handlers.follow_card],
            EcardStopped: [
                offline_handlers.revoke_certificates,
                credentials_handlers.stop_unlinked,
                oidc_handlers.end_sessions,
            ],
        }
    )
    name_conflicts(
        {"pk_ecard_passwords": PasswordAlreadySet, "pk_eligibility_certifications": AlreadyCertified}
    )

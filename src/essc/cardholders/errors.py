"""Errors of the cardholder base."""

from __future__ import annotations

from essc.kit.errors import Conflict, InvalidInput, NotFound


class PersonNotFound(NotFound):
    code = "person_not_found"
    title = "No cardholder with this aac002"


class CardNotFound(NotFound):
    code = "card_not_found"
    title = "No physical card with this aaz500"


class CardTransitionRefused(Conflict):
    code = "card_transition_refused"
    title = "The card event is not allowed in the card's current status"


class UnknownRegion(InvalidInput):
    code = "unknown_region"
    title = "aab301 is not a GB/T 2260 region"


class ReplacementMissing(InvalidInput):
    code = "replacement_card_missing"
    title = "A replacement event needs the new card"


class EventConflict(Conflict):
    code = "event_id_conflict"
    title = "The eventId was already used for a different event"


class RowNotImported(NotFound):
    code = "holder_row_not_imported"
    title = "The holder's current row was not loaded by a bulk import batch"


class ImportNotSequenced(Conflict):
    code = "import_batch_not_sequenced"
    title = "The import batch's audit entry is not under a signed tree head yet"

"""Why a code was refused; each its own code so a terminal can tell the holder what to do."""

from __future__ import annotations

from essc.kit.errors import Conflict, Gone, InvalidInput, NotFound


class CodeUnknown(NotFound):
    code = "code_unknown"
    title = "No such code was issued"


class CodeExpired(Gone):
    code = "code_expired"
    title = "The code expired; ask the holder to refresh it"


class CodeAlreadyUsed(Conflict):
    code = "code_already_used"
    title = "The code was already used"


class CardNotUsable(Conflict):
    code = "card_not_usable"
    title = "The e-card cannot be used now"
    persist_changes = True  # the code stays spent and the refused attempt stays audited


class WrongCodeKind(InvalidInput):
    code = "wrong_code_kind"
    title = "This endpoint takes another kind of code"

"""Why a chip key load or a chip challenge was refused."""

from __future__ import annotations

from essc.kit.errors import Conflict, Forbidden, Gone, NotFound


class NotThirdGeneration(Conflict):
    code = "not_third_generation_card"
    title = "Only a third-generation card carries a chip signing key"


class ChipKeyMissing(Conflict):
    code = "chip_key_missing"
    title = "The province has not loaded this card's chip key yet"


class ChipChallengeUnknown(NotFound):
    code = "chip_challenge_unknown"
    title = "No such chip challenge for this e-card"


class ChipChallengeExpired(Gone):
    code = "chip_challenge_expired"
    title = "The chip challenge expired; ask for a new one"


class ChipChallengeUsed(Conflict):
    code = "chip_challenge_used"
    title = "The chip challenge was already answered; ask for a new one"


class ChipSignatureInvalid(Forbidden):
    code = "chip_signature_invalid"
    title = "The chip's signature does not verify under the card's chip key"
    persist_changes = True  # the challenge stays spent and the refusal stays audited

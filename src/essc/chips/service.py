"""Third-generation cards over NFC: provinces load chip keys; a chip's signed challenge earns a busiSeq."""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import timedelta

from essc.cardholders import repository as cards_repo
from essc.cardholders.errors import CardNotFound
from essc.cardholders.models import Card
from essc.channels.models import Channel
from essc.chips import repository
from essc.chips.errors import (
    ChipChallengeExpired,
    ChipChallengeUnknown,
    ChipChallengeUsed,
    ChipKeyMissing,
    ChipSignatureInvalid,
    NotThirdGeneration,
)
from essc.chips.models import ChipChallenge
from essc.chips.schemas import ChallengeAnswer, ChallengeOut, ChallengeRequest, ChipKeyIn, ChipKeyOut
from essc.chips.wire import CHALLENGE_BYTES, chip_string
from essc.core.uow import UnitOfWork
from essc.ecards.schemas import BusiSeqResponse, Purpose
from essc.ecards.service import authorise_sign_no, ensure_usable, issue_busi_seq
from essc.kit.crypto import get_suite
from essc.kit.errors import CryptoError, InvalidInput
from essc.kit.ids import new_id
from essc.kit.masking import mask_card_number

CHALLENGE_SECONDS = 60
CHIP_GENERATION = 3
CHIP_METHOD = "card_chip"
# Chips carry SM2 keys whatever suite the deployment signs its own messages with.
CHIP_SUITE = get_suite("sm")


def load_chip_key(uow: UnitOfWork, province: str, aaz500: str, request: ChipKeyIn) -> ChipKeyOut:
    """Record the public half of a third-generation card's chip key (a new one replaces the old)."""
    card = cards_repo.card_for_update(uow.session, province, aaz500.upper())
    if card is None:
        raise CardNotFound(f"province {province} has no card {mask_card_number(aaz500)}", field="aaz500")
    if card.generation != CHIP_GENERATION:
        raise NotThirdGeneration(f"card {mask_card_number(card.aaz500)} is of generation {card.generation}")
    key = CHIP_SUITE.load_public_key(request.public_key.encode("utf-8"))
    replaced = card.chip_public_key is not None and card.chip_public_key != key.to_der()
    card.chip_public_key = key.to_der()
    uow.session.flush()
    uow.audit(
        "card.chip_key_loaded", "card", card.id, province, fingerprint=key.fingerprint(), replaced=replaced
    )
    return ChipKeyOut(
        aaz500=card.aaz500, generation=card.generation, fingerprint=key.fingerprint(), replaced=replaced
    )


def _ensure_chip(card: Card) -> bytes:
    if card.generation != CHIP_GENERATION:
        raise NotThirdGeneration(
            f"card {mask_card_number(card.aaz500)} is of generation {card.generation}; it has no chip key"
        )
    if card.chip_public_key is None:
        raise ChipKeyMissing(
            f"the province has not loaded the chip key of card {mask_card_number(card.aaz500)}"
        )
    return card.chip_public_key


def create_challenge(
    uow: UnitOfWork, channel: Channel, sign_no: str, request: ChallengeRequest
) -> ChallengeOut:
    """A fresh 32-byte challenge for the app to hand to the card's chip, valid 60 s."""
    if request.purpose is Purpose.PASSWORD_RESET:
        raise InvalidInput("a password reset needs a face check, not a card", field="purpose")
    issuance, ecard, _person, card = authorise_sign_no(uow, channel, sign_no)
    ensure_usable(issuance, card)
    _ensure_chip(card)
    now = uow.clock.now()
    row = ChipChallenge(
        province=ecard.province,
        id=new_id(),
        challenge=secrets.token_bytes(CHALLENGE_BYTES),
        ecard_id=ecard.id,
        issuance_id=issuance.id,
        channel_id=channel.id,
        card_id=card.id,
        purpose=request.purpose.value,
        created_at=now,
        expires_at=now + timedelta(seconds=CHALLENGE_SECONDS),
        used_at=None,
    )
    uow.session.add(row)
    uow.session.flush()
    uow.audit(
        "chip.challenge_issued", "ecard", ecard.id, ecard.province, challenge=row.id, purpose=row.purpose
    )
    return ChallengeOut(
        challenge_id=row.id,
        challenge=base64.b64encode(row.challenge).decode("ascii"),
        expires_at=row.expires_at,
    )


def _signature(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("signature must be base64 of the chip's DER signature", field="signature") from exc


def answer(
    uow: UnitOfWork, channel: Channel, sign_no: str, challenge_id: str, request: ChallengeAnswer
) -> BusiSeqResponse:
    """Check the chip's signature over the challenge, once; a valid one earns a busiSeq (method card_chip)."""
    signature = _signature(request.signature)
    issuance, ecard, _person, card = authorise_sign_no(uow, channel, sign_no)
    ensure_usable(issuance, card)
    public_der = _ensure_chip(card)
    now = uow.clock.now()
    spent = repository.consume(uow.session, ecard.province, challenge_id, issuance.id, now)
    if spent is None:
        found = repository.challenge(uow.session, ecard.province, challenge_id)
        if found is None or found.issuance_id != issuance.id:
            raise ChipChallengeUnknown(f"no challenge {challenge_id} for this e-card", field="challengeId")
        if found.used_at is not None:
            raise ChipChallengeUsed(f"the challenge was answered at {found.used_at.isoformat()}")
        raise ChipChallengeExpired(f"the challenge expired at {found.expires_at.isoformat()}")
    if spent.card_id != card.id:
        raise ChipChallengeExpired("the holder's card was replaced after the challenge; ask for a new one")
    try:
        CHIP_SUITE.verify(
            CHIP_SUITE.load_public_key(public_der),
            chip_string(card.aaz500, card.aaz501, spent.challenge),
            signature,
        )
    except CryptoError as exc:
        uow.audit(
            "chip.refused", "ecard", ecard.id, ecard.province, challenge=spent.id, channel=channel.channel_no
        )
        raise ChipSignatureInvalid(
            "the signature does not verify over the chip string (essc.chips.wire) under the card's chip key"
        ) from exc
    uow.audit(
        "chip.verified", "ecard", ecard.id, ecard.province, challenge=spent.id, channel=channel.channel_no
    )
    return issue_busi_seq(uow, ecard, channel, Purpose(spent.purpose), CHIP_METHOD)

"""HTTP of third-generation card chips: provinces load chip keys, channel apps relay challenges."""

from __future__ import annotations

from fastapi import status

from essc.cardholders.errors import CardNotFound
from essc.chips import service
from essc.chips.errors import (
    ChipChallengeExpired,
    ChipChallengeUnknown,
    ChipChallengeUsed,
    ChipKeyMissing,
    ChipSignatureInvalid,
    NotThirdGeneration,
)
from essc.chips.schemas import ChallengeAnswer, ChallengeOut, ChallengeRequest, ChipKeyIn, ChipKeyOut
from essc.core.deps import ChannelUoW, ProvinceUoW, requires
from essc.core.routing import api_router
from essc.ecards.endpoints import CurrentChannel
from essc.ecards.errors import SIGN_NO_REFUSALS, CardNotActive, EcardUnlinked
from essc.ecards.schemas import BusiSeqResponse
from essc.kit.errors import InvalidInput, MalformedKey
from essc.shared.policy import Function, Party
from essc.shared.provinces import WrongProvince, ensure_same_province

router = api_router(prefix="/v1", tags=["chips"])


@router.put(
    "/provinces/{province}/cards/{aaz500}/chip-key",
    response_model=ChipKeyOut,
    dependencies=[
        requires(
            None,
            party=Party.PROVINCE,
            raises=(
                MalformedKey,
                WrongProvince,
                CardNotFound,
                NotThirdGeneration,
            ),
        )
    ],
)
async def load_chip_key(province: str, aaz500: str, body: ChipKeyIn, uow: ProvinceUoW) -> ChipKeyOut:
    """Load the SM2 public key of a third-generation card's chip (the province's own cards only)."""
    ensure_same_province(uow.context.actor.province or "", province)
    return await uow.run(service.load_chip_key, province, aaz500, body)


@router.post(
    "/ecards/{sign_no}/chip-challenges",
    response_model=ChallengeOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        requires(
            Function.ISSUANCE,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                CardNotActive,
                ChipKeyMissing,
                EcardUnlinked,
                NotThirdGeneration,
                InvalidInput,
            ),
        )
    ],
)
async def create_challenge(
    sign_no: str, uow: ChannelUoW, channel: CurrentChannel, body: ChallengeRequest | None = None
) -> ChallengeOut:
    """A one-time challenge for the app to pass to the card's chip over NFC, valid 60 s."""
    return await uow.run(service.create_challenge, channel, sign_no, body or ChallengeRequest())


@router.post(
    "/ecards/{sign_no}/chip-challenges/{challenge_id}/response",
    response_model=BusiSeqResponse,
    dependencies=[
        requires(
            Function.ISSUANCE,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                ChipSignatureInvalid,
                ChipChallengeUnknown,
                CardNotActive,
                ChipChallengeUsed,
                ChipKeyMissing,
                EcardUnlinked,
                NotThirdGeneration,
                ChipChallengeExpired,
                InvalidInput,
            ),
        )
    ],
)
async def answer(
    sign_no: str, challenge_id: str, body: ChallengeAnswer, uow: ChannelUoW, channel: CurrentChannel
) -> BusiSeqResponse:
    """The chip's signature over the challenge; a valid one earns a busiSeq (method card_chip)."""
    return await uow.run(service.answer, channel, sign_no, challenge_id, body)

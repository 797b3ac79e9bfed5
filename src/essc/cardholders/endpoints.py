"""HTTP of the cardholder base: card events from a province's card system."""

from __future__ import annotations

from essc.cardholders import service
from essc.cardholders.errors import CardNotFound, CardTransitionRefused, EventConflict, ReplacementMissing
from essc.cardholders.schemas import CardEventIn, CardEventOut
from essc.core.deps import ProvinceUoW, requires
from essc.core.routing import api_router
from essc.shared.policy import Party
from essc.shared.provinces import WrongProvince, ensure_same_province

router = api_router(prefix="/v1/provinces", tags=["cardholders"])


@router.post(
    "/{province}/card-events",
    response_model=CardEventOut,
    dependencies=[
        requires(
            None,
            party=Party.PROVINCE,
            raises=(
                WrongProvince,
                CardNotFound,
                CardTransitionRefused,
                EventConflict,
                ReplacementMissing,
            ),
        )
    ],
)
async def card_event(province: str, body: CardEventIn, uow: ProvinceUoW) -> CardEventOut:
    """Apply a card status event; only the province's own card system may send it."""
    ensure_same_province(uow.context.actor.province or "", province)
    return await uow.run(service.apply_card_event, province, body)

"""HTTP of online codes: channels issue them and read the usage history, terminals resolve them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, status

from essc.access.errors import SessionStandingChanged
from essc.core.deps import ChannelUoW, TerminalUoW, Work, caller_of, requires
from essc.core.routing import api_router
from essc.ecards.endpoints import CurrentChannel
from essc.ecards.errors import SIGN_NO_REFUSALS, CardNotActive, EcardUnlinked
from essc.kit.codes import MalformedCode
from essc.kit.qrimage import UnrenderablePayload
from essc.kit.schemas import Instant
from essc.qr import service
from essc.qr.errors import CardNotUsable, CodeAlreadyUsed, CodeExpired, CodeUnknown, WrongCodeKind
from essc.qr.schemas import CodeRequest, OnlineCodeOut, Resolution, ResolveRequest, UsageHistory
from essc.shared.policy import Function, Party
from essc.terminals.errors import ACTING_TERMINAL_REFUSALS, BusiTypeNotGranted

router = api_router(prefix="/v1", tags=["qr"])


@router.post(
    "/ecards/{sign_no}/qr-codes",
    response_model=OnlineCodeOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        requires(
            Function.QR,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                MalformedCode,
                CardNotActive,
                EcardUnlinked,
                UnrenderablePayload,
            ),
        )
    ],
)
async def issue_code(
    sign_no: str, uow: ChannelUoW, channel: CurrentChannel, body: CodeRequest | None = None
) -> OnlineCodeOut:
    """A one-time code valid at most 60 s, as a payload and as PNG and SVG images."""
    return await uow.run(service.issue_code, channel, sign_no, body or CodeRequest())


@router.get(
    "/ecards/{sign_no}/usages",
    response_model=UsageHistory,
    dependencies=[
        requires(
            Function.QUERIES,
            party=Party.CHANNEL,
            raises=(*SIGN_NO_REFUSALS,),
        )
    ],
)
async def usage_history(
    sign_no: str,
    uow: ChannelUoW,
    channel: CurrentChannel,
    before: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> UsageHistory:
    """Who used the holder's e-card ("who used my card"), newest first."""
    return await uow.run(service.usage_history, channel, sign_no, before, limit)


@router.post(
    "/qr/resolutions",
    response_model=Resolution,
    dependencies=[
        requires(
            Function.QR,
            party=Party.TERMINAL,
            raises=(
                *ACTING_TERMINAL_REFUSALS,
                MalformedCode,
                BusiTypeNotGranted,
                CodeUnknown,
                CardNotUsable,
                CodeAlreadyUsed,
                CodeExpired,
                WrongCodeKind,
                SessionStandingChanged,
            ),
            work=Work.ONE_STATEMENT,
            checks_session=True,
        )
    ],
)
async def resolve(body: ResolveRequest, request: Request, uow: TerminalUoW) -> Resolution:
    """Spend a code for a busiType; the answer holds exactly what the terminal's grant allows."""
    return await uow.run(service.resolve, caller_of(request), body)

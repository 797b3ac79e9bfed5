"""HTTP of scan-to-login: terminals show codes and learn the result, channel apps scan, confirm or deny."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import Request, status
from fastapi.responses import StreamingResponse

from essc.core.db import run_on_loop
from essc.core.deps import ChannelUoW, TerminalUoW, caller_of, platform_of, requires
from essc.core.platform import Platform
from essc.core.routing import api_router
from essc.ecards.endpoints import CallingChannel
from essc.ecards.errors import SIGN_NO_REFUSALS, BusiSeqInvalid, CardNotActive, EcardUnlinked
from essc.kit.codes import MalformedCode
from essc.kit.qrimage import UnrenderablePayload
from essc.login import service
from essc.login.errors import (
    LoginCodeAlreadyScanned,
    LoginCodeAnswered,
    LoginCodeExpired,
    LoginCodeNotScanned,
    LoginCodeUnknown,
    TerminalCannotLogin,
)
from essc.login.schemas import (
    AnswerOut,
    ConfirmRequest,
    DenyRequest,
    LoginCodeOut,
    LoginEvent,
    LoginState,
    ScanOut,
    ScanRequest,
)
from essc.qr.errors import WrongCodeKind
from essc.qr.schemas import CodeRequest
from essc.shared.policy import Function, Party
from essc.terminals.errors import ACTING_TERMINAL_REFUSALS
from essc.terminals.service import acting_terminal

router = api_router(prefix="/v1/login-codes", tags=["login"])

EVENT_STREAM = "text/event-stream"
KEEPALIVE_SECONDS = 15.0  # a comment line this often keeps proxies from closing an idle stream


@router.post(
    "",
    response_model=LoginCodeOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        requires(
            Function.LOGIN,
            party=Party.TERMINAL,
            raises=(
                *ACTING_TERMINAL_REFUSALS,
                MalformedCode,
                TerminalCannotLogin,
                UnrenderablePayload,
            ),
        )
    ],
)
async def create(request: Request, uow: TerminalUoW, body: CodeRequest | None = None) -> LoginCodeOut:
    """A login code for a website or kiosk to show (payload, PNG, SVG), valid at most 120 s."""
    terminal, owner = await uow.run(acting_terminal, caller_of(request).caller_id)
    return await uow.run(service.create, terminal, owner, body or CodeRequest())


@router.post(
    "/scan",
    response_model=ScanOut,
    response_model_exclude_none=True,  # a terminal's code names no relying party, a relying party's no kinds
    dependencies=[
        requires(
            Function.LOGIN,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                *ACTING_TERMINAL_REFUSALS,
                MalformedCode,
                LoginCodeUnknown,
                CardNotActive,
                EcardUnlinked,
                LoginCodeAlreadyScanned,
                LoginCodeAnswered,
                LoginCodeNotScanned,
                LoginCodeExpired,
                WrongCodeKind,
            ),
        )
    ],
)
async def scan(body: ScanRequest, uow: ChannelUoW, calling: CallingChannel) -> ScanOut:
    """The holder scanned a login code in the app: bind it to the holder, say whom it logs in to."""
    return await uow.run(service.scan, calling, body)


@router.post(
    "/confirm",
    response_model=AnswerOut,
    dependencies=[
        requires(
            Function.LOGIN,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                *ACTING_TERMINAL_REFUSALS,
                MalformedCode,
                BusiSeqInvalid,
                LoginCodeUnknown,
                CardNotActive,
                EcardUnlinked,
                LoginCodeAlreadyScanned,
                LoginCodeAnswered,
                LoginCodeNotScanned,
                LoginCodeExpired,
                WrongCodeKind,
            ),
        )
    ],
)
async def confirm(body: ConfirmRequest, uow: ChannelUoW, calling: CallingChannel) -> AnswerOut:
    """The holder confirms the login with a busiSeq of purpose login."""
    return await uow.run(service.confirm, calling, body)


@router.post(
    "/deny",
    response_model=AnswerOut,
    dependencies=[
        requires(
            Function.LOGIN,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                MalformedCode,
                LoginCodeUnknown,
                LoginCodeAlreadyScanned,
                LoginCodeAnswered,
                LoginCodeNotScanned,
                LoginCodeExpired,
                WrongCodeKind,
            ),
        )
    ],
)
async def deny(body: DenyRequest, uow: ChannelUoW, calling: CallingChannel) -> AnswerOut:
    """The holder refuses the login."""
    return await uow.run(service.deny, calling, body)


@router.get(
    "/{login_id}",
    response_model=LoginState,
    dependencies=[
        requires(
            Function.LOGIN,
            party=Party.TERMINAL,
            raises=(
                *ACTING_TERMINAL_REFUSALS,
                LoginCodeUnknown,
            ),
        )
    ],
)
async def state(login_id: str, request: Request, uow: TerminalUoW) -> LoginState:
    """Where the login stands; the one answer that reads confirmed carries the holder, later ones consumed."""
    terminal, _owner = await uow.run(acting_terminal, caller_of(request).caller_id)
    return await uow.run(service.collect, terminal, login_id)


@router.get(
    "/{login_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {EVENT_STREAM: {}},
            "description": "`event: status` with a LoginEvent as data, one per change; "
            "notifications only (not signed): collect the result with a signed GET",
        }
    },
    dependencies=[
        requires(
            Function.LOGIN,
            party=Party.TERMINAL,
            raises=(
                *ACTING_TERMINAL_REFUSALS,
                LoginCodeUnknown,
            ),
        )
    ],
)
async def events(login_id: str, request: Request, uow: TerminalUoW) -> StreamingResponse:
    """Server-Sent Events of each status change until a final one; GET /v1/login-codes/{loginId} collects."""
    terminal, _owner = await uow.run(acting_terminal, caller_of(request).caller_id)
    await uow.run(service.own_login, terminal, login_id)
    # The unit of work ends when this function returns (function scope), before the stream starts: the
    # stream may last two minutes and reads in statements of its own.
    platform = platform_of(request)
    return StreamingResponse(
        _stream(platform, login_id, platform.settings.login_events_interval_seconds),
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _event(number: int, event: LoginEvent) -> str:
    return f"id: {number}\nevent: status\ndata: {event.model_dump_json(by_alias=True)}\n\n"


async def _stream(platform: Platform, login_id: str, interval: float) -> AsyncIterator[str]:
    last = None
    number = 0
    quiet_since = time.monotonic()
    while True:
        event = await run_on_loop(service.peek, platform, login_id)
        if event.status != last:
            number += 1
            last = event.status
            quiet_since = time.monotonic()
            yield _event(number, event)
            if service.is_final(event):
                return
        elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(interval)

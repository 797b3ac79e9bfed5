"""HTTP of request authentication: opening a MAC session for hot-path traffic."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, status

from essc.access.errors import SessionNotAllowed
from essc.access.schemas import OpenedSession
from essc.access.service import open_session
from essc.core.db import run_on_loop
from essc.core.deps import platform_of, requires, signed_caller
from essc.core.routing import api_router
from essc.shared.callers import AuthenticatedCaller
from essc.shared.policy import Party

router = api_router(prefix="/v1/sessions", tags=["authentication"])


@router.post(
    "",
    response_model=OpenedSession,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires(None, party=Party.SIGNED, raises=(SessionNotAllowed,))],
)
async def create_session(
    request: Request, caller: Annotated[AuthenticatedCaller, Depends(signed_caller)]
) -> OpenedSession:
    """Open a MAC session with a signed request; later requests carry X-Essc-Session and a MAC."""
    return await run_on_loop(open_session, platform_of(request), caller)

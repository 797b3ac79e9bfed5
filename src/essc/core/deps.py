"""FastAPI dependencies: the platform, the authenticated caller, and one unit of work per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from essc.access.errors import WrongCallerKind
from essc.access.schemas import AuthenticatedCaller, SignedRequest
from essc.access.service import authenticate
from essc.core.context import Actor, RequestContext
from essc.core.middleware import SIGNED_BODY
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.idempotency.http import claim_key, fence_unit_of_work
from essc.kit import wire
from essc.kit.errors import EsscError


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def signed_caller(request: Request) -> AuthenticatedCaller:
    """Authenticate the request's signature, timestamp and nonce (SPEC section 4)."""
    # The body as signed: the envelope middleware hands the endpoint its opened form and keeps this one.
    body = getattr(request.state, SIGNED_BODY, None) or await request.body()
    signed = SignedRequest(
        method=request.method,
        path=wire.path_with_query(request.url.path, request.url.query),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
    )
    caller = await run_in_threadpool(authenticate, get_platform(request), signed)
    request.state.caller = caller
    if caller.session_key is not None:
        # The response of session traffic carries a MAC under the session key instead of an SM2 signature.
        request.state.response_mac = (caller.session_id, caller.session_key)
    # After authentication (keys are per caller) and before anything else runs: a replay skips the endpoint.
    await claim_key(request, get_platform(request), caller)
    return caller


def _uow(request: Request, actor: Actor) -> Iterator[UnitOfWork]:
    context = RequestContext(
        actor=actor,
        request_id=request.state.request_id,
        source_ip=request.client.host if request.client else None,
    )
    uow = UnitOfWork(get_platform(request), context)
    fence_unit_of_work(request, uow.session)
    try:
        yield uow
    except EsscError as exc:
        if exc.persist_changes:
            uow.commit()
        raise
    finally:
        uow.close()


def channel_uow(
    request: Request, caller: Annotated[AuthenticatedCaller, Depends(signed_caller)]
) -> Iterator[UnitOfWork]:
    """A unit of work acting for an authenticated channel."""
    if caller.kind != "channel":
        raise WrongCallerKind(f"this endpoint serves channels, not {caller.kind}s")
    yield from _uow(request, Actor(kind="channel", id=caller.ref))


def province_uow(
    request: Request, caller: Annotated[AuthenticatedCaller, Depends(signed_caller)]
) -> Iterator[UnitOfWork]:
    """A unit of work acting for an authenticated province card system."""
    if caller.kind != "province":
        raise WrongCallerKind(f"this endpoint serves province card systems, not {caller.kind}s")
    yield from _uow(request, Actor(kind="province", id=caller.ref, province=caller.ref))


def terminal_uow(
    request: Request, caller: Annotated[AuthenticatedCaller, Depends(signed_caller)]
) -> Iterator[UnitOfWork]:
    """A unit of work acting for an authenticated terminal."""
    if caller.kind != "terminal":
        raise WrongCallerKind(f"this endpoint serves terminals, not {caller.kind}s")
    yield from _uow(request, Actor(kind="terminal", id=caller.ref))


def caller_of(request: Request) -> AuthenticatedCaller:
    caller: AuthenticatedCaller = request.state.caller
    return caller


ChannelUoW = Annotated[UnitOfWork, Depends(channel_uow)]
ProvinceUoW = Annotated[UnitOfWork, Depends(province_uow)]
TerminalUoW = Annotated[UnitOfWork, Depends(terminal_uow)]

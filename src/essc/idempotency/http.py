"""Idempotency keys over HTTP: claimed after authentication, answers kept by a middleware inside the signing.

The caller is known only once the `signed_caller` dependency has verified the request, so the key is claimed
there (`claim_key`, then `hold_claim`), scoped to that caller. A stored answer is raised as `ReplayAnswer`
before any other dependency or the endpoint runs, and turned back into the same status, content type and body
by `replay_answer`. `IdempotencyMiddleware` sits inside `ResponseSigningMiddleware`: it holds back the answer
of a request that claimed a key, stores it (or releases the key) and only then lets it go out, so a replay is
signed afresh for the retry's nonce and no client sees an answer that a retry could not get again. The
request's unit of work is fenced with the claim (`fence_unit_of_work`), see essc.idempotency.service."""

from __future__ import annotations

import anyio
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from essc.core.db import Session
from essc.core.platform import Platform
from essc.idempotency import service
from essc.kit import wire
from essc.shared.callers import AuthenticatedCaller

_STATE_KEY = "idempotency_claim"


class ReplayAnswer(Exception):
    """The key's first answer, raised from the authentication dependency so the endpoint does not run."""

    def __init__(self, answer: service.Answer) -> None:
        super().__init__(f"replay of a {answer.status} answer")
        self.answer = answer


def claim_key(request: Request, platform: Platform, caller: AuthenticatedCaller) -> service.Claim | None:
    """Claim the request's Idempotency-Key for its caller (blocking); raise ReplayAnswer when it has one."""
    key = request.headers.get(wire.HEADER_IDEMPOTENCY_KEY)
    if key is None or request.method not in service.STATE_CHANGING:
        return None
    fingerprint = service.Fingerprint(
        method=request.method,
        path=wire.path_with_query(request.url.path, request.url.query),
        body_digest=caller.body_digest,
    )
    outcome = service.claim(platform, caller.caller_id, key, fingerprint)
    if isinstance(outcome, service.Answer):
        raise ReplayAnswer(outcome)
    return outcome


def hold_claim(request: Request, held: service.Claim | None) -> None:
    """Keep the request's claim where the unit of work and the middleware find it."""
    if held is not None:
        setattr(request.state, _STATE_KEY, held)


def fence_unit_of_work(request: Request, session: Session) -> None:
    """Tie the commits of the request's unit of work to its claim, when it holds one."""
    held: service.Claim | None = getattr(request.state, _STATE_KEY, None)
    if held is not None:
        service.fence(session, held)


async def replay_answer(_request: Request, exc: Exception) -> Response:
    """The first answer again, byte for byte, marked as a replay."""
    assert isinstance(exc, ReplayAnswer)
    headers = {wire.HEADER_IDEMPOTENT_REPLAYED: "true"}
    if exc.answer.content_type is not None:
        headers["content-type"] = exc.answer.content_type
    return Response(content=exc.answer.body, status_code=exc.answer.status, headers=headers)


class IdempotencyMiddleware:
    """Store the answer of a request that claimed a key before sending it; release the key if it crashed."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in service.STATE_CHANGING:
            await self.app(scope, receive, send)
            return
        held_back: list[Message] = []
        passing = False

        async def hold(message: Message) -> None:
            nonlocal passing
            if message["type"] == "http.response.start":
                # Decided at the start of the answer: by then authentication has claimed the key or not.
                passing = _claim_of(scope) is None
            if passing:
                await send(message)
            else:
                held_back.append(message)

        try:
            await self.app(scope, receive, hold)
        except BaseException:
            held = _claim_of(scope)
            if held is not None:
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(service.finish, self.platform, held, None)
            raise
        held = _claim_of(scope)
        if held is not None and not passing:
            await run_in_threadpool(service.finish, self.platform, held, _answer(held_back))
        for message in held_back:
            await send(message)


def _claim_of(scope: Scope) -> service.Claim | None:
    held: service.Claim | None = scope.get("state", {}).get(_STATE_KEY)
    return held


def _answer(messages: list[Message]) -> service.Answer | None:
    start = next((m for m in messages if m["type"] == "http.response.start"), None)
    if start is None:  # the application ended without answering: treated like a crash
        return None
    content_type = next(
        (v.decode("latin-1") for k, v in start.get("headers", []) if k.lower() == b"content-type"), None
    )
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return service.Answer(int(start["status"]), content_type, body)

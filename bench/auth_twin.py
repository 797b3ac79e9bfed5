"""The platform app beside an unauthenticated twin under /open: the same endpoints, without request auth.

The twin is built by the same `create_app` over the same platform (engine, keys, Redis), with two
differences only: the caller named in a header is trusted instead of a signature or MAC, timestamp and
nonce being checked, and the protocol layer is left out (no authentication, envelopes, idempotency or
signed answers), so personal fields travel in the clear.
Bench use only: it serves anyone as any caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from essc.access import repository as access_repository
from essc.core.context import CALLER, REQUEST_ID
from essc.core.db import run_on_loop
from essc.core.platform import Platform, build_platform
from essc.core.settings import Settings
from essc.kit import wire
from essc.kit.ids import new_id
from essc.shared.callers import AuthenticatedCaller
from essc.web.app import create_app
from essc.web.protocol import ProtocolLayer

OPEN_PREFIX = "/open"
BENCH_CALLER_HEADER = "x-essc-bench-caller"  # "channel/<channelNo>"; bench_qr.py sends it


def build() -> ASGIApp:
    """The dispatcher uvicorn serves (--factory): /open/... to the twin, everything else to the platform."""
    platform = build_platform(Settings())
    platform_app = create_app(platform)
    open_app = create_app(platform)
    open_app.user_middleware = [m for m in open_app.user_middleware if m.cls is not ProtocolLayer]
    trusted = _trusted_callers(platform)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(OPEN_PREFIX + "/"):
            inner = dict(scope)
            inner["path"] = path[len(OPEN_PREFIX) :]
            inner["raw_path"] = inner["path"].encode("ascii")
            # What the protocol layer leaves for the routes, here unchecked. Not a dependency override:
            # FastAPI analyses every dependency of a request again while any override is set.
            label = _header(scope, BENCH_CALLER_HEADER)
            inner["state"] = {REQUEST_ID: new_id(), CALLER: await trusted(label)}
            await open_app(inner, receive, send)
            return
        await platform_app(scope, receive, send)

    return app


def _header(scope: Scope, name: str) -> str:
    wanted = name.encode("latin-1")
    return next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == wanted), "")


def _parse(label: str) -> tuple[str, str]:
    parsed = wire.parse_caller(label)
    if parsed is None:
        raise LookupError(f"{BENCH_CALLER_HEADER} {label!r} is not kind/ref")
    return parsed


def _trusted_callers(platform: Platform) -> Callable[[str], Awaitable[AuthenticatedCaller]]:
    callers: dict[str, AuthenticatedCaller] = {}

    def caller_id(label: str) -> str:
        kind, ref = _parse(label)
        with platform.session_factory() as session:
            caller = access_repository.caller_by_ref(session, kind, ref)
        if caller is None:
            raise LookupError(f"no caller {label}")
        return caller.id

    async def trusted(label: str) -> AuthenticatedCaller:
        """The caller the header names, unchecked; looked up once per caller (the twin prices the checks)."""
        known = callers.get(label)
        if known is None:
            kind, ref = _parse(label)
            known = callers[label] = AuthenticatedCaller(
                caller_id=await run_on_loop(caller_id, label),
                kind=kind,
                ref=ref,
                key_id="",
                nonce="",
                signature="",
                body_digest="",
            )
        return known

    return trusted

"""The ASGI application: routers of every domain, one problem handler, the protocol layer over them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIRouter
from fastapi.telemetry import TelemetryConfig
from starlette.routing import BaseRoute

from essc.access.endpoints import router as sessions_router
from essc.audit.endpoints import router as audit_router
from essc.audit.sequencer import SequencerThread
from essc.authorisations.endpoints import router as authorisations_router
from essc.cardholders.endpoints import router as cardholders_router
from essc.channels.endpoints import router as channels_router
from essc.chips.endpoints import router as chips_router
from essc.core.deps import checks_session, get_platform, policy_of, requires
from essc.core.platform import Platform
from essc.core.problems import install_problem_handlers
from essc.core.routing import LoopRoute
from essc.credentials.endpoints import router as credentials_router
from essc.directory.endpoints import router as directory_router
from essc.ecards.endpoints import router as ecards_router
from essc.eligibility.delivery import DeliveryThread
from essc.eligibility.endpoints import router as eligibility_router
from essc.kit import envelope, wire
from essc.login.endpoints import router as login_router
from essc.offline.endpoints import router as offline_router
from essc.oidc.delivery import LogoutDeliveryThread
from essc.oidc.endpoints import router as oidc_router
from essc.oidc.errors import OAuthError
from essc.qr.endpoints import router as qr_router
from essc.regions.endpoints import router as regions_router
from essc.shared.policy import Party
from essc.terminals.endpoints import router as terminals_router
from essc.web.openapi import install_openapi
from essc.web.pages import install_pages
from essc.web.protocol import ProtocolLayer
from essc.web.readiness import router as readiness_router
from essc.webhooks.dispatcher import DispatcherThread

ROUTERS: tuple[APIRouter, ...] = (
    qr_router,
    ecards_router,
    sessions_router,
    cardholders_router,
    regions_router,
    terminals_router,
    offline_router,
    login_router,
    chips_router,
    channels_router,
    authorisations_router,
    directory_router,
    audit_router,
    credentials_router,
    eligibility_router,
    oidc_router,
)


class BackgroundJob(Protocol):
    """Work a process does beside serving: started once, stopped when the process leaves."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def platform_jobs(platform: Platform) -> list[BackgroundJob]:
    """The platform's background work, as its settings ask: one list for `essc demo` and essc serve's jobs.

    Deliveries (webhooks to channels, certification results to provinces' benefit systems, back-channel
    logouts to relying parties) follow ESSC_RUN_DISPATCHER; audit sequencing follows ESSC_RUN_SEQUENCER.
    """
    jobs: list[BackgroundJob] = []
    if platform.settings.run_dispatcher:
        jobs += [DispatcherThread(platform), DeliveryThread(platform), LogoutDeliveryThread(platform)]
    if platform.settings.run_sequencer:
        jobs.append(SequencerThread(platform, platform.settings.audit_sequence_interval_seconds))
    return jobs


def _telemetry(enabled: bool) -> TelemetryConfig:
    return {"tracing": enabled, "metrics": enabled, "logs": enabled, "operation_spans": enabled}


def create_app(platform: Platform) -> FastAPI:
    """Build the API around an already wired platform."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        jobs = platform_jobs(platform)
        for job in jobs:
            job.start()
        try:
            yield
        finally:
            for job in reversed(jobs):
                job.stop()
            await platform.close_loop()

    app = FastAPI(
        title="essc",
        version="0.1.0",
        summary="Electronic social security card platform (电子社保卡)",
        lifespan=lifespan,
        # Off unless asked for: with no provider configured FastAPI would still look for one on every request.
        telemetry=_telemetry(platform.settings.telemetry),
        docs_url=None,  # served from the platform's own assets (essc.web.pages), not a CDN
        redoc_url=None,
    )
    app.router.route_class = LoopRoute
    app.state.platform = platform
    install_problem_handlers(app)

    @app.exception_handler(OAuthError)
    async def _oauth_error(_request: Request, exc: OAuthError) -> JSONResponse:
        # OAuth endpoints answer as RFC 6749 §5.2 requires (ARCHITECTURE.md, OpenID provider), not problems.
        headers = {"Cache-Control": "no-store"}
        if exc.status == 401:
            headers["WWW-Authenticate"] = f'Bearer error="{exc.code}"'
        return JSONResponse(
            {"error": exc.code, "error_description": exc.detail}, status_code=exc.status, headers=headers
        )

    @app.get("/healthz", tags=["operations"], dependencies=[requires(None, party=Party.PUBLIC)])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers. The protocol layer answers it before routing, with these bytes."""
        return {"status": "ok"}

    @app.get("/v1/platform/keys", tags=["reference"], dependencies=[requires(None, party=Party.PUBLIC)])
    async def platform_keys(p: Annotated[Platform, Depends(get_platform)]) -> dict[str, Any]:
        """The platform's signing keys (responses, webhooks) and encryption keys (envelopes) by key id."""
        signer = p.keys.signer()
        current = p.keys.decrypter().key_id
        return {
            "suite": p.suite.name,
            "algorithm": p.suite.signature_algorithm,
            "keys": {kid: key.to_pem().decode("ascii") for kid, key in p.keys.public_keys().items()},
            # Endorsed by the current signing key: a client that pinned the signing keys can trust them.
            "encryptionKeys": {
                kid: {
                    "publicKey": key.to_pem().decode("ascii"),
                    "use": "envelope",
                    "current": kid == current,
                    "signedBy": signer.key_id,
                    "signature": wire.encode_signature(
                        signer.sign(envelope.endorsement_string(kid, key, p.suite.hash))
                    ),
                }
                for kid, key in p.keys.encryption_keys().items()
            },
        }

    # Routes are matched in the order they were added, each router after the one before: the platform's own
    # routes (polled by load balancers) come first, then the domains, the busiest first (ROUTERS). They are
    # added as the routes they are, not with include_router: FastAPI includes a router as a branch whose
    # routes it matches twice per request (once to choose the branch, again within it), with bookkeeping
    # for each. The domain routers carry their own prefixes and tags, so nothing is lost.
    for router in (*ROUTERS, readiness_router):
        app.router.routes.extend(router.routes)

    _document_policies(app)
    install_openapi(app, api_routes)
    install_pages(app)

    app.add_middleware(ProtocolLayer, platform=platform, routes_checking_session=_checking_session(app))
    return app


def _checking_session(app: FastAPI) -> frozenset[tuple[str, str]]:
    """(method, path) of the routes that check the caller's MAC session in their own statement."""
    return frozenset(
        (method, route.path)
        for route in app.router.routes
        if isinstance(route, APIRoute) and checks_session(route)
        for method in route.methods or ()
    )


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every API route the app serves, those of included routers too (FastAPI includes them lazily)."""
    found: list[APIRoute] = []

    def walk(routes: list[BaseRoute]) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            elif isinstance(included := getattr(route, "original_router", None), APIRouter):
                walk(included.routes)

    walk(app.routes)
    return found


def _document_policies(app: FastAPI) -> None:
    """Publish each route's declared party and function in the OpenAPI document (x-essc-policy)."""
    for route in api_routes(app):
        if (policy := policy_of(route)) is not None:
            route.openapi_extra = {**(route.openapi_extra or {}), "x-essc-policy": policy.describe()}

"""The whole run in one process: sandbox platform, recording proxy, a channel app, the kit (tests, demos)."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from starlette.types import ASGIApp

from essc.authorisations import service as authorisations
from essc.channels import service as channels
from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.kit.crypto.base import PrivateKey
from essc.oidc import service as oidc
from essc.oidc.schemas import RelyingPartyIn
from essc.shared.callers import Environment
from essc.shared.policy import Function
from essc.web.app import create_app
from essc.webhooks.dispatcher import Delivery
from essc_conformance import report
from essc_conformance.driver import HttpDriver
from essc_conformance.kit import TESTED, Kit
from essc_conformance.proxy import RecordingProxy
from essc_conformance.reference import WEBHOOK_PATH, Faults, ReferenceChannel, reference_app
from essc_conformance.rp_kit import RelyingPartyKit
from essc_conformance.rp_reference import (
    CALLBACK_PATH,
    LOGOUT_PATH,
    ReferenceRelyingParty,
    RpFaults,
    rp_reference_app,
)

SANDBOX_URL = "http://sandbox.essc.test"
CHANNEL_ORIGIN = "http://channel.essc.test"
SANDBOX_KEY_ID = "sbx-1"
PRODUCTION_KEY_ID = "prd-1"
_channel_numbers = itertools.count(4490000000 + secrets.randbelow(9_000_000))


class ClientSender:
    """A WebhookSender over a given httpx client (in process: a TestClient of the channel's app)."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def post(self, delivery: Delivery, timeout: float) -> int:
        # The client's own timeout applies: a TestClient takes none per request.
        del timeout
        return self.http.post(delivery.url, content=delivery.body, headers=delivery.headers).status_code


@dataclass(frozen=True, slots=True)
class ChannelKeys:
    """A channel's key pairs: the sandbox key it signs the access tests with and its production key."""

    sandbox: PrivateKey
    production: PrivateKey


def provision_channel(
    platform: Platform,
    channel_no: str,
    keys: ChannelKeys,
    webhook_url: str,
    *,
    functions: Iterable[Function] = TESTED,
    provinces: Iterable[str] = ("44",),
) -> None:
    """Register a channel in the sandbox deployment, able to call the functions under test."""
    # Authorisation is deny by default and a grant needs a production certification, so the sandbox's own
    # operator vouches for the channel here; only the signed report certifies it on the real platform.
    with UnitOfWork(platform, RequestContext(actor=Actor.operator("conformance"))) as uow:
        row = channels.register(
            uow,
            channel_no,
            f"Channel under test {channel_no}",
            channels.ChannelType.HRSS_APP,
            webhook_url=webhook_url,
            keys=[
                channels.NewKey(SANDBOX_KEY_ID, keys.sandbox.public_key().to_pem(), Environment.SANDBOX),
                channels.NewKey(
                    PRODUCTION_KEY_ID, keys.production.public_key().to_pem(), Environment.PRODUCTION
                ),
            ],
        )
        wanted = list(functions)
        channels.commission(uow, row, wanted, attested_by="conformance-sandbox")
        authorisations.open_everywhere(uow, row, wanted, provinces, by="operator/conformance-sandbox")
        uow.commit()


@dataclass
class InProcessRun:
    """What one in-process run made: the signed report, the proxy's record, the channel and its keys."""

    report: dict[str, Any]
    proxy: RecordingProxy
    channel: ReferenceChannel
    keys: ChannelKeys


def run_in_process(
    platform: Platform,
    *,
    faults: Faults | None = None,
    channel_no: str | None = None,
    province: str = "44",
    validity: timedelta = report.DEFAULT_VALIDITY,
) -> InProcessRun:
    """Provision a reference channel (with `faults`) in the sandbox and run both plans on it over HTTP."""
    number = channel_no or str(next(_channel_numbers))
    keys = ChannelKeys(platform.suite.generate_private_key(), platform.suite.generate_private_key())
    provision_channel(platform, number, keys, CHANNEL_ORIGIN + WEBHOOK_PATH, provinces=[province])
    proxy = RecordingProxy(create_app(platform))
    with ExitStack() as running:
        return _run(
            platform, number, keys, proxy, running, faults=faults, province=province, validity=validity
        )


def _run(
    platform: Platform,
    number: str,
    keys: ChannelKeys,
    proxy: RecordingProxy,
    running: ExitStack,
    *,
    faults: Faults | None,
    province: str,
    validity: timedelta,
) -> InProcessRun:
    # Each client's app runs (lifespan started, one event loop) until the run ends, as a server would.
    def to_platform(url: str) -> httpx.Client:
        return running.enter_context(_client(proxy, url))

    channel = ReferenceChannel(
        platform.suite,
        number,
        SANDBOX_KEY_ID,
        keys.sandbox,
        faults=faults or Faults(),
        http_factory=to_platform,
        clock=lambda: platform.clock.now().timestamp(),
    )
    channel_http = running.enter_context(_client(reference_app(channel), CHANNEL_ORIGIN))
    kit = Kit(
        platform=platform,
        proxy=proxy,
        platform_url=SANDBOX_URL,
        channel_no=number,
        driver=HttpDriver(CHANNEL_ORIGIN, channel_http),
        webhooks=ClientSender(channel_http),
        province=province,
        validity=validity,
    )
    return InProcessRun(kit.run_signed(), proxy, channel, keys)


def _client(app: ASGIApp, base_url: str) -> TestClient:
    return TestClient(app, base_url=base_url, raise_server_exceptions=False)


# --- the relying-party plan ------------------------------------------------------------------------------

RP_ORIGIN = "https://rp.essc.test"
_rp_numbers = itertools.count(secrets.randbelow(1 << 30))


class ClientLogoutPoster:
    """A LogoutPoster over a given httpx client (in process: a TestClient of the relying party's app)."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def post(self, url: str, logout_token: str, timeout: float) -> int:
        del timeout  # the client's own timeout applies: a TestClient takes none per request
        return self.http.post(url, data={"logout_token": logout_token}).status_code


def register_relying_party(
    platform: Platform, client_id: str, signing_key: ECKey, *, province: str = "44", origin: str = RP_ORIGIN
) -> None:
    """Register a relying party in the sandbox deployment as its province would, with back-channel logout."""
    body = RelyingPartyIn.model_validate(
        {
            "clientId": client_id,
            "name": f"Relying party under test {client_id}",
            "redirectUris": [origin + CALLBACK_PATH],
            "jwks": {"keys": [signing_key.as_dict(private=False, use="sig")]},
            "idTokenAlg": "ES256",
            "scopes": ["openid"],
            "backchannelLogoutUri": origin + LOGOUT_PATH,
        }
    )
    with UnitOfWork(platform, RequestContext(actor=Actor.operator("conformance"))) as uow:
        oidc.register(uow, body, province, "operator/conformance-sandbox")
        uow.commit()


@dataclass
class InProcessRelyingPartyRun:
    """What one in-process run of the relying-party plan made: the signed report, the proxy's record."""

    report: dict[str, Any]
    proxy: RecordingProxy
    relying_party: ReferenceRelyingParty


def run_relying_party_in_process(
    platform: Platform,
    *,
    faults: RpFaults | None = None,
    province: str = "44",
    validity: timedelta = report.DEFAULT_VALIDITY,
) -> InProcessRelyingPartyRun:
    """Register a reference relying party (with `faults`) in the sandbox and run its plan over HTTP."""
    client_id = f"conformance-rp-{next(_rp_numbers)}"
    key = ECKey.generate_key("P-256", parameters={"kid": f"{client_id}-sig"})
    register_relying_party(platform, client_id, key, province=province)
    # The proxy is the sandbox's public face: the issuer the relying party checks tokens against.
    public_url, platform.settings.public_url = platform.settings.public_url, SANDBOX_URL
    proxy = RecordingProxy(create_app(platform))
    try:
        with ExitStack() as running:
            platform_http = running.enter_context(_client(proxy, SANDBOX_URL))
            platform_http.follow_redirects = False
            rp = ReferenceRelyingParty(
                client_id,
                key,
                RP_ORIGIN + CALLBACK_PATH,
                faults=faults or RpFaults(),
                http_factory=lambda _url: platform_http,
                clock=lambda: platform.clock.now().timestamp(),
            )
            rp_http = running.enter_context(_client(rp_reference_app(rp), RP_ORIGIN))
            kit = RelyingPartyKit(
                platform=platform,
                proxy=proxy,
                platform_url=SANDBOX_URL,
                client_id=client_id,
                driver=HttpDriver(RP_ORIGIN, rp_http),
                browser=platform_http,
                logout=ClientLogoutPoster(rp_http),
                province=province,
                validity=validity,
            )
            return InProcessRelyingPartyRun(kit.run_signed(), proxy, rp)
    finally:
        platform.settings.public_url = public_url

"""Every route of the app declares the party it serves (and for channels the function); it holds."""

from __future__ import annotations

import pytest
from starlette.routing import Route

from essc.core.deps import policy_of, requires
from essc.core.platform import Platform
from essc.shared.policy import Party as PolicyParty
from essc.web.app import api_routes, create_app
from essc_sdk import PlatformError
from factories import app_client, channel, ministry, province

# The documentation and landing pages are plain Starlette routes, outside the API (essc.web.pages).
DOCUMENTATION = {"/openapi.json", "/docs", "/"}


def test_every_route_declares_a_policy(platform: Platform) -> None:
    app = create_app(platform)
    routes = api_routes(app)
    assert len(routes) > 30
    undeclared = [f"{sorted(r.methods)} {r.path}" for r in routes if policy_of(r) is None]
    assert not undeclared, f"routes without requires(...): {undeclared}"
    for route in routes:
        policy = policy_of(route)
        assert policy is not None
        if policy.party is PolicyParty.CHANNEL:
            assert policy.function is not None, route.path
    others = {r.path for r in app.routes if type(r) is Route}
    assert others <= DOCUMENTATION


def test_a_channel_route_must_name_its_function() -> None:
    with pytest.raises(ValueError, match="function"):
        requires(None, party=PolicyParty.CHANNEL)


def test_the_policy_is_published_in_the_openapi_document(platform: Platform) -> None:
    document = app_client(platform).get("/openapi.json").json()
    issuance = document["paths"]["/v1/ecards/issuance"]["post"]
    assert issuance["x-essc-policy"] == {"party": "channel", "function": "issuance"}
    grants = document["paths"]["/v1/provinces/{province}/channel-authorisations"]["get"]
    assert grants["x-essc-policy"] == {"party": "province"}


def test_each_party_is_refused_on_the_routes_of_another(platform: Platform) -> None:
    http = app_client(platform)
    app, gd, registry = channel(platform, http), province(platform, http), ministry(platform, http)
    with pytest.raises(PlatformError) as as_province:
        gd.client.get("/v1/ecards/ABCDEFGHIJ")
    with pytest.raises(PlatformError) as as_channel:
        app.client.get("/v1/ministry/channels")
    with pytest.raises(PlatformError) as as_ministry:
        registry.client.get("/v1/provinces/44/channel-authorisations")
    for refused in (as_province, as_channel, as_ministry):
        assert (refused.value.status, refused.value.code) == (403, "wrong_caller_kind")
    assert registry.client.get("/v1/ministry/channels")

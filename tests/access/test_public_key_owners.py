"""One public key, one party, also when parties register the same key at the same moment."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from essc.access.models import CallerKey, PublicKeyOwner
from essc.core.platform import Platform
from essc.kit import wire
from essc.web.app import create_app
from factories import Party, app_client, channel, ministry

CONCURRENT = 12


def _concurrently(platform: Platform, party: Party, requests: list[tuple[str, Any]]) -> list[httpx.Response]:
    """Signed POSTs sent at once to one app on one event loop, each with its own nonce and Idempotency-Key."""
    prepared = []
    for path, body in requests:
        content = orjson.dumps(body)
        headers = {
            "Content-Type": "application/json",
            wire.HEADER_IDEMPOTENCY_KEY: secrets.token_urlsafe(24),
            **party.client.signed_headers("POST", path, content),
        }
        prepared.append((path, content, headers))

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(platform))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as http:
                return list(
                    await asyncio.gather(*(http.post(p, content=c, headers=h) for p, c, h in prepared))
                )
        finally:
            await platform.close_loop()

    return asyncio.run(send_all())


def _outcomes(responses: list[httpx.Response]) -> Counter[tuple[int, str]]:
    return Counter(
        (r.status_code, r.json().get("code", "") if r.status_code >= 400 else "") for r in responses
    )


def _new_channel(number: int, public_pem: str) -> dict[str, Any]:
    return {
        "channelNo": f"{1100000900 + number}",
        "name": f"Racing app {number}",
        "organisation": "A bank",
        "channelType": "bank",
        "contacts": [{"name": "Ops desk", "email": "ops@racing.test"}],
        "keys": [{"keyId": "k1", "publicKey": public_pem}],
    }


def test_concurrent_registrations_of_one_key_by_many_channels_keep_one_owner(platform: Platform) -> None:
    registry = ministry(platform, app_client(platform))
    shared = platform.suite.generate_private_key().public_key().to_pem().decode("ascii")

    requests = [("/v1/ministry/channels", _new_channel(n, shared)) for n in range(CONCURRENT)]
    responses = _concurrently(platform, registry, requests)

    assert _outcomes(responses) == Counter({(201, ""): 1, (409, "public_key_in_use"): CONCURRENT - 1})
    with platform.session_factory() as session:
        der = platform.suite.load_public_key(shared.encode()).to_der()
        holders = session.execute(select(CallerKey.caller_id).where(CallerKey.public_key == der)).all()
        assert len(holders) == 1
        assert session.execute(select(func.count()).select_from(PublicKeyOwner)).scalar_one() >= 1


def test_concurrent_key_additions_to_existing_channels_keep_one_owner(platform: Platform) -> None:
    http = app_client(platform)
    registry = ministry(platform, http)
    numbers = [channel(platform, http).label.removeprefix("channel/") for _ in range(4)]
    shared = platform.suite.generate_private_key().public_key().to_pem().decode("ascii")

    requests = [
        (f"/v1/ministry/channels/{number}/keys", {"keyId": f"r{attempt}", "publicKey": shared})
        for number in numbers
        for attempt in range(3)
    ]
    responses = _concurrently(platform, registry, requests)

    winners = {r.request.url.path for r in responses if r.status_code == 201}
    # The owner may add the key under several key ids; every other channel is refused by name.
    assert len(winners) == 1
    assert _outcomes(responses) == Counter({(201, ""): 3, (409, "public_key_in_use"): 9})


def test_the_owner_of_a_key_may_register_it_again_under_another_key_id(platform: Platform) -> None:
    http = app_client(platform)
    registry = ministry(platform, http)
    owner = channel(platform, http)
    own = owner.private_key.public_key().to_pem().decode("ascii")
    number = owner.label.removeprefix("channel/")

    again = registry.client.post(
        f"/v1/ministry/channels/{number}/keys", {"keyId": "s1", "publicKey": own, "environment": "sandbox"}
    )

    assert {k["keyId"] for k in again["keys"]} == {"k1", "s1"}
    with platform.session_factory() as session:
        owners = session.execute(select(PublicKeyOwner.caller_id)).scalars().all()
        assert owners.count(owner.caller_id) == 1

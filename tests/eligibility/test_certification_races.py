"""Concurrent certifications and grants answer the winner's result or a named 409, never a 500."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from essc.core.platform import Platform
from essc.eligibility.models import Certification, Delegation, Delivery
from essc.kit import wire
from essc.web.app import create_app
from factories import Party, busi_seq, certification, eligibility_scene, holder, issued_sign_no, load

CONCURRENT = 8


def _concurrently(platform: Platform, party: Party, path: str, bodies: list[Any]) -> list[httpx.Response]:
    """POST every body at once to one app on one event loop, as one server worker serves them."""
    prepared = []
    for body in bodies:
        content = orjson.dumps(party.client.seal_body(body, "POST", path))
        headers = {
            "Content-Type": "application/json",
            wire.HEADER_IDEMPOTENCY_KEY: secrets.token_urlsafe(24),
            **party.client.signed_headers("POST", path, content),
        }
        prepared.append((content, headers))

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(platform))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as http:
                return list(
                    await asyncio.gather(*(http.post(path, content=c, headers=h) for c, h in prepared))
                )
        finally:
            await platform.close_loop()

    return asyncio.run(send_all())


def _outcomes(responses: list[httpx.Response]) -> Counter[tuple[int, str]]:
    return Counter(
        (r.status_code, r.json().get("code", "") if r.status_code >= 400 else "") for r in responses
    )


def test_concurrent_certifications_of_one_item_certify_it_once(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    bodies = [certification(platform, scene.app, scene.sign_no, scene.item_id) for _ in range(CONCURRENT)]
    responses = _concurrently(platform, scene.app, f"/v1/eligibility/{scene.sign_no}/certifications", bodies)
    outcomes = _outcomes(responses)
    assert outcomes == Counter({(201, ""): 1, (409, "already_certified"): CONCURRENT - 1}), outcomes
    winner = next(r.json()["certificationId"] for r in responses if r.status_code == 201)
    assert {r.json()["certificationId"] for r in responses if r.status_code == 409} == {winner}
    with platform.session_factory() as session:
        assert session.execute(select(func.count()).select_from(Certification)).scalar_one() == 1
        assert session.execute(select(Delivery.id)).scalars().all() == [winner]


def test_concurrent_grants_of_one_delegation_make_one(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    relative = holder()
    load(platform, relative)
    relative_sign_no = issued_sign_no(platform, scene.app, relative)
    bodies = [
        {
            "delegateSignNo": relative_sign_no,
            "busiSeq": busi_seq(platform, scene.app, scene.sign_no, "eligibility_delegation"),
        }
        for _ in range(CONCURRENT)
    ]
    responses = _concurrently(platform, scene.app, f"/v1/eligibility/{scene.sign_no}/delegations", bodies)
    assert all(r.status_code == 201 for r in responses), _outcomes(responses)
    assert sum(r.json()["created"] for r in responses) == 1
    assert len({r.json()["delegationId"] for r in responses}) == 1
    with platform.session_factory() as session:
        assert session.execute(select(func.count()).select_from(Delegation)).scalar_one() == 1

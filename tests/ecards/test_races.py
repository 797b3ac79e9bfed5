"""Concurrent requests for one holder answer the winner's result or a named conflict, never a 500."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from essc.core.platform import Platform
from essc.ecards.models import Issuance, IssuanceEvidence
from essc.kit import wire
from essc.web.app import create_app
from factories import Party, app_client, busi_seq, channel, holder, issue_request, issued_sign_no, load

CONCURRENT = 50


def _signed(party: Party, method: str, path: str, body: Any) -> tuple[bytes, dict[str, str]]:
    """One request as the party's SDK would send it: fields sealed, signed, its own Idempotency-Key."""
    sealed = party.client.seal_body(body, method, path)
    content = orjson.dumps(sealed)
    headers = {
        "Content-Type": "application/json",
        wire.HEADER_IDEMPOTENCY_KEY: secrets.token_urlsafe(24),
        **party.client.signed_headers(method, path, content),
    }
    return content, headers


def concurrently(
    platform: Platform, party: Party, method: str, path: str, bodies: list[Any]
) -> list[httpx.Response]:
    """Send every request at once to one app on one event loop (as one server worker serves them)."""
    prepared = [_signed(party, method, path, body) for body in bodies]

    async def send_all() -> list[httpx.Response]:
        app = create_app(platform)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as http:
                return list(
                    await asyncio.gather(
                        *(http.request(method, path, content=c, headers=h) for c, h in prepared)
                    )
                )
        finally:
            await platform.close_loop()

    return asyncio.run(send_all())


def _outcomes(responses: list[httpx.Response]) -> Counter[tuple[int, str]]:
    return Counter(
        (r.status_code, r.json().get("code", "") if r.status_code >= 400 else "") for r in responses
    )


def test_concurrent_issuance_of_one_holder_in_one_channel_answers_one_sign_no(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)

    bodies = [issue_request(platform, record) for _ in range(CONCURRENT)]
    responses = concurrently(platform, app, "POST", "/v1/ecards/issuance", bodies)

    assert _outcomes(responses) == Counter({(200, ""): CONCURRENT})
    assert len({r.json()["signNo"] for r in responses}) == 1
    assert sum(r.json()["created"] for r in responses) == 1
    with platform.session_factory() as session:
        assert session.execute(select(func.count()).select_from(Issuance)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(IssuanceEvidence)).scalar_one() == 1


def test_concurrent_first_passwords_set_one_and_refuse_the_rest_by_name(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)
    sign_no = issued_sign_no(platform, app, record)

    bodies = [{"password": "802417"} for _ in range(20)]
    responses = concurrently(platform, app, "PUT", f"/v1/ecards/{sign_no}/password", bodies)

    assert _outcomes(responses) == Counter({(201, ""): 1, (409, "password_already_set"): 19})


def test_concurrent_reissue_after_unlink_reactivates_once(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)
    sign_no = issued_sign_no(platform, app, record)
    app.client.post(f"/v1/ecards/{sign_no}/unlink", {"busiSeq": busi_seq(platform, app, sign_no, "unlink")})

    bodies = [issue_request(platform, record) for _ in range(20)]
    responses = concurrently(platform, app, "POST", "/v1/ecards/issuance", bodies)

    assert _outcomes(responses) == Counter({(200, ""): 20})
    assert {r.json()["signNo"] for r in responses} == {sign_no}
    assert sum(r.json()["created"] for r in responses) == 1

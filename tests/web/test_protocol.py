"""The protocol layer: a capped body read once, envelopes opened only after authentication and in bounds."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from essc.core.platform import Platform
from essc.kit import envelope, wire
from essc.kit.envelope import Context, Direction
from essc.web.app import create_app
from essc.web.protocol import LIVENESS_BODY, ProtocolLayer
from factories import app_client, channel, holder, issue_request, load

ISSUANCE = "/v1/ecards/issuance"


@pytest.fixture
def opened_envelopes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kid of every envelope the platform decrypts (each one costs an SM2 decryption)."""
    opened: list[str] = []
    real = envelope.open_envelope

    def counting(*args: object, **kwargs: object) -> dict[str, object]:
        sealed = args[2]
        assert isinstance(sealed, dict)
        opened.append(str(sealed.get("kid")))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(envelope, "open_envelope", counting)
    return opened


def _sealed_issuance(platform: Platform, caller: str) -> dict[str, object]:
    record = holder()
    load(platform, record)
    body = issue_request(platform, record)
    personal = {"aac002": body.pop("aac002"), "aac003": body.pop("aac003")}
    key = platform.keys.decrypter()
    context = Context(Direction.REQUEST, "POST", ISSUANCE, caller)
    body["envelope"] = envelope.seal(platform.suite, key.public_key(), key.key_id, personal, context)
    return body


def test_a_body_over_the_cap_is_refused_with_413_before_it_is_read(platform: Platform) -> None:
    http = app_client(platform)
    limit = platform.settings.max_body_bytes
    app = channel(platform, http)
    body = b'{"pad":"' + b"x" * limit + b'"}'

    declared = app.client.http.post(ISSUANCE, content=body, headers={"Content-Type": "application/json"})

    assert declared.status_code == 413
    assert declared.json()["code"] == "body_too_large"
    assert declared.json()["limit"] == limit


def test_a_streamed_body_over_the_cap_is_refused_with_413(platform: Platform) -> None:
    http = app_client(platform)
    limit = platform.settings.max_body_bytes

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds while reading
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    response = http.post("/v1/ecards/issuance", content=chunks())

    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


def test_an_unauthenticated_request_costs_no_decryption(
    platform: Platform, opened_envelopes: list[str]
) -> None:
    http = app_client(platform)
    app = channel(platform, http)
    body = orjson.dumps(_sealed_issuance(platform, app.label))
    headers = {"Content-Type": "application/json", **app.client.signed_headers("POST", ISSUANCE, body)}
    headers[wire.HEADER_SIGNATURE] = headers[wire.HEADER_SIGNATURE][::-1]  # a forged signature

    response = http.post(ISSUANCE, content=body, headers=headers)

    assert response.status_code == 401
    assert opened_envelopes == []


def test_an_authenticated_request_has_its_envelope_opened_once(
    platform: Platform, opened_envelopes: list[str]
) -> None:
    http = app_client(platform)
    app = channel(platform, http)

    response = app.client.raw("POST", ISSUANCE, _sealed_issuance(platform, app.label))

    assert response.status_code == 200, response.text
    assert opened_envelopes == [platform.keys.decrypter().key_id]


def test_more_envelopes_than_the_limit_are_refused_before_any_is_opened(
    platform: Platform, opened_envelopes: list[str]
) -> None:
    http = app_client(platform)
    app = channel(platform, http)
    one = _sealed_issuance(platform, app.label)["envelope"]
    body = {"items": [{"envelope": one} for _ in range(envelope.MAX_ENVELOPES + 1)]}

    response = app.client.raw("POST", ISSUANCE, body)

    assert response.status_code == 400
    assert response.json()["code"] == "too_many_envelopes"
    assert opened_envelopes == []


def test_every_answer_carries_the_request_id_the_caller_sent_or_a_new_one(platform: Platform) -> None:
    http = app_client(platform)

    echoed = http.get("/healthz", headers={wire.HEADER_REQUEST_ID: "trace-123"})
    made = http.get("/healthz")

    assert echoed.headers[wire.HEADER_REQUEST_ID] == "trace-123"
    assert made.headers[wire.HEADER_REQUEST_ID]


def test_the_liveness_probe_is_answered_before_routing_with_the_routes_own_answer(platform: Platform) -> None:
    http = app_client(platform)
    bare = create_app(platform)
    bare.user_middleware = [m for m in bare.user_middleware if m.cls is not ProtocolLayer]

    by_route = TestClient(bare).get("/healthz")  # no lifespan: the route needs nothing of it
    by_layer = http.get("/healthz", headers={wire.HEADER_REQUEST_ID: "probe-1"})

    assert by_layer.status_code == by_route.status_code == 200
    assert by_layer.content == by_route.content == LIVENESS_BODY
    assert by_layer.headers["content-type"] == by_route.headers["content-type"]
    assert by_layer.headers[wire.HEADER_REQUEST_ID] == "probe-1"

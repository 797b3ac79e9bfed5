"""The SDK's retries reuse the call's key with new nonces: a lost answer or a busy key ends in one run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fake_endpoints import Fakes, effects, fake_app
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from essc.core.platform import Platform
from essc.kit import wire
from essc.qr.models import OnlineCode
from essc_sdk import EsscClient, PlatformError
from factories import Party, channel, holder, issued_sign_no, load

REPLAYED = wire.HEADER_IDEMPOTENT_REPLAYED.lower()


class LossyTransport(httpx.BaseTransport):
    """Delivers every request to the app but loses the first `lose` answers, as a dropped connection would."""

    def __init__(
        self, app: TestClient, lose: int = 0, on_answer: Callable[[httpx.Response], None] | None = None
    ) -> None:
        self.app = app
        self.lose = lose
        self.on_answer = on_answer
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        answer = self.app.send(request)
        if self.on_answer is not None:
            self.on_answer(answer)
        if self.lose:
            self.lose -= 1
            raise httpx.ReadError("connection reset by peer", request=request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def _client(platform: Platform, party: Party, transport: LossyTransport, retries: int) -> EsscClient:
    return EsscClient(
        httpx.Client(base_url="http://testserver", transport=transport),
        platform.suite,
        caller=party.label,
        key_id=party.key_id,
        private_key=party.private_key,
        platform_keys=platform.keys.public_keys(),
        clock=lambda: platform.clock.now().timestamp(),
        retries=retries,
        backoff_seconds=0.01,
    )


def _codes(platform: Platform) -> int:
    with platform.session_factory() as session:
        return int(session.execute(select(func.count()).select_from(OnlineCode)).scalar_one())


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def http(platform: Platform, fakes: Fakes) -> TestClient:
    return fake_app(platform, fakes)


@pytest.fixture
def party(platform: Platform, http: TestClient) -> Party:
    return channel(platform, http)


def test_a_lost_answer_is_retried_with_the_same_key_and_replayed(
    platform: Platform, http: TestClient, party: Party
) -> None:
    record = holder()
    load(platform, record)
    path = f"/v1/ecards/{issued_sign_no(platform, party, record)}/qr-codes"
    transport = LossyTransport(http, lose=1)
    answer = _client(platform, party, transport, retries=2).call("POST", path, {"images": []})

    assert answer.status == 201
    assert answer.headers[REPLAYED] == "true"
    keys = {r.headers[wire.HEADER_IDEMPOTENCY_KEY] for r in transport.sent}
    nonces = {r.headers[wire.HEADER_NONCE] for r in transport.sent}
    assert (len(transport.sent), len(keys), len(nonces)) == (2, 1, 2)
    assert _codes(platform) == 1


def test_a_key_the_caller_chose_replays_after_the_sdk_gave_up(
    platform: Platform, http: TestClient, party: Party
) -> None:
    record = holder()
    load(platform, record)
    path = f"/v1/ecards/{issued_sign_no(platform, party, record)}/qr-codes"
    client = _client(platform, party, LossyTransport(http, lose=1), retries=0)
    with pytest.raises(httpx.ReadError):
        client.call("POST", path, {"images": []}, idempotency_key="order-2026-000001")
    answer = client.call("POST", path, {"images": []}, idempotency_key="order-2026-000001")

    assert answer.headers[REPLAYED] == "true"
    assert _codes(platform) == 1


def test_in_progress_is_retried_until_the_first_answer_is_there(
    platform: Platform, http: TestClient, party: Party, fakes: Fakes
) -> None:
    first = _client(platform, party, LossyTransport(http), retries=0)

    def release_on_conflict(answer: httpx.Response) -> None:
        if answer.status_code == 409:
            fakes.gate.set()

    second = _client(platform, party, LossyTransport(http, on_answer=release_on_conflict), retries=8)
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(first.call, "POST", "/test/slow", None, idempotency_key="slow-sdk-key-1")
        assert fakes.entered.wait(10)
        retried = second.call("POST", "/test/slow", None, idempotency_key="slow-sdk-key-1")
        original = running.result(timeout=30)

    assert retried.body == original.body
    assert retried.headers[REPLAYED] == "true"
    assert fakes.runs["slow"] == 1


def test_a_fresh_5xx_is_retried_and_a_replayed_one_is_not(
    platform: Platform, http: TestClient, party: Party, fakes: Fakes
) -> None:
    fakes.failures_left = 1
    transport = LossyTransport(http)
    client = _client(platform, party, transport, retries=3)
    assert client.call("POST", "/test/outage-before-commit").json() == {"run": 2}
    assert len(transport.sent) == 2

    transport.sent.clear()
    with pytest.raises(PlatformError) as failed:
        client.call("POST", "/test/outage-after-commit")
    assert (failed.value.status, failed.value.code) == (503, "fake_outage")
    assert len(transport.sent) == 2  # the retry got the stored 503, marked as replayed, and stopped there
    assert fakes.runs["late-outage"] == 1


def test_an_unsigned_500_of_a_crash_is_retried(
    platform: Platform, http: TestClient, party: Party, fakes: Fakes
) -> None:
    fakes.failures_left = 1
    transport = LossyTransport(http)
    answer = _client(platform, party, transport, retries=1).call("POST", "/test/crash-before-commit")
    assert answer.json() == {"run": 2}
    assert len({r.headers[wire.HEADER_IDEMPOTENCY_KEY] for r in transport.sent}) == 1


def test_reads_carry_no_key(platform: Platform, http: TestClient, party: Party) -> None:
    transport = LossyTransport(http)
    _client(platform, party, transport, retries=0).call("GET", "/v1/regions")
    assert wire.HEADER_IDEMPOTENCY_KEY not in transport.sent[0].headers


def test_retries_give_up_after_the_last_attempt(platform: Platform, http: TestClient, party: Party) -> None:
    transport = LossyTransport(http, lose=5)
    with pytest.raises(httpx.ReadError):
        _client(platform, party, transport, retries=2).call("POST", "/test/crash-before-commit")
    assert len(transport.sent) == 3


def test_threads_can_share_a_client(platform: Platform, http: TestClient, party: Party) -> None:
    transport = LossyTransport(http)
    client = _client(platform, party, transport, retries=0)
    barrier = threading.Barrier(4)

    def call(_: int) -> str:
        barrier.wait(10)
        return client.call("POST", "/test/crash-before-commit").headers.get(REPLAYED, "")

    with ThreadPoolExecutor(max_workers=4) as pool:
        replayed = list(pool.map(call, range(4)))
    assert replayed == [""] * 4  # every call had its own key: four runs, none replayed
    assert effects(platform) == 4
    assert len({r.headers[wire.HEADER_IDEMPOTENCY_KEY] for r in transport.sent}) == 4

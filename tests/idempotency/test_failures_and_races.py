"""Keys in progress, failed and crashed requests, dead holders and racing retries: the work runs once."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fake_endpoints import EFFECT, Fakes, effects, fake_app
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.idempotency import service
from essc.idempotency.errors import IdempotencyAnswerLost, IdempotencyInProgress, IdempotencyKeyReused
from essc.idempotency.models import IdempotencyRecord
from essc.kit import wire
from essc.kit.clock import FrozenClock
from essc.qr.models import OnlineCode
from essc_sdk import PlatformError
from factories import Party, app_client, channel, holder, issued_sign_no, load

REPLAYED = wire.HEADER_IDEMPOTENT_REPLAYED.lower()


@dataclass
class Scene:
    fakes: Fakes
    http: TestClient
    app: Party


@pytest.fixture
def scene(platform: Platform) -> Scene:
    fakes = Fakes()
    http = fake_app(platform, fakes)
    return Scene(fakes, http, channel(platform, http))


def _records(platform: Platform) -> int:
    with platform.session_factory() as session:
        return int(session.execute(select(func.count()).select_from(IdempotencyRecord)).scalar_one())


def _post(party: Party, path: str, key: str) -> tuple[int, str, dict[str, object]]:
    """Status, replay header and body of a signed POST (problems included)."""
    response = party.client.raw("POST", path, headers={wire.HEADER_IDEMPOTENCY_KEY: key})
    return response.status_code, response.headers.get(REPLAYED, ""), response.json()


def test_a_retry_while_the_first_runs_is_told_so_then_gets_the_first_answer(
    platform: Platform, scene: Scene
) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(_post, scene.app, "/test/slow", "slow-key-0001")
        assert scene.fakes.entered.wait(10)
        during = _post(scene.app, "/test/slow", "slow-key-0001")
        scene.fakes.gate.set()
        status, replayed, body = first.result(timeout=30)
    after = _post(scene.app, "/test/slow", "slow-key-0001")

    assert (during[0], during[2]["code"]) == (409, "idempotency_in_progress")
    assert (status, replayed, body) == (200, "", {"run": 1})
    assert after == (200, "true", {"run": 1})
    assert scene.fakes.runs["slow"] == 1
    assert effects(platform) == 1


def test_a_crash_before_commit_releases_the_key_so_the_retry_runs(platform: Platform, scene: Scene) -> None:
    scene.fakes.failures_left = 1
    crashed = _post(scene.app, "/test/crash-before-commit", "crash-key-001")
    assert crashed[0] == 500
    assert _records(platform) == 0

    retried = _post(scene.app, "/test/crash-before-commit", "crash-key-001")
    assert retried == (200, "", {"run": 2})
    assert _post(scene.app, "/test/crash-before-commit", "crash-key-001") == (200, "true", {"run": 2})
    assert effects(platform) == 1


def test_a_5xx_answer_before_commit_releases_the_key_so_the_retry_runs(
    platform: Platform, scene: Scene
) -> None:
    scene.fakes.failures_left = 1
    failed = _post(scene.app, "/test/outage-before-commit", "outage-key-01")
    assert (failed[0], failed[2]["code"]) == (503, "fake_outage")

    assert _post(scene.app, "/test/outage-before-commit", "outage-key-01") == (200, "", {"run": 2})
    assert effects(platform) == 1


def test_a_crash_after_commit_keeps_the_key_so_the_work_is_not_repeated(
    platform: Platform, scene: Scene
) -> None:
    assert _post(scene.app, "/test/crash-after-commit", "late-crash-01")[0] == 500
    status, _replayed, problem = _post(scene.app, "/test/crash-after-commit", "late-crash-01")

    assert (status, problem["code"]) == (409, "idempotency_answer_lost")
    assert scene.fakes.runs["late-crash"] == 1
    assert effects(platform) == 1


def test_a_5xx_answer_after_commit_is_the_answer(platform: Platform, scene: Scene) -> None:
    first = _post(scene.app, "/test/outage-after-commit", "late-outage-1")
    again = _post(scene.app, "/test/outage-after-commit", "late-outage-1")

    assert (first[0], first[2]["code"]) == (503, "fake_outage")
    assert again == (first[0], "true", first[2])
    assert scene.fakes.runs["late-outage"] == 1


def _fingerprint(body: bytes = b"{}", method: str = "POST", path: str = "/v1/x") -> service.Fingerprint:
    return service.Fingerprint(method, path, body.hex())


CALLER = "01HZZZZZZZZZZZZZZZZZZZZZZZ"


def _fenced_effect(platform: Platform, held: service.Claim) -> UnitOfWork:
    uow = UnitOfWork(platform, RequestContext(actor=Actor.operator("test")))
    service.fence(uow.session, held)
    uow.audit(EFFECT, "test", held.key, None)
    return uow


def test_a_claim_left_by_a_dead_process_is_taken_over_after_its_lease(
    platform: Platform, clock: FrozenClock
) -> None:
    dead = service.claim(platform, CALLER, "dead-holder-1", _fingerprint())
    assert isinstance(dead, service.Claim)
    with pytest.raises(IdempotencyInProgress):
        service.claim(platform, CALLER, "dead-holder-1", _fingerprint())

    clock.advance(service.LEASE + timedelta(seconds=1))
    taken = service.claim(platform, CALLER, "dead-holder-1", _fingerprint())
    assert isinstance(taken, service.Claim)
    assert taken.token != dead.token

    late = _fenced_effect(platform, dead)  # the first holder was only slow: it must not commit now
    with pytest.raises(IdempotencyInProgress):
        late.commit()
    late.close()
    assert effects(platform) == 0

    with _fenced_effect(platform, taken) as uow:
        uow.commit()
    service.finish(platform, taken, service.Answer(201, "application/json", b'{"ok":true}'))
    assert service.claim(platform, CALLER, "dead-holder-1", _fingerprint()) == service.Answer(
        201, "application/json", b'{"ok":true}'
    )
    assert effects(platform) == 1


def test_a_holder_that_died_after_committing_leaves_the_answer_lost(
    platform: Platform, clock: FrozenClock
) -> None:
    held = service.claim(platform, CALLER, "died-late-01", _fingerprint())
    assert isinstance(held, service.Claim)
    with _fenced_effect(platform, held) as uow:
        uow.commit()
    clock.advance(service.LEASE + timedelta(seconds=1))

    with pytest.raises(IdempotencyAnswerLost):
        service.claim(platform, CALLER, "died-late-01", _fingerprint())
    assert effects(platform) == 1


def test_another_method_under_the_same_key_is_named(platform: Platform) -> None:
    service.claim(platform, CALLER, "method-key-01", _fingerprint())
    with pytest.raises(IdempotencyKeyReused) as refused:
        service.claim(platform, CALLER, "method-key-01", _fingerprint(method="PUT", body=b"[]"))
    assert refused.value.extensions["differs"] == ["method", "body"]


def test_of_many_simultaneous_claims_of_one_key_exactly_one_wins(platform: Platform) -> None:
    start = threading.Barrier(12)

    def attempt(_: int) -> str:
        start.wait(10)
        try:
            outcome = service.claim(platform, CALLER, "racing-key-01", _fingerprint())
        except IdempotencyInProgress:
            return "in_progress"
        return type(outcome).__name__

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = Counter(pool.map(attempt, range(12)))
    assert outcomes == Counter({"Claim": 1, "in_progress": 11})


def test_racing_retries_of_one_qr_code_request_make_one_code(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    app = channel(platform, app_client(platform))
    path = f"/v1/ecards/{issued_sign_no(platform, app, record)}/qr-codes"
    start = threading.Barrier(8)

    def attempt(_: int) -> tuple[str, bytes]:
        start.wait(10)
        try:
            answer = app.client.call("POST", path, {"images": []}, idempotency_key="racing-qr-key-1")
        except PlatformError as exc:
            return exc.code, b""
        return ("replayed" if answer.headers.get(REPLAYED) == "true" else "ran"), answer.body

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    kinds = Counter(kind for kind, _ in outcomes)
    assert kinds["ran"] == 1
    assert set(kinds) <= {"ran", "replayed", "idempotency_in_progress"}
    assert len({body for kind, body in outcomes if body}) == 1  # every answer is the one code
    with platform.session_factory() as session:
        assert session.execute(select(func.count()).select_from(OnlineCode)).scalar_one() == 1

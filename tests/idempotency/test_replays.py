"""A retry with the same Idempotency-Key gets the first answer, signed afresh; the work runs once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from essc.audit.models import AuditEntry
from essc.cardholders.importfile import HolderRecord
from essc.cardholders.models import CardEvent
from essc.core.platform import Platform
from essc.ecards.models import EcardPassword
from essc.idempotency.models import IdempotencyRecord
from essc.kit import wire
from essc.kit.clock import FrozenClock
from essc.qr.models import CardUsage, OnlineCode
from essc.webhooks.models import OutboxMessage
from essc_sdk import PlatformError, ResponseSignatureInvalid
from factories import (
    Party,
    app_client,
    channel,
    holder,
    institution,
    issue_request,
    issued_sign_no,
    load,
    province,
    terminal,
)

REPLAYED = wire.HEADER_IDEMPOTENT_REPLAYED


@dataclass
class Scene:
    record: HolderRecord
    http: TestClient
    app: Party
    province: Party
    sign_no: str


@pytest.fixture
def scene(platform: Platform) -> Scene:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app, owner = channel(platform, http), province(platform, http)
    return Scene(record, http, app, owner, issued_sign_no(platform, app, record))


def _count(platform: Platform, model: type[object], *where: object) -> int:
    with platform.session_factory() as session:
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)  # type: ignore[arg-type]
        return int(session.execute(query).scalar_one())


def _raw(party: Party, method: str, path: str, body: object, key: str, nonce: str) -> httpx.Response:
    response = party.client.raw(method, path, body, headers={wire.HEADER_IDEMPOTENCY_KEY: key}, nonce=nonce)
    party.client.verify_response(response, nonce)
    return response


def test_a_replayed_qr_code_request_returns_the_same_code_signed_for_the_new_nonce(
    platform: Platform, scene: Scene
) -> None:
    path = f"/v1/ecards/{scene.sign_no}/qr-codes"
    first = _raw(scene.app, "POST", path, {"images": ["svg"]}, "qr-code-key-0001", "nonce-of-the-first-try")
    again = _raw(scene.app, "POST", path, {"images": ["svg"]}, "qr-code-key-0001", "nonce-of-the-second-try")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content  # byte for byte
    assert again.headers["content-type"] == first.headers["content-type"]
    assert REPLAYED not in first.headers
    assert again.headers[REPLAYED] == "true"
    assert again.headers[wire.HEADER_SIGNATURE] != first.headers[wire.HEADER_SIGNATURE]
    with pytest.raises(ResponseSignatureInvalid):  # the replay is bound to the retry's nonce, not the first
        scene.app.client.verify_response(again, "nonce-of-the-first-try")
    assert _count(platform, OnlineCode) == 1


def test_a_replayed_card_event_is_not_applied_again(platform: Platform, scene: Scene) -> None:
    path = "/v1/provinces/44/card-events"
    event = {
        "eventId": "idem-event-1",
        "aaz500": scene.record.aaz500,
        "type": "temporarily_lost",
        "occurredAt": platform.clock.now().isoformat(),
    }
    first = scene.province.client.call("POST", path, event, idempotency_key="card-event-key-1")
    audit, outbox = _count(platform, AuditEntry), _count(platform, OutboxMessage)
    again = scene.province.client.call("POST", path, event, idempotency_key="card-event-key-1")

    assert again.body == first.body
    assert again.json()["replayed"] is False  # the first answer, not the endpoint's own "seen this eventId"
    assert again.headers[REPLAYED.lower()] == "true"
    assert _count(platform, CardEvent) == 1
    assert (_count(platform, AuditEntry), _count(platform, OutboxMessage)) == (audit, outbox)


def test_a_replayed_resolution_in_a_mac_session_spends_and_records_nothing_more(
    platform: Platform, scene: Scene
) -> None:
    device = terminal(platform, scene.http, scene.province, institution(scene.province), {"01": "masked"})
    code = scene.app.client.post(f"/v1/ecards/{scene.sign_no}/qr-codes", {"images": []})["code"]
    body = {"code": code, "busiType": "01"}
    first = device.client.call("POST", "/v1/qr/resolutions", body, idempotency_key="resolution-key-1")
    again = device.client.call("POST", "/v1/qr/resolutions", body, idempotency_key="resolution-key-1")

    assert again.body == first.body  # MACed under the session key for the retry's nonce (checked by call)
    assert again.headers[REPLAYED.lower()] == "true"
    assert _count(platform, CardUsage) == 1
    with pytest.raises(PlatformError) as fresh:  # a new key is a new request: the code is spent
        device.client.call("POST", "/v1/qr/resolutions", body, idempotency_key="resolution-key-2")
    assert fresh.value.code == "code_already_used"


def test_a_refused_request_is_answered_the_same_even_after_the_cause_is_gone(platform: Platform) -> None:
    record = holder()
    app = channel(platform, app_client(platform))
    body = issue_request(platform, record)
    with pytest.raises(PlatformError) as first:
        app.client.call("POST", "/v1/ecards/issuance", body, idempotency_key="issue-before-load")
    load(platform, record)
    with pytest.raises(PlatformError) as again:
        app.client.call("POST", "/v1/ecards/issuance", body, idempotency_key="issue-before-load")

    assert first.value.code == "holder_mismatch"
    assert again.value.problem == first.value.problem  # the first answer is the answer
    issued = app.client.call("POST", "/v1/ecards/issuance", body, idempotency_key="issue-after-load")
    assert issued.status == 200


def test_a_replayed_wrong_password_counts_one_failure(platform: Platform, scene: Scene) -> None:
    scene.app.client.put(f"/v1/ecards/{scene.sign_no}/password", {"password": "739251"})
    attempt = {"purpose": "login", "method": "password", "password": "000001"}
    for _ in range(platform.settings.password_max_failures + 1):
        with pytest.raises(PlatformError) as wrong:
            scene.app.client.call(
                "POST", f"/v1/ecards/{scene.sign_no}/busi-seqs", attempt, idempotency_key="pin-try-1"
            )
        assert wrong.value.code == "wrong_password"
    with platform.session_factory() as session:
        assert session.execute(select(EcardPassword.failed_attempts)).scalar_one() == 1


def test_another_body_or_path_under_the_same_key_is_refused_naming_what_differs(scene: Scene) -> None:
    path = f"/v1/ecards/{scene.sign_no}/qr-codes"
    scene.app.client.call("POST", path, {"images": []}, idempotency_key="reused-key-01")
    with pytest.raises(PlatformError) as other_body:
        scene.app.client.call("POST", path, {"images": ["png"]}, idempotency_key="reused-key-01")
    with pytest.raises(PlatformError) as other_path:
        scene.app.client.call("POST", f"{path}?x=1", {"images": []}, idempotency_key="reused-key-01")

    assert (other_body.value.status, other_body.value.code) == (422, "idempotency_key_reused")
    assert other_body.value.problem["differs"] == ["body"]
    assert other_path.value.problem["differs"] == ["path"]
    assert "reused-key-01" in other_body.value.problem["detail"]


@pytest.mark.parametrize("key", ["short", "has space in it", "x" * 65, "bad/slash", ""])
def test_malformed_keys_are_refused(scene: Scene, key: str) -> None:
    response = scene.app.client.raw(
        "POST", f"/v1/ecards/{scene.sign_no}/qr-codes", {"images": []}, headers={"Idempotency-Key": key}
    )
    assert (response.status_code, response.json()["code"]) == (422, "idempotency_key_invalid")


def test_keys_belong_to_their_caller(platform: Platform, scene: Scene) -> None:
    other = channel(platform, scene.http)
    other_sign_no = issued_sign_no(platform, other, scene.record)
    mine = scene.app.client.call(
        "POST", f"/v1/ecards/{scene.sign_no}/qr-codes", {"images": []}, idempotency_key="shared-key-1"
    )
    theirs = other.client.call(
        "POST", f"/v1/ecards/{other_sign_no}/qr-codes", {"images": []}, idempotency_key="shared-key-1"
    )
    assert REPLAYED.lower() not in theirs.headers
    assert theirs.json()["code"] != mine.json()["code"]
    assert _count(platform, OnlineCode) == 2


def test_the_sdk_sends_a_fresh_key_on_state_changing_calls_only(platform: Platform, scene: Scene) -> None:
    before = _count(platform, IdempotencyRecord)
    first = scene.app.client.post(f"/v1/ecards/{scene.sign_no}/qr-codes", {"images": []})
    second = scene.app.client.post(f"/v1/ecards/{scene.sign_no}/qr-codes", {"images": []})
    scene.app.client.get(f"/v1/ecards/{scene.sign_no}")
    scene.app.client.call("GET", f"/v1/ecards/{scene.sign_no}", idempotency_key="ignored-on-get")

    assert first["code"] != second["code"]
    assert _count(platform, IdempotencyRecord) == before + 2


def test_a_replayed_answer_is_stored_sealed(platform: Platform, scene: Scene) -> None:
    answer = scene.app.client.call(
        "POST", f"/v1/ecards/{scene.sign_no}/qr-codes", {"images": []}, idempotency_key="sealed-key-1"
    )
    with platform.session_factory() as session:
        row = session.get(IdempotencyRecord, (scene.app.caller_id, "sealed-key-1"))
    assert row is not None
    assert row.body_cipher is not None
    assert answer.json()["code"].encode() not in row.body_cipher
    assert (row.state, row.status, row.applied) == ("completed", 201, True)
    assert row.expires_at - row.created_at == timedelta(hours=24)


def test_a_key_past_its_lifetime_starts_afresh(platform: Platform, scene: Scene, clock: FrozenClock) -> None:
    path = f"/v1/ecards/{scene.sign_no}/qr-codes"
    scene.app.client.call("POST", path, {"images": []}, idempotency_key="old-key-001")
    clock.advance(timedelta(seconds=platform.settings.idempotency_ttl_seconds + 1))
    fresh = scene.app.client.call("POST", path, {"images": ["svg"]}, idempotency_key="old-key-001")
    assert REPLAYED.lower() not in fresh.headers
    assert _count(platform, OnlineCode) == 2

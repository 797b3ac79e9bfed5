"""Certifying a due item through a channel: face check, busiSeq, evidence, audit, outbox, refusals."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import pytest
from sqlalchemy import select

from essc.audit.models import AuditEntry
from essc.core.platform import Platform
from essc.eligibility.models import Certification, Delivery, DeliveryStatus, DueItem
from essc.kit.clock import FrozenClock
from essc.shared.policy import Function
from essc_sdk import PlatformError
from factories import (
    app_client,
    attestation,
    busi_seq,
    certification,
    channel,
    due_record,
    eligibility_scene,
    holder,
    issued_sign_no,
    load,
    load_due,
)

PERIOD = 2027


def _refused(call: object) -> PlatformError:
    assert callable(call)
    with pytest.raises(PlatformError) as refused:
        call()
    return refused.value


def test_the_holder_sees_what_they_must_certify_and_by_when(platform: Platform) -> None:
    scene = eligibility_scene(platform, benefitType="work_injury")
    [item] = scene.app.client.get(f"/v1/eligibility/{scene.sign_no}/due-items")["items"]
    assert (item["benefitType"], item["period"], item["standing"]) == ("work_injury", PERIOD, "due")
    assert item["certification"] is None
    assert item["delegationId"] is None


def test_an_item_past_its_due_date_is_overdue(platform: Platform, clock: FrozenClock) -> None:
    scene = eligibility_scene(platform)
    clock.advance(timedelta(days=31))
    [item] = scene.app.client.get(f"/v1/eligibility/{scene.sign_no}/due-items")["items"]
    assert item["standing"] == "overdue"


def test_a_certification_records_who_when_how_and_the_evidence(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    body = certification(platform, scene.app, scene.sign_no, scene.item_id)
    made = scene.app.client.post(f"/v1/eligibility/{scene.sign_no}/certifications", body)
    assert (made["certifier"], made["method"], made["late"]) == ("holder", "face", False)
    assert made["evidenceRef"] == body["attestation"]["reference"]  # type: ignore[index]
    assert datetime.fromisoformat(made["certifiedAt"]) == platform.clock.now()
    listed = scene.app.client.get(f"/v1/eligibility/{scene.sign_no}/certifications")["certifications"]
    assert [c["certificationId"] for c in listed] == [made["certificationId"]]
    [item] = scene.app.client.get(f"/v1/eligibility/{scene.sign_no}/due-items")["items"]
    assert item["standing"] == "certified"
    assert item["certification"]["certificationId"] == made["certificationId"]
    with platform.session_factory() as session:
        row = session.execute(select(Certification)).scalar_one()
        assert (row.score, row.provider, row.certifier_person_id) == (95, "sandbox-face", row.person_id)
        audited = session.execute(
            select(AuditEntry.action).where(AuditEntry.subject_id == scene.item_id)
        ).scalars()
        assert "eligibility.certified" in set(audited)


def test_the_result_is_queued_for_the_province_in_the_same_transaction(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    made = scene.app.client.post(
        f"/v1/eligibility/{scene.sign_no}/certifications",
        certification(platform, scene.app, scene.sign_no, scene.item_id),
    )
    with platform.session_factory() as session:
        [queued] = session.execute(select(Delivery)).scalars().all()
    assert queued.id == made["certificationId"]  # the idempotency key of the delivery
    assert (queued.status, queued.province) == (DeliveryStatus.PENDING, "44")
    data = orjson.loads(queued.payload)["data"]
    assert data["certificationId"] == made["certificationId"]
    assert data["certifier"] == "holder"
    assert scene.record.aac002 not in queued.payload
    assert scene.record.aac003 not in queued.payload


def test_a_second_certification_is_refused_and_names_the_first(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    path = f"/v1/eligibility/{scene.sign_no}/certifications"
    first = scene.app.client.post(path, certification(platform, scene.app, scene.sign_no, scene.item_id))
    again = certification(platform, scene.app, scene.sign_no, scene.item_id)
    refused = _refused(lambda: scene.app.client.post(path, again))
    assert (refused.status, refused.code) == (409, "already_certified")
    assert refused.problem["certificationId"] == first["certificationId"]


def test_an_item_whose_period_has_not_opened_is_not_due(platform: Platform) -> None:
    scene = eligibility_scene(platform, opensAt=(platform.clock.now() + timedelta(days=2)).isoformat())
    body = certification(platform, scene.app, scene.sign_no, scene.item_id)
    refused = _refused(lambda: scene.app.client.post(f"/v1/eligibility/{scene.sign_no}/certifications", body))
    assert (refused.status, refused.code) == (409, "not_due")


def test_an_overdue_item_can_still_be_certified_late(platform: Platform, clock: FrozenClock) -> None:
    scene = eligibility_scene(platform)
    clock.advance(timedelta(days=40))
    body = certification(platform, scene.app, scene.sign_no, scene.item_id)
    made = scene.app.client.post(f"/v1/eligibility/{scene.sign_no}/certifications", body)
    assert made["late"] is True


def test_another_holders_item_is_not_found(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    other = holder()
    load(platform, other)
    other_sign_no = issued_sign_no(platform, scene.app, other)
    body = certification(platform, scene.app, other_sign_no, scene.item_id)
    refused = _refused(lambda: scene.app.client.post(f"/v1/eligibility/{other_sign_no}/certifications", body))
    assert (refused.status, refused.code) == (404, "due_item_not_found")


def test_a_busi_seq_of_another_purpose_is_refused(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    body = certification(
        platform,
        scene.app,
        scene.sign_no,
        scene.item_id,
        busiSeq=busi_seq(platform, scene.app, scene.sign_no, "query"),
    )
    refused = _refused(lambda: scene.app.client.post(f"/v1/eligibility/{scene.sign_no}/certifications", body))
    assert refused.code == "busi_seq_invalid"


def test_a_busi_seq_certifies_once(platform: Platform) -> None:
    first = eligibility_scene(platform)
    load_due(first.owner, PERIOD + 1, due_record(platform, first.record))
    items = first.app.client.get(f"/v1/eligibility/{first.sign_no}/due-items")["items"]
    second = next(i["dueItemId"] for i in items if i["dueItemId"] != first.item_id)
    body = certification(platform, first.app, first.sign_no, first.item_id)
    path = f"/v1/eligibility/{first.sign_no}/certifications"
    first.app.client.post(path, body)
    refused = _refused(lambda: first.app.client.post(path, {**body, "dueItemId": second}))
    assert refused.code == "busi_seq_invalid"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"score": 60}, "attestation.score"),
        ({"reference": "refused-by-face-service"}, "attestation.reference"),
    ],
)
def test_a_face_check_the_verifier_does_not_confirm_is_refused(
    platform: Platform, changes: dict[str, object], field: str
) -> None:
    scene = eligibility_scene(platform)
    face = {**attestation(platform), **changes}
    body = certification(platform, scene.app, scene.sign_no, scene.item_id, attestation=face)
    refused = _refused(lambda: scene.app.client.post(f"/v1/eligibility/{scene.sign_no}/certifications", body))
    assert (refused.code, refused.problem.get("field")) == ("attestation_refused", field)


def test_a_stale_face_check_is_refused(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    face = attestation(platform, at=platform.clock.now() - timedelta(minutes=11))
    body = certification(platform, scene.app, scene.sign_no, scene.item_id, attestation=face)
    refused = _refused(lambda: scene.app.client.post(f"/v1/eligibility/{scene.sign_no}/certifications", body))
    assert refused.code == "attestation_refused"


def test_a_channel_not_authorised_for_the_function_is_refused(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    http = app_client(platform)
    other = channel(
        platform, http, functions=[f for f in Function if f != Function.ELIGIBILITY_CERTIFICATION]
    )
    sign_no = issued_sign_no(platform, other, scene.record)
    refused = _refused(lambda: other.client.get(f"/v1/eligibility/{sign_no}/due-items"))
    assert (refused.status, refused.code) == (403, "function_not_authorised")


def test_an_unknown_sign_no_is_refused(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    refused = _refused(lambda: scene.app.client.get("/v1/eligibility/NOSUCHSIGNNO/certifications"))
    assert refused.code == "sign_no_not_found"


def test_nothing_is_stored_in_the_clear(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    scene.app.client.post(
        f"/v1/eligibility/{scene.sign_no}/certifications",
        certification(platform, scene.app, scene.sign_no, scene.item_id),
    )
    with platform.session_factory() as session:
        item = session.execute(select(DueItem)).scalar_one()
    assert scene.record.aac002 not in repr(item.__dict__)

"""A relative certifies for a holder only under an explicit, recorded, revocable delegation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from essc.audit.models import AuditEntry
from essc.authorisations import service as authorisations
from essc.authorisations.models import GrantStatus
from essc.cardholders.importfile import HolderRecord
from essc.channels import repository as channels_repo
from essc.core.platform import Platform
from essc.eligibility.models import Certification
from essc.shared.policy import Function
from essc_sdk import PlatformError
from factories import (
    EligibilityScene,
    busi_seq,
    certification,
    channel,
    eligibility_scene,
    holder,
    issued_sign_no,
    load,
    operator_uow,
)


@dataclass
class Family:
    scene: EligibilityScene
    relative: HolderRecord
    relative_sign_no: str


def _family(platform: Platform, relative_province: str = "44") -> Family:
    scene = eligibility_scene(platform, provinces=sorted({"44", relative_province}))
    relative = holder(relative_province)
    load(platform, relative)
    return Family(scene, relative, issued_sign_no(platform, scene.app, relative))


def _grant(platform: Platform, family: Family) -> dict[str, object]:
    scene = family.scene
    body = {
        "delegateSignNo": family.relative_sign_no,
        "busiSeq": busi_seq(platform, scene.app, scene.sign_no, "eligibility_delegation"),
    }
    granted: dict[str, object] = scene.app.client.post(f"/v1/eligibility/{scene.sign_no}/delegations", body)
    return granted


def _revoke(platform: Platform, family: Family, delegation_id: object) -> dict[str, object]:
    scene = family.scene
    body = {"busiSeq": busi_seq(platform, scene.app, scene.sign_no, "eligibility_delegation")}
    answer: dict[str, object] = scene.app.client.post(
        f"/v1/eligibility/{scene.sign_no}/delegations/{delegation_id}/revoke", body
    )
    return answer


def _certify_as_relative(platform: Platform, family: Family, delegation_id: object) -> dict[str, object]:
    app, sign_no = family.scene.app, family.relative_sign_no
    body = certification(platform, app, sign_no, family.scene.item_id, delegationId=delegation_id)
    made: dict[str, object] = app.client.post(f"/v1/eligibility/{sign_no}/certifications", body)
    return made


def _actions(platform: Platform, subject_id: object) -> list[str]:
    with platform.session_factory() as session:
        return list(
            session.execute(
                select(AuditEntry.action).where(AuditEntry.subject_id == subject_id).order_by(AuditEntry.id)
            ).scalars()
        )


def test_a_relative_certifies_under_a_delegation_with_their_own_face_check(platform: Platform) -> None:
    family = _family(platform)
    granted = _grant(platform, family)
    assert (granted["created"], granted["status"], granted["role"]) == (True, "active", "holder")
    theirs = family.scene.app.client.get(f"/v1/eligibility/{family.relative_sign_no}/due-items")["items"]
    assert [(i["dueItemId"], i["delegationId"]) for i in theirs] == [
        (family.scene.item_id, granted["delegationId"])
    ]
    assert theirs[0]["holder"] != family.scene.record.aac003  # masked, never the clear name
    made = _certify_as_relative(platform, family, granted["delegationId"])
    assert (made["certifier"], made["delegationId"]) == ("delegate", granted["delegationId"])
    seen = family.scene.app.client.get(f"/v1/eligibility/{family.scene.sign_no}/certifications")
    assert [c["certificationId"] for c in seen["certifications"]] == [made["certificationId"]]
    with platform.session_factory() as session:
        row = session.execute(select(Certification)).scalar_one()
    assert row.certifier_person_id != row.person_id
    assert _actions(platform, granted["delegationId"]) == [
        "eligibility.delegation_granted",
        "eligibility.delegation_used",
    ]


def test_a_relative_of_another_province_may_hold_a_delegation(platform: Platform) -> None:
    family = _family(platform, relative_province="11")
    granted = _grant(platform, family)
    made = _certify_as_relative(platform, family, granted["delegationId"])
    assert made["certifier"] == "delegate"


def test_granting_again_answers_the_active_delegation(platform: Platform) -> None:
    family = _family(platform)
    first = _grant(platform, family)
    again = _grant(platform, family)
    assert (again["delegationId"], again["created"]) == (first["delegationId"], False)


def test_a_revoked_delegation_is_refused(platform: Platform) -> None:
    family = _family(platform)
    granted = _grant(platform, family)
    revoked = _revoke(platform, family, granted["delegationId"])
    assert revoked["status"] == "revoked"
    with pytest.raises(PlatformError) as refused:
        _certify_as_relative(platform, family, granted["delegationId"])
    assert (refused.value.status, refused.value.code) == (409, "delegation_revoked")
    theirs = family.scene.app.client.get(f"/v1/eligibility/{family.relative_sign_no}/due-items")["items"]
    assert theirs == []
    assert _actions(platform, granted["delegationId"]) == [
        "eligibility.delegation_granted",
        "eligibility.delegation_revoked",
    ]


def test_revoking_twice_is_refused(platform: Platform) -> None:
    family = _family(platform)
    granted = _grant(platform, family)
    _revoke(platform, family, granted["delegationId"])
    with pytest.raises(PlatformError) as refused:
        _revoke(platform, family, granted["delegationId"])
    assert refused.value.code == "delegation_revoked"


def test_a_new_grant_after_a_revocation_is_a_new_delegation(platform: Platform) -> None:
    family = _family(platform)
    first = _grant(platform, family)
    _revoke(platform, family, first["delegationId"])
    second = _grant(platform, family)
    assert second["created"] is True
    assert second["delegationId"] != first["delegationId"]


def test_a_delegation_of_someone_else_is_not_found(platform: Platform) -> None:
    family = _family(platform)
    granted = _grant(platform, family)
    stranger = holder()
    load(platform, stranger)
    stranger_sign_no = issued_sign_no(platform, family.scene.app, stranger)
    app = family.scene.app
    body = certification(
        platform, app, stranger_sign_no, family.scene.item_id, delegationId=granted["delegationId"]
    )
    with pytest.raises(PlatformError) as refused:
        app.client.post(f"/v1/eligibility/{stranger_sign_no}/certifications", body)
    assert (refused.value.status, refused.value.code) == (404, "delegation_not_found")


def test_the_relative_cannot_revoke_what_they_did_not_grant(platform: Platform) -> None:
    family = _family(platform)
    granted = _grant(platform, family)
    app, sign_no = family.scene.app, family.relative_sign_no
    body = {"busiSeq": busi_seq(platform, app, sign_no, "eligibility_delegation")}
    with pytest.raises(PlatformError) as refused:
        app.client.post(f"/v1/eligibility/{sign_no}/delegations/{granted['delegationId']}/revoke", body)
    assert refused.value.code == "delegation_not_found"


def test_without_a_delegation_a_relative_cannot_certify(platform: Platform) -> None:
    family = _family(platform)
    app, sign_no = family.scene.app, family.relative_sign_no
    body = certification(platform, app, sign_no, family.scene.item_id)
    with pytest.raises(PlatformError) as refused:
        app.client.post(f"/v1/eligibility/{sign_no}/certifications", body)
    assert refused.value.code == "due_item_not_found"


def test_a_holder_cannot_delegate_to_themself(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    body = {
        "delegateSignNo": scene.sign_no,
        "busiSeq": busi_seq(platform, scene.app, scene.sign_no, "eligibility_delegation"),
    }
    with pytest.raises(PlatformError) as refused:
        scene.app.client.post(f"/v1/eligibility/{scene.sign_no}/delegations", body)
    assert (refused.value.status, refused.value.code) == (422, "delegate_is_holder")


def test_an_unknown_delegate_sign_no_is_refused(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    body = {
        "delegateSignNo": "NOSUCHSIGNNO",
        "busiSeq": busi_seq(platform, scene.app, scene.sign_no, "eligibility_delegation"),
    }
    with pytest.raises(PlatformError) as refused:
        scene.app.client.post(f"/v1/eligibility/{scene.sign_no}/delegations", body)
    assert (refused.value.code, refused.value.problem.get("field")) == ("sign_no_not_found", "delegateSignNo")


def test_a_grant_needs_a_busi_seq_for_delegation(platform: Platform) -> None:
    family = _family(platform)
    scene = family.scene
    body = {
        "delegateSignNo": family.relative_sign_no,
        "busiSeq": busi_seq(platform, scene.app, scene.sign_no, "eligibility"),
    }
    with pytest.raises(PlatformError) as refused:
        scene.app.client.post(f"/v1/eligibility/{scene.sign_no}/delegations", body)
    assert refused.value.code == "busi_seq_invalid"


def test_both_sides_see_the_delegation(platform: Platform) -> None:
    family = _family(platform)
    granted = _grant(platform, family)
    app = family.scene.app
    holder_side = app.client.get(f"/v1/eligibility/{family.scene.sign_no}/delegations")["delegations"]
    relative_side = app.client.get(f"/v1/eligibility/{family.relative_sign_no}/delegations")["delegations"]
    assert [(d["delegationId"], d["role"]) for d in holder_side] == [(granted["delegationId"], "holder")]
    assert [(d["delegationId"], d["role"]) for d in relative_side] == [(granted["delegationId"], "delegate")]
    assert family.relative.aac003 not in str(holder_side)


def test_the_relatives_channel_must_serve_the_holders_province(platform: Platform) -> None:
    family = _family(platform, relative_province="11")
    granted = _grant(platform, family)
    elsewhere = channel(platform, family.scene.http, provinces=("11",))
    with operator_uow(platform) as uow:
        row = channels_repo.by_caller(uow.session, elsewhere.caller_id)
        assert row is not None
        authorisations.set_grant(
            uow, row, "44", Function.ELIGIBILITY_CERTIFICATION, GrantStatus.SUSPENDED, by="operator/tests"
        )
        uow.commit()
    sign_no = issued_sign_no(platform, elsewhere, family.relative)
    delegation_id = granted["delegationId"]
    body = certification(platform, elsewhere, sign_no, family.scene.item_id, delegationId=delegation_id)
    with pytest.raises(PlatformError) as refused:
        elsewhere.client.post(f"/v1/eligibility/{sign_no}/certifications", body)
    assert (refused.value.status, refused.value.code) == (403, "function_suspended")
    assert refused.value.problem["province"] == "44"

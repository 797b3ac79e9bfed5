"""Electronic service credentials end to end: issuance in a channel, presentation, offline verification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from essc.cardholders.importfile import HolderRecord
from essc.core.platform import Platform
from essc.credentials import service
from essc.credentials.models import CredentialRecord, CredentialStatusList
from essc.kit import sdjwt
from essc.kit.clock import FrozenClock
from essc.kit.crypto.base import PrivateKey
from essc.kit.keystore import KeyPurpose
from essc.shared.policy import Function
from essc_sdk import PlatformError
from factories import (
    Party,
    app_client,
    busi_seq,
    card_event,
    channel,
    holder,
    issued_sign_no,
    load,
    operator_uow,
    province,
)
from factories import credential_device_signer as device_signer

AUD = "office/INST100001"


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


def _ask(platform: Platform, scene: Scene, clear: list[str] | None = None) -> dict[str, object]:
    body: dict[str, object] = {"busiSeq": busi_seq(platform, scene.app, scene.sign_no, "credential")}
    if clear is not None:
        body["clearClaims"] = clear
    answer: dict[str, object] = scene.app.client.post(f"/v1/ecards/{scene.sign_no}/credentials", body)
    return answer


def _enrol(platform: Platform, scene: Scene) -> PrivateKey:
    key = platform.suite.generate_private_key()
    scene.app.client.post(
        f"/v1/ecards/{scene.sign_no}/devices",
        {
            "devicePublicKey": key.public_key().to_pem().decode("ascii"),
            "busiSeq": busi_seq(platform, scene.app, scene.sign_no, "offline_device"),
        },
    )
    return key


def _keys(scene: Scene) -> dict[str, object]:
    """The issuer's credential keys as a terminal loads them from the public issuer metadata."""
    return dict(scene.http.get("/.well-known/jwt-vc-issuer").json())


def _issuer_keys(platform: Platform) -> dict[str, object]:
    return dict(platform.keys.public_keys(KeyPurpose.CREDENTIAL_SIGNING))


def _status_list(platform: Platform, scene: Scene, uri: str) -> sdjwt.StatusListToken:
    answer = scene.http.get(uri.removeprefix(service.issuer(platform)))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/statuslist+jwt")
    return sdjwt.StatusListToken.verify(
        answer.text, platform.keys.public_keys(KeyPurpose.CREDENTIAL_SIGNING), _now(platform)
    )


def _now(platform: Platform) -> int:
    return int(platform.clock.now().timestamp())


def _verify(
    platform: Platform, presentation: str, held: sdjwt.StatusListToken, **expect: str
) -> sdjwt.Verified:
    return sdjwt.verify_presentation(
        presentation,
        platform.keys.public_keys(KeyPurpose.CREDENTIAL_SIGNING),
        now=_now(platform),
        status_lists={held.uri: held},
        issuer=service.issuer(platform),
        vct=service.VCT,
        **expect,
    )


def test_issued_credential_verifies_with_only_the_chosen_claims(platform: Platform, scene: Scene) -> None:
    issued = _ask(platform, scene)
    credential = str(issued["credential"])
    assert issued["keyBound"] is False
    assert issued["aac002"] is None
    assert issued["aac003"] is None
    held = _status_list(platform, scene, str(issued["status"]["uri"]))  # type: ignore[index]
    shown = sdjwt.present(credential, ["aab301", "cardStatus"])
    verified = _verify(platform, shown, held)
    assert verified.disclosed == {"aab301", "cardStatus"}
    assert verified.claims["aab301"] == scene.record.aab301
    assert verified.claims["cardStatus"] == "normal"
    assert "maskedName" not in verified.claims
    assert "aac003" not in verified.claims
    assert verified.claims["exp"] - verified.claims["iat"] == service.CREDENTIAL_LIFETIME.total_seconds()


def test_clear_claims_arrive_sealed_and_disclose_only_when_presented(
    platform: Platform, scene: Scene
) -> None:
    path = f"/v1/ecards/{scene.sign_no}/credentials"
    body = {"busiSeq": busi_seq(platform, scene.app, scene.sign_no, "credential"), "clearClaims": ["aac003"]}
    raw = scene.app.client.call("POST", path, json=body)
    assert scene.record.aac003.encode() not in raw.body
    assert b'"aac003"' not in raw.body
    answer = raw.json()
    combined = f"{answer['credential']}{answer['aac003']}~"
    held = _status_list(platform, scene, answer["status"]["uri"])
    with_name = _verify(platform, sdjwt.present(combined, ["aac003", "maskedIdNumber"]), held)
    assert with_name.claims["aac003"] == scene.record.aac003
    assert with_name.claims["maskedIdNumber"] != scene.record.aac002
    without = _verify(platform, sdjwt.present(combined, ["maskedName"]), held)
    assert "aac003" not in without.claims
    assert without.claims["maskedName"] != scene.record.aac003


def test_a_busi_seq_of_another_purpose_is_refused(platform: Platform, scene: Scene) -> None:
    wrong = busi_seq(platform, scene.app, scene.sign_no, "query")
    with pytest.raises(PlatformError) as refused:
        scene.app.client.post(f"/v1/ecards/{scene.sign_no}/credentials", {"busiSeq": wrong})
    assert refused.value.code == "busi_seq_invalid"


def test_a_lost_card_is_refused_issuance(platform: Platform, scene: Scene) -> None:
    seq = busi_seq(platform, scene.app, scene.sign_no, "credential")
    card_event(platform, scene.province, scene.record.aaz500, "lost")
    with pytest.raises(PlatformError) as refused:
        scene.app.client.post(f"/v1/ecards/{scene.sign_no}/credentials", {"busiSeq": seq})
    assert refused.value.code == "card_not_active"


def test_a_card_lost_after_issuance_fails_after_the_next_status_list(
    platform: Platform, scene: Scene, clock: FrozenClock
) -> None:
    issued = _ask(platform, scene)
    uri = str(issued["status"]["uri"])  # type: ignore[index]
    shown = sdjwt.present(str(issued["credential"]), ["aab301"])
    before = _status_list(platform, scene, uri)
    card_event(platform, scene.province, scene.record.aaz500, "lost")
    assert (
        _verify(platform, shown, before).claims["aab301"] == scene.record.aab301
    )  # the old list still says valid
    clock.advance(timedelta(seconds=1))
    with pytest.raises(sdjwt.CredentialSuspended):
        _verify(platform, shown, _status_list(platform, scene, uri))
    card_event(platform, scene.province, scene.record.aaz500, "loss_cleared")
    clock.advance(timedelta(seconds=1))
    assert _verify(platform, shown, _status_list(platform, scene, uri)).disclosed == {"aab301"}
    card_event(platform, scene.province, scene.record.aaz500, "cancelled")
    clock.advance(timedelta(seconds=1))
    with pytest.raises(sdjwt.CredentialRevoked):
        _verify(platform, shown, _status_list(platform, scene, uri))


def test_unlinking_revokes_the_channels_credentials(
    platform: Platform, scene: Scene, clock: FrozenClock
) -> None:
    issued = _ask(platform, scene)
    uri = str(issued["status"]["uri"])  # type: ignore[index]
    seq = busi_seq(platform, scene.app, scene.sign_no, "unlink")
    scene.app.client.post(f"/v1/ecards/{scene.sign_no}/unlink", {"busiSeq": seq})
    clock.advance(timedelta(seconds=1))
    with pytest.raises(sdjwt.CredentialRevoked):
        _verify(platform, sdjwt.present(str(issued["credential"]), []), _status_list(platform, scene, uri))


def test_a_device_bound_credential_needs_the_device_key(platform: Platform, scene: Scene) -> None:
    device = _enrol(platform, scene)
    issued = _ask(platform, scene)
    assert issued["keyBound"] is True
    credential = str(issued["credential"])
    held = _status_list(platform, scene, str(issued["status"]["uri"]))  # type: ignore[index]
    now = _now(platform)
    signer = device_signer(platform, device)
    shown = sdjwt.present(credential, ["aab301"], device=signer, nonce="n-1", aud=AUD, iat=now)
    assert _verify(platform, shown, held, expected_aud=AUD, expected_nonce="n-1").key_bound
    with pytest.raises(sdjwt.KeyBindingMissing):
        _verify(platform, sdjwt.present(credential, ["aab301"]), held, expected_aud=AUD, expected_nonce="n-1")
    stranger = device_signer(platform, platform.suite.generate_private_key())
    forged = sdjwt.present(credential, ["aab301"], device=stranger, nonce="n-1", aud=AUD, iat=now)
    with pytest.raises(sdjwt.KeyBindingInvalid):
        _verify(platform, forged, held, expected_aud=AUD, expected_nonce="n-1")
    with pytest.raises(sdjwt.KeyBindingMismatch):
        _verify(platform, shown, held, expected_aud=AUD, expected_nonce="n-2")
    with pytest.raises(sdjwt.KeyBindingMismatch):
        _verify(platform, shown, held, expected_aud="office/other", expected_nonce="n-1")
    stale = sdjwt.present(credential, ["aab301"], device=signer, nonce="n-1", aud=AUD, iat=now - 3600)
    with pytest.raises(sdjwt.KeyBindingStale):
        _verify(platform, stale, held, expected_aud=AUD, expected_nonce="n-1")


def test_issuer_metadata_lists_the_credential_keys(platform: Platform, scene: Scene) -> None:
    metadata = _keys(scene)
    assert metadata["issuer"] == service.issuer(platform)
    kids = {key["kid"] for key in metadata["jwks"]["keys"]}  # type: ignore[index]
    assert kids == set(_issuer_keys(platform))


def test_an_unknown_status_list_is_not_found(scene: Scene) -> None:
    answer = scene.http.get("/v1/credentials/status-lists/44/999")
    assert answer.status_code == 404
    assert answer.json()["code"] == "credential_status_list_not_found"


def test_a_run_of_taken_indexes_opens_the_next_list(
    platform: Platform, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "LIST_SIZE", 4)
    for _ in range(6):
        _ask(platform, scene)
    with operator_uow(platform) as uow:
        lists = uow.session.execute(select(CredentialStatusList.list_no)).scalars().all()
        indexes = uow.session.execute(select(CredentialRecord.list_no, CredentialRecord.idx)).all()
    assert len(lists) >= 2
    assert len(set(indexes)) == 6
    assert all(0 <= idx < 4 for _list, idx in indexes)


def test_an_unlinked_e_card_is_refused_issuance(platform: Platform, scene: Scene) -> None:
    unlink = busi_seq(platform, scene.app, scene.sign_no, "unlink")
    scene.app.client.post(f"/v1/ecards/{scene.sign_no}/unlink", {"busiSeq": unlink})
    with pytest.raises(PlatformError) as refused:
        scene.app.client.post(f"/v1/ecards/{scene.sign_no}/credentials", {"busiSeq": "x" * 32})
    assert refused.value.code == "ecard_unlinked"


def test_an_unknown_sign_no_is_refused(scene: Scene) -> None:
    with pytest.raises(PlatformError) as refused:
        scene.app.client.post("/v1/ecards/NOSUCHSIGNNO000000000000/credentials", {"busiSeq": "x" * 32})
    assert refused.value.code == "sign_no_not_found"


def test_a_channel_not_authorised_for_queries_is_refused(platform: Platform, scene: Scene) -> None:
    others = channel(platform, scene.http, functions=[f for f in Function if f is not Function.QUERIES])
    sign_no = issued_sign_no(platform, others, scene.record)
    with pytest.raises(PlatformError) as refused:
        others.client.post(f"/v1/ecards/{sign_no}/credentials", {"busiSeq": "x" * 32})
    assert refused.value.code == "function_not_authorised"


def test_clear_claims_are_only_the_two_personal_ones(platform: Platform, scene: Scene) -> None:
    body = {"busiSeq": busi_seq(platform, scene.app, scene.sign_no, "credential"), "clearClaims": ["aac067"]}
    with pytest.raises(PlatformError) as refused:
        scene.app.client.post(f"/v1/ecards/{scene.sign_no}/credentials", body)
    assert refused.value.code == "invalid_input"

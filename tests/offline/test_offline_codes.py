"""Offline codes end to end: enrol a device, verify offline at terminals, settle online, catch replays."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from essc.cardholders.importfile import HolderRecord
from essc.core.platform import Platform
from essc.kit import offline
from essc.kit.clock import FrozenClock
from essc.kit.crypto.base import PrivateKey
from essc_sdk import PlatformError
from factories import (
    Party,
    TerminalParty,
    app_client,
    busi_seq,
    card_event,
    channel,
    holder,
    institution,
    issued_sign_no,
    load,
    province,
    terminal,
)


@dataclass
class Device:
    """A holder's phone: its own key and the certificate the platform gave it."""

    key: PrivateKey
    certificate: offline.DeviceCertificate
    counter: int = 0

    def code(self, platform: Platform, busi_type: str = "03") -> str:
        self.counter += 1
        now = int(platform.clock.now().timestamp())
        return offline.make_offline_code(
            platform.suite, self.key, self.certificate, now, self.counter, busi_type
        )


@dataclass
class Scene:
    record: HolderRecord
    http: TestClient
    app: Party
    province: Party
    sign_no: str
    gate: TerminalParty
    other_gate: TerminalParty


@pytest.fixture
def scene(platform: Platform) -> Scene:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app, owner = channel(platform, http), province(platform, http)
    sign_no = issued_sign_no(platform, app, record)
    operator = institution(owner, "transit")
    gate = terminal(platform, http, owner, operator, {"03": "presence"})
    other_gate = terminal(platform, http, owner, operator, {"03": "presence"})
    return Scene(record, http, app, owner, sign_no, gate, other_gate)


def _enrol(platform: Platform, scene: Scene) -> Device:
    key = platform.suite.generate_private_key()
    enrolled = scene.app.client.post(
        f"/v1/ecards/{scene.sign_no}/devices",
        {
            "devicePublicKey": key.public_key().to_pem().decode("ascii"),
            "busiSeq": busi_seq(platform, scene.app, scene.sign_no, "offline_device"),
        },
    )
    certificate = offline.DeviceCertificate.decode(base64.b64decode(enrolled["certificate"]))
    assert certificate.serial_hex == enrolled["serial"]
    return Device(key, certificate)


def _verifier(platform: Platform, gate: TerminalParty) -> offline.OfflineVerifier:
    """A terminal's offline verifier, holding a status list it just fetched."""
    verifier = offline.OfflineVerifier(
        platform.suite, platform.keys.public_keys(), lambda: platform.clock.now().timestamp()
    )
    _refresh(gate, verifier)
    return verifier


def _refresh(gate: TerminalParty, verifier: offline.OfflineVerifier) -> None:
    response = gate.client.call("GET", "/v1/offline/status-lists/44")
    verifier.update_status_list(response.body)


def _upload(gate: TerminalParty, platform: Platform, *codes: str) -> list[dict[str, object]]:
    at = platform.clock.now().isoformat()
    answer = gate.client.post(
        "/v1/offline/acceptances", {"acceptances": [{"code": c, "acceptedAt": at} for c in codes]}
    )
    results: list[dict[str, object]] = answer["results"]
    return results


def test_an_enrolled_device_makes_codes_a_terminal_accepts_offline_and_settles_online(
    platform: Platform, scene: Scene
) -> None:
    device = _enrol(platform, scene)
    verifier = _verifier(platform, scene.gate)
    code = device.code(platform)

    accepted = verifier.verify(code)

    assert accepted.serial == device.certificate.serial_hex
    assert accepted.busi_type == "03"
    assert [r["outcome"] for r in _upload(scene.gate, platform, code)] == ["confirmed"]
    history = scene.app.client.get(f"/v1/ecards/{scene.sign_no}/usages")
    assert [u["method"] for u in history["usages"]] == ["offline_code"]


def test_a_code_replayed_at_the_same_terminal_is_refused_offline(platform: Platform, scene: Scene) -> None:
    device = _enrol(platform, scene)
    verifier = _verifier(platform, scene.gate)
    code = device.code(platform)
    verifier.verify(code)
    with pytest.raises(offline.ReplayedCode):
        verifier.verify(code)


def test_a_code_replayed_at_two_terminals_offline_is_caught_at_upload(
    platform: Platform, clock: FrozenClock, scene: Scene
) -> None:
    device = _enrol(platform, scene)
    first, second = _verifier(platform, scene.gate), _verifier(platform, scene.other_gate)
    code = device.code(platform)
    first.verify(code)
    second.verify(code)  # offline, the second gate cannot know

    assert _upload(scene.gate, platform, code)[0]["outcome"] == "confirmed"
    assert _upload(scene.other_gate, platform, code)[0]["outcome"] == "replayed"
    # The copied device is revoked: after the next refresh its codes stop everywhere.
    clock.advance(timedelta(seconds=1))
    _refresh(scene.gate, first)
    with pytest.raises(offline.CertificateRevoked):
        first.verify(device.code(platform))


def test_uploading_again_from_the_same_terminal_changes_nothing(platform: Platform, scene: Scene) -> None:
    device = _enrol(platform, scene)
    code = device.code(platform)
    assert _upload(scene.gate, platform, code)[0]["outcome"] == "confirmed"
    assert _upload(scene.gate, platform, code)[0]["outcome"] == "already_uploaded"


def test_a_lost_card_is_refused_offline_after_the_next_status_list(
    platform: Platform, clock: FrozenClock, scene: Scene
) -> None:
    device = _enrol(platform, scene)
    verifier = _verifier(platform, scene.gate)
    card_event(platform, scene.province, scene.record.aaz500, "lost")
    clock.advance(timedelta(seconds=1))
    late = device.code(platform)
    verifier.verify(late)  # the held list predates the loss: offline it cannot be known yet
    assert _upload(scene.gate, platform, late)[0]["outcome"] == "revoked"

    clock.advance(timedelta(seconds=1))
    _refresh(scene.gate, verifier)
    with pytest.raises(offline.CertificateRevoked):
        verifier.verify(device.code(platform))


def test_unlinking_the_channel_revokes_its_devices(
    platform: Platform, clock: FrozenClock, scene: Scene
) -> None:
    device = _enrol(platform, scene)
    scene.app.client.post(
        f"/v1/ecards/{scene.sign_no}/unlink",
        {"busiSeq": busi_seq(platform, scene.app, scene.sign_no, "unlink")},
    )
    clock.advance(timedelta(seconds=1))
    verifier = _verifier(platform, scene.gate)
    with pytest.raises(offline.CertificateRevoked):
        verifier.verify(device.code(platform))


def test_forged_and_ungranted_uploads_are_refused_with_their_reason(platform: Platform, scene: Scene) -> None:
    device = _enrol(platform, scene)
    genuine = device.code(platform)
    body = bytearray(base64.b32decode(genuine.split(":")[2] + "=" * (-len(genuine.split(":")[2]) % 8)))
    body[-1] ^= 1
    forged = offline.offline_payload(bytes(body))
    payment = device.code(platform, busi_type="02")

    results = _upload(scene.gate, platform, forged, payment, "ESSC:1:" + "A" * 32)

    assert [r["reason"] for r in results] == [
        "code_signature_invalid",
        "busi_type_not_granted",
        "wrong_code_kind",
    ]
    assert all(r["outcome"] == "refused" for r in results)


def test_enrolment_needs_a_busi_seq_for_it_and_a_usable_card(platform: Platform, scene: Scene) -> None:
    key = platform.suite.generate_private_key().public_key().to_pem().decode("ascii")
    wrong_purpose = busi_seq(platform, scene.app, scene.sign_no, "query")
    with pytest.raises(PlatformError) as refused:
        scene.app.client.post(
            f"/v1/ecards/{scene.sign_no}/devices", {"devicePublicKey": key, "busiSeq": wrong_purpose}
        )
    assert refused.value.code == "busi_seq_invalid"
    with pytest.raises(PlatformError) as refused:
        scene.app.client.post(
            f"/v1/ecards/{scene.sign_no}/devices",
            {
                "devicePublicKey": "not a key",
                "busiSeq": busi_seq(platform, scene.app, scene.sign_no, "offline_device"),
            },
        )
    assert refused.value.code == "device_key_invalid"
    card_event(platform, scene.province, scene.record.aaz500, "locked")
    with pytest.raises(PlatformError) as refused:
        scene.app.client.post(
            f"/v1/ecards/{scene.sign_no}/devices", {"devicePublicKey": key, "busiSeq": "x" * 20}
        )
    assert refused.value.code == "card_not_active"


def test_only_terminals_fetch_status_lists(platform: Platform, scene: Scene) -> None:
    with pytest.raises(PlatformError) as refused:
        scene.app.client.get("/v1/offline/status-lists/44")
    assert refused.value.code == "wrong_caller_kind"

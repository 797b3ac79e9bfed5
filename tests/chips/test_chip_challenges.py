"""Third-generation cards over NFC: the chip signs a one-time platform challenge, the app earns a busiSeq."""

from __future__ import annotations

import base64
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from essc.audit.models import AuditEntry
from essc.cardholders.importfile import HolderRecord
from essc.cardholders.models import Card
from essc.channels.service import of_caller
from essc.chips import service
from essc.chips.sandbox import SandboxCardChip
from essc.chips.schemas import ChallengeAnswer
from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.ecards.models import BusiSeq
from essc.kit.clock import FrozenClock
from essc.kit.errors import EsscError
from essc.shared.policy import Function
from essc_sdk import PlatformError
from factories import (
    Party,
    app_client,
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
class Scene:
    record: HolderRecord
    http: TestClient
    app: Party
    province: Party
    sign_no: str
    chip: SandboxCardChip


def _load_key(owner: Party, aaz500: str, pem: str, province_code: str = "44") -> dict[str, Any]:
    answer: dict[str, Any] = owner.client.put(
        f"/v1/provinces/{province_code}/cards/{aaz500}/chip-key", {"publicKey": pem}
    )
    return answer


@pytest.fixture
def scene(platform: Platform) -> Scene:
    record = holder(generation=3)
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)
    owner = province(platform, http)
    sign_no = issued_sign_no(platform, app, record)
    chip = SandboxCardChip(record.aaz500, record.aaz501)
    _load_key(owner, record.aaz500, chip.public_key_pem())
    return Scene(record, http, app, owner, sign_no, chip)


def _challenge(scene: Scene, purpose: str | None = None, sign_no: str | None = None) -> dict[str, Any]:
    body = None if purpose is None else {"purpose": purpose}
    answer: dict[str, Any] = scene.app.client.post(
        f"/v1/ecards/{sign_no or scene.sign_no}/chip-challenges", body
    )
    return answer


def _respond(
    scene: Scene, challenge_id: str, signature: bytes, app: Party | None = None, sign_no: str = ""
) -> Any:
    return (app or scene.app).client.post(
        f"/v1/ecards/{sign_no or scene.sign_no}/chip-challenges/{challenge_id}/response",
        {"signature": base64.b64encode(signature).decode("ascii")},
    )


def _tap(scene: Scene, challenge: dict[str, Any]) -> Any:
    """What the app does: pass the challenge to the chip over NFC, relay the chip's answer."""
    return _respond(
        scene, challenge["challengeId"], scene.chip.answer(base64.b64decode(challenge["challenge"]))
    )


def _problem(call: Any) -> str:
    with pytest.raises(PlatformError) as refused:
        call()
    return refused.value.code


def _actions(platform: Platform) -> list[str]:
    with platform.session_factory() as session:
        return list(session.execute(select(AuditEntry.action)).scalars())


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# Loading chip keys


def test_the_province_loads_a_chip_key_and_may_replace_it(platform: Platform, scene: Scene) -> None:
    record = scene.record
    again = _load_key(scene.province, record.aaz500, scene.chip.public_key_pem())
    assert again["aaz500"] == record.aaz500
    assert again["generation"] == 3
    assert again["replaced"] is False
    assert len(again["fingerprint"]) == 64

    renewed = SandboxCardChip(record.aaz500, record.aaz501)
    answer = _load_key(scene.province, record.aaz500.lower(), renewed.public_key_pem())
    assert answer["replaced"] is True
    assert answer["fingerprint"] != again["fingerprint"]
    assert "card.chip_key_loaded" in _actions(platform)
    with platform.session_factory() as session:
        card = session.execute(select(Card).where(Card.aaz500 == record.aaz500)).scalar_one()
    assert card.chip_public_key == platform.suite.load_public_key(renewed.public_key_pem().encode()).to_der()


def test_a_second_generation_card_has_no_chip_key(platform: Platform, scene: Scene) -> None:
    old = holder(generation=2)
    load(platform, old)
    chip = SandboxCardChip(old.aaz500, old.aaz501)
    assert _problem(lambda: _load_key(scene.province, old.aaz500, chip.public_key_pem())) == (
        "not_third_generation_card"
    )


def test_only_the_cards_own_province_loads_its_key(platform: Platform, scene: Scene) -> None:
    other = province(platform, scene.http, "45")
    pem = scene.chip.public_key_pem()
    assert _problem(lambda: _load_key(other, scene.record.aaz500, pem, "44")) == "wrong_province"
    assert _problem(lambda: _load_key(other, scene.record.aaz500, pem, "45")) == "card_not_found"
    assert _problem(lambda: _load_key(scene.province, "ZZZZZZZZZ", pem)) == "card_not_found"
    assert (
        _problem(
            lambda: scene.app.client.put(
                f"/v1/provinces/44/cards/{scene.record.aaz500}/chip-key", {"publicKey": pem}
            )
        )
        == "wrong_caller_kind"
    )


def test_a_key_that_is_not_an_sm2_public_key_is_refused(platform: Platform, scene: Scene) -> None:
    assert _problem(lambda: _load_key(scene.province, scene.record.aaz500, "not a key")) == "malformed_key"


# Challenges


def test_a_challenge_is_32_random_bytes_valid_60_seconds(platform: Platform, scene: Scene) -> None:
    first, second = _challenge(scene), _challenge(scene)
    assert len(base64.b64decode(first["challenge"])) == 32
    assert first["challenge"] != second["challenge"]
    assert first["challengeId"] != second["challengeId"]
    expected = platform.clock.now() + timedelta(seconds=60)
    assert abs((_at(first["expiresAt"]) - expected).total_seconds()) < 1
    assert "chip.challenge_issued" in _actions(platform)


def test_a_valid_chip_answer_earns_a_busi_seq_of_method_card_chip(platform: Platform, scene: Scene) -> None:
    answer = _tap(scene, _challenge(scene))

    assert answer["purpose"] == "query"
    assert answer["busiSeq"]
    with platform.session_factory() as session:
        row = session.execute(select(BusiSeq)).scalar_one()
    assert (row.method, row.purpose, row.used_at) == ("card_chip", "query", None)
    assert {"chip.verified", "busi_seq.issued"} <= set(_actions(platform))


def test_the_busi_seq_serves_the_purpose_asked_for(platform: Platform, scene: Scene) -> None:
    answer = _tap(scene, _challenge(scene, "sign_level2"))
    assert answer["purpose"] == "sign_level2"
    upgraded = scene.app.client.post(f"/v1/ecards/{scene.sign_no}/level2", {"busiSeq": answer["busiSeq"]})
    assert upgraded["signLevel"] == 2


def test_a_card_tap_can_confirm_a_login(platform: Platform, scene: Scene) -> None:
    site = terminal(
        platform, scene.http, scene.province, institution(scene.province, "hrss_centre"), {}, kind="kiosk"
    )
    issued = site.client.post("/v1/login-codes", {"images": []})
    scene.app.client.post("/v1/login-codes/scan", {"code": issued["code"], "signNo": scene.sign_no})
    seq = _tap(scene, _challenge(scene, "login"))["busiSeq"]
    scene.app.client.post(
        "/v1/login-codes/confirm", {"code": issued["code"], "signNo": scene.sign_no, "busiSeq": seq}
    )
    assert site.client.get(f"/v1/login-codes/{issued['loginId']}")["status"] == "confirmed"


def test_a_password_reset_cannot_be_earned_with_the_card(platform: Platform, scene: Scene) -> None:
    assert _problem(lambda: _challenge(scene, "password_reset")) == "invalid_input"


def test_a_challenge_is_answered_once(platform: Platform, scene: Scene) -> None:
    challenge = _challenge(scene)
    _tap(scene, challenge)
    assert _problem(lambda: _tap(scene, challenge)) == "chip_challenge_used"


def test_a_challenge_expires_after_60_seconds(platform: Platform, clock: FrozenClock, scene: Scene) -> None:
    fresh, stale = _challenge(scene), _challenge(scene)
    clock.advance(timedelta(seconds=59))
    assert _tap(scene, fresh)["busiSeq"]
    clock.advance(timedelta(seconds=2))
    assert _problem(lambda: _tap(scene, stale)) == "chip_challenge_expired"


def test_an_unknown_challenge_or_one_of_another_e_card_is_unknown(platform: Platform, scene: Scene) -> None:
    challenge = _challenge(scene)
    signature = scene.chip.answer(base64.b64decode(challenge["challenge"]))
    assert _problem(lambda: _respond(scene, "0" * 26, signature)) == "chip_challenge_unknown"

    other = holder(generation=3)
    load(platform, other)
    other_sign_no = issued_sign_no(platform, scene.app, other)
    other_chip = SandboxCardChip(other.aaz500, other.aaz501)
    _load_key(scene.province, other.aaz500, other_chip.public_key_pem())
    assert _problem(lambda: _respond(scene, challenge["challengeId"], signature, sign_no=other_sign_no)) == (
        "chip_challenge_unknown"
    )
    # Another channel can neither see nor burn it.
    other_app = channel(platform, scene.http)
    assert _problem(
        lambda: _respond(scene, challenge["challengeId"], signature, other_app, scene.sign_no)
    ) == ("sign_no_not_found")
    assert _respond(scene, challenge["challengeId"], signature)["busiSeq"]


def test_a_wrong_signature_is_refused_and_burns_the_challenge(platform: Platform, scene: Scene) -> None:
    challenge = _challenge(scene)
    raw = base64.b64decode(challenge["challenge"])
    impostor = SandboxCardChip(scene.record.aaz500, scene.record.aaz501)  # a cloned card without the real key

    assert _problem(lambda: _respond(scene, challenge["challengeId"], impostor.answer(raw))) == (
        "chip_signature_invalid"
    )
    assert _problem(lambda: _tap(scene, challenge)) == "chip_challenge_used"
    assert "chip.refused" in _actions(platform)
    with platform.session_factory() as session:
        assert session.execute(select(BusiSeq)).first() is None


@pytest.mark.parametrize(
    "signed",
    [
        "other_card_number",
        "bare_challenge",
        "other_challenge",
        "garbage",
    ],
)
def test_a_signature_over_anything_but_this_chip_string_is_refused(
    platform: Platform, scene: Scene, signed: str
) -> None:
    key = platform.suite.generate_private_key()
    chip = SandboxCardChip(scene.record.aaz500, scene.record.aaz501, key)
    _load_key(scene.province, scene.record.aaz500, chip.public_key_pem())
    challenge = _challenge(scene)
    raw = base64.b64decode(challenge["challenge"])
    signature = {
        "other_card_number": lambda: SandboxCardChip("ZZZZZZZZZ", scene.record.aaz501, key).answer(raw),
        "bare_challenge": lambda: chip.sign(raw),
        "other_challenge": lambda: chip.answer(bytes(32)),
        "garbage": lambda: b"\x30\x06\x02\x01\x01\x02\x01\x01",
    }[signed]()
    assert _problem(lambda: _respond(scene, challenge["challengeId"], signature)) == "chip_signature_invalid"


def test_a_signature_that_is_not_base64_is_invalid_input(platform: Platform, scene: Scene) -> None:
    challenge = _challenge(scene)
    with pytest.raises(PlatformError) as refused:
        scene.app.client.post(
            f"/v1/ecards/{scene.sign_no}/chip-challenges/{challenge['challengeId']}/response",
            {"signature": "not base64!"},
        )
    assert refused.value.code == "invalid_input"
    assert _tap(scene, challenge)["busiSeq"]  # the challenge survives a malformed request


# The card


def test_no_challenge_without_a_chip_key(platform: Platform, scene: Scene) -> None:
    bare = holder(generation=3)
    load(platform, bare)
    sign_no = issued_sign_no(platform, scene.app, bare)
    assert _problem(lambda: _challenge(scene, sign_no=sign_no)) == "chip_key_missing"


def test_no_challenge_for_a_second_generation_card(platform: Platform, scene: Scene) -> None:
    old = holder(generation=2)
    load(platform, old)
    sign_no = issued_sign_no(platform, scene.app, old)
    assert _problem(lambda: _challenge(scene, sign_no=sign_no)) == "not_third_generation_card"


def test_a_card_that_is_not_normal_gets_no_challenge_and_cannot_answer(
    platform: Platform, scene: Scene
) -> None:
    challenge = _challenge(scene)
    card_event(platform, scene.province, scene.record.aaz500, "temporarily_lost")
    assert _problem(lambda: _challenge(scene)) == "card_not_active"
    assert _problem(lambda: _tap(scene, challenge)) == "card_not_active"


def test_a_replaced_card_must_answer_with_its_own_chip(platform: Platform, scene: Scene) -> None:
    challenge = _challenge(scene)
    new = holder(generation=3)
    scene.province.client.post(
        "/v1/provinces/44/card-events",
        {
            "eventId": "replace-1",
            "aaz500": scene.record.aaz500,
            "type": "replaced",
            "occurredAt": platform.clock.now().isoformat(),
            "newCard": {
                "aaz500": new.aaz500,
                "aaz501": new.aaz501,
                "aab301": scene.record.aab301,
                "generation": 3,
                "bankAccountActive": True,
            },
        },
    )
    # The new card's chip key is not loaded yet.
    assert _problem(lambda: _tap(scene, challenge)) == "chip_key_missing"
    new_chip = SandboxCardChip(new.aaz500, new.aaz501)
    _load_key(scene.province, new.aaz500, new_chip.public_key_pem())
    # A challenge made for the old card is void; a fresh one is answered by the new chip.
    assert _problem(lambda: _tap(scene, challenge)) == "chip_challenge_expired"
    fresh = _challenge(scene)
    signature = new_chip.answer(base64.b64decode(fresh["challenge"]))
    assert _respond(scene, fresh["challengeId"], signature)["busiSeq"]


# Races


def test_of_many_simultaneous_answers_exactly_one_earns_a_busi_seq(platform: Platform, scene: Scene) -> None:
    challenge = _challenge(scene)
    signature = base64.b64encode(scene.chip.answer(base64.b64decode(challenge["challenge"]))).decode("ascii")

    def attempt(_: int) -> str:
        context = RequestContext(actor=Actor(kind="channel", id=scene.app.label), function=Function.ISSUANCE)
        with UnitOfWork(platform, context) as uow:
            try:
                app = of_caller(uow, scene.app.caller_id)
                service.answer(
                    uow, app, scene.sign_no, challenge["challengeId"], ChallengeAnswer(signature=signature)
                )
                uow.commit()
                return "ok"
            except EsscError as exc:
                return exc.code

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = Counter(pool.map(attempt, range(24)))
    assert outcomes == Counter({"ok": 1, "chip_challenge_used": 23})

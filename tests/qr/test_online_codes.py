"""Online codes: shown through a channel, resolved once by an authorised terminal within 60 s."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import product

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from essc.audit.models import AuditEntry
from essc.cardholders.importfile import HolderRecord
from essc.core.platform import Platform
from essc.kit.clock import FrozenClock
from essc.kit.codes import CodeKind, new_token_code, parse_code
from essc.kit.errors import EsscError
from essc.kit.qrimage import decode_image
from essc.qr import repository as qr_repository
from essc.shared.tokens import OneTimeTokens
from essc.terminals.models import Institution, Terminal
from essc.terminals.schemas import BusiType
from essc.terminals.service import ensure_acting
from essc_sdk import PlatformError
from factories import (
    Party,
    TerminalParty,
    app_client,
    card_event,
    channel,
    holder,
    institution,
    issued_sign_no,
    load,
    operator_uow,
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


@pytest.fixture
def scene(platform: Platform) -> Scene:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)
    owner = province(platform, http)
    sign_no = issued_sign_no(platform, app, record)
    return Scene(record, http, app, owner, sign_no)


def _code(scene: Scene, images: list[str] | None = None) -> dict[str, str]:
    body = None if images is None else {"images": images}
    result: dict[str, str] = scene.app.client.post(f"/v1/ecards/{scene.sign_no}/qr-codes", body)
    return result


def _terminal(platform: Platform, scene: Scene, kind: str, grants: dict[str, str]) -> TerminalParty:
    owner = scene.province
    code = institution(owner, kind)
    return terminal(platform, scene.http, owner, code, grants)


def _resolve(device: TerminalParty, code: str, busi_type: str = "01") -> dict[str, object]:
    answer: dict[str, object] = device.client.post(
        "/v1/qr/resolutions", {"code": code, "busiType": busi_type}
    )
    return answer


def _problem(device: TerminalParty, code: str, busi_type: str = "01") -> str:
    with pytest.raises(PlatformError) as refused:
        _resolve(device, code, busi_type)
    return refused.value.code


def test_a_code_is_a_short_payload_with_png_and_svg_images_of_itself(
    platform: Platform, scene: Scene
) -> None:
    issued = _code(scene)

    assert re.fullmatch(r"ESSC:1:[A-Z2-7]{32}", issued["code"])
    assert decode_image(base64.b64decode(issued["png"])) == [issued["code"]]
    assert issued["svg"].lstrip().startswith(("<?xml", "<svg"))
    expires = platform.clock.now() + timedelta(seconds=60)
    assert abs((_at(issued["expiresAt"]) - expires).total_seconds()) < 1


def test_images_can_be_left_out(platform: Platform, scene: Scene) -> None:
    issued = _code(scene, images=[])
    assert issued["png"] is None
    assert issued["svg"] is None


def test_a_payload_reveals_nothing_of_the_holder(platform: Platform, scene: Scene) -> None:
    record = scene.record
    for _ in range(20):
        payload = _code(scene, images=[])["code"]
        body = base64.b32decode(payload.split(":")[2])
        for secret in (record.aac002, record.aac003, record.aaz500, scene.sign_no):
            assert secret not in payload
            assert secret.encode() not in body
        assert len(body) == 20  # a bare 160-bit random token


def test_a_masked_grant_learns_the_masked_holder_once(platform: Platform, scene: Scene) -> None:
    counter = _terminal(platform, scene, "hrss_centre", {"01": "masked"})
    code = _code(scene, images=[])["code"]

    answer = _resolve(counter, code)

    record = scene.record
    assert answer["usable"] is True
    assert answer["disclosure"] == "masked"
    assert answer["aac002"] != record.aac002
    assert answer["aac002"] == record.aac002[0] + "*" * 16 + record.aac002[-1]
    assert "*" in str(answer["aac003"])
    assert answer["aab301"] == record.aab301
    assert _problem(counter, code) == "code_already_used"


def test_a_transit_gate_learns_only_yes_and_a_pseudonym(platform: Platform, scene: Scene) -> None:
    gate = _terminal(platform, scene, "transit", {"03": "presence"})
    answer = _resolve(gate, _code(scene, images=[])["code"], "03")
    assert answer["usable"] is True
    assert answer["aac002"] is None
    assert answer["aac003"] is None
    assert answer["aab301"] is None
    assert re.fullmatch(r"[A-Z2-7]{24}", str(answer["pseudonym"]))


def test_a_hospital_settlement_counter_may_learn_the_clear_id_and_the_read_is_audited(
    platform: Platform, scene: Scene
) -> None:
    hospital = _terminal(platform, scene, "hospital", {"04": "clear"})
    answer = _resolve(hospital, _code(scene, images=[])["code"], "04")
    record = scene.record
    assert answer["aac002"] == record.aac002
    assert answer["aac003"] == record.aac003
    with platform.session_factory() as session:
        actions = set(session.execute(select(AuditEntry.action)).scalars())
    assert {"person.clear_read", "ecard.used"} <= actions


def test_a_grant_above_what_the_institution_kind_may_receive_is_refused(
    platform: Platform, scene: Scene
) -> None:
    owner = scene.province
    gate_owner = institution(owner, "transit")
    with pytest.raises(PlatformError) as refused:
        terminal(platform, scene.http, owner, gate_owner, {"01": "clear"})
    assert refused.value.code == "disclosure_not_allowed"


def test_the_pseudonym_is_stable_per_institution_and_differs_across_institutions(
    platform: Platform, scene: Scene
) -> None:
    first = _terminal(platform, scene, "bank", {"01": "presence"})
    owner = scene.province
    same_institution = terminal(platform, scene.http, owner, first.institution_code, {"01": "presence"})
    other = _terminal(platform, scene, "bank", {"01": "presence"})
    a = _resolve(first, _code(scene, images=[])["code"])["pseudonym"]
    b = _resolve(same_institution, _code(scene, images=[])["code"])["pseudonym"]
    c = _resolve(other, _code(scene, images=[])["code"])["pseudonym"]
    assert a == b
    assert a != c


def test_a_code_at_61_seconds_is_refused_and_at_59_accepted(
    platform: Platform, clock: FrozenClock, scene: Scene
) -> None:
    counter = _terminal(platform, scene, "hrss_centre", {"01": "masked"})
    fresh, stale = _code(scene, images=[])["code"], _code(scene, images=[])["code"]
    clock.advance(timedelta(seconds=59))
    assert _resolve(counter, fresh)["usable"] is True
    clock.advance(timedelta(seconds=2))
    assert _problem(counter, stale) == "code_expired"


def test_a_terminal_without_the_busi_type_is_refused_and_the_code_survives(
    platform: Platform, scene: Scene
) -> None:
    query_only = _terminal(platform, scene, "pharmacy", {"01": "masked"})
    payer = _terminal(platform, scene, "pharmacy", {"02": "masked"})
    code = _code(scene, images=[])["code"]
    assert _problem(query_only, code, "02") == "busi_type_not_granted"
    assert _resolve(payer, code, "02")["busiType"] == "02"


def test_a_lost_card_makes_its_live_code_useless_at_once(platform: Platform, scene: Scene) -> None:
    counter = _terminal(platform, scene, "hrss_centre", {"01": "masked"})
    code = _code(scene, images=[])["code"]
    record = scene.record
    card_event(platform, scene.province, record.aaz500, "lost")
    assert _problem(counter, code) == "card_not_usable"
    with platform.session_factory() as session:
        assert "qr.refused" in set(session.execute(select(AuditEntry.action)).scalars())


def test_no_code_is_issued_for_an_unusable_card(platform: Platform, scene: Scene) -> None:
    record = scene.record
    card_event(platform, scene.province, record.aaz500, "locked")
    with pytest.raises(PlatformError) as refused:
        _code(scene, images=[])
    assert refused.value.code == "card_not_active"


def test_unknown_malformed_and_wrong_kind_codes_have_their_own_errors(
    platform: Platform, scene: Scene
) -> None:
    counter = _terminal(platform, scene, "hrss_centre", {"01": "masked"})
    unknown, _ = new_token_code(CodeKind.ONLINE)
    login, _ = new_token_code(CodeKind.LOGIN)
    assert _problem(counter, unknown) == "code_unknown"
    assert _problem(counter, "ESSC:9:AAAA") == "malformed_code"
    assert _problem(counter, "430103199001011234") == "malformed_code"
    assert _problem(counter, login) == "wrong_code_kind"


def test_a_suspended_institution_stops_its_terminals_on_the_next_request(
    platform: Platform, scene: Scene
) -> None:
    counter = _terminal(platform, scene, "hrss_centre", {"01": "masked"})
    owner = scene.province
    owner.client.put(
        f"/v1/provinces/44/institutions/{counter.institution_code}/status",
        {"status": "suspended", "reason": "audit finding"},
    )
    code = _code(scene, images=[])["code"]
    assert _problem(counter, code) == "institution_suspended"
    owner.client.put(
        f"/v1/provinces/44/institutions/{counter.institution_code}/status",
        {"status": "active", "reason": "rectified"},
    )
    assert _resolve(counter, code)["usable"] is True


def test_a_suspended_terminal_is_refused(platform: Platform, scene: Scene) -> None:
    counter = _terminal(platform, scene, "hrss_centre", {"01": "masked"})
    scene.province.client.put(
        f"/v1/provinces/44/terminals/{counter.terminal_no}/status",
        {"status": "suspended", "reason": "stolen"},
    )
    assert _problem(counter, _code(scene, images=[])["code"]) == "caller_suspended"


def test_a_channel_cannot_resolve_codes(platform: Platform, scene: Scene) -> None:
    with pytest.raises(PlatformError) as refused:
        scene.app.client.post(
            "/v1/qr/resolutions", {"code": _code(scene, images=[])["code"], "busiType": "01"}
        )
    assert refused.value.code == "wrong_caller_kind"


def test_every_resolution_feeds_the_holders_usage_history(platform: Platform, scene: Scene) -> None:
    counter = _terminal(platform, scene, "hrss_centre", {"01": "masked"})
    gate = _terminal(platform, scene, "transit", {"03": "presence"})
    _resolve(counter, _code(scene, images=[])["code"], "01")
    _resolve(gate, _code(scene, images=[])["code"], "03")

    history = scene.app.client.get(f"/v1/ecards/{scene.sign_no}/usages")

    kinds = [(u["institutionKind"], u["busiType"], u["terminalNo"]) for u in history["usages"]]
    assert sorted(kinds) == sorted(
        [("hrss_centre", "01", counter.terminal_no), ("transit", "03", gate.terminal_no)]
    )
    other_channel = channel(platform, scene.http)
    with pytest.raises(PlatformError) as refused:
        other_channel.client.get(f"/v1/ecards/{scene.sign_no}/usages")
    assert refused.value.code == "sign_no_not_found"


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.mark.parametrize(
    ("institution_status", "terminal_status", "busi_type"),
    list(product(["active", "suspended"], ["active", "suspended"], ["01", "02"])),
)
def test_the_spend_is_refused_in_sql_exactly_when_the_rule_refuses_the_terminal(
    platform: Platform, scene: Scene, institution_status: str, terminal_status: str, busi_type: str
) -> None:
    counter = _terminal(platform, scene, "hrss_centre", {"01": "masked"})
    code = parse_code(_code(scene, images=[])["code"])
    with operator_uow(platform) as uow:
        found = uow.session.execute(select(Terminal).where(Terminal.terminal_no == counter.terminal_no))
        device = found.scalar_one()
        owner = uow.session.get(Institution, device.institution_id)
        assert owner is not None
        device.status, owner.status = terminal_status, institution_status
        uow.session.flush()
        acting, spent, _session_holds = qr_repository.spend(
            uow.session,
            OneTimeTokens.of(uow.platform).digest(code.body.hex()),
            uow.clock.now(),
            device.id,
            busi_type,
            records=qr_repository.UseRecords.fresh(uow.stamp()),
        )
        try:
            ensure_acting(acting, BusiType(busi_type))
            allowed = True
        except EsscError:
            allowed = False
    assert allowed is (institution_status == terminal_status == "active" and busi_type == "01")
    assert (spent is not None) is allowed


@pytest.mark.parametrize(
    "before",
    [
        "0001-01-01T00:00:00%2B14:00",  # past the year 1 in UTC: Python cannot hold it
        "9999-12-31T23:59:59-14:00",
        "2026-01-01T00:00:00",  # no zone: which instant is meant?
        "1900-01-01T00:00:00Z",
    ],
)
def test_a_usage_history_before_an_instant_out_of_range_is_invalid_input(
    platform: Platform, scene: Scene, before: str
) -> None:
    response = scene.app.client.raw("GET", f"/v1/ecards/{scene.sign_no}/usages?before={before}")

    assert (response.status_code, response.json()["code"]) == (422, "invalid_input")


def test_a_usage_history_before_an_instant_with_an_offset_reads_it_in_utc(
    platform: Platform, scene: Scene
) -> None:
    device = _terminal(platform, scene, "hospital", {"01": "masked"})
    _resolve(device, _code(scene)["code"])
    later = (platform.clock.now() + timedelta(hours=1)).astimezone(timezone(timedelta(hours=14)))
    earlier = platform.clock.now() - timedelta(hours=1)

    def count(before: datetime) -> int:
        query = before.isoformat().replace("+", "%2B")
        return len(scene.app.client.get(f"/v1/ecards/{scene.sign_no}/usages?before={query}")["usages"])

    assert (count(later), count(earlier)) == (1, 0)

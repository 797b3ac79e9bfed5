"""Scan-to-login: a website or kiosk shows a code, a holder scans and confirms it, the site collects once."""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from essc.audit.models import AuditEntry
from essc.cardholders.importfile import HolderRecord
from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.ecards.models import BusiSeq
from essc.kit.clock import FrozenClock
from essc.kit.codes import CodeKind, new_token_code
from essc.kit.errors import EsscError
from essc.kit.qrimage import decode_image
from essc.login import service
from essc.login.models import LoginCode
from essc.login.schemas import ScanRequest
from essc.shared.policy import Function
from essc.terminals.service import acting_terminal
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
    sent_statements,
    terminal,
)


@dataclass
class Scene:
    record: HolderRecord
    http: TestClient
    app: Party
    province: Party
    sign_no: str
    site: TerminalParty


def _site(
    platform: Platform, http: TestClient, owner: Party, kind: str = "hrss_centre", **extra: Any
) -> TerminalParty:
    code = extra.pop("institution_code", None) or institution(owner, kind, name=extra.pop("name", None))
    return terminal(platform, http, owner, code, {}, kind=extra.pop("terminal_kind", "web"))


@pytest.fixture
def scene(platform: Platform) -> Scene:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)
    owner = province(platform, http)
    sign_no = issued_sign_no(platform, app, record)
    return Scene(record, http, app, owner, sign_no, _site(platform, http, owner, name="People's Portal"))


def _new_code(device: TerminalParty, images: list[str] | None = None) -> dict[str, Any]:
    body = None if images is None else {"images": images}
    answer: dict[str, Any] = device.client.post("/v1/login-codes", body)
    return answer


def _scan(app: Party, sign_no: str, code: str) -> dict[str, Any]:
    answer: dict[str, Any] = app.client.post("/v1/login-codes/scan", {"code": code, "signNo": sign_no})
    return answer


def _confirm(
    platform: Platform, app: Party, sign_no: str, code: str, seq: str | None = None
) -> dict[str, Any]:
    body = {"code": code, "signNo": sign_no, "busiSeq": seq or busi_seq(platform, app, sign_no, "login")}
    answer: dict[str, Any] = app.client.post("/v1/login-codes/confirm", body)
    return answer


def _deny(app: Party, sign_no: str, code: str) -> dict[str, Any]:
    answer: dict[str, Any] = app.client.post("/v1/login-codes/deny", {"code": code, "signNo": sign_no})
    return answer


def _state(device: TerminalParty, login_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = device.client.get(f"/v1/login-codes/{login_id}")
    return answer


def _problem(call: Callable[[], object]) -> str:
    with pytest.raises(PlatformError) as refused:
        call()
    return refused.value.code


def _actions(platform: Platform) -> list[str]:
    with platform.session_factory() as session:
        return list(session.execute(select(AuditEntry.action).order_by(AuditEntry.at)).scalars())


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _second_holder(platform: Platform, scene: Scene, app: Party | None = None) -> tuple[Party, str]:
    other = holder()
    load(platform, other)
    the_app = app or channel(platform, scene.http)
    return the_app, issued_sign_no(platform, the_app, other)


# The code


def test_a_web_terminal_gets_a_login_code_with_images_valid_120_seconds(
    platform: Platform, scene: Scene
) -> None:
    issued = _new_code(scene.site)

    assert re.fullmatch(r"ESSC:L1:[A-Z2-7]{32}", issued["code"])
    assert re.fullmatch(r"[0-9A-Z]{26}", issued["loginId"])
    assert decode_image(base64.b64decode(issued["png"])) == [issued["code"]]
    assert issued["svg"].lstrip().startswith("<svg")
    expected = platform.clock.now() + timedelta(seconds=120)
    assert abs((_at(issued["expiresAt"]) - expected).total_seconds()) < 1
    assert _state(scene.site, issued["loginId"])["status"] == "pending"
    assert "login.code_issued" in _actions(platform)


def test_only_a_keyed_digest_of_the_token_is_stored(platform: Platform, scene: Scene) -> None:
    issued = _new_code(scene.site, images=[])
    token = base64.b32decode(issued["code"].split(":")[2])
    with platform.session_factory() as session:
        row = session.get(LoginCode, issued["loginId"])
        assert row is not None
        values = [getattr(row, column.key) for column in LoginCode.__table__.columns]
    stored = [v if isinstance(v, bytes) else str(v).encode() for v in values]
    assert len(row.token_digest) == 32
    assert all(token not in blob and token.hex().encode() not in blob for blob in stored)


def test_the_lifetime_is_configurable_but_never_above_120_seconds(platform: Platform, scene: Scene) -> None:
    platform.settings.login_code_ttl_seconds = 30
    short = _at(_new_code(scene.site, images=[])["expiresAt"])
    platform.settings.login_code_ttl_seconds = 600
    capped = _at(_new_code(scene.site, images=[])["expiresAt"])
    now = platform.clock.now()
    assert abs((short - now).total_seconds() - 30) < 1
    assert abs((capped - now).total_seconds() - 120) < 1


def test_a_kiosk_may_show_login_codes_and_a_counter_may_not(platform: Platform, scene: Scene) -> None:
    kiosk = _site(platform, scene.http, scene.province, terminal_kind="kiosk")
    counter = _site(platform, scene.http, scene.province, terminal_kind="counter")
    assert _new_code(kiosk, images=[])["code"].startswith("ESSC:L1:")
    assert _problem(lambda: _new_code(counter, images=[])) == "terminal_kind_not_for_login"


def test_only_terminals_ask_for_login_codes_and_only_channels_scan(platform: Platform, scene: Scene) -> None:
    code = _new_code(scene.site, images=[])["code"]
    assert _problem(lambda: scene.app.client.post("/v1/login-codes", None)) == "wrong_caller_kind"
    assert _problem(lambda: _scan(scene.site, scene.sign_no, code)) == "wrong_caller_kind"


# The whole login


def test_scan_confirm_collect_once(platform: Platform, scene: Scene) -> None:
    issued = _new_code(scene.site, images=[])
    login_id, code = issued["loginId"], issued["code"]

    scanned = _scan(scene.app, scene.sign_no, code)
    assert scanned == {
        "loginId": login_id,
        "status": "scanned",
        "institution": "People's Portal",
        "institutionKind": "hrss_centre",
        "terminalKind": "web",
        "expiresAt": issued["expiresAt"],
    }
    assert _state(scene.site, login_id)["status"] == "scanned"
    assert _state(scene.site, login_id)["subject"] is None  # the site learns nobody before the confirmation

    assert _confirm(platform, scene.app, scene.sign_no, code) == {"loginId": login_id, "status": "confirmed"}

    result = _state(scene.site, login_id)
    assert result["status"] == "confirmed"
    assert re.fullmatch(r"[A-Z2-7]{24}", result["subject"])
    assert "*" in result["aac003"]
    assert result["aac003"] != scene.record.aac003
    assert result["signLevel"] == 1
    assert result["confirmedAt"] is not None

    again = _state(scene.site, login_id)
    assert again["status"] == "consumed"
    assert again["subject"] is None
    assert again["aac003"] is None
    assert again["consumedAt"] is not None
    actions = _actions(platform)
    for action in ("login.scanned", "busi_seq.used", "login.confirmed", "ecard.used", "login.collected"):
        assert action in actions


def test_a_confirmed_login_appears_in_the_usage_history(platform: Platform, scene: Scene) -> None:
    code = _new_code(scene.site, images=[])["code"]
    _scan(scene.app, scene.sign_no, code)
    _confirm(platform, scene.app, scene.sign_no, code)

    history = scene.app.client.get(f"/v1/ecards/{scene.sign_no}/usages")["usages"]
    assert len(history) == 1
    assert history[0]["institution"] == "People's Portal"
    assert history[0]["method"] == "login"
    assert history[0]["busiType"] == "03"
    assert history[0]["terminalNo"] == scene.site.terminal_no
    assert history[0]["disclosure"] == "masked"


def _login(platform: Platform, scene: Scene, site: TerminalParty) -> dict[str, Any]:
    issued = _new_code(site, images=[])
    _scan(scene.app, scene.sign_no, issued["code"])
    _confirm(platform, scene.app, scene.sign_no, issued["code"])
    return _state(site, issued["loginId"])


def test_the_subject_is_stable_per_institution_and_differs_across_institutions(
    platform: Platform, scene: Scene
) -> None:
    same_institution = _site(
        platform, scene.http, scene.province, institution_code=scene.site.institution_code
    )
    elsewhere = _site(platform, scene.http, scene.province)
    first = _login(platform, scene, scene.site)["subject"]
    assert _login(platform, scene, scene.site)["subject"] == first
    assert _login(platform, scene, same_institution)["subject"] == first
    assert _login(platform, scene, elsewhere)["subject"] != first


def test_the_subject_is_the_pseudonym_an_online_code_gives_the_same_institution(
    platform: Platform, scene: Scene
) -> None:
    counter = terminal(platform, scene.http, scene.province, scene.site.institution_code, {"01": "presence"})
    shown = scene.app.client.post(f"/v1/ecards/{scene.sign_no}/qr-codes", {"images": []})["code"]
    resolved = counter.client.post("/v1/qr/resolutions", {"code": shown, "busiType": "01"})
    assert _login(platform, scene, scene.site)["subject"] == resolved["pseudonym"]


def test_a_presence_only_institution_learns_no_name(platform: Platform, scene: Scene) -> None:
    transit = _site(platform, scene.http, scene.province, kind="transit")
    result = _login(platform, scene, transit)
    assert result["subject"] is not None
    assert result["aac003"] is None
    history = scene.app.client.get(f"/v1/ecards/{scene.sign_no}/usages")["usages"]
    assert history[0]["disclosure"] == "presence"


def test_the_sign_level_is_the_one_at_confirmation(platform: Platform, scene: Scene) -> None:
    seq = busi_seq(platform, scene.app, scene.sign_no, "sign_level2")
    scene.app.client.post(f"/v1/ecards/{scene.sign_no}/level2", {"busiSeq": seq})
    assert _login(platform, scene, scene.site)["signLevel"] == 2


def test_the_holder_may_deny(platform: Platform, scene: Scene) -> None:
    issued = _new_code(scene.site, images=[])
    _scan(scene.app, scene.sign_no, issued["code"])

    assert _deny(scene.app, scene.sign_no, issued["code"]) == {
        "loginId": issued["loginId"],
        "status": "denied",
    }

    state = _state(scene.site, issued["loginId"])
    assert state["status"] == "denied"
    assert state["subject"] is None
    assert (
        _problem(lambda: _confirm(platform, scene.app, scene.sign_no, issued["code"]))
        == "login_code_answered"
    )
    assert _problem(lambda: _deny(scene.app, scene.sign_no, issued["code"])) == "login_code_answered"
    assert "login.denied" in _actions(platform)
    assert scene.app.client.get(f"/v1/ecards/{scene.sign_no}/usages")["usages"] == []


def test_a_confirmed_login_cannot_be_confirmed_or_denied_again(platform: Platform, scene: Scene) -> None:
    code = _new_code(scene.site, images=[])["code"]
    _scan(scene.app, scene.sign_no, code)
    _confirm(platform, scene.app, scene.sign_no, code)
    assert _problem(lambda: _confirm(platform, scene.app, scene.sign_no, code)) == "login_code_answered"
    assert _problem(lambda: _deny(scene.app, scene.sign_no, code)) == "login_code_answered"
    assert _problem(lambda: _scan(scene.app, scene.sign_no, code)) == "login_code_answered"


# One holder per code


def test_a_code_is_scanned_by_one_holder_only(platform: Platform, scene: Scene) -> None:
    code = _new_code(scene.site, images=[])["code"]
    _scan(scene.app, scene.sign_no, code)
    other_app, other_sign_no = _second_holder(platform, scene)

    assert _problem(lambda: _scan(other_app, other_sign_no, code)) == "login_code_already_scanned"
    assert (
        _problem(lambda: _confirm(platform, other_app, other_sign_no, code)) == "login_code_already_scanned"
    )
    assert _problem(lambda: _deny(other_app, other_sign_no, code)) == "login_code_already_scanned"
    # The first holder is undisturbed.
    assert _confirm(platform, scene.app, scene.sign_no, code)["status"] == "confirmed"


def test_the_same_holder_scanning_again_in_the_same_app_gets_the_same_answer(
    platform: Platform, scene: Scene
) -> None:
    code = _new_code(scene.site, images=[])["code"]
    first = _scan(scene.app, scene.sign_no, code)
    assert _scan(scene.app, scene.sign_no, code) == first
    assert _actions(platform).count("login.scanned") == 1


def test_the_same_holder_in_another_app_cannot_take_over_a_scanned_code(
    platform: Platform, scene: Scene
) -> None:
    other_app = channel(platform, scene.http)
    other_sign_no = issued_sign_no(platform, other_app, scene.record)
    code = _new_code(scene.site, images=[])["code"]
    _scan(scene.app, scene.sign_no, code)
    assert _problem(lambda: _scan(other_app, other_sign_no, code)) == "login_code_already_scanned"


def test_confirming_or_denying_an_unscanned_code_is_refused(platform: Platform, scene: Scene) -> None:
    issued = _new_code(scene.site, images=[])
    assert (
        _problem(lambda: _confirm(platform, scene.app, scene.sign_no, issued["code"]))
        == "login_code_not_scanned"
    )
    assert _problem(lambda: _deny(scene.app, scene.sign_no, issued["code"])) == "login_code_not_scanned"
    assert _state(scene.site, issued["loginId"])["status"] == "pending"


# The busiSeq and the card


def test_a_busi_seq_of_another_purpose_is_refused_and_the_code_stays_scanned(
    platform: Platform, scene: Scene
) -> None:
    issued = _new_code(scene.site, images=[])
    _scan(scene.app, scene.sign_no, issued["code"])
    query = busi_seq(platform, scene.app, scene.sign_no, "query")

    assert (
        _problem(lambda: _confirm(platform, scene.app, scene.sign_no, issued["code"], query))
        == "busi_seq_invalid"
    )
    assert _problem(lambda: _confirm(platform, scene.app, scene.sign_no, issued["code"], "made-up")) == (
        "busi_seq_invalid"
    )
    assert _state(scene.site, issued["loginId"])["status"] == "scanned"
    assert _confirm(platform, scene.app, scene.sign_no, issued["code"])["status"] == "confirmed"


def test_a_busi_seq_is_spent_by_the_confirmation(platform: Platform, scene: Scene) -> None:
    seq = busi_seq(platform, scene.app, scene.sign_no, "login")
    first, second = _new_code(scene.site, images=[])["code"], _new_code(scene.site, images=[])["code"]
    _scan(scene.app, scene.sign_no, first)
    _scan(scene.app, scene.sign_no, second)
    _confirm(platform, scene.app, scene.sign_no, first, seq)
    assert _problem(lambda: _confirm(platform, scene.app, scene.sign_no, second, seq)) == "busi_seq_invalid"
    with platform.session_factory() as session:
        assert session.execute(select(BusiSeq.used_at)).scalar_one() is not None


def test_another_holders_busi_seq_is_refused(platform: Platform, scene: Scene) -> None:
    code = _new_code(scene.site, images=[])["code"]
    _scan(scene.app, scene.sign_no, code)
    other_app, other_sign_no = _second_holder(platform, scene, scene.app)
    theirs = busi_seq(platform, other_app, other_sign_no, "login")
    assert _problem(lambda: _confirm(platform, scene.app, scene.sign_no, code, theirs)) == "busi_seq_invalid"


def test_the_card_must_be_usable_at_confirmation_but_the_holder_may_still_deny(
    platform: Platform, scene: Scene
) -> None:
    issued = _new_code(scene.site, images=[])
    _scan(scene.app, scene.sign_no, issued["code"])
    seq = busi_seq(platform, scene.app, scene.sign_no, "login")
    card_event(platform, scene.province, scene.record.aaz500, "temporarily_lost")

    assert (
        _problem(lambda: _confirm(platform, scene.app, scene.sign_no, issued["code"], seq))
        == "card_not_active"
    )
    assert _deny(scene.app, scene.sign_no, issued["code"])["status"] == "denied"


def test_an_unusable_card_cannot_scan(platform: Platform, scene: Scene) -> None:
    card_event(platform, scene.province, scene.record.aaz500, "locked")
    code = _new_code(scene.site, images=[])["code"]
    assert _problem(lambda: _scan(scene.app, scene.sign_no, code)) == "card_not_active"


def test_an_unlinked_e_card_cannot_scan(platform: Platform, scene: Scene) -> None:
    seq = busi_seq(platform, scene.app, scene.sign_no, "unlink")
    scene.app.client.post(f"/v1/ecards/{scene.sign_no}/unlink", {"busiSeq": seq})
    code = _new_code(scene.site, images=[])["code"]
    assert _problem(lambda: _scan(scene.app, scene.sign_no, code)) == "ecard_unlinked"


def test_a_sign_no_of_another_channel_is_unknown(platform: Platform, scene: Scene) -> None:
    code = _new_code(scene.site, images=[])["code"]
    other_app = channel(platform, scene.http)
    assert _problem(lambda: _scan(other_app, scene.sign_no, code)) == "sign_no_not_found"


# Codes that are not (or no longer) login codes


def test_unknown_malformed_and_online_codes_have_their_own_errors(platform: Platform, scene: Scene) -> None:
    unknown, _ = new_token_code(CodeKind.LOGIN)
    online = scene.app.client.post(f"/v1/ecards/{scene.sign_no}/qr-codes", {"images": []})["code"]
    assert _problem(lambda: _scan(scene.app, scene.sign_no, unknown)) == "login_code_unknown"
    assert _problem(lambda: _confirm(platform, scene.app, scene.sign_no, unknown)) == "login_code_unknown"
    assert _problem(lambda: _deny(scene.app, scene.sign_no, unknown)) == "login_code_unknown"
    assert _problem(lambda: _scan(scene.app, scene.sign_no, online)) == "wrong_code_kind"
    assert _problem(lambda: _scan(scene.app, scene.sign_no, "ESSC:L9:AAAA")) == "malformed_code"
    assert _problem(lambda: _scan(scene.app, scene.sign_no, "https://example.test/login")) == "malformed_code"


def test_a_login_code_given_to_an_online_code_terminal_is_the_wrong_kind(
    platform: Platform, scene: Scene
) -> None:
    counter = terminal(platform, scene.http, scene.province, scene.site.institution_code, {"01": "masked"})
    code = _new_code(scene.site, images=[])["code"]
    with pytest.raises(PlatformError) as refused:
        counter.client.post("/v1/qr/resolutions", {"code": code, "busiType": "01"})
    assert refused.value.code == "wrong_code_kind"


def test_a_code_expires_after_120_seconds(platform: Platform, clock: FrozenClock, scene: Scene) -> None:
    fresh, stale = _new_code(scene.site, images=[]), _new_code(scene.site, images=[])
    clock.advance(timedelta(seconds=119))
    assert _scan(scene.app, scene.sign_no, fresh["code"])["status"] == "scanned"
    clock.advance(timedelta(seconds=2))
    assert _problem(lambda: _scan(scene.app, scene.sign_no, stale["code"])) == "login_code_expired"
    assert (
        _problem(lambda: _confirm(platform, scene.app, scene.sign_no, fresh["code"])) == "login_code_expired"
    )
    assert _problem(lambda: _deny(scene.app, scene.sign_no, stale["code"])) == "login_code_expired"
    assert _state(scene.site, fresh["loginId"])["status"] == "expired"
    assert _state(scene.site, stale["loginId"])["status"] == "expired"


def test_a_confirmed_result_waits_60_seconds_for_the_site(
    platform: Platform, clock: FrozenClock, scene: Scene
) -> None:
    issued = [_new_code(scene.site, images=[]) for _ in range(2)]
    clock.advance(timedelta(seconds=110))
    for one in issued:
        _scan(scene.app, scene.sign_no, one["code"])
        _confirm(platform, scene.app, scene.sign_no, one["code"])
    clock.advance(timedelta(seconds=59))  # past the code's 120 s, within the result's 60 s
    assert _state(scene.site, issued[0]["loginId"])["status"] == "confirmed"
    clock.advance(timedelta(seconds=2))
    late = _state(scene.site, issued[1]["loginId"])
    assert late["status"] == "expired"
    assert late["subject"] is None


# The site


def test_only_the_terminal_that_made_the_code_learns_its_result(platform: Platform, scene: Scene) -> None:
    issued = _new_code(scene.site, images=[])
    _scan(scene.app, scene.sign_no, issued["code"])
    _confirm(platform, scene.app, scene.sign_no, issued["code"])
    same_institution = _site(
        platform, scene.http, scene.province, institution_code=scene.site.institution_code
    )

    assert _problem(lambda: _state(same_institution, issued["loginId"])) == "login_code_unknown"
    assert _problem(lambda: _state(scene.site, "0" * 26)) == "login_code_unknown"
    assert _state(scene.site, issued["loginId"])["status"] == "confirmed"


def test_a_suspended_institution_can_neither_show_nor_receive_logins(
    platform: Platform, scene: Scene
) -> None:
    code = _new_code(scene.site, images=[])["code"]
    path = f"/v1/provinces/44/institutions/{scene.site.institution_code}/status"
    scene.province.client.put(path, {"status": "suspended", "reason": "audit finding"})
    assert _problem(lambda: _scan(scene.app, scene.sign_no, code)) == "institution_suspended"
    assert _problem(lambda: _new_code(scene.site, images=[])) == "institution_suspended"
    scene.province.client.put(path, {"status": "active", "reason": "rectified"})
    assert _scan(scene.app, scene.sign_no, code)["status"] == "scanned"


def test_a_payload_reveals_nothing_of_the_site_or_the_holder(platform: Platform, scene: Scene) -> None:
    for _ in range(10):
        issued = _new_code(scene.site, images=[])
        body = base64.b32decode(issued["code"].split(":")[2])
        assert len(body) == 20
        assert issued["loginId"] not in issued["code"]
        assert scene.site.terminal_no not in issued["code"]


# Races


def _uow(platform: Platform, kind: str, caller: str) -> UnitOfWork:
    # As the login endpoints declare it (a direct service call has no route to declare it).
    return UnitOfWork(platform, RequestContext(actor=Actor(kind=kind, id=caller), function=Function.LOGIN))


def test_of_many_holders_scanning_one_code_exactly_one_wins(platform: Platform, scene: Scene) -> None:
    code = _new_code(scene.site, images=[])["code"]
    holders = [_second_holder(platform, scene, scene.app)[1] for _ in range(8)]
    from essc.channels.service import of_caller

    def attempt(sign_no: str) -> str:
        with _uow(platform, "channel", scene.app.label) as uow:
            try:
                service.scan(
                    uow, of_caller(uow, scene.app.caller_id), ScanRequest(code=code, sign_no=sign_no)
                )
                uow.commit()
                return "ok"
            except EsscError as exc:
                return exc.code

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = Counter(pool.map(attempt, holders))
    assert outcomes == Counter({"ok": 1, "login_code_already_scanned": 7})


def test_of_many_polls_of_a_confirmed_login_exactly_one_gets_the_holder(
    platform: Platform, scene: Scene
) -> None:
    issued = _new_code(scene.site, images=[])
    _scan(scene.app, scene.sign_no, issued["code"])
    _confirm(platform, scene.app, scene.sign_no, issued["code"])

    def attempt(_: int) -> str:
        with _uow(platform, "terminal", scene.site.label) as uow:
            site, _owner = acting_terminal(uow, scene.site.caller_id)
            state = service.collect(uow, site, issued["loginId"])
            uow.commit()
            return f"{state.status.value}:{state.subject is not None}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = Counter(pool.map(attempt, range(24)))
    assert outcomes == Counter({"confirmed:True": 1, "consumed:False": 23})


def test_a_poll_that_loses_the_race_reads_consumed(platform: Platform, backend: str, scene: Scene) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite runs one write transaction at a time, so no poll can read a result another takes")
    issued = _new_code(scene.site, images=[])
    _scan(scene.app, scene.sign_no, issued["code"])
    _confirm(platform, scene.app, scene.sign_no, issued["code"])
    with (
        _uow(platform, "terminal", scene.site.label) as late,
        _uow(platform, "terminal", scene.site.label) as first,
    ):
        site, _owner = acting_terminal(late, scene.site.caller_id)
        seen = service.own_login(late, site, issued["loginId"])  # the late poll has already read "confirmed"
        assert seen.status == "confirmed"
        assert service.collect(
            first, acting_terminal(first, scene.site.caller_id)[0], issued["loginId"]
        ).subject
        first.commit()
        state = service.collect(late, site, issued["loginId"])
    assert (state.status.value, state.subject) == ("consumed", None)


def _reading(sent: list[str], table: str) -> list[str]:
    return [s for s in sent if re.search(rf"\b(?:FROM|JOIN)\s+{table}\b", s, re.IGNORECASE)]


def test_scan_and_confirm_find_the_channel_with_the_sign_no_in_one_statement(
    platform: Platform, scene: Scene
) -> None:
    code = _new_code(scene.site, images=[])["code"]
    seq = busi_seq(platform, scene.app, scene.sign_no, "login")
    for answer in (
        lambda: _scan(scene.app, scene.sign_no, code),
        lambda: _confirm(platform, scene.app, scene.sign_no, code, seq),
    ):
        with sent_statements(platform) as sent:
            answer()
        assert len(_reading(sent, "channels")) == 1
        assert _reading(sent, "channels") == _reading(sent, "issuances")

"""The holder's other ways in: scan-to-login on the page, app-to-app, a third-generation card at a kiosk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from html import unescape
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from joserfc import jwe, jwt
from joserfc.jwk import KeySet
from oidc_flow import (
    INTERACTION,
    SCAN_LINK,
    app_approval,
    chip_form,
    code_of,
    confirm_in_app,
    kiosk,
    open_page,
    poll,
    push,
    redeem,
    scan_login,
    scan_page,
    scan_page_of,
)
from sqlalchemy import select

from essc.core.platform import Platform
from essc.kit.clock import FrozenClock
from essc.login.models import LoginCode
from essc.oidc.models import Authorization
from essc.shared.policy import Function
from essc_sdk import PlatformError
from factories import (
    KIOSK_PASSWORD,
    app_client,
    busi_seq,
    card_event,
    chip_of,
    holder,
    login_holder,
    operator_uow,
    province,
    relying_party,
)

WITHOUT_LOGIN = tuple(f for f in Function if f is not Function.LOGIN)


@pytest.fixture
def http(platform: Platform) -> TestClient:
    return app_client(platform)


def _problem(call: Callable[[], object]) -> str:
    with pytest.raises(PlatformError) as refused:
        call()
    return refused.value.code


def _methods(platform: Platform) -> list[str]:
    with platform.session_factory() as session:
        rows = session.execute(select(Authorization.auth_method))
        return [method for method in rows.scalars() if method is not None]


def _subject(http: TestClient, platform: Platform, rp: Any, pushed: Any, code: str) -> str:
    tokens = redeem(http, platform, rp, code, pushed.verifier)
    assert tokens.status_code == 200, tokens.text
    keys = KeySet.import_key_set(http.get("/oidc/jwks").json())
    return str(jwt.decode(tokens.json()["id_token"], keys, algorithms=["ES256"]).claims["sub"])


# -- scan-to-login on the page ---------------------------------------------------------------------------


def test_a_scan_login_confirmed_in_the_app_gives_the_holders_tokens(
    platform: Platform, http: TestClient
) -> None:
    person = login_holder(platform, http)
    rp = relying_party(platform)
    pushed, answer = scan_login(http, platform, rp, person.app, person.sign_no)
    assert answer["state"] == pushed.state
    by_scan = _subject(http, platform, rp, pushed, answer["code"])
    kiosk_pushed = push(http, platform, rp)
    by_kiosk = code_of(kiosk(http, open_page(http, rp, kiosk_pushed), person.essc_no))
    assert by_scan == _subject(http, platform, rp, kiosk_pushed, by_kiosk["code"])  # the same holder
    assert sorted(_methods(platform)) == ["kiosk_password", "scan"]


def test_the_page_shows_the_code_and_waits_until_the_app_confirms(
    platform: Platform, http: TestClient
) -> None:
    person = login_holder(platform, http)
    rp = relying_party(platform)
    page = scan_page(http, rp, push(http, platform, rp))
    assert page.code.startswith("ESSC:L1:")
    assert "<svg" in page.html
    waiting = poll(http, page)
    assert waiting.status_code == 200
    assert 'http-equiv="refresh"' in waiting.text
    assert "<svg" in waiting.text  # the code is shown again while the holder has not confirmed
    assert waiting.headers["referrer-policy"] == "no-referrer"
    person.app.client.post("/v1/login-codes/scan", {"code": page.code, "signNo": person.sign_no})
    scanned = poll(http, page)
    assert scanned.status_code == 200
    assert 'http-equiv="refresh"' in scanned.text
    assert "<svg" not in scanned.text  # scanned: the code is not rendered at every poll any more
    seq = busi_seq(platform, person.app, person.sign_no, "login")
    person.app.client.post(
        "/v1/login-codes/confirm", {"code": page.code, "signNo": person.sign_no, "busiSeq": seq}
    )
    code_of(poll(http, page))


def test_the_app_sees_the_relying_partys_name_when_it_scans(platform: Platform, http: TestClient) -> None:
    person = login_holder(platform, http)
    rp = relying_party(platform)
    page = scan_page(http, rp, push(http, platform, rp))
    scanned = person.app.client.post("/v1/login-codes/scan", {"code": page.code, "signNo": person.sign_no})
    assert scanned["relyingParty"] == rp.client_id
    assert scanned["institution"].startswith("Relying party")
    assert "terminalKind" not in scanned


def test_an_expired_scan_code_is_named_and_a_new_one_can_be_shown(
    platform: Platform, http: TestClient, clock: FrozenClock
) -> None:
    person = login_holder(platform, http)
    rp = relying_party(platform)
    page = scan_page(http, rp, push(http, platform, rp))
    clock.advance(timedelta(seconds=platform.settings.login_code_ttl_seconds + 1))
    expired = poll(http, page)
    assert expired.status_code == 410
    assert "renew=yes" in expired.text
    renewed = http.get(page.poll + "&renew=yes")
    assert renewed.status_code == 200
    fresh = scan_page_of(renewed.text)
    assert fresh.code != page.code
    confirm_in_app(platform, person.app, person.sign_no, fresh.code)
    code_of(poll(http, fresh))


def test_a_scan_code_refused_in_the_app_is_named(platform: Platform, http: TestClient) -> None:
    person = login_holder(platform, http)
    rp = relying_party(platform)
    page = scan_page(http, rp, push(http, platform, rp))
    person.app.client.post("/v1/login-codes/scan", {"code": page.code, "signNo": person.sign_no})
    person.app.client.post("/v1/login-codes/deny", {"code": page.code, "signNo": person.sign_no})
    denied = poll(http, page)
    assert denied.status_code == 403
    assert "refused" in denied.text


def test_finishing_an_unconfirmed_scan_code_is_named(platform: Platform, http: TestClient) -> None:
    login_holder(platform, http)
    rp = relying_party(platform)
    page = scan_page(http, rp, push(http, platform, rp))
    early = http.post("/oidc/authorize/scan", data={"interaction": page.interaction}, follow_redirects=False)
    assert early.status_code == 409
    assert "confirm the login" in early.text


def test_a_finished_scan_login_replayed_is_named(platform: Platform, http: TestClient) -> None:
    person = login_holder(platform, http)
    rp = relying_party(platform)
    page = scan_page(http, rp, push(http, platform, rp))
    confirm_in_app(platform, person.app, person.sign_no, page.code)
    code_of(poll(http, page))
    replayed = poll(http, page)
    assert replayed.status_code == 409
    assert "used already" in replayed.text
    again = http.post("/oidc/authorize/scan", data={"interaction": page.interaction}, follow_redirects=False)
    assert again.status_code == 409


def test_a_code_confirmed_for_one_request_cannot_finish_another(platform: Platform, http: TestClient) -> None:
    person = login_holder(platform, http)
    rp = relying_party(platform)
    first = scan_page(http, rp, push(http, platform, rp))
    second = scan_page(http, rp, push(http, platform, rp))
    confirm_in_app(platform, person.app, person.sign_no, first.code)
    # The second page shown with the first page's (confirmed) code still waits for its own.
    swapped = http.get(
        "/oidc/authorize/scan",
        params={"interaction": second.interaction, "code": first.code},
        follow_redirects=False,
    )
    assert swapped.status_code == 200
    assert "<svg" not in swapped.text  # another request's code is not shown as this one's
    assert (
        http.post(
            "/oidc/authorize/scan", data={"interaction": second.interaction}, follow_redirects=False
        ).status_code
        == 409
    )
    code_of(poll(http, first))


def test_only_a_channel_authorised_for_login_confirms_a_scan_code(
    platform: Platform, http: TestClient
) -> None:
    person = login_holder(platform, http, functions=WITHOUT_LOGIN)
    rp = relying_party(platform)
    page = scan_page(http, rp, push(http, platform, rp))
    refused = _problem(
        lambda: person.app.client.post("/v1/login-codes/scan", {"code": page.code, "signNo": person.sign_no})
    )
    assert refused == "function_not_authorised"
    assert poll(http, page).status_code == 200  # still waiting


def test_a_scan_login_asks_the_holder_to_consent_to_the_clear_id_number(
    platform: Platform, http: TestClient
) -> None:
    person = login_holder(platform, http)
    rp = relying_party(platform, clear_id_number=True, scopes=("openid", "id_number"))
    pushed = push(http, platform, rp, "openid id_number")
    page = scan_page(http, rp, pushed)
    assert "consent_id_number" in page.html
    confirm_in_app(platform, person.app, person.sign_no, page.code)
    consent = poll(http, page)
    assert consent.status_code == 200
    assert 'name="consent_id_number"' in consent.text
    answer = code_of(
        http.post(
            "/oidc/authorize/scan",
            data={"interaction": page.interaction, "consent_id_number": "yes"},
            follow_redirects=False,
        )
    )
    tokens = redeem(http, platform, rp, answer["code"], pushed.verifier).json()
    info = http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    opened = jwe.decrypt_compact(info.text, rp.encryption)
    assert orjson.loads(opened.plaintext or b"{}")["id_number"] == person.record.aac002


def test_a_scan_login_of_another_provinces_holder_is_refused(platform: Platform, http: TestClient) -> None:
    person = login_holder(platform, http, holder("44"))
    rp = relying_party(platform, province="11")
    page = scan_page(http, rp, push(http, platform, rp))
    confirm_in_app(platform, person.app, person.sign_no, page.code)
    refused = poll(http, page)
    assert refused.status_code == 400
    assert "province 11" in refused.text


def test_a_card_lost_after_the_confirmation_logs_nobody_in(platform: Platform, http: TestClient) -> None:
    person = login_holder(platform, http, holder("44"))
    rp = relying_party(platform)
    page = scan_page(http, rp, push(http, platform, rp))
    confirm_in_app(platform, person.app, person.sign_no, page.code)
    card_event(platform, province(platform, http), person.record.aaz500, "lost")
    assert poll(http, page).status_code == 403


def test_scan_logins_are_rate_limited_per_source(platform: Platform, http: TestClient) -> None:
    platform.settings.oidc_logins_per_minute_per_source = 2
    person = login_holder(platform, http)
    rp = relying_party(platform)
    for _ in range(2):
        scan_login(http, platform, rp, person.app, person.sign_no)
    page = scan_page(http, rp, push(http, platform, rp))
    confirm_in_app(platform, person.app, person.sign_no, page.code)
    assert poll(http, page).status_code == 429


# -- app-to-app ----------------------------------------------------------------------------------------------


def test_a_channel_app_approves_a_pushed_request_and_gets_the_redirect(
    platform: Platform, http: TestClient
) -> None:
    person = login_holder(platform, http)
    rp = relying_party(platform)
    pushed = push(http, platform, rp)
    approved = app_approval(platform, person.app, rp, pushed, person.sign_no)
    answer = code_of(
        type("Redirect", (), {"status_code": 303, "headers": {"location": approved["redirectUrl"]}})
    )
    assert answer["state"] == pushed.state
    _subject(http, platform, rp, pushed, answer["code"])
    assert _methods(platform) == ["app"]


def test_an_approved_request_uri_is_spent(platform: Platform, http: TestClient) -> None:
    person = login_holder(platform, http)
    rp = relying_party(platform)
    pushed = push(http, platform, rp)
    app_approval(platform, person.app, rp, pushed, person.sign_no)
    page = http.get("/oidc/authorize", params={"client_id": rp.client_id, "request_uri": pushed.request_uri})
    assert page.status_code == 400
    again = _problem(lambda: app_approval(platform, person.app, rp, pushed, person.sign_no))
    assert again == "authorization_request_unknown"


def test_a_request_whose_page_was_opened_cannot_be_approved_in_an_app(
    platform: Platform, http: TestClient
) -> None:
    person = login_holder(platform, http)
    rp = relying_party(platform)
    pushed = push(http, platform, rp)
    open_page(http, rp, pushed)
    refused = _problem(lambda: app_approval(platform, person.app, rp, pushed, person.sign_no))
    assert refused == "authorization_request_unknown"


def test_an_expired_or_another_clients_request_cannot_be_approved(
    platform: Platform, http: TestClient, clock: FrozenClock
) -> None:
    person = login_holder(platform, http)
    rp, other = relying_party(platform), relying_party(platform)
    pushed = push(http, platform, rp)
    stolen = _problem(lambda: app_approval(platform, person.app, other, pushed, person.sign_no))
    assert stolen == "authorization_request_unknown"
    clock.advance(timedelta(seconds=61))
    late = _problem(lambda: app_approval(platform, person.app, rp, pushed, person.sign_no))
    assert late == "authorization_request_unknown"


def test_only_a_channel_authorised_for_login_approves(platform: Platform, http: TestClient) -> None:
    person = login_holder(platform, http, functions=WITHOUT_LOGIN)
    rp = relying_party(platform)
    pushed = push(http, platform, rp)
    refused = _problem(lambda: app_approval(platform, person.app, rp, pushed, person.sign_no))
    assert refused == "function_not_authorised"


def test_an_app_approves_only_for_its_own_active_e_card(platform: Platform, http: TestClient) -> None:
    person, other = login_holder(platform, http), login_holder(platform, http)
    rp = relying_party(platform)
    pushed = push(http, platform, rp)
    seq = busi_seq(platform, other.app, other.sign_no, "login")
    foreign = _problem(lambda: app_approval(platform, person.app, rp, pushed, other.sign_no, busiSeq=seq))
    assert foreign == "sign_no_not_found"
    unlink = busi_seq(platform, person.app, person.sign_no, "unlink")
    person.app.client.post(f"/v1/ecards/{person.sign_no}/unlink", {"busiSeq": unlink})
    unlinked = _problem(lambda: app_approval(platform, person.app, rp, pushed, person.sign_no))
    assert unlinked == "ecard_unlinked"


def test_an_app_approval_needs_a_busi_seq_of_purpose_login(platform: Platform, http: TestClient) -> None:
    person = login_holder(platform, http)
    rp = relying_party(platform)
    pushed = push(http, platform, rp)
    seq = busi_seq(platform, person.app, person.sign_no, "query")
    refused = _problem(lambda: app_approval(platform, person.app, rp, pushed, person.sign_no, busiSeq=seq))
    assert refused == "busi_seq_invalid"
    app_approval(platform, person.app, rp, pushed, person.sign_no)  # the refusal spent nothing


def test_an_app_approval_for_a_relying_party_of_another_province_is_refused(
    platform: Platform, http: TestClient
) -> None:
    person = login_holder(platform, http, holder("44"))
    rp = relying_party(platform, province="11")
    pushed = push(http, platform, rp)
    refused = _problem(lambda: app_approval(platform, person.app, rp, pushed, person.sign_no))
    assert refused == "relying_party_refused"


def test_app_approvals_are_rate_limited_per_relying_party(platform: Platform, http: TestClient) -> None:
    platform.settings.oidc_logins_per_minute_per_client = 1
    person = login_holder(platform, http)
    rp = relying_party(platform)
    app_approval(platform, person.app, rp, push(http, platform, rp), person.sign_no)
    pushed = push(http, platform, rp)
    assert _problem(lambda: app_approval(platform, person.app, rp, pushed, person.sign_no)) == (
        "app_logins_limited"
    )


# -- a third-generation card and the e-card password at a kiosk ----------------------------------------------


def _page_html(http: TestClient, platform: Platform, rp: Any) -> str:
    pushed = push(http, platform, rp)
    page = http.get("/oidc/authorize", params={"client_id": rp.client_id, "request_uri": pushed.request_uri})
    return page.text


def _chip(http: TestClient, form: dict[str, str]) -> Any:
    return http.post("/oidc/authorize/chip", data=form, follow_redirects=False)


def test_a_third_generation_card_and_the_password_log_the_holder_in(
    platform: Platform, http: TestClient
) -> None:
    person = login_holder(platform, http, holder(generation=3))
    chip = chip_of(platform, http, person.record)
    rp = relying_party(platform)
    pushed = push(http, platform, rp)
    page = http.get("/oidc/authorize", params={"client_id": rp.client_id, "request_uri": pushed.request_uri})
    answer = code_of(_chip(http, chip_form(page.text, chip, person.record.aab301)))
    assert answer["state"] == pushed.state
    _subject(http, platform, rp, pushed, answer["code"])
    assert _methods(platform) == ["kiosk_chip"]


def _strip_request_id(answer: Any) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("x-request-id", "date")}
    return answer.status_code, answer.content, headers


def test_unknown_card_bad_signature_wrong_password_and_lockout_get_identical_answers(
    platform: Platform, http: TestClient
) -> None:
    from essc.chips.sandbox import SandboxCardChip

    person = login_holder(platform, http, holder(generation=3))
    chip = chip_of(platform, http, person.record)
    second = login_holder(platform, http, holder(generation=2))
    rp = relying_party(platform)
    html = _page_html(http, platform, rp)
    aab301 = person.record.aab301
    for _ in range(platform.settings.password_max_failures):
        _chip(http, chip_form(html, chip, aab301, "000000"))
    unknown = _chip(http, chip_form(html, chip, aab301, aaz500="Z00000000"))
    forged = _chip(http, chip_form(html, SandboxCardChip(chip.aaz500, chip.aaz501), aab301))
    no_chip = _chip(http, chip_form(html, SandboxCardChip(second.record.aaz500, "1"), second.record.aab301))
    locked = _chip(http, chip_form(html, chip, aab301))  # the right card and password, but locked
    wrong = _chip(http, chip_form(html, chip, aab301, "111111"))
    answers = [_strip_request_id(a) for a in (unknown, forged, no_chip, locked, wrong)]
    assert all(a == answers[0] for a in answers), [a[0] for a in answers]
    assert unknown.status_code == 403


def test_a_chip_signature_over_another_pages_challenge_is_refused(
    platform: Platform, http: TestClient
) -> None:
    person = login_holder(platform, http, holder(generation=3))
    chip = chip_of(platform, http, person.record)
    rp = relying_party(platform)
    first, second = _page_html(http, platform, rp), _page_html(http, platform, rp)
    signed_for_first = chip_form(first, chip, person.record.aab301)
    interaction = INTERACTION.search(second)
    assert interaction is not None
    moved = _chip(http, signed_for_first | {"interaction": interaction.group(1)})
    assert moved.status_code == 403
    code_of(_chip(http, chip_form(second, chip, person.record.aab301)))


def test_chip_logins_are_rate_limited_per_source(platform: Platform, http: TestClient) -> None:
    platform.settings.oidc_logins_per_minute_per_source = 2
    person = login_holder(platform, http, holder(generation=3))
    chip = chip_of(platform, http, person.record)
    rp = relying_party(platform)
    html = _page_html(http, platform, rp)
    for _ in range(2):
        _chip(http, chip_form(html, chip, person.record.aab301, "000000"))
    assert _chip(http, chip_form(html, chip, person.record.aab301, KIOSK_PASSWORD)).status_code == 429


def test_a_scan_code_is_bound_to_its_relying_party_in_the_login_domain(
    platform: Platform, http: TestClient
) -> None:
    login_holder(platform, http)
    rp = relying_party(platform)
    scan_page(http, rp, push(http, platform, rp))
    with operator_uow(platform) as uow:
        row = uow.session.execute(select(LoginCode)).scalar_one()
        assert (row.relying_party, row.terminal_id, row.institution_id) == (rp.client_id, None, None)


def test_after_a_kiosk_refusal_the_page_offers_a_new_scan_code(platform: Platform, http: TestClient) -> None:
    person = login_holder(platform, http)
    rp = relying_party(platform)
    page = scan_page(http, rp, push(http, platform, rp))
    refused = kiosk(http, page.interaction, person.essc_no, "000000")
    assert refused.status_code == 403
    assert "<svg" not in refused.text  # the page keeps no code payload to show again
    link = SCAN_LINK.search(refused.text)
    assert link is not None
    assert "renew=yes" in link.group(1)
    shown = http.get(unescape(link.group(1)))
    assert shown.status_code == 200
    fresh = scan_page_of(shown.text)
    assert fresh.code != page.code
    confirm_in_app(platform, person.app, person.sign_no, fresh.code)
    code_of(poll(http, fresh))


@pytest.mark.parametrize("shown", ["not a code", "ESSC:1:AAAA", "ESSC:L1:" + "A" * 32])
def test_the_waiting_page_shows_no_code_but_its_own(platform: Platform, http: TestClient, shown: str) -> None:
    login_holder(platform, http)
    rp = relying_party(platform)
    page = scan_page(http, rp, push(http, platform, rp))
    waiting = http.get("/oidc/authorize/scan", params={"interaction": page.interaction, "code": shown})
    assert waiting.status_code == 200
    assert "<svg" not in waiting.text

"""E-card password (set, change, reset, lockout) and busiSeq one-time tokens."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from essc.core.platform import Platform
from essc.ecards import passwords
from essc.ecards.errors import WeakPassword
from essc.ecards.models import EcardPassword
from essc.kit.clock import FrozenClock
from essc.kit.errors import InvalidInput
from essc_sdk import PlatformError
from factories import Party, app_client, attestation, channel, holder, issue_request, load

GOOD_PIN = "739251"


def _issued(platform: Platform, **holder_changes: object) -> tuple[Party, str, str]:
    record = holder(**holder_changes)
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)
    sign_no = app.client.post("/v1/ecards/issuance", issue_request(platform, record))["signNo"]
    return app, sign_no, record.aac002


def _busi_seq(app: Party, sign_no: str, purpose: str, pin: str = GOOD_PIN) -> str:
    body = {"purpose": purpose, "method": "password", "password": pin}
    return str(app.client.post(f"/v1/ecards/{sign_no}/busi-seqs", body)["busiSeq"])


def test_password_is_stored_as_slow_salted_hash_never_in_clear(platform: Platform) -> None:
    app, sign_no, _ = _issued(platform)
    app.client.put(f"/v1/ecards/{sign_no}/password", {"password": GOOD_PIN})
    with platform.session_factory() as session:
        row = session.execute(select(EcardPassword)).scalar_one()
    assert row.password_hash.startswith("$argon2id$")
    assert GOOD_PIN not in row.password_hash


@pytest.mark.parametrize("pin", ["123456", "654321", "111111", "121212", "123123", "12345", "abcdef"])
def test_weak_or_malformed_passwords_are_refused(platform: Platform, pin: str) -> None:
    app, sign_no, _ = _issued(platform)
    with pytest.raises(PlatformError) as refused:
        app.client.put(f"/v1/ecards/{sign_no}/password", {"password": pin})
    assert refused.value.code in {"weak_password", "invalid_input"}


def test_birth_date_password_is_refused(platform: Platform) -> None:
    app, sign_no, aac002 = _issued(platform)
    birth_yymmdd = aac002[8:14]
    with pytest.raises(PlatformError) as refused:
        app.client.put(f"/v1/ecards/{sign_no}/password", {"password": birth_yymmdd})
    assert refused.value.code == "weak_password"


def test_password_can_be_set_once_then_changed(platform: Platform) -> None:
    app, sign_no, _ = _issued(platform)
    app.client.put(f"/v1/ecards/{sign_no}/password", {"password": GOOD_PIN})
    with pytest.raises(PlatformError) as again:
        app.client.put(f"/v1/ecards/{sign_no}/password", {"password": "836402"})
    assert again.value.code == "password_already_set"

    app.client.post(
        f"/v1/ecards/{sign_no}/password/change", {"oldPassword": GOOD_PIN, "newPassword": "836402"}
    )
    assert _busi_seq(app, sign_no, "login", pin="836402")


def test_password_is_valid_in_every_channel(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    one, two = channel(platform, http), channel(platform, http)
    first = one.client.post("/v1/ecards/issuance", issue_request(platform, record))["signNo"]
    second = two.client.post("/v1/ecards/issuance", issue_request(platform, record))["signNo"]
    one.client.put(f"/v1/ecards/{first}/password", {"password": GOOD_PIN})
    assert _busi_seq(two, second, "login")


def test_lockout_after_repeated_failures_and_unlock_by_face_reset(
    platform: Platform, clock: FrozenClock
) -> None:
    app, sign_no, _ = _issued(platform)
    app.client.put(f"/v1/ecards/{sign_no}/password", {"password": GOOD_PIN})
    codes = []
    for _ in range(platform.settings.password_max_failures):
        with pytest.raises(PlatformError) as wrong:
            _busi_seq(app, sign_no, "login", pin="000001")
        codes.append(wrong.value.code)
    assert codes[:-1] == ["wrong_password"] * (len(codes) - 1)
    assert codes[-1] == "password_locked"
    with pytest.raises(PlatformError) as locked:
        _busi_seq(app, sign_no, "login")  # even the right password is refused while locked
    assert locked.value.code == "password_locked"

    face = {"purpose": "password_reset", "method": "face", "attestation": attestation(platform)}
    token = app.client.post(f"/v1/ecards/{sign_no}/busi-seqs", face)["busiSeq"]
    app.client.post(f"/v1/ecards/{sign_no}/password/reset", {"busiSeq": token, "newPassword": "582914"})
    assert _busi_seq(app, sign_no, "login", pin="582914")


def test_lockout_ends_by_itself(platform: Platform, clock: FrozenClock) -> None:
    app, sign_no, _ = _issued(platform)
    app.client.put(f"/v1/ecards/{sign_no}/password", {"password": GOOD_PIN})
    for _ in range(platform.settings.password_max_failures):
        with pytest.raises(PlatformError):
            _busi_seq(app, sign_no, "login", pin="000001")
    clock.advance(timedelta(minutes=platform.settings.password_lockout_minutes + 1))
    assert _busi_seq(app, sign_no, "login")


def test_password_reset_needs_a_face_check(platform: Platform) -> None:
    app, sign_no, _ = _issued(platform)
    app.client.put(f"/v1/ecards/{sign_no}/password", {"password": GOOD_PIN})
    with pytest.raises(PlatformError) as refused:
        _busi_seq(app, sign_no, "password_reset")
    assert refused.value.code == "invalid_input"


def test_busi_seq_is_single_use(platform: Platform) -> None:
    app, sign_no, _ = _issued(platform)
    app.client.put(f"/v1/ecards/{sign_no}/password", {"password": GOOD_PIN})
    token = _busi_seq(app, sign_no, "sign_level2")
    app.client.post(f"/v1/ecards/{sign_no}/level2", {"busiSeq": token})
    with pytest.raises(PlatformError) as reused:
        app.client.post(f"/v1/ecards/{sign_no}/level2", {"busiSeq": token})
    assert reused.value.code == "busi_seq_invalid"


def test_busi_seq_expires(platform: Platform, clock: FrozenClock) -> None:
    app, sign_no, _ = _issued(platform)
    app.client.put(f"/v1/ecards/{sign_no}/password", {"password": GOOD_PIN})
    token = _busi_seq(app, sign_no, "sign_level2")
    clock.advance(timedelta(seconds=platform.settings.busi_seq_ttl_seconds + 1))
    with pytest.raises(PlatformError) as expired:
        app.client.post(f"/v1/ecards/{sign_no}/level2", {"busiSeq": token})
    assert expired.value.code == "busi_seq_invalid"


def test_busi_seq_is_bound_to_purpose_and_channel(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    one, two = channel(platform, http), channel(platform, http)
    first = one.client.post("/v1/ecards/issuance", issue_request(platform, record))["signNo"]
    second = two.client.post("/v1/ecards/issuance", issue_request(platform, record))["signNo"]
    one.client.put(f"/v1/ecards/{first}/password", {"password": GOOD_PIN})

    for_login = _busi_seq(one, first, "login")
    with pytest.raises(PlatformError) as wrong_purpose:
        one.client.post(f"/v1/ecards/{first}/level2", {"busiSeq": for_login})
    assert wrong_purpose.value.code == "busi_seq_invalid"

    for_level2 = _busi_seq(one, first, "sign_level2")
    with pytest.raises(PlatformError) as wrong_channel:
        two.client.post(f"/v1/ecards/{second}/level2", {"busiSeq": for_level2})
    assert wrong_channel.value.code == "busi_seq_invalid"


def test_level2_needs_an_active_bank_account(platform: Platform) -> None:
    app, sign_no, _ = _issued(platform, bank_account_active=False)
    app.client.put(f"/v1/ecards/{sign_no}/password", {"password": GOOD_PIN})
    token = _busi_seq(app, sign_no, "sign_level2")
    with pytest.raises(PlatformError) as refused:
        app.client.post(f"/v1/ecards/{sign_no}/level2", {"busiSeq": token})
    assert refused.value.code == "bank_account_inactive"


def test_level2_then_unlink_only_affects_one_channel(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    one, two = channel(platform, http), channel(platform, http)
    first = one.client.post("/v1/ecards/issuance", issue_request(platform, record))["signNo"]
    second = two.client.post("/v1/ecards/issuance", issue_request(platform, record))["signNo"]
    one.client.put(f"/v1/ecards/{first}/password", {"password": GOOD_PIN})

    upgraded = one.client.post(
        f"/v1/ecards/{first}/level2", {"busiSeq": _busi_seq(one, first, "sign_level2")}
    )
    assert upgraded["signLevel"] == 2
    unlinked = one.client.post(f"/v1/ecards/{first}/unlink", {"busiSeq": _busi_seq(one, first, "unlink")})
    assert unlinked["status"] == "unlinked"
    assert unlinked["usable"] is False
    assert two.client.get(f"/v1/ecards/{second}")["usable"] is True
    with pytest.raises(PlatformError) as gone:
        _busi_seq(one, first, "login")
    assert gone.value.code == "ecard_unlinked"

    again = one.client.post("/v1/ecards/issuance", issue_request(platform, record))
    assert again["signNo"] == first
    assert again["created"] is True
    assert again["signLevel"] == 1


def test_another_channels_sign_no_is_not_found(platform: Platform) -> None:
    _app, sign_no, _ = _issued(platform)
    other = channel(platform, app_client(platform))
    with pytest.raises(PlatformError) as missing:
        other.client.get(f"/v1/ecards/{sign_no}")
    assert missing.value.status == 404
    assert missing.value.code == "sign_no_not_found"


@pytest.mark.parametrize(
    "password",
    [
        "²³⁴⁵⁶⁷",  # superscripts: str.isdigit() takes them, int() does not
        "٨٠٢٤١٧",  # Arabic-Indic digits
        "８０２４１７",  # full-width digits
        "80241７",
        "80241",
        "8024170",
    ],
)
def test_a_new_password_is_six_ascii_digits_or_invalid_input(platform: Platform, password: str) -> None:
    app, sign_no, _ = _issued(platform)

    response = app.client.raw("PUT", f"/v1/ecards/{sign_no}/password", {"password": password})

    assert (response.status_code, response.json()["code"]) == (422, "invalid_input")


@given(st.text(max_size=8))
def test_any_text_is_an_acceptable_password_or_refused_by_name(pin: str) -> None:
    birth = date(1985, 3, 1)
    if re.fullmatch("[0-9]{6}", pin) is None:
        with pytest.raises(InvalidInput, match="exactly 6 digits 0-9"):
            passwords.check_new_password(pin, birth)
    elif passwords.weakness(pin, birth) is not None:
        with pytest.raises(WeakPassword):
            passwords.check_new_password(pin, birth)
    else:
        assert passwords.check_new_password(pin, birth) is None

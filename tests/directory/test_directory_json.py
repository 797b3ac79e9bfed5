"""The public list of channel apps matches the authorisations in force on the very next request."""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient

from essc.authorisations import service as authorisations
from essc.channels import service as channels
from essc.core.platform import Platform
from essc.shared.callers import Environment
from essc.shared.policy import NATIONAL, Function
from factories import app_client, channel, ministry, operator_uow, province

_numbers = itertools.count(4400800001)


def _apps(http: TestClient, code: str = "44") -> dict[str, list[str]]:
    """The province's list as {channelNo: functions}, read anonymously."""
    answer = http.get(f"/v1/public/provinces/{code}/channel-apps")
    assert answer.status_code == 200, answer.text
    return {app["channelNo"]: app["functions"] for app in answer.json()["channelApps"]}


def _no(party: Any) -> str:
    return str(party.label).removeprefix("channel/")


def _registered(
    platform: Platform,
    name: str,
    *,
    organisation: str = "Org",
    channel_type: channels.ChannelType = channels.ChannelType.BANK,
    functions: tuple[Function, ...] = (Function.QR,),
    go_live: bool = True,
) -> str:
    """A channel certified for `functions`, granted them nationally, enabled in 44; live or only certified."""
    key = platform.suite.generate_private_key()
    number = str(next(_numbers))
    with operator_uow(platform) as uow:
        row = channels.register(
            uow,
            number,
            name,
            channel_type,
            public_key=key.public_key().to_pem(),
            key_id="k1",
            webhook_url=None,
            organisation=organisation,
        )
        if go_live:
            channels.commission(uow, row, functions, attested_by="tests")
        else:
            now = uow.clock.now()
            for function in functions:
                channels.record_certification(
                    uow,
                    row,
                    function,
                    Environment.PRODUCTION,
                    passed_at=now,
                    expires_at=now.replace(year=now.year + 1),
                    key_fingerprint=key.public_key().fingerprint(),
                    report_ref="tests",
                )
            channels.set_status(uow, row, channels.ChannelStatus.TESTING)
            channels.set_status(uow, row, channels.ChannelStatus.CERTIFIED)
        for function in functions:
            authorisations.set_grant(uow, row, NATIONAL, function, "active", by="operator/tests")
            authorisations.set_business_item(uow, "44", function, True, by="operator/tests")
        uow.commit()
    return number


def test_a_national_grant_shows_in_every_province_that_enabled_the_function(platform: Platform) -> None:
    http = app_client(platform)
    app = channel(platform, http, functions=[Function.QR, Function.LOGIN], provinces=("44", "11"))
    number = _no(app)
    assert _apps(http, "44")[number] == ["login", "qr"]
    assert _apps(http, "11")[number] == ["login", "qr"]
    assert number not in _apps(http, "31")

    shanghai = province(platform, http, "31")
    shanghai.client.put("/v1/provinces/31/business-items/qr", {"enabled": True})
    assert _apps(http, "31")[number] == ["qr"]

    answer = http.get("/v1/public/provinces/44/channel-apps").json()
    assert answer["province"] == "44"
    assert answer["provinceName"] == "广东省"
    listed = next(a for a in answer["channelApps"] if a["channelNo"] == number)
    assert listed == {
        "channelNo": number,
        "name": f"Channel {number}",
        "organisation": "",
        "channelType": "hrss_app",
        "level": 1,
        "functions": ["login", "qr"],
    }


def test_a_province_grant_shows_only_in_that_province(platform: Platform) -> None:
    http = app_client(platform)
    registry = ministry(platform, http)
    app = channel(platform, http, functions=[Function.ISSUANCE], provinces=("44", "11"))
    number = _no(app)
    registry.client.call("DELETE", f"/v1/ministry/channels/{number}/authorisations/issuance", None)
    assert number not in _apps(http, "44")
    assert number not in _apps(http, "11")

    guangdong = province(platform, http, "44")
    guangdong.client.put(f"/v1/provinces/44/channel-authorisations/{number}/issuance", {"status": "active"})
    assert _apps(http, "44")[number] == ["issuance"]
    assert number not in _apps(http, "11")


def test_every_withdrawal_disappears_on_the_very_next_request(platform: Platform) -> None:
    http = app_client(platform)
    registry = ministry(platform, http)
    guangdong, beijing = province(platform, http, "44"), province(platform, http, "11")
    app = channel(platform, http, functions=[Function.QR, Function.ISSUANCE], provinces=("44", "11"))
    other = channel(platform, http, functions=[Function.QR], provinces=("44",))
    number = _no(app)
    assert _apps(http)[number] == ["issuance", "qr"]

    # A province suspends one function of the channel: gone there, still in force elsewhere.
    guangdong.client.put(f"/v1/provinces/44/channel-authorisations/{number}/qr", {"status": "suspended"})
    assert _apps(http)[number] == ["issuance"]
    assert _apps(http, "11")[number] == ["issuance", "qr"]
    # The province disables the other business item: nothing left for the channel, nor for others of it.
    guangdong.client.put("/v1/provinces/44/business-items/issuance", {"enabled": False})
    assert number not in _apps(http)
    guangdong.client.put("/v1/provinces/44/business-items/issuance", {"enabled": True})
    guangdong.client.call("DELETE", f"/v1/provinces/44/channel-authorisations/{number}/qr", None)
    assert _apps(http)[number] == ["issuance", "qr"]

    # The ministry suspends a function nationally: gone in every province.
    registry.client.put(f"/v1/ministry/channels/{number}/authorisations/qr", {"status": "suspended"})
    assert _apps(http)[number] == ["issuance"]
    assert _apps(http, "11")[number] == ["issuance"]
    registry.client.put(f"/v1/ministry/channels/{number}/authorisations/qr", {"status": "active"})

    # The channel itself: suspended, back, terminated.
    registry.client.put(f"/v1/ministry/channels/{number}/status", {"status": "suspended", "reason": "risk"})
    assert number not in _apps(http)
    assert number not in _apps(http, "11")
    assert _no(other) in _apps(http)
    beijing.client.put("/v1/provinces/11/business-items/qr", {"enabled": True})
    registry.client.put(f"/v1/ministry/channels/{number}/status", {"status": "active"})
    assert _apps(http)[number] == ["issuance", "qr"]
    registry.client.put(f"/v1/ministry/channels/{number}/status", {"status": "terminated"})
    assert number not in _apps(http)
    assert number not in _apps(http, "11")
    assert _no(other) in _apps(http)


def test_a_channel_that_serves_only_the_sandbox_is_not_listed_until_it_goes_live(platform: Platform) -> None:
    http = app_client(platform)
    registry = ministry(platform, http)
    number = _registered(platform, "Sandbox bank", go_live=False)
    assert number not in _apps(http)
    registry.client.put(f"/v1/ministry/channels/{number}/status", {"status": "active"})
    assert _apps(http)[number] == ["qr"]


def test_all_provinces_in_one_answer(platform: Platform) -> None:
    http = app_client(platform)
    app = channel(platform, http, functions=[Function.QR], provinces=("44",))
    answer = http.get("/v1/public/channel-apps")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    by_code = {p["province"]: p for p in answer.json()["provinces"]}
    assert len(by_code) == 34
    assert by_code["11"]["provinceName"] == "北京市"
    assert [a["channelNo"] for a in by_code["44"]["channelApps"]] == [_no(app)]
    assert by_code["44"] == http.get("/v1/public/provinces/44/channel-apps").json()
    assert by_code["11"]["channelApps"] == []


def test_an_unknown_province_is_a_problem_with_a_stable_code(platform: Platform) -> None:
    http = app_client(platform)
    for code in ("99", "00", "4", "guangdong"):
        answer = http.get(f"/v1/public/provinces/{code}/channel-apps")
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert problem["code"] == "unknown_province"
        assert problem["province"] == code
        assert "GET /v1/regions" in problem["detail"]


def test_anonymous_reads_are_neither_signed_nor_idempotency_checked(platform: Platform) -> None:
    http = app_client(platform)
    app = channel(platform, http, functions=[Function.QR])
    plain = http.get("/v1/public/provinces/44/channel-apps")
    assert plain.status_code == 200
    assert "x-essc-signature" not in plain.headers
    assert plain.headers["cache-control"] == "no-store"
    # A signing client gets the answer signed for its nonce, as for any public route; the SDK verifies it.
    assert _no(app) in {
        a["channelNo"] for a in app.client.get("/v1/public/provinces/44/channel-apps")["channelApps"]
    }
    document = http.get("/openapi.json").json()
    for path in ("/v1/public/provinces/{province}/channel-apps", "/v1/public/channel-apps", "/channel-apps"):
        assert document["paths"][path]["get"]["x-essc-policy"] == {"party": "public"}


def test_the_page_lists_the_province_and_escapes_every_value(platform: Platform) -> None:
    http = app_client(platform)
    number = _registered(
        platform,
        "<script>alert(1)</script>",
        organisation='Bank "&" <b>Co</b>',
        functions=(Function.QR, Function.PAYMENT),
    )
    page = http.get("/channel-apps", params={"province": "44"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Bank &quot;&amp;&quot; &lt;b&gt;Co&lt;/b&gt;" in html
    assert f'data-channel-no="{number}"' in html
    for label in ("银行App", "Bank app", "支付", "Payment", "电子社保卡二维码", "QR code"):
        assert label in html
    assert '<option value="44" selected>' in html
    assert "广东省" in html


def test_the_page_prompts_without_a_province_and_explains_an_unknown_one(platform: Platform) -> None:
    http = app_client(platform)
    empty = http.get("/channel-apps")
    assert empty.status_code == 200
    assert "Choose a province" in empty.text
    assert 'id="channel-apps"' not in empty.text
    unknown = http.get("/channel-apps", params={"province": '"><img src=x>'})
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("text/html")
    assert "<img" not in unknown.text
    assert 'role="alert"' in unknown.text
    none_yet = http.get("/channel-apps", params={"province": "65"})
    assert none_yet.status_code == 200
    assert 'id="empty"' in none_yet.text

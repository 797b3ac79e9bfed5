"""A province authorises channels and enables business items; each change holds on the next request."""

from __future__ import annotations

import pytest

from essc.core.platform import Platform
from essc.shared.policy import Function
from essc_sdk import PlatformError
from factories import app_client, channel, holder, issue_request, load, ministry, province


def _refusal(call: object) -> str:
    with pytest.raises(PlatformError) as refused:
        call()  # type: ignore[operator]
    return refused.value.code


def test_a_province_grants_suspends_and_disables_and_each_holds_on_the_next_request(
    platform: Platform,
) -> None:
    http = app_client(platform)
    record = holder()
    load(platform, record)
    gd = province(platform, http)
    registry = ministry(platform, http)
    app = channel(platform, http, functions=list(Function), provinces=())
    number = app.label.removeprefix("channel/")
    registry.client.call("DELETE", f"/v1/ministry/channels/{number}/authorisations/issuance", None)
    issue = lambda: app.client.post("/v1/ecards/issuance", issue_request(platform, record))  # noqa: E731

    assert _refusal(issue) == "function_not_authorised"
    granted = gd.client.put(
        f"/v1/provinces/44/channel-authorisations/{number}/issuance", {"status": "active"}
    )
    assert (granted["province"], granted["status"]) == ("44", "active")
    assert _refusal(issue) == "function_disabled_in_province"
    gd.client.put("/v1/provinces/44/business-items/issuance", {"enabled": True})
    sign_no = issue()["signNo"]
    assert app.client.get(f"/v1/ecards/{sign_no}")["signNo"] == sign_no

    gd.client.put(f"/v1/provinces/44/channel-authorisations/{number}/issuance", {"status": "suspended"})
    assert _refusal(lambda: app.client.get(f"/v1/ecards/{sign_no}")) == "function_suspended"
    gd.client.put(f"/v1/provinces/44/channel-authorisations/{number}/issuance", {"status": "active"})
    gd.client.put("/v1/provinces/44/business-items/issuance", {"enabled": False})
    assert _refusal(lambda: app.client.get(f"/v1/ecards/{sign_no}")) == "function_disabled_in_province"
    gd.client.put("/v1/provinces/44/business-items/issuance", {"enabled": True})

    registry.client.put(f"/v1/ministry/channels/{number}/status", {"status": "suspended", "reason": "audit"})
    assert _refusal(lambda: app.client.get(f"/v1/ecards/{sign_no}")) == "channel_suspended"
    registry.client.put(f"/v1/ministry/channels/{number}/status", {"status": "active"})
    assert app.client.get(f"/v1/ecards/{sign_no}")["signNo"] == sign_no
    registry.client.put(f"/v1/ministry/channels/{number}/status", {"status": "terminated"})
    assert _refusal(lambda: app.client.get(f"/v1/ecards/{sign_no}")) == "channel_terminated"

    listed = gd.client.get("/v1/provinces/44/channel-authorisations")
    assert any(g["channelNo"] == number and g["function"] == "issuance" for g in listed)
    items = {i["function"]: i["enabled"] for i in gd.client.get("/v1/provinces/44/business-items")}
    assert items["issuance"]
    assert not items["payment"]


def test_a_province_acts_only_for_itself_and_grants_need_a_certification(platform: Platform) -> None:
    http = app_client(platform)
    gd = province(platform, http)
    app = channel(platform, http, functions=[Function.QR])
    number = app.label.removeprefix("channel/")
    assert (
        _refusal(
            lambda: gd.client.put(
                f"/v1/provinces/11/channel-authorisations/{number}/qr", {"status": "active"}
            )
        )
        == "wrong_province"
    )
    assert (
        _refusal(
            lambda: gd.client.put(
                f"/v1/provinces/44/channel-authorisations/{number}/payment", {"status": "active"}
            )
        )
        == "function_not_certified"
    )

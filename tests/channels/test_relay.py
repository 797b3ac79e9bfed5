"""Second-level channels reach the platform through their first-level parent, which names them per request."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from essc.authorisations import service as authorisations
from essc.channels import service as channels
from essc.channels.service import ChannelStatus
from essc.core.platform import Platform
from essc.kit import wire
from essc.shared.policy import Function
from essc_sdk import EsscClient, PlatformError
from factories import Party, app_client, attestation, channel, holder, issue_request, load, operator_uow

_numbers = iter(range(1100000100, 1100000200))


def _second_level(platform: Platform, parent: Party, functions: list[Function]) -> str:
    """A second-level channel under `parent`, active and authorised nationally for `functions` in 44."""
    number = str(next(_numbers))
    with operator_uow(platform) as uow:
        child = channels.register(
            uow,
            number,
            f"Mini app {number}",
            channels.ChannelType.SOCIAL_SERVICE,
            webhook_url=None,
            level=2,
            parent_no=parent.label.removeprefix("channel/"),
        )
        channels.commission(uow, child, functions, attested_by="tests")
        authorisations.open_everywhere(uow, child, functions, ["44"], by="operator/tests")
        uow.commit()
    return number


def _relay(parent: Party, number: str) -> EsscClient:
    client = parent.client
    return EsscClient(
        client.http,
        client.suite,
        caller=client.caller,
        key_id=client.key_id,
        private_key=client.private_key,
        platform_keys=client.platform_keys,
        clock=client.clock,
        on_behalf_of=number,
    )


class _Issued(NamedTuple):
    """A relay for a new second-level channel, and an e-card of one holder issued by it and by its parent."""

    relay: EsscClient
    number: str
    by_child: dict[str, Any]
    by_parent: dict[str, Any]


def _issued_both_ways(platform: Platform) -> _Issued:
    parent = channel(platform, app_client(platform))
    record = holder()
    load(platform, record)
    number = _second_level(platform, parent, [Function.ISSUANCE])
    relay = _relay(parent, number)
    issued = relay.post("/v1/ecards/issuance", issue_request(platform, record))
    own = parent.client.post("/v1/ecards/issuance", issue_request(platform, record))
    return _Issued(relay, number, issued, own)


def test_a_relayed_request_acts_for_the_second_level_channel_with_its_own_grants(platform: Platform) -> None:
    relay, _number, issued, own = _issued_both_ways(platform)

    assert issued["signNo"] != own["signNo"]  # signNos are per channel: the child has its own
    with pytest.raises(PlatformError) as not_granted:
        relay.post(f"/v1/ecards/{issued['signNo']}/qr-codes", {"images": []})
    assert not_granted.value.code == "function_not_authorised"
    assert "qr" in str(not_granted.value.problem["detail"])


def test_a_parent_relays_only_for_its_own_second_level_channels(platform: Platform) -> None:
    http = app_client(platform)
    parent, stranger = channel(platform, http), channel(platform, http)
    number = _second_level(platform, stranger, [Function.ISSUANCE])
    with pytest.raises(PlatformError) as refused:
        _relay(parent, number).get("/v1/ecards/NOSUCHSIGNNO")
    assert refused.value.code == "not_relayed_channel"


def test_the_relayed_channel_is_signed_and_cannot_be_swapped_in_transit(platform: Platform) -> None:
    http = app_client(platform)
    parent = channel(platform, http)
    first, second = (_second_level(platform, parent, [Function.ISSUANCE]) for _ in range(2))
    headers = _relay(parent, first).signed_headers("GET", "/v1/ecards/NOSUCHSIGNNO", b"")
    headers[wire.HEADER_ON_BEHALF_OF] = second
    answer = http.get("/v1/ecards/NOSUCHSIGNNO", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["code"] == "invalid_request_signature"


def test_only_a_channel_relays_and_only_for_a_channel_number(platform: Platform) -> None:
    http = app_client(platform)
    parent = channel(platform, http)
    with pytest.raises(PlatformError) as malformed:
        _relay(parent, "not-a-number").get("/v1/ecards/NOSUCHSIGNNO")
    assert malformed.value.code == "relay_not_allowed"


def test_a_suspended_parent_carries_no_traffic_for_its_children(platform: Platform) -> None:
    http = app_client(platform)
    parent = channel(platform, http)
    number = _second_level(platform, parent, [Function.ISSUANCE])
    with operator_uow(platform) as uow:
        channels.set_status(
            uow, channels.by_number(uow, parent.label.removeprefix("channel/")), ChannelStatus.SUSPENDED
        )
        uow.commit()
    with pytest.raises(PlatformError) as refused:
        _relay(parent, number).get("/v1/ecards/NOSUCHSIGNNO")
    assert refused.value.code == "channel_suspended"
    assert parent.label.removeprefix("channel/") in str(refused.value.problem["detail"])


def test_a_relayed_busi_seq_acts_for_the_second_level_channel(platform: Platform) -> None:
    relay, number, issued, own = _issued_both_ways(platform)
    body = {"purpose": "login", "method": "face", "attestation": attestation(platform)}

    assert relay.post(f"/v1/ecards/{issued['signNo']}/busi-seqs", body)["busiSeq"]
    with pytest.raises(PlatformError) as not_its_own:
        relay.post(f"/v1/ecards/{own['signNo']}/busi-seqs", body)  # the parent's signNo, not the child's
    assert not_its_own.value.code == "sign_no_not_found"
    assert number in str(not_its_own.value.problem["detail"])


def test_a_relay_is_judged_before_the_body_of_a_route_that_reads_its_channel_with_the_sign_no(
    platform: Platform,
) -> None:
    http = app_client(platform)
    parent, stranger = channel(platform, http), channel(platform, http)
    number = _second_level(platform, stranger, [Function.ISSUANCE, Function.LOGIN])
    for path, body in (
        ("/v1/ecards/NOSUCHSIGNNO/busi-seqs", {"purpose": "login"}),  # no method: an invalid body
        ("/v1/login-codes/scan", {"code": "not a code"}),
    ):
        with pytest.raises(PlatformError) as refused:
            _relay(parent, number).post(path, body)
        assert refused.value.code == "not_relayed_channel", path

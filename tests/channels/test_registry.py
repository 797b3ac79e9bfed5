"""The channel registry: status machine, second-level channels, keys per environment, certifications."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from essc.channels import service as channels
from essc.channels.errors import ChannelNotCertified, InvalidStatusTransition, SecondLevelHasNoKeys
from essc.channels.service import TRANSITIONS, ChannelStatus, next_status
from essc.core.platform import Platform
from essc.kit.clock import FrozenClock
from essc.shared.callers import Environment
from essc.shared.policy import Function
from essc_sdk import PlatformError
from factories import app_client, channel, ministry, operator_uow

S = ChannelStatus


@given(st.lists(st.sampled_from(list(ChannelStatus)), max_size=30))
def test_the_status_machine_only_takes_its_edges(targets: list[ChannelStatus]) -> None:
    status, history = S.REGISTERED, [S.REGISTERED]
    for target in targets:
        try:
            status = next_status(status, target)
        except InvalidStatusTransition:
            assert target not in TRANSITIONS[status]
            continue
        history.append(status)
    for before, after in itertools.pairwise(history):
        assert after in TRANSITIONS[before]
        assert before is not S.TERMINATED  # final
        if after is S.ACTIVE:
            assert before in (S.CERTIFIED, S.SUSPENDED)
        if after is S.SUSPENDED:
            assert before is S.ACTIVE
    if S.ACTIVE in history:
        assert history.index(S.CERTIFIED) < history.index(S.ACTIVE)


def _pem(platform: Platform) -> str:
    return platform.suite.generate_private_key().public_key().to_pem().decode("ascii")


def test_the_ministry_registers_certifies_and_activates_a_channel(platform: Platform) -> None:
    registry = ministry(platform, app_client(platform))
    key = platform.suite.generate_private_key()
    registered = registry.client.post(
        "/v1/ministry/channels",
        {
            "channelNo": "1100000009",
            "name": "Bank app",
            "organisation": "A bank",
            "channelType": "bank",
            "contacts": [{"name": "Ops desk", "email": "ops@bank.test"}],
            "keys": [
                {"keyId": "s1", "publicKey": _pem(platform), "environment": "sandbox"},
                {"keyId": "p1", "publicKey": key.public_key().to_pem().decode("ascii")},
            ],
        },
    )
    assert registered["status"] == "registered"
    assert {(k["keyId"], k["environment"]) for k in registered["keys"]} == {
        ("s1", "sandbox"),
        ("p1", "production"),
    }
    registry.client.put("/v1/ministry/channels/1100000009/status", {"status": "testing"})
    with pytest.raises(PlatformError) as uncertified:
        registry.client.put("/v1/ministry/channels/1100000009/status", {"status": "certified"})
    assert uncertified.value.code == "channel_not_certified"
    now = platform.clock.now()
    registry.client.post(
        "/v1/ministry/channels/1100000009/certifications",
        {
            "function": "qr",
            "passedAt": now.isoformat(),
            "expiresAt": (now + timedelta(days=90)).isoformat(),
            "keyFingerprint": key.public_key().fingerprint(),
            "reportRef": "conformance-report-1",
        },
    )
    registry.client.put("/v1/ministry/channels/1100000009/status", {"status": "certified"})
    active = registry.client.put("/v1/ministry/channels/1100000009/status", {"status": "active"})
    assert active["status"] == "active"
    assert active["certifiedFunctions"] == ["qr"]
    with pytest.raises(PlatformError) as backwards:
        registry.client.put("/v1/ministry/channels/1100000009/status", {"status": "testing"})
    assert (backwards.value.status, backwards.value.code) == (409, "invalid_channel_status_transition")


def test_a_certification_that_expired_or_predates_a_key_change_does_not_count(
    platform: Platform, clock: FrozenClock
) -> None:
    key = platform.suite.generate_private_key()
    with operator_uow(platform) as uow:
        row = channels.register(
            uow,
            "1100000010",
            "App",
            channels.ChannelType.BANK,
            public_key=key.public_key().to_pem(),
            key_id="p1",
            webhook_url=None,
        )
        now = clock.now()
        channels.record_certification(
            uow,
            row,
            Function.QR,
            Environment.PRODUCTION,
            passed_at=now,
            expires_at=now + timedelta(days=1),
            key_fingerprint=key.public_key().fingerprint(),
            report_ref="r1",
        )
        assert channels.has_valid_certification(uow, row, Function.QR, Environment.PRODUCTION)
        assert not channels.has_valid_certification(uow, row, Function.PAYMENT, Environment.PRODUCTION)
        clock.advance(timedelta(days=2))
        assert not channels.has_valid_certification(uow, row, Function.QR, Environment.PRODUCTION)
        channels.record_certification(
            uow,
            row,
            Function.QR,
            Environment.PRODUCTION,
            passed_at=clock.now(),
            expires_at=clock.now() + timedelta(days=30),
            key_fingerprint=key.public_key().fingerprint(),
            report_ref="r2",
        )
        assert channels.has_valid_certification(uow, row, Function.QR, Environment.PRODUCTION)
        clock.advance(timedelta(minutes=1))
        new = platform.suite.generate_private_key()
        channels.add_key(uow, row, channels.NewKey("p2", new.public_key().to_pem()), replaces="p1")
        assert not channels.has_valid_certification(uow, row, Function.QR, Environment.PRODUCTION)
        channels.set_status(uow, row, S.TESTING)
        with pytest.raises(ChannelNotCertified):
            channels.set_status(uow, row, S.CERTIFIED)


def test_a_rotated_key_works_until_its_overlap_ends_and_a_revoked_key_stops_at_once(
    platform: Platform, clock: FrozenClock
) -> None:
    http = app_client(platform)
    app, registry = channel(platform, http), ministry(platform, http)
    number = app.label.removeprefix("channel/")
    session = app.client.open_session()
    new = platform.suite.generate_private_key()
    stops_at = clock.now() + timedelta(hours=1)
    rotated = registry.client.post(
        f"/v1/ministry/channels/{number}/keys",
        {
            "keyId": "k2",
            "publicKey": new.public_key().to_pem().decode("ascii"),
            "replaces": "k1",
            "oldKeyStopsAt": stops_at.isoformat(),
        },
    )
    assert {k["keyId"]: k["status"] for k in rotated["keys"]} == {"k1": "active", "k2": "active"}
    assert app.client.get("/v1/regions?province=44")  # the old key, inside the overlap
    clock.advance(timedelta(hours=1, seconds=1))
    with pytest.raises(PlatformError) as retired:
        app.client.get("/v1/ecards/NOSUCHSIGNNO")
    assert (retired.value.status, retired.value.code) == (401, "key_retired")
    del session
    rotated_client = type(app.client)(
        http,
        platform.suite,
        caller=app.label,
        key_id="k2",
        private_key=new,
        platform_keys=platform.keys.public_keys(),
        clock=lambda: platform.clock.now().timestamp(),
    )
    session2 = rotated_client.open_session()
    assert session2 is not None
    registry.client.post(f"/v1/ministry/channels/{number}/keys/k2/revocation", {})
    with pytest.raises(PlatformError) as revoked:
        rotated_client.get("/v1/ecards/NOSUCHSIGNNO")
    assert revoked.value.code == "key_revoked"


def test_a_second_level_channel_has_a_parent_and_no_keys(platform: Platform) -> None:
    http = app_client(platform)
    parent = channel(platform, http)
    parent_no = parent.label.removeprefix("channel/")
    with operator_uow(platform) as uow:
        with pytest.raises(SecondLevelHasNoKeys):
            channels.register(
                uow,
                "1100000011",
                "Mini app",
                channels.ChannelType.SOCIAL_SERVICE,
                public_key=platform.suite.generate_private_key().public_key().to_pem(),
                webhook_url=None,
                level=2,
                parent_no=parent_no,
            )
        child = channels.register(
            uow,
            "1100000012",
            "Mini app",
            channels.ChannelType.SOCIAL_SERVICE,
            webhook_url=None,
            level=2,
            parent_no=parent_no,
        )
        channels.commission(uow, child, [Function.QR], attested_by="tests")
        assert child.status == S.ACTIVE
        channels.set_status(uow, channels.by_number(uow, parent_no), S.TERMINATED, "contract ended")
        assert child.status == S.TERMINATED  # it reaches the platform only through its parent
        uow.commit()


def test_the_registry_refuses_a_public_key_already_registered_to_another_party(platform: Platform) -> None:
    http = app_client(platform)
    registry = ministry(platform, http)
    first = channel(platform, http)
    shared = first.private_key.public_key().to_pem().decode("ascii")

    with pytest.raises(PlatformError) as registering:
        registry.client.post(
            "/v1/ministry/channels",
            {
                "channelNo": "1100000019",
                "name": "Copycat app",
                "organisation": "Another bank",
                "channelType": "bank",
                "contacts": [{"name": "Ops desk", "email": "ops@copycat.test"}],
                "keys": [{"keyId": "k1", "publicKey": shared}],
            },
        )
    other = channel(platform, http)
    with pytest.raises(PlatformError) as adding:
        registry.client.post(
            f"/v1/ministry/channels/{other.label.split('/')[1]}/keys", {"keyId": "k2", "publicKey": shared}
        )
    # The party that holds the key may register it again, e.g. for its sandbox.
    same = registry.client.post(
        f"/v1/ministry/channels/{first.label.split('/')[1]}/keys",
        {"keyId": "s1", "publicKey": shared, "environment": "sandbox"},
    )

    assert (registering.value.status, registering.value.code) == (409, "public_key_in_use")
    assert (adding.value.status, adding.value.code) == (409, "public_key_in_use")
    assert {k["keyId"] for k in same["keys"]} == {"k1", "s1"}

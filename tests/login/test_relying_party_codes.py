"""Login codes of the OpenID provider's page: bound to a relying party, invisible to terminals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from essc.core.platform import Platform
from essc.kit.clock import FrozenClock
from essc.login import service
from essc.login.models import LoginCode
from essc.login.schemas import LoginStatus
from essc.qr.models import CardUsage
from essc_sdk import PlatformError
from factories import app_client, busi_seq, institution, login_holder, operator_uow, province, terminal


def _code(platform: Platform, client_id: str = "rp-one") -> tuple[str, str]:
    with operator_uow(platform) as uow:
        made = service.create_for_relying_party(uow, client_id, "Site One", "00", timedelta(seconds=300))
        uow.commit()
    return made.login_id, made.code


@pytest.fixture
def http(platform: Platform) -> TestClient:
    return app_client(platform)


def test_a_relying_partys_code_lives_at_most_120_seconds_and_shows_an_svg(platform: Platform) -> None:
    with operator_uow(platform) as uow:
        made = service.create_for_relying_party(uow, "rp-one", "Site One", "00", timedelta(seconds=300))
        assert made.svg is not None
        assert made.png is None
        assert made.expires_at - platform.clock.now() == timedelta(seconds=120)


def test_a_terminal_cannot_collect_a_relying_partys_code(platform: Platform, http: TestClient) -> None:
    owner = province(platform, http)
    site = terminal(platform, http, owner, institution(owner, "hrss_centre"), {}, kind="web")
    login_id, _code_payload = _code(platform)
    with pytest.raises(PlatformError) as refused:
        site.client.get(f"/v1/login-codes/{login_id}")
    assert refused.value.code == "login_code_unknown"


def test_only_its_relying_party_collects_it_once(platform: Platform, http: TestClient) -> None:
    person = login_holder(platform, http)
    login_id, code = _code(platform)
    person.app.client.post("/v1/login-codes/scan", {"code": code, "signNo": person.sign_no})
    seq = busi_seq(platform, person.app, person.sign_no, "login")
    person.app.client.post(
        "/v1/login-codes/confirm", {"code": code, "signNo": person.sign_no, "busiSeq": seq}
    )
    with operator_uow(platform) as uow:
        assert service.collect_for_relying_party(uow, login_id, "rp-other") is LoginStatus.EXPIRED
        assert service.status_for_relying_party(uow, login_id, "rp-other") is LoginStatus.EXPIRED
        found = service.collect_for_relying_party(uow, login_id, "rp-one")
        assert not isinstance(found, LoginStatus)
        assert found.province == person.record.aab301[:2]
        assert service.collect_for_relying_party(uow, login_id, "rp-one") is LoginStatus.CONSUMED
        # No terminal showed it: no card usage names one.
        assert uow.session.execute(select(CardUsage)).scalars().all() == []


def test_redisplay_shows_the_code_only_for_its_own_payload(platform: Platform, clock: FrozenClock) -> None:
    login_id, code = _code(platform)
    _other_id, other = _code(platform)
    with operator_uow(platform) as uow:
        again = service.redisplay_for_relying_party(uow, login_id, "rp-one", code)
        assert again is not None
        assert again.code == code
        assert service.redisplay_for_relying_party(uow, login_id, "rp-one", other) is None
        assert service.redisplay_for_relying_party(uow, login_id, "rp-one", "not a code") is None
        assert service.redisplay_for_relying_party(uow, login_id, "rp-two", code) is None
        clock.advance(timedelta(seconds=121))
        assert service.status_for_relying_party(uow, login_id, "rp-one") is LoginStatus.EXPIRED
        row = uow.session.execute(select(LoginCode).where(LoginCode.id == login_id)).scalar_one()
        assert row.relying_party == "rp-one"

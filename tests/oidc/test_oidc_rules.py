"""Each rule of the OpenID provider, one test per rule and per refusal, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from joserfc import jwe, jwt
from joserfc.jwk import KeySet
from oidc_flow import (
    assertion,
    client_auth,
    code_of,
    kiosk,
    login,
    open_page,
    pkce,
    push,
    redeem,
    refresh,
)
from sqlalchemy import select

from essc.core.platform import Platform
from essc.kit.clock import FrozenClock
from essc.kit.jose import SM2_SM3, Sm2Key
from essc.oidc.delivery import deliver_due
from essc.oidc.models import Grant, LogoutNotice, NoticeStatus
from factories import (
    KIOSK_PASSWORD,
    RP_REDIRECT,
    app_client,
    card_event,
    holder,
    kiosk_holder,
    operator_uow,
    province,
    relying_party,
)

ISSUER = "http://127.0.0.1:8000"


def _error(answer: Any) -> str:
    body = answer.json()
    assert set(body) == {"error", "error_description"}, body
    return str(body["error"])


def _par_form(platform: Platform, rp: Any, **changes: str) -> dict[str, str]:
    _verifier, challenge = pkce()
    return (
        {
            "response_type": "code",
            "client_id": rp.client_id,
            "redirect_uri": RP_REDIRECT,
            "scope": "openid",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        | client_auth(platform, rp)
        | changes
    )


@pytest.fixture
def http(platform: Platform) -> TestClient:
    return app_client(platform)


# -- discovery, PAR and the page ----------------------------------------------------------------------------


def test_discovery_names_par_pkce_s256_and_private_key_jwt_only(platform: Platform, http: TestClient) -> None:
    metadata = http.get("/.well-known/openid-configuration").json()
    assert metadata["issuer"] == ISSUER
    assert metadata["require_pushed_authorization_requests"] is True
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert metadata["subject_types_supported"] == ["pairwise"]
    assert set(metadata["id_token_signing_alg_values_supported"]) == {"ES256", "SM2SM3"}
    assert KeySet.import_key_set(http.get("/oidc/jwks").json()).keys
    sm2 = http.get("/oidc/jwks/sm2").json()["keys"]
    assert [(k["kty"], k["crv"], k["alg"]) for k in sm2] == [("EC", "SM2", SM2_SM3)]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"redirect_uri": RP_REDIRECT + "/"}, "invalid_request"),
        ({"redirect_uri": "https://evil.test/callback"}, "invalid_request"),
        ({"response_type": "token"}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"scope": "openid id_number"}, "invalid_scope"),
        ({"request": "eyJ.x.y"}, "invalid_request"),
    ],
)
def test_par_refuses_what_the_rules_forbid(
    platform: Platform, http: TestClient, changes: dict[str, str], error: str
) -> None:
    rp = relying_party(platform)
    answer = http.post("/oidc/par", data=_par_form(platform, rp, **changes))
    assert answer.status_code == 400
    assert _error(answer) == error


def test_par_refuses_a_json_body(platform: Platform, http: TestClient) -> None:
    rp = relying_party(platform)
    answer = http.post("/oidc/par", json=_par_form(platform, rp))
    assert answer.status_code == 400
    assert _error(answer) == "invalid_request"


def test_a_request_uri_is_single_use(platform: Platform, http: TestClient) -> None:
    rp = relying_party(platform)
    pushed = push(http, platform, rp)
    open_page(http, rp, pushed)
    again = http.get("/oidc/authorize", params={"client_id": rp.client_id, "request_uri": pushed.request_uri})
    assert again.status_code == 400
    assert "interaction" not in again.text


def test_a_request_uri_lives_60_seconds(platform: Platform, http: TestClient, clock: FrozenClock) -> None:
    rp = relying_party(platform)
    pushed = push(http, platform, rp)
    clock.advance(timedelta(seconds=61))
    late = http.get("/oidc/authorize", params={"client_id": rp.client_id, "request_uri": pushed.request_uri})
    assert late.status_code == 400


def test_a_request_uri_works_only_for_its_client(platform: Platform, http: TestClient) -> None:
    rp, other = relying_party(platform), relying_party(platform)
    pushed = push(http, platform, rp)
    answer = http.get(
        "/oidc/authorize", params={"client_id": other.client_id, "request_uri": pushed.request_uri}
    )
    assert answer.status_code == 400


# -- client authentication -----------------------------------------------------------------------------------


def test_a_client_assertion_is_accepted_once(platform: Platform, http: TestClient) -> None:
    rp = relying_party(platform)
    form = _par_form(platform, rp)
    assert http.post("/oidc/par", data=form).status_code == 201
    replay = http.post("/oidc/par", data=form)
    assert replay.status_code == 401
    assert _error(replay) == "invalid_client"


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "https://elsewhere.test/token"},
        {"exp": 1},
        {"exp": 4_000_000_000},
        {"sub": "someone-else"},
        {"jti": ""},
    ],
)
def test_client_assertions_with_wrong_claims_are_refused(
    platform: Platform, http: TestClient, changes: dict[str, Any]
) -> None:
    rp = relying_party(platform)
    form = _par_form(platform, rp) | {"client_assertion": assertion(platform, rp, **changes)}
    answer = http.post("/oidc/par", data=form)
    assert answer.status_code == 401
    assert _error(answer) == "invalid_client"


def test_an_assertion_signed_by_another_clients_key_is_refused(platform: Platform, http: TestClient) -> None:
    rp, other = relying_party(platform), relying_party(platform)
    forged = assertion(platform, other, iss=rp.client_id, sub=rp.client_id)
    form = _par_form(platform, rp) | {"client_assertion": forged}
    answer = http.post("/oidc/par", data=form)
    assert answer.status_code == 401
    assert _error(answer) == "invalid_client"


def test_new_keys_of_a_relying_party_hold_on_its_next_request(platform: Platform, http: TestClient) -> None:
    from dataclasses import replace

    from joserfc.jwk import ECKey

    from essc.oidc.models import RelyingParty

    rp = relying_party(platform)
    assert http.post("/oidc/par", data=_par_form(platform, rp)).status_code == 201  # its keys parsed and kept
    rotated = replace(rp, signing=ECKey.generate_key("P-256", parameters={"kid": rp.signing.kid}))
    with operator_uow(platform) as uow:  # the same kid, another key: only the stored text tells them apart
        stored = uow.session.get(RelyingParty, rp.client_id)
        assert stored is not None
        stored.jwks = orjson.dumps(
            {"keys": [rotated.signing.as_dict(private=False), rp.encryption.as_dict(private=False)]}
        ).decode()
        uow.commit()
    old = http.post("/oidc/par", data=_par_form(platform, rp))
    assert old.status_code == 401
    assert _error(old) == "invalid_client"
    assert http.post("/oidc/par", data=_par_form(platform, rotated)).status_code == 201


def test_an_sm2_client_key_authenticates_with_sm2sm3(platform: Platform, http: TestClient) -> None:
    rp = relying_party(platform, sm2_client_key=True)
    assert http.post("/oidc/par", data=_par_form(platform, rp)).status_code == 201


def test_a_suspended_relying_party_is_refused(platform: Platform, http: TestClient) -> None:
    from essc.oidc import service
    from essc.oidc.models import RelyingPartyStatus

    rp = relying_party(platform)
    with operator_uow(platform) as uow:
        service.set_status(
            uow, service.registered(uow, rp.client_id, "00"), RelyingPartyStatus.SUSPENDED, "t"
        )
        uow.commit()
    answer = http.post("/oidc/par", data=_par_form(platform, rp))
    assert answer.status_code == 400
    assert _error(answer) == "unauthorized_client"


def test_a_relying_party_suspended_after_its_login_gets_no_tokens_and_its_code_stays_unspent(
    platform: Platform, http: TestClient
) -> None:
    from essc.oidc import service
    from essc.oidc.models import Authorization, RelyingPartyStatus

    essc_no, _ = kiosk_holder(platform, http)
    rp = relying_party(platform)
    pushed, answer = login(http, platform, rp, essc_no)
    for status in (RelyingPartyStatus.SUSPENDED, RelyingPartyStatus.ACTIVE):
        with operator_uow(platform) as uow:
            service.set_status(uow, service.registered(uow, rp.client_id, "00"), status, "t")
            uow.commit()
        if status is RelyingPartyStatus.SUSPENDED:
            refused = redeem(http, platform, rp, answer["code"], pushed.verifier)
            assert refused.status_code == 400
            assert _error(refused) == "unauthorized_client"
            with operator_uow(platform) as uow:
                rows = uow.session.execute(select(Authorization.status, Authorization.grant_id)).all()
            assert [tuple(r) for r in rows] == [("code_issued", None)]  # the refusal rolled back
    assert redeem(http, platform, rp, answer["code"], pushed.verifier).status_code == 200


# -- codes and tokens ----------------------------------------------------------------------------------------


def test_a_code_lives_at_most_60_seconds(platform: Platform, http: TestClient, clock: FrozenClock) -> None:
    essc_no, _ = kiosk_holder(platform, http)
    rp = relying_party(platform)
    pushed, answer = login(http, platform, rp, essc_no)
    clock.advance(timedelta(seconds=61))
    late = redeem(http, platform, rp, answer["code"], pushed.verifier)
    assert late.status_code == 400
    assert _error(late) == "invalid_grant"


def test_a_second_use_of_a_code_revokes_what_the_first_issued(platform: Platform, http: TestClient) -> None:
    essc_no, _ = kiosk_holder(platform, http)
    rp = relying_party(platform)
    pushed, answer = login(http, platform, rp, essc_no)
    first = redeem(http, platform, rp, answer["code"], pushed.verifier).json()
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert http.get("/oidc/userinfo", headers=bearer).status_code == 200
    second = redeem(http, platform, rp, answer["code"], pushed.verifier)
    assert second.status_code == 400
    assert _error(second) == "invalid_grant"
    revoked = http.get("/oidc/userinfo", headers=bearer)
    assert revoked.status_code == 401
    assert _error(revoked) == "invalid_token"
    assert _error(refresh(http, platform, rp, first["refresh_token"])) == "invalid_grant"


@pytest.mark.parametrize(
    "changes",
    [{"code_verifier": "x" * 43}, {"redirect_uri": "https://rp.test/other"}, {"code": "made-up"}],
)
def test_a_wrong_verifier_redirect_or_code_is_refused(
    platform: Platform, http: TestClient, changes: dict[str, str]
) -> None:
    essc_no, _ = kiosk_holder(platform, http)
    rp = relying_party(platform)
    pushed, answer = login(http, platform, rp, essc_no)
    refused = redeem(http, platform, rp, answer["code"], pushed.verifier, **changes)
    assert refused.status_code == 400
    assert _error(refused) == "invalid_grant"
    # The refusal spent nothing: the right request still succeeds.
    assert redeem(http, platform, rp, answer["code"], pushed.verifier).status_code == 200


def test_a_code_of_another_client_is_refused(platform: Platform, http: TestClient) -> None:
    essc_no, _ = kiosk_holder(platform, http)
    rp, other = relying_party(platform), relying_party(platform)
    pushed, answer = login(http, platform, rp, essc_no)
    stolen = redeem(http, platform, other, answer["code"], pushed.verifier)
    assert _error(stolen) == "invalid_grant"


def test_an_unknown_grant_type_is_refused(platform: Platform, http: TestClient) -> None:
    rp = relying_party(platform)
    answer = http.post("/oidc/token", data={"grant_type": "password"} | client_auth(platform, rp))
    assert _error(answer) == "unsupported_grant_type"


def test_refresh_rotates_and_a_reused_token_revokes_the_family(platform: Platform, http: TestClient) -> None:
    essc_no, _ = kiosk_holder(platform, http)
    rp = relying_party(platform)
    pushed, answer = login(http, platform, rp, essc_no)
    first = redeem(http, platform, rp, answer["code"], pushed.verifier).json()
    second = refresh(http, platform, rp, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    reused = refresh(http, platform, rp, first["refresh_token"])
    assert _error(reused) == "invalid_grant"
    assert _error(refresh(http, platform, rp, second["refresh_token"])) == "invalid_grant"
    bearer = {"Authorization": f"Bearer {second['access_token']}"}
    assert http.get("/oidc/userinfo", headers=bearer).status_code == 401


def test_subjects_are_pairwise_per_sector_and_stable(platform: Platform, http: TestClient) -> None:
    essc_no, _ = kiosk_holder(platform, http)
    one = relying_party(platform, redirect_uris=(RP_REDIRECT,))
    other = relying_party(platform, redirect_uris=(RP_REDIRECT,))
    subjects = []
    for rp in (one, one, other):
        pushed, answer = login(http, platform, rp, essc_no)
        token = redeem(http, platform, rp, answer["code"], pushed.verifier).json()["id_token"]
        subjects.append(jwt.decode(token, KeySet.import_key_set(http.get("/oidc/jwks").json())).claims["sub"])
    assert subjects[0] == subjects[1]  # one sector (rp.test): the same subject
    from essc.oidc import service

    with operator_uow(platform) as uow:
        rp_row = service.registered(uow, one.client_id, "00")
        rp_row.sector = "elsewhere.test"
        uow.commit()
    pushed, answer = login(http, platform, one, essc_no)
    moved = redeem(http, platform, one, answer["code"], pushed.verifier).json()["id_token"]
    assert (
        jwt.decode(moved, KeySet.import_key_set(http.get("/oidc/jwks").json())).claims["sub"] != subjects[0]
    )


def test_an_sm2sm3_relying_party_gets_id_tokens_it_verifies_with_the_sm2_jwks(
    platform: Platform, http: TestClient
) -> None:
    essc_no, record = kiosk_holder(platform, http)
    rp = relying_party(platform, id_token_alg=SM2_SM3)
    pushed, answer = login(http, platform, rp, essc_no, scope="openid region")
    token = redeem(http, platform, rp, answer["code"], pushed.verifier).json()["id_token"]
    key = Sm2Key.from_jwk(http.get("/oidc/jwks/sm2").json()["keys"][0])
    claims = jwt.decode(token, key, algorithms=[SM2_SM3]).claims
    assert claims["region"] == record.aab301
    assert claims["iss"] == ISSUER


def test_the_masked_name_and_region_by_default_and_no_id_number(platform: Platform, http: TestClient) -> None:
    essc_no, record = kiosk_holder(platform, http)
    rp = relying_party(platform)
    pushed, answer = login(http, platform, rp, essc_no)
    tokens = redeem(http, platform, rp, answer["code"], pushed.verifier).json()
    info = http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert set(info) == {"sub", "name", "region"}
    assert info["name"] != record.aac003
    assert info["name"][-1] == record.aac003[-1]
    assert record.aac002 not in tokens["id_token"] + orjson.dumps(info).decode()


def test_the_clear_id_number_is_sealed_to_an_authorised_rp_after_consent(
    platform: Platform, http: TestClient
) -> None:
    essc_no, record = kiosk_holder(platform, http)
    rp = relying_party(platform, clear_id_number=True, scopes=("openid", "id_number"))
    page = open_page(http, rp, push(http, platform, rp, "openid id_number"))
    assert page
    pushed, answer = login(http, platform, rp, essc_no, scope="openid id_number", consent_id_number="yes")
    tokens = redeem(http, platform, rp, answer["code"], pushed.verifier).json()
    info = http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.headers["content-type"].startswith("application/jwt")
    assert record.aac002 not in info.text
    opened = jwe.decrypt_compact(info.text, rp.encryption)
    assert opened.protected["alg"] == "ECDH-ES+A256KW"
    assert opened.protected["enc"] == "A256GCM"
    assert orjson.loads(opened.plaintext or b"{}")["id_number"] == record.aac002
    # Without the holder's consent the same relying party gets no ID number.
    pushed, answer = login(http, platform, rp, essc_no, scope="openid id_number")
    tokens = redeem(http, platform, rp, answer["code"], pushed.verifier).json()
    plain = http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert plain.headers["content-type"].startswith("application/json")
    assert "id_number" not in plain.json()


# -- holder authentication -----------------------------------------------------------------------------------


def _strip_request_id(answer: Any) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("x-request-id", "date")}
    return answer.status_code, answer.content, headers


def test_unknown_holder_wrong_password_and_locked_holder_get_identical_answers(
    platform: Platform, http: TestClient
) -> None:
    essc_no, _ = kiosk_holder(platform, http)
    locked_no, _ = kiosk_holder(platform, http)
    rp = relying_party(platform)
    interaction = open_page(http, rp, push(http, platform, rp))
    for _ in range(platform.settings.password_max_failures):
        kiosk(http, interaction, locked_no, "000000")
    unknown = kiosk(http, interaction, "000000000000000000000000", KIOSK_PASSWORD)
    wrong = kiosk(http, interaction, essc_no, "111111")
    locked = kiosk(http, interaction, locked_no, KIOSK_PASSWORD)  # the right password, but locked
    assert _strip_request_id(unknown) == _strip_request_id(wrong) == _strip_request_id(locked)
    assert unknown.status_code == 403
    # The page still works for the right holder and password.
    code_of(kiosk(http, interaction, essc_no))


def test_the_lockout_holds_at_the_login_page(platform: Platform, http: TestClient) -> None:
    essc_no, _ = kiosk_holder(platform, http)
    rp = relying_party(platform)
    interaction = open_page(http, rp, push(http, platform, rp))
    for _ in range(platform.settings.password_max_failures):
        assert kiosk(http, interaction, essc_no, "000000").status_code == 403
    assert kiosk(http, interaction, essc_no).status_code == 403


def test_login_attempts_are_rate_limited_per_source(platform: Platform, http: TestClient) -> None:
    platform.settings.oidc_logins_per_minute_per_source = 3
    essc_no, _ = kiosk_holder(platform, http)
    rp = relying_party(platform)
    interaction = open_page(http, rp, push(http, platform, rp))
    for _ in range(3):
        kiosk(http, interaction, "000000000000000000000000", "000000")
    limited = kiosk(http, interaction, essc_no)
    assert limited.status_code == 429


def test_a_province_relying_party_logs_in_only_its_own_cardholders(
    platform: Platform, http: TestClient
) -> None:
    essc_no, _ = kiosk_holder(platform, http, holder("44"))
    rp = relying_party(platform, province="11")
    interaction = open_page(http, rp, push(http, platform, rp))
    refused = kiosk(http, interaction, essc_no)
    assert refused.status_code == 400
    own = relying_party(platform, province="44")
    code_of(kiosk(http, open_page(http, own, push(http, platform, own)), essc_no))


def test_a_login_page_expires(platform: Platform, http: TestClient, clock: FrozenClock) -> None:
    essc_no, _ = kiosk_holder(platform, http)
    rp = relying_party(platform)
    interaction = open_page(http, rp, push(http, platform, rp))
    clock.advance(timedelta(seconds=601))
    assert kiosk(http, interaction, essc_no).status_code == 400


# -- logout --------------------------------------------------------------------------------------------------


class RecordingSender:
    """A relying party's back-channel endpoint: fails the first `failures` posts, records the rest."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[tuple[str, str]] = []

    def post(self, url: str, logout_token: str, timeout: float) -> int:
        if self.failures:
            self.failures -= 1
            return 503
        self.received.append((url, logout_token))
        return 200


def _logged_in(platform: Platform, http: TestClient, essc_no: str, rp: Any) -> dict[str, Any]:
    pushed, answer = login(http, platform, rp, essc_no)
    tokens: dict[str, Any] = redeem(http, platform, rp, answer["code"], pushed.verifier).json()
    return tokens


def test_rp_initiated_logout_ends_every_session_of_the_holder_with_back_channel_tokens(
    platform: Platform, http: TestClient, clock: FrozenClock
) -> None:
    essc_no, _ = kiosk_holder(platform, http)
    one = relying_party(platform, backchannel_logout_uri="https://one.test/logout")
    other = relying_party(platform, backchannel_logout_uri="https://other.test/logout")
    first, second = _logged_in(platform, http, essc_no, one), _logged_in(platform, http, essc_no, other)
    ended = http.get(
        "/oidc/logout",
        params={
            "id_token_hint": first["id_token"],
            "client_id": one.client_id,
            "post_logout_redirect_uri": RP_REDIRECT,
            "state": "s1",
        },
        follow_redirects=False,
    )
    assert ended.status_code == 303
    assert ended.headers["location"] == RP_REDIRECT + "?state=s1"
    for tokens in (first, second):
        assert (
            http.get(
                "/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
            ).status_code
            == 401
        )
    sender = RecordingSender(failures=1)
    assert deliver_due(platform, sender) == 2
    assert len(sender.received) == 1  # one attempt failed: retried later, not lost
    assert deliver_due(platform, sender) == 0  # not due yet
    clock.advance(timedelta(minutes=5))
    assert deliver_due(platform, sender) == 1
    assert deliver_due(platform, sender) == 0  # delivered once, never again
    assert sorted(url for url, _ in sender.received) == [
        "https://one.test/logout",
        "https://other.test/logout",
    ]
    keys = KeySet.import_key_set(http.get("/oidc/jwks").json())
    for _url, token in sender.received:
        claims = jwt.decode(token, keys, algorithms=["ES256"]).claims
        assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]
        assert claims["sid"]
        assert "nonce" not in claims
    with operator_uow(platform) as uow:
        notices = uow.session.execute(select(LogoutNotice)).scalars().all()
        assert {n.status for n in notices} == {NoticeStatus.DELIVERED}


def test_a_card_reported_lost_ends_the_holders_sessions_everywhere(
    platform: Platform, http: TestClient
) -> None:
    record = holder("44")
    essc_no, _ = kiosk_holder(platform, http, record)
    rp = relying_party(platform, backchannel_logout_uri="https://rp.test/logout")
    tokens = _logged_in(platform, http, essc_no, rp)
    card_event(platform, province(platform, http), record.aaz500, "lost")
    assert (
        http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code
        == 401
    )
    with operator_uow(platform) as uow:
        grants = uow.session.execute(select(Grant)).scalars().all()
        assert [g.revoked_reason for g in grants] == ["card_lost"]
        assert len(uow.session.execute(select(LogoutNotice)).scalars().all()) == 1

"""The proxy's conclusions and the driver contract's parsing, on hand-made exchanges and answers."""

from __future__ import annotations

import base64
import string
from urllib.parse import urlencode

import orjson
from hypothesis import given
from hypothesis import strategies as st

from essc_conformance import checks
from essc_conformance.driver import parse_answer
from essc_conformance.proxy import Exchange, FaultKind


def exchange(
    seq: int,
    body: object,
    *,
    key: str | None = "k-1",
    nonce: str = "n" * 20,
    path: str = "/v1/x",
    fault: FaultKind | None = None,
) -> Exchange:
    headers = {"x-essc-nonce": nonce} | ({"idempotency-key": key} if key else {})
    return Exchange(seq, "case", "POST", path, headers, orjson.dumps(body), 201, fault)


def test_a_clear_value_is_found_also_when_json_escapes_it() -> None:
    escaped = Exchange(0, "case", "POST", "/v1/x", {}, b'{"name":"\\u738b\\u5c0f\\u660e"}', 201, None)

    found = checks.clear_personal_fields([escaped], ["王小明"])

    assert found == ["POST /v1/x (during case) carried a test person's clear value outside an envelope"]
    assert checks.clear_personal_fields([exchange(0, {"aac067": "13800000000"})], []) == [
        "POST /v1/x (during case) carried personal field aac067 in the clear in its body"
    ]


def test_a_retry_must_keep_key_and_body_and_every_change_needs_a_key() -> None:
    failed = exchange(0, {"a": 1}, nonce="a" * 20, fault=FaultKind.UNAVAILABLE)
    retried = exchange(1, {"a": 2}, key="k-2", nonce="b" * 20)
    keyless = exchange(2, {}, key=None, nonce="c" * 20, path="/v1/y")

    faults = checks.idempotency_faults([failed, retried, keyless])

    assert len(faults) == 3
    assert "carried no Idempotency-Key header" in faults[0]
    assert "carried Idempotency-Key 'k-2'; expected the first attempt's 'k-1'" in faults[1]
    assert "sent another body" in faults[2]


def test_off_contract_driver_answers_are_named() -> None:
    assert parse_answer(500, b"").error_code == "driver_invalid"
    assert parse_answer(200, b"[]").error_code == "driver_invalid"
    refused = parse_answer(200, b'{"ok": false, "error": {"code": "wrong_password", "detail": "2 left"}}')
    assert (refused.ok, refused.error_code, refused.error_detail) == (False, "wrong_password", "2 left")
    assert parse_answer(200, b'{"ok": true, "signNo": "S1"}').data == {"signNo": "S1"}


def oauth(
    seq: int, path: str, form: dict[str, str], *, step: str = "case", browser: bool = False
) -> Exchange:
    headers = {"x-essc-conformance-browser": "1"} if browser else {}
    body = urlencode(form).encode()
    return Exchange(seq, step, "POST" if not browser else "GET", path, headers, body, 200, None)


def assertion_with(jti: str) -> dict[str, str]:
    payload = base64.urlsafe_b64encode(orjson.dumps({"jti": jti})).rstrip(b"=").decode()
    return {"client_assertion_type": checks.ASSERTION_TYPE, "client_assertion": f"e30.{payload}.sig"}


def test_the_browser_goes_to_authorize_with_a_pushed_request_uri_only() -> None:
    pushed = f"{checks.REQUEST_URI_PREFIX}abc"

    assert (
        checks.authorization_url_faults(f"https://op.test/oidc/authorize?client_id=rp&request_uri={pushed}")
        == []
    )
    leaked = checks.authorization_url_faults(
        f"https://op.test/oidc/authorize?client_id=rp&request_uri={pushed}&scope=openid&nonce=n"
    )
    assert leaked == [
        "the authorization URL carried nonce, scope beside the pushed request; "
        "expected client_id and request_uri only (every parameter goes through PAR)"
    ]
    unpushed = checks.authorization_url_faults(
        "https://op.test/oidc/authorize?client_id=rp&response_type=code"
    )
    assert "carried no request_uri of a pushed request" in unpushed[1]
    # The kit's browser may open /authorize; the relying party itself may not, and it must push.
    browser = oauth(0, "/oidc/authorize?client_id=rp", {}, browser=True)
    assert checks.par_faults([browser]) == [
        "the relying party sent no POST /oidc/par; expected a pushed request for each login"
    ]


def test_pkce_needs_s256_a_fresh_verifier_and_the_matching_one_at_the_token_endpoint() -> None:
    verifier = "v" * 43
    par = {"code_challenge_method": "S256", "code_challenge": checks.s256(verifier)}
    good = [
        oauth(0, "/oidc/par", par),
        oauth(1, "/oidc/token", {"grant_type": "authorization_code", "code_verifier": verifier}),
    ]

    assert checks.pkce_faults(good) == []
    again = checks.pkce_faults([*good, oauth(2, "/oidc/par", par)])
    assert again == [
        "POST /oidc/par (during case) pushed the code_challenge of POST /oidc/par (during case) again; "
        "expected a fresh code_verifier for every login"
    ]
    plain = checks.pkce_faults(
        [oauth(0, "/oidc/par", {"code_challenge_method": "plain", "code_challenge": "x"})]
    )
    assert "pushed code_challenge_method 'plain'; expected S256" in plain[0]
    wrong = checks.pkce_faults(
        [good[0], oauth(1, "/oidc/token", {"grant_type": "authorization_code", "code_verifier": "w" * 43})]
    )
    assert "whose S256 is no challenge it pushed" in wrong[0]


def test_client_authentication_is_private_key_jwt_with_a_fresh_jti() -> None:
    first = oauth(0, "/oidc/par", assertion_with("j-1"))

    assert checks.client_auth_faults([first, oauth(1, "/oidc/token", assertion_with("j-2"))]) == []
    replayed = checks.client_auth_faults([first, oauth(1, "/oidc/token", assertion_with("j-1"))])
    assert replayed == [
        "POST /oidc/token (during case) sent the client assertion jti 'j-1' of POST /oidc/par (during case) "
        "again; expected a fresh jti on every assertion"
    ]
    secret = checks.client_auth_faults([oauth(0, "/oidc/token", {"client_secret": "s"})])
    assert "sent a client secret; expected private_key_jwt only" in secret[0]
    assert "carried no client assertion" in secret[1]


def test_a_refresh_token_presented_twice_is_no_rotation() -> None:
    refresh = {"grant_type": "refresh_token", "refresh_token": "r-1"}

    assert checks.refresh_rotation_faults([oauth(0, "/oidc/token", refresh)]) == []
    faults = checks.refresh_rotation_faults(
        [oauth(0, "/oidc/token", refresh), oauth(1, "/oidc/token", refresh)]
    )
    assert faults == [
        "POST /oidc/token (during case) presented the refresh token of POST /oidc/token (during case) again "
        "(answered 200); expected the rotated token of the previous answer"
    ]


@given(st.text(alphabet=string.ascii_letters + string.digits + "-._~", min_size=43, max_size=128))
def test_a_token_request_with_the_verifier_of_a_pushed_challenge_passes_pkce(verifier: str) -> None:
    pushed = oauth(0, "/oidc/par", {"code_challenge_method": "S256", "code_challenge": checks.s256(verifier)})
    redeemed = oauth(1, "/oidc/token", {"grant_type": "authorization_code", "code_verifier": verifier})

    assert checks.pkce_faults([pushed, redeemed]) == []

"""The OpenID provider's rules through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import KeySet
from oidc_flow import login, redeem, refresh

from essc.core.platform import Platform
from factories import app_client, kiosk_holder, relying_party


def test_a_kiosk_login_gives_tokens_an_es256_id_token_and_userinfo(platform: Platform) -> None:
    http = app_client(platform)
    essc_no, record = kiosk_holder(platform, http)
    rp = relying_party(platform)
    pushed, answer = login(http, platform, rp, essc_no)
    assert answer["state"] == pushed.state
    assert answer["iss"] == "http://127.0.0.1:8000"
    tokens = redeem(http, platform, rp, answer["code"], pushed.verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    keys = KeySet.import_key_set(http.get("/oidc/jwks").json())
    claims = jwt.decode(body["id_token"], keys, algorithms=["ES256"]).claims
    assert claims["aud"] == rp.client_id
    assert claims["nonce"] == pushed.nonce
    assert claims["name"] != record.aac003
    info = http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == claims["sub"]
    again = refresh(http, platform, rp, body["refresh_token"])
    assert again.status_code == 200, again.text

"""An independent, standard client (Authlib's OAuth 2 client over httpx) against a running provider."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.integrations.httpx_client import OAuthError as AuthlibOAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet
from oidc_flow import INTERACTION, confirm_in_app, scan_page_of

from essc.core.platform import Platform
from essc.kit.clock import SystemClock
from factories import (
    RP_REDIRECT,
    app_client,
    free_port,
    kiosk_holder,
    login_holder,
    relying_party,
    served,
)

pytestmark = pytest.mark.slow


def _login_in_browser(base: str, authorize_url: str, essc_no: str) -> str:
    """What the holder's browser does: open the page, submit the kiosk form; the redirect it gets."""
    with httpx.Client(base_url=base, follow_redirects=False) as browser:
        page = browser.get(authorize_url)
        assert page.status_code == 200, page.text
        found = INTERACTION.search(page.text)
        assert found is not None
        answer = browser.post(
            "/oidc/authorize/kiosk",
            data={"interaction": found.group(1), "essc_no": essc_no, "password": "385916"},
        )
        assert answer.status_code == 303, answer.text
        return answer.headers["location"]


def test_authlib_completes_discovery_par_code_pkce_private_key_jwt_and_refresh(platform: Platform) -> None:
    platform.clock = SystemClock()  # the client signs assertions with the real time
    http = app_client(platform)
    essc_no, _record = kiosk_holder(platform, http)
    rp = relying_party(platform)
    port = free_port()
    platform.settings.public_url = f"http://127.0.0.1:{port}"
    with served(platform, port) as base:
        metadata = httpx.get(f"{base}/.well-known/openid-configuration").json()
        assert metadata["issuer"] == base
        assert metadata["require_pushed_authorization_requests"] is True
        client = OAuth2Client(
            client_id=rp.client_id,
            client_secret=rp.signing,
            token_endpoint_auth_method=PrivateKeyJWT(alg="ES256"),
            redirect_uri=RP_REDIRECT,
            scope="openid profile region",
            code_challenge_method="S256",
        )
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(8)
        state = secrets.token_urlsafe(8)
        # PAR (RFC 9126), authenticated by Authlib's own private_key_jwt method (aud: the PAR endpoint).
        form = urlencode(
            {
                "response_type": "code",
                "client_id": rp.client_id,
                "redirect_uri": RP_REDIRECT,
                "scope": "openid profile region",
                "state": state,
                "nonce": nonce,
                "code_challenge": create_s256_code_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        par_url = metadata["pushed_authorization_request_endpoint"]
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        auth = client.client_auth(client.token_endpoint_auth_method)
        _, headers, body = auth.prepare("POST", par_url, headers, form)
        pushed = httpx.post(par_url, content=body, headers=headers)
        assert pushed.status_code == 201, pushed.text
        authorize_url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"], request_uri=pushed.json()["request_uri"]
        )
        location = _login_in_browser(base, authorize_url, essc_no)
        assert parse_qs(urlsplit(location).query)["state"] == [state]
        # A wrong verifier and a mismatched redirect URI are refused, spending nothing.
        with pytest.raises(AuthlibOAuthError) as wrong_verifier:
            client.fetch_token(
                metadata["token_endpoint"],
                authorization_response=location,
                code_verifier=secrets.token_urlsafe(48),
                state=state,
            )
        assert wrong_verifier.value.error == "invalid_grant"
        with pytest.raises(AuthlibOAuthError) as wrong_redirect:
            client.fetch_token(
                metadata["token_endpoint"],
                authorization_response=location,
                code_verifier=verifier,
                state=state,
                redirect_uri="https://rp.test/elsewhere",
            )
        assert wrong_redirect.value.error == "invalid_grant"
        token = client.fetch_token(
            metadata["token_endpoint"],
            authorization_response=location,
            code_verifier=verifier,
            state=state,
        )
        jwks = KeySet.import_key_set(httpx.get(metadata["jwks_uri"]).json())
        claims = jwt.decode(token["id_token"], jwks, algorithms=["ES256"]).claims
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": base},
            aud={"essential": True, "value": rp.client_id},
            nonce={"essential": True, "value": nonce},
        ).validate(claims)
        userinfo = client.get(metadata["userinfo_endpoint"]).json()
        assert userinfo["sub"] == claims["sub"]
        first_refresh = token["refresh_token"]
        renewed = client.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
        assert renewed["refresh_token"] != first_refresh
        # The rotated-away refresh token presented again: refused, and the whole family revoked.
        with pytest.raises(AuthlibOAuthError) as reused:
            client.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
        assert reused.value.error == "invalid_grant"
        with pytest.raises(AuthlibOAuthError) as family:
            client.refresh_token(metadata["token_endpoint"], refresh_token=renewed["refresh_token"])
        assert family.value.error == "invalid_grant"
        # A replayed code is refused with invalid_grant.
        with pytest.raises(AuthlibOAuthError) as replayed:
            client.fetch_token(
                metadata["token_endpoint"],
                authorization_response=location,
                code_verifier=verifier,
                state=state,
            )
        assert replayed.value.error == "invalid_grant"
        client.close()


def test_authlib_completes_a_login_by_scan_to_login_confirmed_in_a_channel_app(platform: Platform) -> None:
    platform.clock = SystemClock()  # the client signs assertions with the real time
    http = app_client(platform)
    person = login_holder(platform, http)
    rp = relying_party(platform)
    port = free_port()
    platform.settings.public_url = f"http://127.0.0.1:{port}"
    with served(platform, port) as base:
        metadata = httpx.get(f"{base}/.well-known/openid-configuration").json()
        client = OAuth2Client(
            client_id=rp.client_id,
            client_secret=rp.signing,
            token_endpoint_auth_method=PrivateKeyJWT(alg="ES256"),
            redirect_uri=RP_REDIRECT,
            scope="openid",
            code_challenge_method="S256",
        )
        verifier, nonce, state = secrets.token_urlsafe(48), secrets.token_urlsafe(8), secrets.token_urlsafe(8)
        form = urlencode(
            {
                "response_type": "code",
                "client_id": rp.client_id,
                "redirect_uri": RP_REDIRECT,
                "scope": "openid",
                "state": state,
                "nonce": nonce,
                "code_challenge": create_s256_code_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        par_url = metadata["pushed_authorization_request_endpoint"]
        auth = client.client_auth(client.token_endpoint_auth_method)
        _, headers, body = auth.prepare(
            "POST", par_url, {"Content-Type": "application/x-www-form-urlencoded"}, form
        )
        pushed = httpx.post(par_url, content=body, headers=headers)
        assert pushed.status_code == 201, pushed.text
        authorize_url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"], request_uri=pushed.json()["request_uri"]
        )
        with httpx.Client(base_url=base, follow_redirects=False) as browser:
            page = scan_page_of(browser.get(authorize_url).text)
            assert browser.get(page.poll).status_code == 200  # the page waits for the app
            confirm_in_app(platform, person.app, person.sign_no, page.code)
            done = browser.get(page.poll)
            assert done.status_code == 303, done.text
            location = done.headers["location"]
        token = client.fetch_token(
            metadata["token_endpoint"], authorization_response=location, code_verifier=verifier, state=state
        )
        jwks = KeySet.import_key_set(httpx.get(metadata["jwks_uri"]).json())
        claims = jwt.decode(token["id_token"], jwks, algorithms=["ES256"]).claims
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": base},
            aud={"essential": True, "value": rp.client_id},
            nonce={"essential": True, "value": nonce},
        ).validate(claims)
        assert client.get(metadata["userinfo_endpoint"]).json()["sub"] == claims["sub"]
        client.close()

"""A relying party and a kiosk holder driving the provider through the test client (helpers, not tests)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from joserfc import jwt

from essc.core.platform import Platform
from essc.oidc.service import ASSERTION_TYPE, Endpoints
from factories import KIOSK_PASSWORD, RP_REDIRECT, RelyingPartyClient

INTERACTION = re.compile(r'name="interaction" value="([^"]+)"')


def assertion(platform: Platform, rp: RelyingPartyClient, aud: str | None = None, **changes: Any) -> str:
    now = int(platform.clock.now().timestamp())
    claims = {
        "iss": rp.client_id,
        "sub": rp.client_id,
        "aud": aud or Endpoints.of(platform).token,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    } | changes
    alg = "SM2SM3" if rp.signing.get("crv") == "SM2" else "ES256"
    return jwt.encode({"alg": alg, "kid": rp.signing.kid}, claims, rp.signing, algorithms=[alg])


def client_auth(platform: Platform, rp: RelyingPartyClient, **changes: Any) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion(platform, rp, **changes)}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Pushed:
    request_uri: str
    verifier: str
    state: str
    nonce: str


def push(
    http: TestClient, platform: Platform, rp: RelyingPartyClient, scope: str = "openid", **changes: str
) -> Pushed:
    verifier, challenge = pkce()
    state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
    form = (
        {
            "response_type": "code",
            "client_id": rp.client_id,
            "redirect_uri": RP_REDIRECT,
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        | client_auth(platform, rp)
        | changes
    )
    answer = http.post("/oidc/par", data=form)
    assert answer.status_code == 201, answer.text
    return Pushed(answer.json()["request_uri"], verifier, state, nonce)


def open_page(http: TestClient, rp: RelyingPartyClient, pushed: Pushed) -> str:
    page = http.get("/oidc/authorize", params={"client_id": rp.client_id, "request_uri": pushed.request_uri})
    assert page.status_code == 200, page.text
    found = INTERACTION.search(page.text)
    assert found is not None
    return found.group(1)


def kiosk(
    http: TestClient, interaction: str, essc_no: str, password: str = KIOSK_PASSWORD, **extra: str
) -> Any:
    form = {"interaction": interaction, "essc_no": essc_no, "password": password} | extra
    return http.post("/oidc/authorize/kiosk", data=form, follow_redirects=False)


def code_of(answer: Any) -> dict[str, str]:
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(RP_REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def login(
    http: TestClient,
    platform: Platform,
    rp: RelyingPartyClient,
    essc_no: str,
    scope: str = "openid",
    **extra: str,
) -> tuple[Pushed, dict[str, str]]:
    pushed = push(http, platform, rp, scope)
    return pushed, code_of(kiosk(http, open_page(http, rp, pushed), essc_no, **extra))


def redeem(
    http: TestClient, platform: Platform, rp: RelyingPartyClient, the_code: str, verifier: str, **changes: str
) -> Any:
    form = (
        {
            "grant_type": "authorization_code",
            "code": the_code,
            "redirect_uri": RP_REDIRECT,
            "code_verifier": verifier,
        }
        | client_auth(platform, rp)
        | changes
    )
    return http.post("/oidc/token", data=form)


def refresh(http: TestClient, platform: Platform, rp: RelyingPartyClient, token: str) -> Any:
    form = {"grant_type": "refresh_token", "refresh_token": token} | client_auth(platform, rp)
    return http.post("/oidc/token", data=form)

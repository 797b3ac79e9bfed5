"""A relying party and a kiosk holder driving the provider through the test client (helpers, not tests)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from html import unescape
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


# -- scan-to-login, app-to-app and the third-generation card (issue 13) -------------------------------------

SCAN_LINK = re.compile(r'href="(/oidc/authorize/scan\?[^"]+)"')
CHIP_CHALLENGE = re.compile(r'name="chip_challenge" value="([0-9a-f]{64})"')


@dataclass
class ScanPage:
    """The login page's scan-to-login code as the browser shows it, and the URL the page polls."""

    interaction: str
    code: str
    poll: str
    html: str


def scan_page(http: TestClient, rp: RelyingPartyClient, pushed: Pushed) -> ScanPage:
    page = http.get("/oidc/authorize", params={"client_id": rp.client_id, "request_uri": pushed.request_uri})
    assert page.status_code == 200, page.text
    return scan_page_of(page.text)


def scan_page_of(html: str) -> ScanPage:
    found = SCAN_LINK.search(html)
    assert found is not None, html
    poll = unescape(found.group(1))
    query = parse_qs(urlsplit(poll).query)
    return ScanPage(query["interaction"][0], query["code"][0], poll, html)


def confirm_in_app(platform: Platform, app: Any, sign_no: str, code: str) -> None:
    """The holder scans the page's code in the channel app and confirms it (busiSeq of purpose login)."""
    from factories import busi_seq

    app.client.post("/v1/login-codes/scan", {"code": code, "signNo": sign_no})
    seq = busi_seq(platform, app, sign_no, "login")
    app.client.post("/v1/login-codes/confirm", {"code": code, "signNo": sign_no, "busiSeq": seq})


def poll(http: TestClient, page: ScanPage) -> Any:
    return http.get(page.poll, follow_redirects=False)


def scan_login(
    http: TestClient,
    platform: Platform,
    rp: RelyingPartyClient,
    app: Any,
    sign_no: str,
    scope: str = "openid",
) -> tuple[Pushed, dict[str, str]]:
    """A complete scan-to-login: PAR, the page, the app's confirmation, the poll redirecting with the code."""
    pushed = push(http, platform, rp, scope)
    page = scan_page(http, rp, pushed)
    confirm_in_app(platform, app, sign_no, page.code)
    return pushed, code_of(poll(http, page))


def app_approval(
    platform: Platform, app: Any, rp: RelyingPartyClient, pushed: Pushed, sign_no: str, **changes: Any
) -> dict[str, Any]:
    """The channel app approves the pushed request for its holder (signed; busiSeq of purpose login)."""
    from factories import busi_seq

    body = {
        "clientId": rp.client_id,
        "requestUri": pushed.request_uri,
        "signNo": sign_no,
        "busiSeq": busi_seq(platform, app, sign_no, "login"),
    } | changes
    answer: dict[str, Any] = app.client.post("/v1/oidc/app-logins", body)
    return answer


def chip_form(
    html: str, chip: Any, aab301: str, password: str = KIOSK_PASSWORD, **changes: str
) -> dict[str, str]:
    """What the kiosk posts after its reader had the card's chip sign the page's challenge."""
    interaction = INTERACTION.search(html)
    challenge = CHIP_CHALLENGE.search(html)
    assert interaction is not None
    assert challenge is not None
    signature = base64.b64encode(chip.answer(bytes.fromhex(challenge.group(1)))).decode()
    return {
        "interaction": interaction.group(1),
        "aab301": aab301,
        "aaz500": chip.aaz500,
        "chip_signature": signature,
        "password": password,
    } | changes

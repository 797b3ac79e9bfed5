"""A reference relying party on httpx and joserfc: the driver endpoints and a back-channel logout receiver.

It passes the relying-party plan. `RpFaults` turns it into the deliberately broken relying parties the tests
expect the kit to catch, each with one fault a real integration could have.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import orjson
from fastapi import FastAPI, Request, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from essc_conformance.driver import RpStep, StepAnswer

CALLBACK_PATH: Final = "/callback"
LOGOUT_PATH: Final = "/backchannel-logout"
ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
BACKCHANNEL_EVENT: Final = "http://schemas.openid.net/event/backchannel-logout"
LEEWAY_SECONDS: Final = 30
ASSERTION_SECONDS: Final = 60
_FIXED_VERIFIER: Final = "v" * 64  # the broken RP's "verifier" that never changes


@dataclass(frozen=True, slots=True)
class RpFaults:
    """Deliberate faults of a broken relying party; all off is the reference relying party."""

    parameters_in_authorization_url: bool = False  # sends the browser to /authorize with its parameters too
    fixed_pkce_verifier: bool = False  # one code_verifier for every login
    reused_assertion_jti: bool = False  # one jti for every client assertion
    skip_signature_check: bool = False  # reads the ID token without verifying its signature
    skip_issuer_check: bool = False
    skip_audience_check: bool = False
    skip_expiry_check: bool = False
    skip_nonce_check: bool = False
    accept_any_logout_token: bool = False  # ends sessions on any logout_token, unverified
    keep_session_on_logout: bool = False  # answers 200 to a valid logout token and ends nothing
    no_refresh_rotation: bool = False  # keeps presenting its first refresh token


class TokenRefused(Exception):
    """A token the relying party refuses; code names why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass
class RpSession:
    """One holder's session at the relying party."""

    sub: str
    sid: str | None
    refresh_token: str
    active: bool = True


@dataclass(frozen=True, slots=True)
class _Pending:
    nonce: str
    verifier: str


def _unverified(token: str) -> dict[str, Any]:
    payload = token.split(".")[1] if token.count(".") == 2 else ""
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise TokenRefused("token_malformed", "the token is not a JWT") from exc
    if not isinstance(claims, dict):
        raise TokenRefused("token_malformed", "the token's payload is not an object")
    return claims


@dataclass
class ReferenceRelyingParty:
    """A relying party's server side: logs holders in with PAR, PKCE S256 and private_key_jwt."""

    client_id: str
    signing_key: ECKey  # its private P-256 key; the public half is registered in its JWKS
    redirect_uri: str
    faults: RpFaults = field(default_factory=RpFaults)
    http_factory: Callable[[str], httpx.Client] = lambda url: httpx.Client(base_url=url, timeout=15.0)
    clock: Callable[[], float] = time.time
    issuer: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    keys: KeySet | None = None
    http: httpx.Client | None = None
    sessions: dict[str, RpSession] = field(default_factory=dict)
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _logout_jtis: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- the driver contract -------------------------------------------------------------------------

    def step(self, step: RpStep, payload: dict[str, Any]) -> StepAnswer:
        """Perform one step of the driver contract; every failure becomes a named error answer."""
        try:
            return self._step(step, payload)
        except TokenRefused as exc:
            return StepAnswer.failure(exc.code, exc.detail)
        except httpx.TransportError as exc:
            return StepAnswer.failure("platform_unreachable", f"{type(exc).__name__}: {exc}")
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            return StepAnswer.failure("provider_refused", f"{exc.request.url} answered {status}")
        except (KeyError, TypeError, ValueError) as exc:
            return StepAnswer.failure("bad_step_request", f"{type(exc).__name__}: {exc}")

    def _step(self, step: RpStep, payload: dict[str, Any]) -> StepAnswer:
        if step is RpStep.SETUP:
            return self._setup(str(payload["issuer"]))
        if step is RpStep.LOGIN:
            return StepAnswer.success(authorizationUrl=self._login())
        if step is RpStep.CALLBACK:
            return self._callback(str(payload["url"]))
        session = self.sessions.get(str(payload["session"]))
        if session is None:
            return StepAnswer.failure("unknown_session", f"no session {payload['session']!r}")
        if step is RpStep.REFRESH:
            return self._refresh(session)
        if step is RpStep.SESSION:
            return StepAnswer.success(active=session.active)
        return StepAnswer.failure("unknown_step", f"this relying party does not know step {step.value}")

    def _client(self) -> httpx.Client:
        if self.http is None:
            raise TokenRefused("relying_party_not_set_up", "call the setup step first")
        return self.http

    def _setup(self, issuer: str) -> StepAnswer:
        self.http = self.http_factory(issuer)
        metadata = self.http.get("/.well-known/openid-configuration").raise_for_status().json()
        if metadata.get("issuer") != issuer:
            return StepAnswer.failure("issuer_mismatch", f"discovery names issuer {metadata.get('issuer')!r}")
        self.issuer, self.metadata = issuer, metadata
        self.keys = KeySet.import_key_set(self.http.get(metadata["jwks_uri"]).raise_for_status().json())
        return StepAnswer.success()

    def _assertion(self, audience: str) -> dict[str, str]:
        now = int(self.clock())
        jti = "fixed-jti" if self.faults.reused_assertion_jti else uuid.uuid4().hex
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "iat": now,
            "exp": now + ASSERTION_SECONDS,
            "jti": jti,
        }
        header = {"alg": "ES256", "kid": self.signing_key.kid}
        signed = jwt.encode(header, claims, self.signing_key, algorithms=["ES256"])
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": signed}

    def _login(self) -> str:
        """Push the authorization request; the URL the holder's browser goes to."""
        verifier = _FIXED_VERIFIER if self.faults.fixed_pkce_verifier else secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid",
            "state": state,
            "nonce": nonce,
            "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"),
            "code_challenge_method": "S256",
        }
        endpoint = self.metadata["pushed_authorization_request_endpoint"]
        answer = self._client().post(endpoint, data=params | self._assertion(self.issuer))
        if answer.status_code != 201:
            raise TokenRefused("par_refused", f"PAR answered {answer.status_code}: {answer.text[:200]}")
        with self._lock:
            self._pending[state] = _Pending(nonce, verifier)
        query = {"client_id": self.client_id, "request_uri": answer.json()["request_uri"]}
        if self.faults.parameters_in_authorization_url:
            query = params | query
        return f"{self.metadata['authorization_endpoint']}?{urlencode(query)}"

    def _callback(self, url: str) -> StepAnswer:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        with self._lock:
            pending = self._pending.pop(query.get("state", ""), None)
        if pending is None:
            return StepAnswer.failure("state_unknown", "the redirect's state is no login this RP started")
        if query.get("iss") != self.issuer:
            return StepAnswer.failure("issuer_mismatch", "the redirect's iss is not the provider's issuer")
        form = {
            "grant_type": "authorization_code",
            "code": query.get("code", ""),
            "redirect_uri": self.redirect_uri,
            "code_verifier": pending.verifier,
        }
        tokens = self._tokens(form)
        claims = self.validate_id_token(str(tokens.get("id_token", "")), nonce=pending.nonce)
        session_id = secrets.token_urlsafe(16)
        sid = claims.get("sid")
        with self._lock:
            self.sessions[session_id] = RpSession(
                str(claims["sub"]), sid if isinstance(sid, str) else None, str(tokens["refresh_token"])
            )
        return StepAnswer.success(session=session_id, sub=str(claims["sub"]))

    def _tokens(self, form: dict[str, str]) -> dict[str, Any]:
        endpoint = self.metadata["token_endpoint"]
        answer = self._client().post(endpoint, data=form | self._assertion(self.issuer))
        if answer.status_code != 200:
            raise TokenRefused("token_refused", f"the token endpoint answered {answer.status_code}")
        tokens: dict[str, Any] = answer.json()
        return tokens

    def _refresh(self, session: RpSession) -> StepAnswer:
        tokens = self._tokens({"grant_type": "refresh_token", "refresh_token": session.refresh_token})
        claims = self.validate_id_token(str(tokens.get("id_token", "")), nonce=None)
        if claims.get("sub") != session.sub:
            return StepAnswer.failure("id_token_subject_changed", "the refreshed ID token names another sub")
        if not self.faults.no_refresh_rotation:
            session.refresh_token = str(tokens["refresh_token"])
        return StepAnswer.success()

    # --- token validation ----------------------------------------------------------------------------

    def _verified(self, token: str) -> dict[str, Any]:
        """The claims of a JWT whose ES256 signature verifies under the provider's published JWKS."""
        if self.faults.skip_signature_check:
            return _unverified(token)
        if self.keys is None:
            raise TokenRefused("relying_party_not_set_up", "no JWKS: call the setup step first")
        try:
            return dict(jwt.decode(token, self.keys, algorithms=["ES256"]).claims)
        except (JoseError, ValueError) as exc:
            raise TokenRefused("token_signature_invalid", f"signature does not verify: {exc}") from exc

    def _common_claims(self, claims: dict[str, Any]) -> None:
        now = self.clock()
        if not self.faults.skip_issuer_check and claims.get("iss") != self.issuer:
            raise TokenRefused("token_issuer_wrong", f"iss {claims.get('iss')!r} is not {self.issuer!r}")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not self.faults.skip_audience_check and self.client_id not in audiences:
            raise TokenRefused("token_audience_wrong", f"aud {aud!r} does not name this client")
        exp = claims.get("exp")
        expired = not isinstance(exp, int | float) or exp + LEEWAY_SECONDS <= now
        if not self.faults.skip_expiry_check and expired:
            raise TokenRefused("token_expired", f"exp {exp!r} has passed")

    def validate_id_token(self, token: str, *, nonce: str | None) -> dict[str, Any]:
        """An ID token's claims once signature, iss, aud, exp and (at login) the login's nonce check out."""
        claims = self._verified(token)
        self._common_claims(claims)
        if nonce is not None and not self.faults.skip_nonce_check and claims.get("nonce") != nonce:
            raise TokenRefused("id_token_nonce_wrong", "the ID token's nonce is not this login's")
        if not isinstance(claims.get("sub"), str):
            raise TokenRefused("id_token_malformed", "the ID token has no sub")
        return claims

    # --- back-channel logout -------------------------------------------------------------------------

    def receive_logout(self, logout_token: str) -> tuple[int, str]:
        """(HTTP status, reason) for one logout token (Back-Channel Logout 1.0 §2.6)."""
        try:
            claims = _unverified(logout_token) if self.faults.accept_any_logout_token else None
            if claims is None:
                claims = self._verified(logout_token)
                self._common_claims(claims)
                events = claims.get("events")
                if not isinstance(events, dict) or BACKCHANNEL_EVENT not in events:
                    raise TokenRefused("logout_token_invalid", "no back-channel logout event")
                if "nonce" in claims or not (claims.get("sid") or claims.get("sub")):
                    raise TokenRefused("logout_token_invalid", "a nonce, or neither sid nor sub")
                jti = claims.get("jti")
                with self._lock:
                    if not isinstance(jti, str) or jti in self._logout_jtis:
                        raise TokenRefused("logout_token_invalid", "no jti, or one seen before")
                    self._logout_jtis.add(jti)
        except TokenRefused as exc:
            return 400, f"{exc.code}: {exc.detail}"
        if self.faults.keep_session_on_logout:
            return 200, "logged out"
        ended = 0
        with self._lock:
            for session in self.sessions.values():
                if (claims.get("sid") and session.sid == claims.get("sid")) or (
                    not claims.get("sid") and session.sub == claims.get("sub")
                ):
                    session.active = False
                    ended += 1
        return 200, f"{ended} session(s) ended"


def rp_reference_app(rp: ReferenceRelyingParty) -> FastAPI:
    """The relying party's HTTP side: POST /conformance/{step} and its back-channel logout URI."""
    app = FastAPI(title="essc reference relying party", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/conformance/{step}")
    def drive(step: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            the_step = RpStep(step)
        except ValueError:
            return StepAnswer.failure("unknown_step", f"no step {step!r}").as_wire()
        return rp.step(the_step, payload).as_wire()

    @app.post(LOGOUT_PATH)
    async def logout(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        status, reason = rp.receive_logout((form.get("logout_token") or [""])[0])
        headers = {"Cache-Control": "no-store"}
        body = orjson.dumps({"result": reason})
        return Response(body, status_code=status, media_type="application/json", headers=headers)

    return app

"""The relying-party plan: an RP logs a sandbox holder in, is fed forged tokens, and is logged out."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
from joserfc import jwt
from joserfc.jwk import ECKey

from essc.authorisations import service as authorisations
from essc.channels import service as channels
from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.ecards import service as ecards
from essc.ecards.schemas import IssueRequest
from essc.kit.ids import new_id
from essc.oidc import delivery, repository
from essc.oidc import service as oidc
from essc.oidc.keys import ES256, signing_keys
from essc.shared.callers import Environment
from essc.shared.policy import Function
from essc_conformance import checks, report
from essc_conformance.driver import RelyingPartyDriver, RpStep, StepAnswer
from essc_conformance.kit import password_for, test_persons
from essc_conformance.proxy import HEADER_KIT_BROWSER, FaultKind, RecordingProxy
from essc_conformance.report import Case, Plan

LOGIN = (Function.LOGIN,)
_INTERACTION = re.compile(r'name="interaction" value="([^"]+)"')
HOLDER_APP_KEY_ID = "sbx-holder"


class LogoutPoster(Protocol):
    """POSTs logout_token=<jwt> as a form to a relying party; the HTTP status (oidc.delivery's sender)."""

    def post(self, url: str, logout_token: str, timeout: float) -> int: ...


@dataclass(frozen=True, slots=True)
class SandboxHolder:
    """The kit's test holder: an e-card with a password, in a province that enabled login."""

    province: str
    ecard_id: str
    essc_no: str
    password: str


@dataclass
class Login:
    """One login the kit made the relying party perform."""

    authorization_url: str = ""
    redirect: str = ""  # the redirect the browser got (code and state), or why there was none
    answer: StepAnswer | None = None

    @property
    def session(self) -> str | None:
        value = self.answer.data.get("session") if self.answer and self.answer.ok else None
        return value if isinstance(value, str) else None


class RecordingPoster:
    """Posts logout tokens through the given sender and keeps each answer for the report."""

    def __init__(self, inner: LogoutPoster) -> None:
        self.inner = inner
        self.statuses: list[int | str] = []

    def post(self, url: str, logout_token: str, timeout: float) -> int:
        try:
            status = self.inner.post(url, logout_token, timeout)
        except Exception as exc:
            self.statuses.append(type(exc).__name__)
            raise
        self.statuses.append(status)
        return status


@dataclass
class RelyingPartyKit:
    """One run of the relying-party plan on a relying party registered in the sandbox."""

    platform: Platform
    proxy: RecordingProxy
    platform_url: str  # the issuer as the relying party reaches it: the proxy
    client_id: str
    driver: RelyingPartyDriver
    browser: httpx.Client  # the kit's stand-in for the holder's browser, through the proxy
    logout: LogoutPoster
    province: str = "44"
    environment: str = Environment.SANDBOX.value
    validity: timedelta = report.DEFAULT_VALIDITY
    cases: list[Case] = field(default_factory=list)

    def run(self) -> dict[str, Any]:
        """Run the plan and return the unsigned report."""
        started, clock_started = self.platform.clock.now(), time.monotonic()
        holder = self._sandbox_holder()
        self._plan(holder)
        finished = max(self.platform.clock.now(), started)
        return report.build_relying_party(
            report_id=new_id(),
            client_id=self.client_id,
            environment=self.environment,
            platform_url=self.platform_url,
            key_thumbprints=self._thumbprints(),
            cases=self.cases,
            started_at=started,
            finished_at=finished,
            run_seconds=time.monotonic() - clock_started,
            validity=self.validity,
        )

    def run_signed(self) -> dict[str, Any]:
        return report.sign(self.run(), self.platform.keys.signer())

    # --- helpers -------------------------------------------------------------------------------------

    def _case(self, case_id: str, title: str, outcome: str | None) -> bool:
        """Record a case: outcome None passed, else it says what went wrong and what was expected."""
        passed = outcome is None
        self.cases.append(Case(case_id, Plan.RELYING_PARTY, title, passed, outcome or "as expected", LOGIN))
        return passed

    def _drive(self, case_id: str, step: RpStep, payload: dict[str, Any]) -> StepAnswer:
        self.proxy.step = case_id
        return self.driver.step(step, payload)

    def _uow(self, actor: Actor, **context: str) -> UnitOfWork:
        return UnitOfWork(self.platform, RequestContext(actor=actor, **context))

    def _thumbprints(self) -> list[str]:
        with self._uow(Actor.operator("conformance")) as uow:
            rp = repository.relying_party(uow.session, self.client_id)
            jwks = orjson.loads(rp.jwks) if rp is not None else {"keys": []}
        return [ECKey.import_key(k).thumbprint() for k in jwks["keys"] if k.get("use", "sig") == "sig"]

    def _sandbox_holder(self) -> SandboxHolder:
        """A fresh test person with an e-card and password, issued by the kit's own holder app."""
        person = test_persons(self.platform, self.province, 1)[0]
        number = f"{4480000000 + secrets.randbelow(10_000_000)}"
        key = self.platform.suite.generate_private_key()
        with self._uow(Actor.operator("conformance")) as uow:
            app = channels.register(
                uow,
                number,
                f"Conformance holder app {number}",
                channels.ChannelType.HRSS_APP,
                webhook_url=None,
                keys=[
                    channels.NewKey(HOLDER_APP_KEY_ID, key.public_key().to_pem(), Environment.SANDBOX),
                    channels.NewKey("prd-holder", key.public_key().to_pem(), Environment.PRODUCTION),
                ],
            )
            functions = [Function.ISSUANCE, Function.LOGIN]
            channels.commission(uow, app, functions, attested_by="conformance-sandbox")
            authorisations.open_everywhere(uow, app, functions, [self.province], by="operator/conformance")
            uow.commit()
        password = password_for(person)
        actor = Actor(kind="channel", id=number)
        context = {"function": Function.ISSUANCE.value, "environment": self.environment}
        with self._uow(actor, **context) as uow:
            app = channels.by_number(uow, number)
            attestation = {
                "method": "face",
                "provider": "conformance-sandbox-face",
                "reference": secrets.token_hex(8),
                "score": 95,
                "checkedAt": self.platform.clock.now().isoformat(),
            }
            body = {
                "aab301": person.aab301,
                "aac002": person.aac002,
                "aac003": person.aac003,
                "aaz500": person.aaz500,
                "attestation": attestation,
            }
            # The evidence of a sandbox issuance the kit made itself: no channel signed it.
            digest = hashlib.sha256(orjson.dumps(body)).hexdigest()
            issued = ecards.issue(uow, app, IssueRequest.model_validate(body), "conformance-sandbox", digest)
            ecards.set_password(uow, app, issued.sign_no, password)
            _issuance, ecard, _person, _card = ecards.authorise_sign_no(uow, app, issued.sign_no)
            holder = SandboxHolder(ecard.province, ecard.id, ecard.essc_no, password)
            uow.commit()
        return holder

    def _browse(self, authorization_url: str, holder: SandboxHolder) -> str:
        """The holder's browser: open the login page, submit e-card number and password; the redirect."""
        parts = urlsplit(authorization_url)
        marked = {HEADER_KIT_BROWSER: "1"}
        page = self.browser.get(f"{parts.path}?{parts.query}", headers=marked)
        found = _INTERACTION.search(page.text)
        if page.status_code != 200 or found is None:
            raise _NoRedirect(f"the login page for the relying party's URL answered {page.status_code}")
        answer = self.browser.post(
            "/oidc/authorize/kiosk",
            data={"interaction": found.group(1), "essc_no": holder.essc_no, "password": holder.password},
            headers=marked,
        )
        location = answer.headers.get("location")
        if answer.status_code != 303 or not location:
            raise _NoRedirect(f"the holder's login answered {answer.status_code}, not a redirect with a code")
        return str(location)

    def _login(self, case_id: str, holder: SandboxHolder) -> Login:
        """The relying party starts a login, the holder logs in, the relying party gets the redirect."""
        login = Login()
        started = self._drive(case_id, RpStep.LOGIN, {})
        url = started.data.get("authorizationUrl") if started.ok else None
        if not isinstance(url, str):
            login.answer = StepAnswer.failure(
                "no_authorization_url", f"login answered {started.describe()}; expected an authorizationUrl"
            )
            return login
        login.authorization_url = url
        try:
            login.redirect = self._browse(url, holder)
        except _NoRedirect as exc:
            login.answer = StepAnswer.failure("no_redirect", str(exc))
            return login
        login.answer = self._drive(case_id, RpStep.CALLBACK, {"url": login.redirect})
        return login

    def _active(self, case_id: str, session: str | None) -> bool | str:
        if session is None:
            return "no session"
        seen = self._drive(case_id, RpStep.SESSION, {"session": session})
        active = seen.data.get("active") if seen.ok else None
        return active if isinstance(active, bool) else f"the session step answered {seen.describe()}"

    def _platform_signed(self, claims: dict[str, Any], typ: str = "JWT", key: ECKey | None = None) -> str:
        """A JWT under the platform's ES256 key id, signed by that key or by `key` (a forgery)."""
        platform_key = signing_keys(self.platform.keys).for_algorithm(ES256)
        header = {"alg": ES256, "kid": platform_key.kid, "typ": typ}
        return jwt.encode(header, claims, key or platform_key, algorithms=[ES256])

    # --- the plan ------------------------------------------------------------------------------------

    def _plan(self, holder: SandboxHolder) -> None:
        setup = self._drive(
            "relying-party.setup", RpStep.SETUP, {"issuer": self.platform_url, "clientId": self.client_id}
        )
        self._case(
            "relying-party.setup",
            "Reads the provider's discovery document and JWKS",
            None if setup.ok else f"setup answered {setup.describe()}; expected ok",
        )
        first = self._login("relying-party.login", holder)
        active = self._active("relying-party.login", first.session)
        outcome = None
        if first.answer is None or not first.answer.ok:
            described = first.answer.describe() if first.answer else "nothing"
            outcome = f"the login ended with {described}; expected a session for the holder"
        elif active is not True:
            outcome = f"after the login the relying party shows its session as {active}; expected active"
        self._case("relying-party.login", "Logs a holder in (PAR, code, PKCE, private_key_jwt)", outcome)
        second = self._login("relying-party.login-again", holder)
        problems = checks.authorization_url_faults(first.authorization_url) if first.authorization_url else []
        problems += checks.par_faults(self.proxy.exchanges)
        self._case(
            "relying-party.par",
            "Pushes every authorization request (PAR) and sends the browser with its request_uri only",
            "; ".join(problems) or None,
        )
        problems = checks.pkce_faults(self.proxy.exchanges)
        if second.answer is None or not second.answer.ok:
            problems.append(
                "a second login failed, so no fresh verifier could be observed "
                f"({second.answer.describe() if second.answer else 'nothing'})"
            )
        outcome = "; ".join(problems) or None
        self._case("relying-party.pkce", "PKCE S256 with a fresh verifier per login", outcome)
        self._refresh(first.session)
        self._forged_id_tokens(holder)
        problems = checks.client_auth_faults(self.proxy.exchanges)
        self._case(
            "relying-party.client-auth",
            "private_key_jwt on every PAR and token request, a fresh jti each",
            "; ".join(problems) or None,
        )
        self._logout(holder, [s for s in (first.session, second.session) if s is not None])

    def _refresh(self, session: str | None) -> None:
        case_id = "relying-party.refresh-rotation"
        answers = [self._drive(case_id, RpStep.REFRESH, {"session": session or ""}) for _ in range(2)]
        problems = [
            f"refresh {n} answered {a.describe()}; expected ok" for n, a in enumerate(answers, 1) if not a.ok
        ]
        problems += checks.refresh_rotation_faults(e for e in self.proxy.exchanges if e.step == case_id)
        title = "Rotates refresh tokens (each refresh presents the last one given)"
        self._case(case_id, title, "; ".join(problems) or None)

    def _forged_id_tokens(self, holder: SandboxHolder) -> None:
        now = int(self.platform.clock.now().timestamp())
        first_nonce = next(
            (
                dict(parse_qsl(e.body.decode("utf-8", "replace"))).get("nonce")
                for e in self.proxy.exchanges
                if e.step == "relying-party.login" and e.path == "/oidc/par"
            ),
            None,
        )
        stranger = ECKey.generate_key("P-256")
        forgeries: list[tuple[str, str, Callable[[dict[str, Any]], str]]] = [
            (
                "signature",
                "an ID token whose signature does not verify under the published JWKS",
                lambda c: self._platform_signed(c, key=stranger),
            ),
            (
                "issuer",
                "an ID token of another issuer",
                lambda c: self._platform_signed(c | {"iss": "https://not-the-issuer.essc.test"}),
            ),
            (
                "audience",
                "an ID token for another relying party",
                lambda c: self._platform_signed(c | {"aud": "another-relying-party"}),
            ),
            (
                "expired",
                "an ID token that expired an hour ago",
                lambda c: self._platform_signed(c | {"iat": now - 4200, "exp": now - 3600}),
            ),
            (
                "nonce",
                "an ID token replaying the nonce of an earlier login",
                lambda c: self._platform_signed(c | {"nonce": first_nonce or "an-earlier-nonce"}),
            ),
        ]
        for suffix, what, forge in forgeries:
            case_id = f"relying-party.id-token.{suffix}"

            def rewrite(body: bytes, forge: Callable[[dict[str, Any]], str] = forge) -> bytes:
                tokens = orjson.loads(body)
                tokens["id_token"] = forge(checks.jwt_claims(str(tokens.get("id_token", ""))))
                return orjson.dumps(tokens)

            fault = self.proxy.arm(FaultKind.ANSWER_REWRITTEN, "POST", r"^/oidc/token$", rewrite)
            login = self._login(case_id, holder)
            self.proxy.disarm()
            outcome = None
            if not self.proxy.spent(fault):
                reason = login.answer.describe() if login.answer else "nothing"
                outcome = f"the relying party redeemed no code ({reason}), so no {what} could be served"
            elif login.answer is not None and login.answer.ok:
                outcome = (
                    f"the relying party accepted {what} and opened session {login.session!r}; "
                    "expected the callback step to answer an error"
                )
            self._case(case_id, f"Refuses {what}", outcome)

    def _logout(self, holder: SandboxHolder, sessions: list[str]) -> None:
        with self._uow(Actor.operator("conformance")) as uow:
            rp = repository.relying_party(uow.session, self.client_id)
            uri = rp.backchannel_logout_uri if rp is not None else None
            subject = oidc.subject(uow, rp, holder.province, holder.ecard_id) if rp is not None else ""
        if uri is None:
            self._case(
                "relying-party.logout.genuine",
                "Ends its session on a genuine back-channel logout token",
                "the relying party registered no backchannel_logout_uri; expected one",
            )
            return
        now = int(self.platform.clock.now().timestamp())
        genuine = {
            "iss": self.platform_url,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 120,
            "sub": subject,  # without a sid: the holder's every session at the relying party
            "events": {oidc.BACKCHANNEL_EVENT: {}},
        }
        forgeries = [
            (
                "bad-signature",
                "a logout token whose signature does not verify",
                self._platform_signed(genuine | {"jti": new_id()}, "logout+jwt", ECKey.generate_key("P-256")),
            ),
            (
                "other-audience",
                "a logout token for another relying party",
                self._platform_signed(
                    genuine | {"jti": new_id(), "aud": "another-relying-party"}, "logout+jwt"
                ),
            ),
            (
                "not-a-logout-token",
                "a token of the provider without the back-channel logout event",
                self._platform_signed({k: v for k, v in genuine.items() if k != "events"} | {"jti": "x"}),
            ),
        ]
        for suffix, what, token in forgeries:
            case_id = f"relying-party.logout.{suffix}"
            self.proxy.step = case_id
            before = [self._active(case_id, s) for s in sessions]
            status = self._post_logout(uri, token)
            after = [self._active(case_id, s) for s in sessions]
            outcome = None
            if isinstance(status, int) and 200 <= status < 300:
                outcome = f"the relying party accepted {what} with HTTP {status}; expected a refusal (400)"
            elif after != before:
                outcome = (
                    f"the relying party refused {what}, yet its sessions went from {before} to {after}; "
                    "expected no change"
                )
            self._case(case_id, f"Refuses {what}", outcome)
        self._genuine_logout(holder, uri, sessions)

    def _post_logout(self, uri: str, token: str) -> int | str:
        try:
            return self.logout.post(uri, token, self.platform.settings.webhook_timeout_seconds)
        except Exception as exc:  # an unreachable receiver is an outcome to report
            return f"{type(exc).__name__}: {exc}"

    def _genuine_logout(self, holder: SandboxHolder, uri: str, sessions: list[str]) -> None:
        case_id = "relying-party.logout.genuine"
        self.proxy.step = case_id
        with self._uow(Actor.operator("conformance")) as uow:
            oidc.end_sessions_of_holder(uow, holder.province, holder.ecard_id, "logout")
            uow.commit()
        poster = RecordingPoster(self.logout)
        delivery.deliver_due(self.platform, poster)
        after = [self._active(case_id, s) for s in sessions]
        outcome = None
        refused = [s for s in poster.statuses if not (isinstance(s, int) and 200 <= s < 300)]
        if not poster.statuses:
            outcome = f"the platform delivered no logout token to {uri}"
        elif refused:
            outcome = f"the relying party answered {refused} to genuine logout tokens; expected 200"
        elif not sessions or any(a is not False for a in after):
            outcome = (
                f"after genuine logout tokens (answers {poster.statuses}) its sessions are {after}; "
                "expected every session of the holder ended"
            )
        self._case(case_id, "Ends its sessions on a genuine back-channel logout token", outcome)


class _NoRedirect(Exception):
    """The holder's browser got no redirect with a code."""

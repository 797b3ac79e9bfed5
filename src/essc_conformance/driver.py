"""The driver contract: how the conformance kit makes a channel's own code perform each step.

A channel under test exposes, next to its webhook receiver, one endpoint per step::

    POST {driver_url}/conformance/{step}        Content-Type: application/json

The request body is a JSON object (the members below); the channel performs the step against the platform
with its own code (its own signing, envelopes, retries, response checks) and answers HTTP 200 with either
``{"ok": true, ...step's members}`` or ``{"ok": false, "error": {"code": "...", "detail": "..."}}``: a
refusal of the platform (its problem ``code``) or a failure of the channel's own checks (for a response
whose platform signature does not verify, a code such as ``response_signature_invalid``). Any other HTTP
status, or a body that is not such an object, is a driver failure and fails the step.

=============== ====================================================== =====================================
step            request members                                        answer members when ok
=============== ====================================================== =====================================
setup           platformUrl, channelNo, keyId                           webhookUrl (optional)
issue           person: {aab301, aac002, aac003, aaz500}               signNo, signLevel
set-password    signNo, password                                       (none)
busi-seq        signNo, purpose, method ("password" | "face"),         busiSeq
                password (method password)
level2          signNo                                                 signLevel (after 二级签发)
qr-code         signNo                                                 code (the payload ESSC:1:...)
unlink          signNo                                                 status ("unlinked")
ecard           signNo                                                 the channel's own view, as it keeps
                                                                       it from answers and webhooks:
                                                                       status, cardStatus, usable, signLevel
=============== ====================================================== =====================================

A relying party under test (the relying-party plan) exposes the same endpoint for its own steps (`RpStep`):

=============== ====================================================== =====================================
step            request members                                        answer members when ok
=============== ====================================================== =====================================
setup           issuer, clientId                                       (none); it reads discovery and JWKS
login           (none)                                                 authorizationUrl: where it sends the
                                                                       holder's browser
callback        url (the redirect the browser got, code and state)     session (its own id), sub
refresh         session                                                (none); its tokens were refreshed
session         session                                                active (bool): its own view
=============== ====================================================== =====================================

and its back-channel logout URI (registered with the provider) takes ``logout_token`` as a form POST: 200 when
it accepted the token and ended the sessions it names, 400 when it refused it.

The person's fields reach the channel in the clear here (the sandbox's synthetic test persons, as a holder
would type them in the app); on the way to the platform they must travel inside envelopes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import httpx
import orjson


class Step(StrEnum):
    SETUP = "setup"
    ISSUE = "issue"
    SET_PASSWORD = "set-password"  # noqa: S105 - a step name, not a secret
    BUSI_SEQ = "busi-seq"
    LEVEL2 = "level2"
    QR_CODE = "qr-code"
    UNLINK = "unlink"
    ECARD = "ecard"


@dataclass(frozen=True, slots=True)
class StepAnswer:
    """What the channel answered for one step."""

    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_detail: str | None = None

    @classmethod
    def success(cls, **data: Any) -> StepAnswer:
        return cls(ok=True, data=data)

    @classmethod
    def failure(cls, code: str, detail: str) -> StepAnswer:
        return cls(ok=False, error_code=code, error_detail=detail)

    def as_wire(self) -> dict[str, Any]:
        if self.ok:
            return {"ok": True, **self.data}
        return {"ok": False, "error": {"code": self.error_code, "detail": self.error_detail}}

    def describe(self) -> str:
        return "ok" if self.ok else f"error {self.error_code}: {self.error_detail}"


class RpStep(StrEnum):
    SETUP = "setup"
    LOGIN = "login"
    CALLBACK = "callback"
    REFRESH = "refresh"
    SESSION = "session"


class ChannelDriver(Protocol):
    """A channel under test, in process or behind the HTTP driver contract."""

    def step(self, step: Step, payload: dict[str, Any]) -> StepAnswer: ...


class RelyingPartyDriver(Protocol):
    """A relying party under test, in process or behind the HTTP driver contract."""

    def step(self, step: RpStep, payload: dict[str, Any]) -> StepAnswer: ...


def parse_answer(status: int, content: bytes) -> StepAnswer:
    """A driver's HTTP answer as a StepAnswer; anything off-contract is a failure named driver_invalid."""
    if status != 200:
        return StepAnswer.failure("driver_invalid", f"driver answered HTTP {status}; the contract says 200")
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return StepAnswer.failure("driver_invalid", "driver answered a body that is not JSON")
    if not isinstance(body, dict) or not isinstance(body.get("ok"), bool):
        return StepAnswer.failure("driver_invalid", 'driver answer is not an object with a boolean "ok"')
    if body["ok"]:
        return StepAnswer(ok=True, data={k: v for k, v in body.items() if k != "ok"})
    error = body["error"] if isinstance(body.get("error"), dict) else {}
    return StepAnswer.failure(str(error.get("code") or "unnamed"), str(error.get("detail") or ""))


class HttpDriver:
    """Drives a channel or relying party in any language through POST {driver_url}/conformance/{step}."""

    def __init__(self, driver_url: str, http: httpx.Client | None = None, timeout: float = 30.0) -> None:
        self.driver_url = driver_url.rstrip("/")
        self.http = http or httpx.Client(timeout=timeout)

    def step(self, step: Step | RpStep, payload: dict[str, Any]) -> StepAnswer:
        try:
            response = self.http.post(
                f"{self.driver_url}/conformance/{step.value}",
                content=orjson.dumps(payload),
                headers={"Content-Type": "application/json"},
            )
        except httpx.TransportError as exc:
            return StepAnswer.failure("driver_unreachable", f"{type(exc).__name__}: {exc}")
        return parse_answer(response.status_code, response.content)

"""A reference channel built on the SDK: the driver endpoints and a webhook receiver, as an ASGI app.

It passes both plans. `Faults` turns it into the deliberately broken channels the tests expect the kit to
catch, each with one fault a real integration could have.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from fastapi import FastAPI, Request, Response

from essc.kit import wire
from essc.kit.crypto.base import CryptoSuite, PrivateKey, PublicKey
from essc.kit.errors import EsscError
from essc_conformance.driver import Step, StepAnswer
from essc_sdk import (
    EsscClient,
    PlatformError,
    ResponseSignatureInvalid,
    WebhookSignatureInvalid,
    verify_webhook,
)
from essc_sdk.client import EncryptionKeyUntrusted

WEBHOOK_PATH = "/webhooks"
_NONCE_MEMORY_SECONDS = 900  # longer than the webhook skew window (300 s) on either side


@dataclass(frozen=True, slots=True)
class Faults:
    """Deliberate faults of a broken channel; all off is the reference channel."""

    accept_forged_webhooks: bool = False  # acts on webhooks without verifying them
    clear_personal_field: bool = False  # puts the holder's name in a query string
    reuse_nonce: bool = False  # re-sends a retry with the nonce of the failed attempt
    ignore_response_signature: bool = False  # never checks the platform's response signatures
    new_idempotency_key_on_retry: bool = False  # a retry gets a fresh Idempotency-Key


class _FaultyClient(EsscClient):
    """The SDK client with the faults of a broken channel built in (the SDK itself has none of them)."""

    def __init__(self, *args: Any, faults: Faults, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.faults = faults
        self._last: tuple[str, str, bytes, str] | None = None

    def raw(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        headers: dict[str, str] | None = None,
        nonce: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        body = b"" if json is None else orjson.dumps(json)
        the_nonce = nonce or secrets.token_urlsafe(18)
        all_headers = dict(headers or {})
        retry = self._last is not None and self._last[:3] == (method, path, body)
        if retry and self._last is not None and self.faults.reuse_nonce:
            the_nonce = self._last[3]
        if retry and self.faults.new_idempotency_key_on_retry and wire.HEADER_IDEMPOTENCY_KEY in all_headers:
            all_headers[wire.HEADER_IDEMPOTENCY_KEY] = secrets.token_urlsafe(24)
        self._last = (method, path, body, the_nonce)
        return super().raw(method, path, json, headers=all_headers, nonce=the_nonce, timestamp=timestamp)

    def verify_response(self, response: httpx.Response, nonce: str) -> None:
        # The answer is signed for the nonce that was really sent (the reused one, with reuse_nonce).
        sent = self._last[3] if self._last is not None else nonce
        super().verify_response(response, sent)


@dataclass
class EcardState:
    """What the channel knows about one of its e-cards, from answers and webhooks."""

    sign_no: str
    status: str
    card_status: str
    usable: bool
    sign_level: int

    def as_wire(self) -> dict[str, Any]:
        return {
            "signNo": self.sign_no,
            "status": self.status,
            "cardStatus": self.card_status,
            "usable": self.usable,
            "signLevel": self.sign_level,
        }


@dataclass
class ReferenceChannel:
    """A channel's server side: talks to the platform with the SDK and keeps its view of its e-cards."""

    suite: CryptoSuite
    channel_no: str
    key_id: str
    private_key: PrivateKey
    webhook_url: str | None = None
    faults: Faults = field(default_factory=Faults)
    http_factory: Callable[[str], httpx.Client] = lambda url: httpx.Client(base_url=url, timeout=15.0)
    clock: Callable[[], float] = time.time
    retries: int = 2
    backoff_seconds: float = 0.01
    client: EsscClient | None = None
    webhook_keys: dict[str, PublicKey] = field(default_factory=dict)
    ecards: dict[str, EcardState] = field(default_factory=dict)
    _seen_nonces: dict[str, float] = field(default_factory=dict)
    _seen_events: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- the driver contract -------------------------------------------------------------------------

    def step(self, step: Step, payload: dict[str, Any]) -> StepAnswer:
        """Perform one step of the driver contract; every failure becomes a named error answer."""
        try:
            return self._step(step, payload)
        except PlatformError as exc:
            return StepAnswer.failure(exc.code, str(exc.problem.get("detail", "")))
        except ResponseSignatureInvalid as exc:
            return StepAnswer.failure("response_signature_invalid", str(exc))
        except EncryptionKeyUntrusted as exc:
            return StepAnswer.failure("encryption_key_untrusted", str(exc))
        except EsscError as exc:
            return StepAnswer.failure(exc.code, exc.detail)
        except httpx.TransportError as exc:
            return StepAnswer.failure("platform_unreachable", f"{type(exc).__name__}: {exc}")
        except (KeyError, TypeError, ValueError) as exc:
            return StepAnswer.failure("bad_step_request", f"{type(exc).__name__}: {exc}")

    def _step(self, step: Step, payload: dict[str, Any]) -> StepAnswer:
        if step is Step.SETUP:
            return self._setup(str(payload["platformUrl"]))
        if step is Step.ECARD:
            state = self.ecards.get(str(payload["signNo"]))
            if state is None:
                return StepAnswer.failure(
                    "unknown_sign_no", f"this channel holds no e-card {payload['signNo']}"
                )
            return StepAnswer.success(**state.as_wire())
        client = self._client()
        if step is Step.ISSUE:
            return self._issue(client, payload["person"])
        sign_no = str(payload["signNo"])
        if step is Step.SET_PASSWORD:
            client.put(f"/v1/ecards/{sign_no}/password", {"password": str(payload["password"])})
            return StepAnswer.success()
        if step is Step.BUSI_SEQ:
            busi_seq = self._busi_seq(client, sign_no, str(payload["purpose"]), payload)
            return StepAnswer.success(busiSeq=busi_seq)
        if step is Step.LEVEL2:
            busi_seq = self._busi_seq(client, sign_no, "sign_level2", {"method": "face"})
            return StepAnswer.success(
                **self._keep(client.post(f"/v1/ecards/{sign_no}/level2", {"busiSeq": busi_seq}))
            )
        if step is Step.UNLINK:
            busi_seq = self._busi_seq(client, sign_no, "unlink", {"method": "face"})
            return StepAnswer.success(
                **self._keep(client.post(f"/v1/ecards/{sign_no}/unlink", {"busiSeq": busi_seq}))
            )
        if step is Step.QR_CODE:
            answer = client.post(f"/v1/ecards/{sign_no}/qr-codes", {"images": []})
            return StepAnswer.success(code=answer["code"], expiresAt=answer["expiresAt"])
        return StepAnswer.failure("unknown_step", f"this channel does not know step {step.value}")

    def _setup(self, platform_url: str) -> StepAnswer:
        options: dict[str, Any] = {
            "caller": f"channel/{self.channel_no}",
            "key_id": self.key_id,
            "private_key": self.private_key,
            "clock": self.clock,
            "retries": self.retries,
            "backoff_seconds": self.backoff_seconds,
        }
        http = self.http_factory(platform_url)
        client: EsscClient = (
            _FaultyClient(http, self.suite, faults=self.faults, **options)
            if self.faults != Faults()
            else EsscClient(http, self.suite, **options)
        )
        client.fetch_platform_keys()
        self.webhook_keys = dict(client.platform_keys)
        if self.faults.ignore_response_signature:
            client.platform_keys = {}  # the SDK verifies answers only against known keys
        self.client = client
        return StepAnswer.success(**({"webhookUrl": self.webhook_url} if self.webhook_url else {}))

    def _client(self) -> EsscClient:
        if self.client is None:
            raise _NotSetUp("call the setup step first")
        return self.client

    def _attestation(self) -> dict[str, Any]:
        # The sandbox's face check: a real app puts its liveness provider's result here.
        return {
            "method": "face",
            "provider": "reference-sandbox-face",
            "reference": secrets.token_hex(8),
            "score": 95,
            "checkedAt": datetime.fromtimestamp(self.clock(), UTC).isoformat(),
        }

    def _issue(self, client: EsscClient, person: dict[str, Any]) -> StepAnswer:
        body = {
            "aab301": person["aab301"],
            "aac002": person["aac002"],
            "aac003": person["aac003"],
            "aaz500": person["aaz500"],
            "attestation": self._attestation(),
        }
        answer = self._keep(client.post("/v1/ecards/issuance", body))
        if self.faults.clear_personal_field:
            # The broken channel "tags" a refresh with the holder's name, which lands in logs and proxies.
            client.get(f"/v1/ecards/{answer['signNo']}?aac003={quote(str(person['aac003']))}")
        return StepAnswer.success(**answer)

    def _busi_seq(self, client: EsscClient, sign_no: str, purpose: str, payload: dict[str, Any]) -> str:
        method = str(payload.get("method", "face"))
        body: dict[str, Any] = {"purpose": purpose, "method": method}
        if method == "password":
            body["password"] = str(payload["password"])
        else:
            body["attestation"] = self._attestation()
        return str(client.post(f"/v1/ecards/{sign_no}/busi-seqs", body)["busiSeq"])

    def _keep(self, view: dict[str, Any]) -> dict[str, Any]:
        state = EcardState(
            sign_no=str(view["signNo"]),
            status=str(view["status"]),
            card_status=str(view["cardStatus"]),
            usable=bool(view["usable"]),
            sign_level=int(view["signLevel"]),
        )
        with self._lock:
            self.ecards[state.sign_no] = state
        return state.as_wire()

    # --- webhooks ------------------------------------------------------------------------------------

    def receive_webhook(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """(HTTP status, reason) for one delivery; acts on a verified, fresh, first-seen event only."""
        now = self.clock()
        if self.faults.accept_forged_webhooks:
            event = orjson.loads(body)
        else:
            try:
                receiver = f"channel/{self.channel_no}"
                keys = self.webhook_keys
                event = verify_webhook(self.suite, keys, headers, body, receiver=receiver, now=now)
            except WebhookSignatureInvalid as exc:
                return 401, str(exc)
            nonce = {k.lower(): v for k, v in headers.items()}[wire.HEADER_NONCE.lower()]
            with self._lock:
                self._seen_nonces = {
                    n: t for n, t in self._seen_nonces.items() if now - t < _NONCE_MEMORY_SECONDS
                }
                if nonce in self._seen_nonces:
                    return 409, f"webhook nonce {nonce!r} was seen before: a replay"
                self._seen_nonces[nonce] = now
        with self._lock:
            if event["eventId"] in self._seen_events:
                return 200, "already handled"  # the platform retries deliveries: act on each event once
            self._seen_events.add(event["eventId"])
            self._apply(event)
        return 200, "handled"

    def _apply(self, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        state = self.ecards.get(str(data.get("signNo")))
        if state is None:
            return
        if event.get("type") == "ecard.unlinked":
            state.status, state.usable = "unlinked", False
            return
        if event.get("type") in ("ecard.status_changed", "ecard.card_replaced"):
            state.card_status = str(data.get("cardStatus", state.card_status))
            state.usable = bool(data.get("usable", state.usable))
            state.sign_level = int(data.get("signLevel", state.sign_level))


class _NotSetUp(EsscError):
    status = 409
    code = "channel_not_set_up"
    title = "The channel under test has not been set up"


def reference_app(channel: ReferenceChannel) -> FastAPI:
    """The channel's HTTP side: POST /conformance/{step} (the driver contract) and POST /webhooks."""
    app = FastAPI(title="essc reference channel", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/conformance/{step}")
    def drive(step: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            the_step = Step(step)
        except ValueError:
            return StepAnswer.failure("unknown_step", f"no step {step!r}").as_wire()
        return channel.step(the_step, payload).as_wire()

    @app.post(WEBHOOK_PATH)
    async def webhook(request: Request) -> Response:
        body = await request.body()
        status, reason = channel.receive_webhook(dict(request.headers), body)
        return Response(orjson.dumps({"result": reason}), status_code=status, media_type="application/json")

    return app

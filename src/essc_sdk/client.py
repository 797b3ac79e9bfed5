"""Signed requests, verified signed responses, envelopes, typed errors; wire formats from essc.kit."""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from essc.kit import envelope, wire
from essc.kit.crypto.base import CryptoSuite, PrivateKey, PublicKey
from essc.kit.errors import CryptoError, MalformedKey

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SEALED_BODIES_MAX = 1024


class PlatformError(Exception):
    """The platform answered with an RFC 9457 problem."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('code')}: {problem.get('detail')}")
        self.status = status
        self.code = str(problem.get("code", ""))
        self.problem = problem


class ResponseSignatureInvalid(Exception):
    """The response did not carry a valid platform signature: do not trust it."""


class EncryptionKeyUntrusted(Exception):
    """The platform's encryption key is missing or not endorsed by a trusted platform signing key."""


@dataclass(frozen=True, slots=True)
class SignedResponse:
    status: int
    body: bytes  # exactly as the platform signed it, envelopes still sealed: the evidence to keep
    headers: dict[str, str]
    opened: Any = None  # the JSON with its envelopes opened, when the body held any

    def json(self) -> Any:
        return self.opened if self.opened is not None else orjson.loads(self.body)


class EsscClient:
    """Signs each request and checks the platform's signature on each answer (docs/protocol.md)."""

    def __init__(
        self,
        http: httpx.Client,
        suite: CryptoSuite,
        *,
        caller: str,
        key_id: str,
        private_key: PrivateKey,
        platform_keys: dict[str, PublicKey] | None = None,
        encryption_key: tuple[str, PublicKey] | None = None,
        clock: Callable[[], float] = time.time,
        retries: int = 0,
        backoff_seconds: float = 0.25,
        on_behalf_of: str | None = None,
    ) -> None:
        self.http = http
        # A first-level channel relaying for one of its second-level channels (signed with every request).
        self.on_behalf_of = on_behalf_of
        self.suite = suite
        self.caller = caller
        self.key_id = key_id
        self.private_key = private_key
        self.platform_keys = platform_keys or {}
        # (kid, key) the platform opens envelopes with; fetched from /v1/platform/keys when first needed.
        self.encryption_key = encryption_key
        self.clock = clock
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.session: tuple[str, bytes] | None = None
        # Sealed bodies by caller-chosen Idempotency-Key: a call again with that key and the same fields must
        # send the same bytes (sealing is randomised), or the platform would see another request under it.
        self._sealed_bodies: dict[tuple[str, str, str, bytes], Any] = {}

    def open_session(self) -> str:
        """Open a MAC session (one signed request); later requests are authenticated by HMAC, not SM2."""
        self.session = None
        opened = self.post("/v1/sessions")
        secret = self.suite.decrypt_with(self.private_key, base64.b64decode(opened["encryptedKey"]))
        self.session = (opened["sessionId"], secret)
        return str(opened["sessionId"])

    def fetch_platform_keys(self) -> None:
        """Load the platform's signing keys and its current encryption key from /v1/platform/keys."""
        # Pin the signing keys out of band in production: the encryption key then counts only if one of them
        # endorses it.
        data = self.http.get("/v1/platform/keys").json()
        fetched = {kid: self.suite.load_public_key(pem.encode()) for kid, pem in data["keys"].items()}
        self.encryption_key = self._endorsed_encryption_key(data, self.platform_keys or fetched)
        self.platform_keys = fetched

    def _endorsed_encryption_key(self, data: Any, trusted: dict[str, PublicKey]) -> tuple[str, PublicKey]:
        current = [
            (kid, entry) for kid, entry in (data.get("encryptionKeys") or {}).items() if entry.get("current")
        ]
        if len(current) != 1:
            raise EncryptionKeyUntrusted("/v1/platform/keys names no current encryption key")
        kid, entry = current[0]
        signer = trusted.get(str(entry.get("signedBy")))
        signature = wire.decode_signature(str(entry.get("signature", "")))
        try:
            key = self.suite.load_public_key(str(entry.get("publicKey", "")).encode())
            if signer is None or signature is None:
                raise EncryptionKeyUntrusted(
                    f"encryption key {kid!r} is not endorsed by a trusted signing key"
                )
            self.suite.verify(signer, envelope.endorsement_string(kid, key, self.suite.hash), signature)
        except (MalformedKey, CryptoError) as exc:
            raise EncryptionKeyUntrusted(
                f"encryption key {kid!r} does not carry a valid endorsement"
            ) from exc
        return kid, key

    def _platform_encryption_key(self) -> tuple[str, PublicKey]:
        if self.encryption_key is None:
            data = self.http.get("/v1/platform/keys").json()
            if not self.platform_keys:
                # Nothing pinned: the signing keys come from the same answer (trust on first use).
                self.platform_keys = {
                    kid: self.suite.load_public_key(pem.encode()) for kid, pem in data["keys"].items()
                }
            self.encryption_key = self._endorsed_encryption_key(data, self.platform_keys)
        return self.encryption_key

    def seal(self, fields: Mapping[str, Any], method: str, path: str) -> dict[str, Any]:
        """An envelope of personal fields for the platform, for this one request (method, path, caller)."""
        kid, key = self._platform_encryption_key()
        context = envelope.Context(envelope.Direction.REQUEST, method, path, self.caller)
        return envelope.seal(self.suite, key, kid, fields, context)

    def seal_body(self, body: Any, method: str, path: str) -> Any:
        """body with the personal fields of each object moved into a sealed envelope member of that object."""
        if envelope.clear_field(body) is None:
            return body
        return envelope.seal_fields(body, lambda fields: self.seal(fields, method, path))

    def _sealed_once(self, body: Any, method: str, path: str, idempotency_key: str | None) -> Any:
        if idempotency_key is None or envelope.clear_field(body) is None:
            return self.seal_body(body, method, path)
        clear = self.suite.hash(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
        cache_key = (idempotency_key, method.upper(), path, clear)
        sealed = self._sealed_bodies.get(cache_key)
        if sealed is None:
            if len(self._sealed_bodies) >= _SEALED_BODIES_MAX:
                self._sealed_bodies.clear()
            sealed = self._sealed_bodies[cache_key] = self.seal_body(body, method, path)
        return sealed

    def open(self, body: Any, method: str, path: str) -> Any:
        """body of a response to (method, path) with every envelope sealed to this caller's key opened."""
        unwrap = envelope.unwrap_with(self.suite, self.key_id, self.private_key)
        context = envelope.Context(envelope.Direction.RESPONSE, method, path, self.caller)
        return envelope.open_fields(
            body, lambda sealed: envelope.open_envelope(self.suite, unwrap, sealed, context)
        )

    def signed_headers(
        self, method: str, path: str, body: bytes, nonce: str | None = None, timestamp: int | None = None
    ) -> dict[str, str]:
        """The five authentication headers for one request (a session MAC once a session is open)."""
        ts = int(self.clock()) if timestamp is None else timestamp
        the_nonce = nonce or secrets.token_urlsafe(18)
        relay = {} if self.on_behalf_of is None else {wire.HEADER_ON_BEHALF_OF: self.on_behalf_of}
        if self.session is not None:
            session_id, secret = self.session
            message = wire.request_string(
                method,
                path,
                ts,
                the_nonce,
                body,
                digest=self.suite.hash,
                caller=self.caller,
                session_id=session_id,
                on_behalf_of=self.on_behalf_of,
            )
            mac = self.suite.mac(secret, message)
            return {**wire.SessionHeaders(self.caller, session_id, ts, the_nonce, mac).as_dict(), **relay}
        message = wire.request_string(
            method,
            path,
            ts,
            the_nonce,
            body,
            digest=self.suite.hash,
            caller=self.caller,
            key_id=self.key_id,
            on_behalf_of=self.on_behalf_of,
        )
        signature = self.suite.sign(self.private_key, message)
        return {**wire.SignedHeaders(self.caller, self.key_id, ts, the_nonce, signature).as_dict(), **relay}

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
        """Send a signed request and return the HTTP response as is (no checks)."""
        body = b"" if json is None else orjson.dumps(json)
        all_headers = {
            "Content-Type": "application/json",
            **self.signed_headers(method, path, body, nonce, timestamp),
        }
        all_headers.update(headers or {})
        return self.http.request(method, path, content=body, headers=all_headers)

    def verify_response(self, response: httpx.Response, nonce: str) -> None:
        """Raise ResponseSignatureInvalid unless the platform signed (in a session: MACed) this response."""
        session_id = response.headers.get(wire.HEADER_SESSION)
        if session_id is not None:
            self._verify_response_mac(response, nonce, session_id)
            return
        key_id = response.headers.get(wire.HEADER_KEY_ID, "")
        key = self.platform_keys.get(key_id)
        signature = wire.decode_signature(response.headers.get(wire.HEADER_SIGNATURE, ""))
        timestamp = wire.parse_timestamp(response.headers.get(wire.HEADER_TIMESTAMP, ""))
        if key is None or signature is None or timestamp is None:
            raise ResponseSignatureInvalid(f"response is not signed by a known platform key ({key_id!r})")
        message = wire.response_string(
            response.status_code,
            nonce,
            timestamp,
            response.content,
            self.suite.hash,
            caller=self.caller,
            key_id=key_id,
        )
        try:
            self.suite.verify(key, message, signature)
        except CryptoError as exc:
            raise ResponseSignatureInvalid("platform response signature does not verify") from exc

    def _verify_response_mac(self, response: httpx.Response, nonce: str, session_id: str) -> None:
        mac = wire.decode_signature(response.headers.get(wire.HEADER_SIGNATURE, ""))
        timestamp = wire.parse_timestamp(response.headers.get(wire.HEADER_TIMESTAMP, ""))
        if self.session is None or self.session[0] != session_id or mac is None or timestamp is None:
            raise ResponseSignatureInvalid(f"response carries a MAC of an unknown session ({session_id!r})")
        message = wire.response_string(
            response.status_code,
            nonce,
            timestamp,
            response.content,
            self.suite.hash,
            caller=self.caller,
            session_id=session_id,
        )
        if not hmac.compare_digest(self.suite.mac(self.session[1], message), mac):
            raise ResponseSignatureInvalid("platform response MAC does not verify")

    def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        idempotency_key: str | None = None,
        retries: int | None = None,
    ) -> SignedResponse:
        """Signed request (fields sealed), verified response (envelopes opened); problems as PlatformError."""
        headers: dict[str, str] = {}
        # Sealed once: every retry sends the same bytes, as its Idempotency-Key requires.
        json = self._sealed_once(json, method, path, idempotency_key)
        if method.upper() in STATE_CHANGING:
            # One key per logical call: every retry below (new nonce each) then gets the first answer.
            headers[wire.HEADER_IDEMPOTENCY_KEY] = idempotency_key or secrets.token_urlsafe(24)
        attempts = 1 + (self.retries if retries is None else retries)
        for attempt in range(1, attempts + 1):
            nonce = secrets.token_urlsafe(18)
            try:
                response = self.raw(method, path, json, headers=headers, nonce=nonce)
            except httpx.TransportError:
                if attempt == attempts:
                    raise
            else:
                # Decided before the signature check: a crash's 500 is not signed, and retrying under the same
                # key is safe whoever wrote the answer; only the answer that is returned must be verified.
                if attempt == attempts or not _worth_retrying(response):
                    if self.platform_keys:
                        self.verify_response(response, nonce)
                    if response.status_code >= 400:
                        raise PlatformError(response.status_code, response.json())
                    opened = None
                    if b'"' + envelope.MEMBER.encode() + b'"' in response.content:
                        opened = self.open(response.json(), method, path)
                    return SignedResponse(
                        response.status_code, response.content, dict(response.headers), opened
                    )
            time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    def post(self, path: str, json: Any = None, *, idempotency_key: str | None = None) -> Any:
        return self.call("POST", path, json, idempotency_key=idempotency_key).json()

    def put(self, path: str, json: Any = None, *, idempotency_key: str | None = None) -> Any:
        return self.call("PUT", path, json, idempotency_key=idempotency_key).json()

    def get(self, path: str) -> Any:
        return self.call("GET", path).json()


def _worth_retrying(response: httpx.Response) -> bool:
    """A failure that may pass: a fresh 5xx, or the same key still running; never a replayed answer."""
    if response.headers.get(wire.HEADER_IDEMPOTENT_REPLAYED) == "true":
        return False
    if response.status_code >= 500:
        return True
    if response.status_code != 409:
        return False
    try:
        problem = response.json()
    except ValueError:
        return False
    return isinstance(problem, dict) and problem.get("code") == "idempotency_in_progress"

"""The protocol in one pass: request id, body, authentication, envelopes, idempotency and the signed answer.

One ASGI layer over the application does, in this order, what the wire protocol asks of every request:

1. take X-Request-Id from the caller (when it is 1-64 of A-Z a-z 0-9 . _ : -) or make one;
2. read the body once, refusing more than `max_body_bytes` (413; at once when Content-Length says so);
3. refuse a body that is not UTF-8 (or has a byte-order mark) before parsing it, then parse it once
   (`kit.bodies`): not JSON, or U+0000 in any string (or %00 in the URL), is refused by name; clear
   personal fields anywhere in it are refused (a byte search first, so most bodies are not walked); the
   application reads the canonical JSON of that one parsed value;
4. authenticate a request that names its caller (signature or session MAC, timestamp, nonce);
5. only then open the body's envelopes (at most `envelope.MAX_ENVELOPES`), so an unauthenticated caller costs
   no decryption;
6. claim the Idempotency-Key of a state-changing request, or answer at once with its stored first answer;
7. run the application on the opened body;
8. seal the clear fields of an answer whose response model declares them, store the answer for the key (or
   release the key when the request failed), and sign the answer for the request's nonce (or MAC it under the
   request's session key).

Database work (authentication, the claim, storing the answer) runs on the event loop through the async engine.
An answer that needs none of 8 (an unsigned request) streams straight through.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import anyio
import orjson
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from essc.access import repository as access_repository
from essc.access import service as access_service
from essc.access.schemas import SignedRequest
from essc.core.context import CALLER, REQUEST_ID, SESSION_FENCES
from essc.core.db import run_on_loop, unavailable
from essc.core.platform import Platform
from essc.core.problems import problem
from essc.idempotency import service as idempotency
from essc.kit import bodies, envelope, wire
from essc.kit.crypto.base import PublicKey
from essc.kit.errors import EsscError, KeyNotFound, PayloadTooLarge
from essc.kit.ids import new_id
from essc.shared.callers import AuthenticatedCaller

_REQUEST_ID_HEADER = wire.HEADER_REQUEST_ID.lower().encode("latin-1")
_CALLER_KEYS_MAX = 4096
# The liveness probe: answered here, before routing, since it has no body, caller or database work and is
# called more than any other route (every few seconds by every load balancer and orchestrator). The app's
# /healthz route documents it and answers the same where no protocol layer runs (essc.web.app).
LIVENESS_PATH = "/healthz"
LIVENESS_BODY = b'{"status":"ok"}'
_LIVENESS_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(LIVENESS_BODY))]
# The OpenID provider's endpoints take form bodies (RFC 6749), not JSON: the one place forms pass.
OAUTH_PREFIX = "/oidc/"
OAUTH_FORM = "application/x-www-form-urlencoded"


def request_id(given: str | None) -> str:
    """The request's id: the caller's X-Request-Id, or a fresh one."""
    # Echoed and logged: a caller's id is kept only when it is short and plain, else it gets a new one.
    return given if given is not None and wire.REQUEST_ID_PATTERN.match(given) else new_id()


@dataclass(slots=True)
class _Answer:
    """An answer held back until it is sealed, stored and signed."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    @classmethod
    def of(cls, response: Response) -> _Answer:
        return cls(response.status_code, list(response.raw_headers), bytes(response.body))

    def content_type(self) -> str | None:
        return next((v.decode("latin-1") for k, v in self.headers if k.lower() == b"content-type"), None)


class ProtocolLayer:
    """The one layer between the HTTP server and the routes (see the module docstring for the steps)."""

    def __init__(
        self,
        app: ASGIApp,
        platform: Platform,
        routes_checking_session: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.app = app
        self.platform = platform
        self.max_body_bytes = platform.settings.max_body_bytes
        self._caller_keys: dict[tuple[str, str], tuple[str, PublicKey]] = {}
        # (method, path) of the routes whose one statement checks that the caller's MAC session holds
        self.routes_checking_session = routes_checking_session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == LIVENESS_PATH and scope["method"] == "GET":
            await _answer_liveness(scope, send)
            return
        await _Exchange(self, scope, receive, send).run()

    def caller_key(self, caller: AuthenticatedCaller) -> tuple[str, PublicKey]:
        """The key id and public key that authenticated the request: its signing key or its session's."""
        cache_key = (caller.caller_id, caller.session_id or caller.key_id)
        found = self._caller_keys.get(cache_key)
        if found is not None:
            return found  # keys are immutable under their id: a revoked one no longer authenticates anything
        with self.platform.single_statement_factory() as session:
            key: tuple[str, bytes] | None
            if caller.session_id is not None:
                opened = access_repository.session_with_caller(session, caller.session_id)
                key = None if opened is None else (opened.key_id, opened.public_key)
            else:
                signing = access_repository.caller_key(session, caller.caller_id, caller.key_id)
                key = None if signing is None else (signing.key_id, signing.public_key)
        if key is None:
            raise KeyNotFound(f"the key that authenticated {caller.label} is gone")
        found = (key[0], self.platform.suite.load_public_key(key[1]))
        if len(self._caller_keys) >= _CALLER_KEYS_MAX:
            self._caller_keys.clear()
        self._caller_keys[cache_key] = found
        return found

    def unwrap(self, kid: str, wrapped: bytes) -> bytes:
        try:
            decrypter = self.platform.keys.decrypter(kid)
        except KeyNotFound:
            raise envelope.EnvelopeKeyUnknown(
                f"{kid!r} is not an encryption key of the platform; seal to a key of GET /v1/platform/keys "
                "(encryptionKeys)",
                part="kid",
            ) from None
        return decrypter.decrypt(wrapped)


async def _answer_liveness(scope: Scope, send: Send) -> None:
    given = next((v for k, v in scope["headers"] if k.lower() == _REQUEST_ID_HEADER), None)
    identifier = request_id(given.decode("latin-1") if given is not None else None).encode("latin-1")
    headers = [*_LIVENESS_HEADERS, (_REQUEST_ID_HEADER, identifier)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": LIVENESS_BODY})


class _Exchange:
    """One request and its answer as the protocol layer sees them."""

    def __init__(self, layer: ProtocolLayer, scope: Scope, receive: Receive, send: Send) -> None:
        self.layer = layer
        self.platform = layer.platform
        self.scope = scope
        self.receive = receive
        self.send = send
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.request_id = request_id(self.headers.get(wire.HEADER_REQUEST_ID.lower()))
        scope.setdefault("state", {})[REQUEST_ID] = self.request_id
        nonce = self.headers.get(wire.HEADER_NONCE.lower())
        # A malformed nonce leaves nothing to sign the answer for; authentication names the bad header.
        self.nonce = nonce if nonce is not None and wire.NONCE_PATTERN.match(nonce) else None
        self.caller: AuthenticatedCaller | None = None
        self.claim: idempotency.Claim | None = None
        self.answering = False  # True once the start of an answer went to the client

    @functools.cached_property
    def signed_path(self) -> str:
        """The path with its query as signed: what authentication, envelopes and the key's claim bind.

        Both exactly as sent (docs/protocol.md): the decoded path would make `/v1/ecards/%C4%80` sign as
        `/v1/ecards/Ā`, which no client sends, and two spellings of one path share a signature.
        """
        raw_path = self.scope.get("raw_path")
        if not raw_path:
            url = URL(scope=self.scope)
            return wire.path_with_query(url.path, url.query)
        # Some ASGI clients leave the query on raw_path; a request target's path never holds a "?".
        path = bytes(raw_path).split(b"?", 1)[0].decode("latin-1")
        return wire.path_with_query(path, bytes(self.scope.get("query_string", b"")).decode("latin-1"))

    async def run(self) -> None:
        answer: _Answer | None = None
        try:
            body, after = await self._read_body()
            app_body, parsed, personal = self._parse(body)
            if wire.HEADER_CALLER.lower() in self.headers:
                stored = await run_on_loop(self._authenticate_and_claim, body)
                if stored is not None:
                    answer = _Answer(stored.status, _replay_headers(stored), stored.body)
            if answer is None:
                if self.caller is not None and personal:
                    app_body = self._open_envelopes(app_body, parsed)
                if self.nonce is None and self.claim is None and self.caller is None:
                    await self._stream_app(app_body, after)  # nothing to seal, store or sign: no buffering
                    return
                answer = await self._call_app(app_body, after)
                if answer is None:
                    return  # an event stream, sent as it came
                if self.caller is not None:
                    answer = await self._seal(answer)
        except EsscError as exc:
            answer = _Answer.of(self._problem(exc))
        except BaseException as exc:
            # A database out of reach is a named 503 to retry, not a crash (unless an answer already began).
            named = unavailable(exc) if isinstance(exc, Exception) and not self.answering else None
            if named is None:
                if self.claim is not None:
                    with anyio.CancelScope(shield=True):
                        await self._finish_claim(None)
                raise
            answer = _Answer.of(self._problem(named))
        if self.claim is not None:
            await self._finish_claim(idempotency.Answer(answer.status, answer.content_type(), answer.body))
        await self._send(answer)

    async def _finish_claim(self, answer: idempotency.Answer | None) -> None:
        """Store the answer for the key (or release it); with the database out of reach its lease runs out."""
        assert self.claim is not None
        try:
            await run_on_loop(idempotency.finish, self.platform, self.claim, answer)
        except Exception as exc:
            if unavailable(exc) is None:
                raise

    # -- the request --------------------------------------------------------------------------------------

    async def _read_body(self) -> tuple[bytes, list[Message]]:
        """The whole body (at most max_body_bytes) and any message that came after it (a disconnect)."""
        limit = self.layer.max_body_bytes
        declared = self.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                return b"".join(chunks), [message]
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks), []

    def _parse(self, body: bytes) -> tuple[bytes, Any, bool]:
        """The one parse (step 3): what the application reads, the value, whether it may be personal."""
        bodies.refuse_nul_in_url(self.scope.get("raw_path") or b"", self.scope.get("query_string", b""))
        if not body:
            return body, None, False
        if self._oauth_form():
            # OAuth and the login page speak forms (RFC 6749); their routes parse them, nothing personal
            # travels in them but the e-card password, which is no field of the envelopes.
            bodies.check_encoding(body, self.headers.get("content-type"))
            if b"%00" in body:
                raise bodies.NulInText("the form holds %00, the NUL character (U+0000)", field="body")
            return body, None, False
        parsed = bodies.parse(body, self.headers.get("content-type"))
        app_body = bodies.canonical(parsed)
        bodies.refuse_nul(body, parsed)
        personal = envelope.may_hold_personal_fields(body)
        if personal:
            envelope.refuse_clear_fields(parsed)
        return app_body, parsed, personal

    def _oauth_form(self) -> bool:
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        return content_type == OAUTH_FORM and str(self.scope.get("path", "")).startswith(OAUTH_PREFIX)

    def _authenticate_and_claim(self, body: bytes) -> idempotency.Answer | None:
        """Authenticate, then claim the Idempotency-Key (run on the loop: both are database work)."""
        path = self.signed_path
        method = self.scope["method"]
        signed = SignedRequest(method=method, path=path, headers=self.headers, body=body)
        key = self.headers.get(wire.HEADER_IDEMPOTENCY_KEY.lower())
        # A key's claim is made only for a caller whose session was looked up: the claim outlives the route.
        checked_by_route = key is None and (method, self.scope["path"]) in self.layer.routes_checking_session
        caller = access_service.authenticate(self.platform, signed, session_checked_by_route=checked_by_route)
        self.caller = caller
        state = self.scope["state"]
        state[CALLER] = caller
        if key is None or self.scope["method"] not in idempotency.STATE_CHANGING:
            return None
        fingerprint = idempotency.Fingerprint(self.scope["method"], path, caller.body_digest)
        outcome = idempotency.claim(self.platform, caller.caller_id, key, fingerprint)
        if isinstance(outcome, idempotency.Answer):
            return outcome
        self.claim = outcome
        # The request's unit of work commits only while the claim is still its own (idempotency.fence).
        state[SESSION_FENCES] = [functools.partial(idempotency.fence, held=outcome)]
        return None

    def _open_envelopes(self, body: bytes, parsed: Any) -> bytes:
        context = envelope.Context(
            envelope.Direction.REQUEST,
            self.scope["method"],
            self.signed_path,
            self.headers.get(wire.HEADER_CALLER.lower(), ""),
        )
        opened = envelope.open_fields(
            parsed,
            lambda e: envelope.open_envelope(self.platform.suite, self.layer.unwrap, e, context),
            limit=envelope.MAX_ENVELOPES,
        )
        if opened == parsed:
            return body
        # What the envelopes held is text of the request too: no NUL in it either.
        if (where := bodies.nul_field(opened)) is not None:
            raise bodies.NulInText(f"{where} holds the NUL character (U+0000)", field=where)
        return orjson.dumps(opened)

    # -- the application ----------------------------------------------------------------------------------

    async def _stream_app(self, body: bytes, after: list[Message]) -> None:
        """Run the application and send its answer as it comes, with the request id."""

        async def with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.answering = True
                message.setdefault("headers", []).append(
                    (_REQUEST_ID_HEADER, self.request_id.encode("latin-1"))
                )
            await self.send(message)

        await self.layer.app(self.scope, _replay(body, after, self.receive), with_request_id)

    async def _call_app(self, body: bytes, after: list[Message]) -> _Answer | None:
        """Run the application and hold its answer back; an event stream passes through unsigned (None)."""
        answer: _Answer | None = None
        streaming = False

        async def hold(message: Message) -> None:
            nonlocal answer, streaming
            if streaming:
                await self.send(message)
            elif message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # An event stream cannot wait for its end to be signed: it carries notifications only; what
                # they announce is fetched with a signed request.
                if any(
                    k.lower() == b"content-type" and v.startswith(b"text/event-stream") for k, v in headers
                ):
                    streaming = self.answering = True
                    headers.append((_REQUEST_ID_HEADER, self.request_id.encode("latin-1")))
                    await self.send({**message, "headers": headers})
                    return
                answer = _Answer(int(message["status"]), headers, b"")
            elif message["type"] == "http.response.body" and answer is not None:
                answer.body += message.get("body", b"")

        await self.layer.app(self.scope, _replay(body, after, self.receive), hold)
        if streaming:
            return None
        if answer is None:
            raise RuntimeError("the application ended without answering")
        if answer.status >= 400 and self.caller is not None and not self.caller.session_checked:
            # A refusal to a request whose session was left to the route's statement (a bad body, or the
            # statement found the session no longer holds): a session that no longer stands is refused by
            # name and the answer signed, as if it had been looked up first; not MACed under its key.
            try:
                await run_on_loop(access_service.check_session_standing, self.platform, self.caller)
            except EsscError as exc:
                self.caller = None
                return _Answer.of(self._problem(exc))
        return answer

    async def _seal(self, answer: _Answer) -> _Answer:
        """Seal the clear personal fields of a successful answer whose route declares them."""
        policy = _clear_fields_policy(self.scope, answer.status)
        caller = self.caller
        if policy is None or caller is None:
            return answer
        data = orjson.loads(answer.body)
        if not isinstance(data, dict):
            return answer
        personal = {name: data.pop(name) for name in sorted(policy(data)) if data.get(name) is not None}
        if not personal:
            return answer  # e.g. an answer with no clear field to give
        kid, receiver = await run_on_loop(self.layer.caller_key, caller)
        context = envelope.Context(
            envelope.Direction.RESPONSE, self.scope["method"], self.signed_path, caller.label
        )
        data[envelope.MEMBER] = envelope.seal(self.platform.suite, receiver, kid, personal, context)
        return _Answer(answer.status, answer.headers, orjson.dumps(data))

    # -- the answer ---------------------------------------------------------------------------------------

    def _problem(self, exc: EsscError) -> Response:
        response = problem(exc.status, exc.code, exc.title, exc.detail, Request(self.scope), **exc.extensions)
        if (retry_after := exc.extensions.get("retry_after")) is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    async def _send(self, answer: _Answer) -> None:
        headers = [(k, v) for k, v in answer.headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(answer.body)).encode()))
        headers.append((_REQUEST_ID_HEADER, self.request_id.encode("latin-1")))
        if self.nonce is not None:
            headers.extend(self._signature_headers(answer))
        await self.send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await self.send({"type": "http.response.body", "body": answer.body})

    def _signature_headers(self, answer: _Answer) -> list[tuple[bytes, bytes]]:
        """Sign the answer for the request's nonce, or MAC it under the request's session key."""
        assert self.nonce is not None
        timestamp = int(self.platform.clock.now().timestamp())
        caller = self.caller
        # Bound to the caller the request named (empty when it named none), as the caller will check it.
        named = self.headers.get(wire.HEADER_CALLER.lower(), "")
        if caller is not None and caller.session_key is not None and caller.session_id is not None:
            key_header = (wire.HEADER_SESSION.lower().encode(), caller.session_id.encode())
            canonical = wire.response_string(
                answer.status,
                self.nonce,
                timestamp,
                answer.body,
                self.platform.suite.hash,
                caller=named,
                session_id=caller.session_id,
            )
            signature = self.platform.suite.mac(caller.session_key, canonical)
        else:
            signer = self.platform.keys.signer()
            key_header = (wire.HEADER_KEY_ID.lower().encode(), signer.key_id.encode())
            canonical = wire.response_string(
                answer.status,
                self.nonce,
                timestamp,
                answer.body,
                self.platform.suite.hash,
                caller=named,
                key_id=signer.key_id,
            )
            signature = signer.sign(canonical)
        return [
            key_header,
            (wire.HEADER_TIMESTAMP.lower().encode(), str(timestamp).encode()),
            (wire.HEADER_SIGNATURE.lower().encode(), wire.encode_signature(signature).encode()),
        ]


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than {limit} bytes", limit=limit)


def _replay_headers(stored: idempotency.Answer) -> list[tuple[bytes, bytes]]:
    headers = [(wire.HEADER_IDEMPOTENT_REPLAYED.lower().encode(), b"true")]
    if stored.content_type is not None:
        headers.append((b"content-type", stored.content_type.encode("latin-1")))
    return headers


def _clear_fields_policy(scope: Scope, status: int) -> envelope.ClearFieldsPolicy | None:
    """The route's clear-fields policy for a successful JSON answer; None (no cost) for every other answer."""
    if not 200 <= status < 300:
        return None
    model = getattr(scope.get("route"), "response_model", None)
    policy: envelope.ClearFieldsPolicy | None = getattr(model, "clear_personal_fields", None)
    return policy


def _replay(body: bytes, after: list[Message], receive: Receive) -> Receive:
    """A receive channel that gives the (possibly opened) body once, then what the client sends next."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *after]

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed

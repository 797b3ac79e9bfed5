"""Request ids, envelopes of personal fields, and platform signatures on responses to signed requests."""

from __future__ import annotations

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from essc.access import repository as access_repository
from essc.core.platform import Platform
from essc.core.problems import problem
from essc.kit import envelope, wire
from essc.kit.crypto.base import PublicKey
from essc.kit.errors import EsscError, KeyNotFound
from essc.kit.ids import new_id
from essc.shared.callers import AuthenticatedCaller

# Where the body as signed is kept once its envelopes were opened: authentication checks these bytes.
SIGNED_BODY = "signed_body"
_CALLER_KEYS_MAX = 4096


class RequestIdMiddleware:
    """Take X-Request-Id from the caller or make one; echo it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get(wire.HEADER_REQUEST_ID.lower()) or new_id()
        scope.setdefault("state", {})["request_id"] = request_id[:64]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append(
                    (wire.HEADER_REQUEST_ID.lower().encode(), request_id[:64].encode("latin-1"))
                )
            await send(message)

        await self.app(scope, receive, send_with_id)


class ResponseSigningMiddleware:
    """Sign (or, in a session, MAC) every response to a request that carried a nonce."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = next(
            (
                v.decode("latin-1")
                for k, v in scope["headers"]
                if k.decode("latin-1").lower() == "x-essc-nonce"
            ),
            None,
        )
        if nonce is None or not wire.NONCE_PATTERN.match(nonce):
            await self.app(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []
        streaming = False

        async def buffer(message: Message) -> None:
            nonlocal start, streaming
            if streaming:
                await send(message)
                return
            if message["type"] == "http.response.start":
                # An event stream cannot wait for its end to be signed: it passes through unsigned and carries
                # notifications only; what they announce is fetched with a signed request.
                streaming = any(
                    k.lower() == b"content-type" and v.startswith(b"text/event-stream")
                    for k, v in message.get("headers", [])
                )
                if streaming:
                    await send(message)
                    return
                start = message
                return
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(chunks)
                timestamp = int(self.platform.clock.now().timestamp())
                canonical = wire.response_string(
                    start["status"], nonce, timestamp, body, self.platform.suite.hash
                )
                session: tuple[str, bytes] | None = scope.get("state", {}).get("response_mac")
                if session is not None:
                    key_header = (wire.HEADER_SESSION.lower().encode(), session[0].encode())
                    signature = self.platform.suite.mac(session[1], canonical)
                else:
                    signer = self.platform.keys.signer()
                    key_header = (wire.HEADER_KEY_ID.lower().encode(), signer.key_id.encode())
                    signature = signer.sign(canonical)
                headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                headers += [
                    (b"content-length", str(len(body)).encode()),
                    key_header,
                    (wire.HEADER_TIMESTAMP.lower().encode(), str(timestamp).encode()),
                    (wire.HEADER_SIGNATURE.lower().encode(), wire.encode_signature(signature).encode()),
                ]
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, buffer)


class EnvelopeMiddleware:
    """Refuse clear personal fields in request bodies, open their envelopes, seal clear ones in answers."""

    # Innermost, so the signature and the stored idempotent answer cover the sealed response. A request
    # body is parsed only when a byte search finds a personal field name or an envelope in it; an answer is
    # touched only when its route's response model declares clear_personal_fields (see ClearFieldsPolicy).

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform
        self._caller_keys: dict[tuple[str, str], tuple[str, PublicKey]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        try:
            body = await self._open_request(scope, body)
        except EsscError as exc:
            request = Request(scope)
            answer = problem(exc.status, exc.code, exc.title, exc.detail, request, **exc.extensions)
            await answer(scope, receive, send)
            return
        await self.app(scope, _replay(body, more, receive), self._sealing(scope, send))

    async def _open_request(self, scope: Scope, body: bytes) -> bytes:
        if not body or not envelope.may_hold_personal_fields(body):
            return body
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body  # not JSON: the endpoint refuses it as it would without envelopes
        envelope.refuse_clear_fields(parsed)
        context = envelope.Context(
            envelope.Direction.REQUEST,
            scope["method"],
            _signed_path(scope),
            _header(scope, wire.HEADER_CALLER),
        )
        opened = await run_in_threadpool(
            envelope.open_fields,
            parsed,
            lambda e: envelope.open_envelope(self.platform.suite, self._unwrap, e, context),
        )
        if opened == parsed:
            return body
        scope.setdefault("state", {})[SIGNED_BODY] = body
        return orjson.dumps(opened)

    def _unwrap(self, kid: str, wrapped: bytes) -> bytes:
        try:
            decrypter = self.platform.keys.decrypter(kid)
        except KeyNotFound:
            raise envelope.EnvelopeKeyUnknown(
                f"{kid!r} is not an encryption key of the platform; seal to a key of GET /v1/platform/keys "
                "(encryptionKeys)",
                part="kid",
            ) from None
        return decrypter.decrypt(wrapped)

    def _sealing(self, scope: Scope, send: Send) -> Send:
        start: Message = {}
        chunks: list[bytes] = []
        policy: envelope.ClearFieldsPolicy | None = None

        async def seal_answer(message: Message) -> None:
            nonlocal start, policy
            if message["type"] == "http.response.start":
                policy = _policy(scope, message)
                if policy is None:
                    await send(message)
                else:
                    start = message
                return
            if policy is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = await self._seal_response(scope, b"".join(chunks), policy)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        return seal_answer

    async def _seal_response(self, scope: Scope, body: bytes, policy: envelope.ClearFieldsPolicy) -> bytes:
        data = orjson.loads(body)
        caller: AuthenticatedCaller | None = scope.get("state", {}).get("caller")
        if caller is None or not isinstance(data, dict):
            return body
        personal = {name: data.pop(name) for name in sorted(policy(data)) if data.get(name) is not None}
        if not personal:
            return body  # e.g. an idempotent replay of an answer sealed the first time: byte for byte
        kid, receiver = await run_in_threadpool(self._caller_key, caller)
        context = envelope.Context(
            envelope.Direction.RESPONSE, scope["method"], _signed_path(scope), caller.label
        )
        data[envelope.MEMBER] = envelope.seal(self.platform.suite, receiver, kid, personal, context)
        return orjson.dumps(data)

    def _caller_key(self, caller: AuthenticatedCaller) -> tuple[str, PublicKey]:
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


def _policy(scope: Scope, start: Message) -> envelope.ClearFieldsPolicy | None:
    """The route's clear-fields policy for a successful JSON answer; None (no cost) for every other answer."""
    if not 200 <= start["status"] < 300:
        return None
    model = getattr(scope.get("route"), "response_model", None)
    policy: envelope.ClearFieldsPolicy | None = getattr(model, "clear_personal_fields", None)
    return policy


def _header(scope: Scope, name: str) -> str:
    wanted = name.lower().encode("latin-1")
    return next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == wanted), "")


def _signed_path(scope: Scope) -> str:
    url = URL(scope=scope)  # as deps.signed_caller sees it, so the envelope's path is the signed one
    return wire.path_with_query(url.path, url.query)


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole request body, and any message that came after it (a disconnect)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), [message]
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks), []


def _replay(body: bytes, after: list[Message], receive: Receive) -> Receive:
    """A receive channel that gives the (possibly opened) body once, then what the client sends next."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *after]

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed

"""Request ids and platform signatures on responses to signed requests."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from essc.core.platform import Platform
from essc.kit import wire
from essc.kit.ids import new_id


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

"""The recording proxy the channel under test reaches the sandbox platform through.

An ASGI app around the platform's app: it keeps every request the channel sends (headers and body bytes as
sent), and on demand fails one request with a 5xx before the platform sees it, lets the platform complete one
and drops its answer (the channel gets a 504), serves one answer with its platform signature broken, or (for a
relying party) serves a token answer whose ID token the kit replaced, to see what the client does next.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from essc.kit import wire


class FaultKind(StrEnum):
    UNAVAILABLE = "unavailable"  # a 503 from the proxy; the platform never sees the request
    BAD_SIGNATURE = "bad_signature"  # the platform's answer with its signature (or MAC) bits flipped
    # The platform completes the request; its answer is dropped and the channel gets a 504 instead.
    ANSWER_LOST = "answer_lost"
    # The platform completes the request; its 200 answer reaches the client rewritten (a forged ID token).
    ANSWER_REWRITTEN = "answer_rewritten"


# Requests the kit itself sends through the proxy (the holder's browser) carry this header; checks skip them.
HEADER_KIT_BROWSER = "X-Essc-Conformance-Browser"


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure, spent by the first request that matches method and path."""

    kind: FaultKind
    method: str
    path: re.Pattern[str]
    rewrite: Callable[[bytes], bytes] | None = None  # ANSWER_REWRITTEN: the answer's body as served


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request the channel sent, as it went over the wire, and what it got back."""

    seq: int
    step: str  # the kit's case that was running
    method: str
    path: str  # with the query string, as signed
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int
    fault: FaultKind | None
    replayed: bool = False  # the platform answered Idempotent-Replayed: true
    lost_answer: bytes = b""  # the body of the platform's answer the channel never got (ANSWER_LOST)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


_LOST_BODY = orjson.dumps(
    {
        "type": "about:blank",
        "title": "Gateway timeout (injected by the conformance kit)",
        "status": 504,
        "code": "conformance_injected_lost_answer",
        "detail": "the platform may have completed this request; retry with the same Idempotency-Key, body",
    }
)
_UNAVAILABLE_BODY = orjson.dumps(
    {
        "type": "about:blank",
        "title": "Service unavailable (injected by the conformance kit)",
        "status": 503,
        "code": "conformance_injected_failure",
        "detail": "retry this request with the same Idempotency-Key and body",
    }
)


def _flip(signature: str) -> str:
    raw = wire.decode_signature(signature) or b"\x00"
    return wire.encode_signature(bytes(b ^ 0xFF for b in raw[:8]) + raw[8:])


class RecordingProxy:
    """ASGI app: records what reaches the platform and injects the faults it is armed with."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []
        self.step = "setup"
        self._faults: list[Fault] = []
        self._spent: list[Fault] = []
        self._lock = threading.Lock()

    def arm(
        self,
        kind: FaultKind,
        method: str,
        path_pattern: str,
        rewrite: Callable[[bytes], bytes] | None = None,
    ) -> Fault:
        fault = Fault(kind, method.upper(), re.compile(path_pattern), rewrite)
        with self._lock:
            self._faults.append(fault)
        return fault

    def spent(self, fault: Fault) -> bool:
        with self._lock:
            return fault in self._spent

    def disarm(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method and fault.path.search(path):
                    self._faults.remove(fault)
                    self._spent.append(fault)
                    return fault
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        method = scope["method"].upper()
        query = scope.get("query_string", b"").decode("latin-1")
        path = wire.path_with_query(scope["path"], query)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        fault = self._take(method, path)

        def record(status: int, *, replayed: bool = False, lost_answer: bytes = b"") -> None:
            with self._lock:
                self.exchanges.append(
                    Exchange(
                        len(self.exchanges),
                        self.step,
                        method,
                        path,
                        headers,
                        body,
                        status,
                        fault.kind if fault else None,
                        replayed,
                        lost_answer,
                    )
                )

        async def fail(status: int, problem: bytes) -> None:
            start = {"type": "http.response.start", "status": status}
            await send({**start, "headers": [(b"content-type", b"application/problem+json")]})
            await send({"type": "http.response.body", "body": problem})

        if fault is not None and fault.kind is FaultKind.UNAVAILABLE:
            record(503)
            await fail(503, _UNAVAILABLE_BODY)
            return

        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        if fault is not None and fault.kind is FaultKind.ANSWER_LOST:
            lost: list[bytes] = []

            async def drop(message: Message) -> None:
                if message["type"] == "http.response.body":
                    lost.append(message.get("body", b""))

            await self.app(scope, replay, drop)  # the platform completes it; nothing reaches the channel
            record(504, lost_answer=b"".join(lost))
            await fail(504, _LOST_BODY)
            return

        if fault is not None and fault.kind is FaultKind.ANSWER_REWRITTEN:
            await self._rewritten(scope, replay, send, fault, record)
            return

        replayed_header = wire.HEADER_IDEMPOTENT_REPLAYED.lower().encode()

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered = dict(message.get("headers", []))
                record(int(message["status"]), replayed=answered.get(replayed_header) == b"true")
                if fault is not None and fault.kind is FaultKind.BAD_SIGNATURE:
                    signature = wire.HEADER_SIGNATURE.lower().encode()
                    message = {
                        **message,
                        "headers": [
                            (k, _flip(v.decode("latin-1")).encode() if k.lower() == signature else v)
                            for k, v in message.get("headers", [])
                        ],
                    }
            await send(message)

        await self.app(scope, replay, watch)

    async def _rewritten(
        self, scope: Scope, receive: Receive, send: Send, fault: Fault, record: Callable[[int], None]
    ) -> None:
        """Let the platform answer, then serve its 200 answer's body as the fault rewrites it."""
        status = 500
        answered: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                answered.extend(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, keep)
        body = b"".join(chunks)
        if status == 200 and fault.rewrite is not None:
            body = fault.rewrite(body)
        record(status)
        headers = [(k, v) for k, v in answered if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def body_json(exchange: Exchange) -> object | None:
    """The request body as JSON, or None when it is empty or not JSON."""
    if not exchange.body:
        return None
    try:
        parsed: object = orjson.loads(exchange.body)
    except orjson.JSONDecodeError:
        return None
    return parsed


def short(value: bytes) -> str:
    """A short printable digest of bytes for a report detail."""
    return base64.b16encode(value[:6]).decode("ascii").lower()

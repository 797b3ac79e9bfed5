"""What the kit concludes from the requests the proxy recorded: one function per security property."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from essc.kit import envelope, wire
from essc_conformance.proxy import Exchange, FaultKind, body_json

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PERSONAL_FIELDS = envelope.PERSONAL_FIELDS


def _where(exchange: Exchange) -> str:
    return f"{exchange.method} {exchange.path} (during {exchange.step})"


def _needles(value: str) -> tuple[bytes, ...]:
    """The ways a clear value can appear in a JSON body: raw UTF-8 and ASCII-escaped."""
    escaped = orjson.dumps(value).decode("utf-8")[1:-1].encode("ascii", "backslashreplace")
    unicode_escaped = value.encode("ascii", "backslashreplace").replace(b"\\x", b"\\u00")
    return tuple({value.encode("utf-8"), escaped, unicode_escaped})


def clear_personal_fields(exchanges: Iterable[Exchange], known_values: Sequence[str]) -> list[str]:
    """Every place a personal field or a test person's clear value travelled outside an envelope."""
    faults: list[str] = []
    for exchange in exchanges:
        parsed = body_json(exchange)
        where = envelope.clear_field(parsed) if parsed is not None else None
        if where is not None:
            faults.append(f"{_where(exchange)} carried personal field {where} in the clear in its body")
            continue
        query = urlsplit(exchange.path).query
        names = sorted({name for name, _ in parse_qsl(query, keep_blank_values=True)} & PERSONAL_FIELDS)
        if names:
            faults.append(f"{_where(exchange)} carried personal field(s) {', '.join(names)} in its query")
            continue
        path = unquote(exchange.path).encode("utf-8")
        for value in known_values:
            if any(needle in exchange.body or needle in path for needle in _needles(value)):
                faults.append(f"{_where(exchange)} carried a test person's clear value outside an envelope")
                break
    return faults


def reused_nonces(exchanges: Iterable[Exchange]) -> list[str]:
    """Every nonce sent more than once (also in a retry: each attempt is a new request with a new nonce)."""
    first: dict[str, Exchange] = {}
    faults: list[str] = []
    for exchange in exchanges:
        nonce = exchange.header(wire.HEADER_NONCE)
        if nonce is None:
            continue
        earlier = first.get(nonce)
        if earlier is None:
            first[nonce] = exchange
            continue
        faults.append(
            f"nonce {nonce!r} of {_where(earlier)} was sent again with {_where(exchange)}; "
            "expected a fresh nonce on every request, retries included"
        )
    return faults


def missing_nonces(exchanges: Iterable[Exchange]) -> list[str]:
    """Signed-API requests that carried no nonce (the unauthenticated /v1/platform/keys excepted)."""
    return [
        f"{_where(e)} carried no {wire.HEADER_NONCE} header; expected one on each signed request"
        for e in exchanges
        if e.header(wire.HEADER_NONCE) is None and not e.path.startswith("/v1/platform/keys")
    ]


def idempotency_faults(exchanges: Sequence[Exchange]) -> list[str]:
    """State-changing calls without a key, and retries after an injected 5xx that changed key or body."""
    faults = [
        f"{_where(e)} carried no {wire.HEADER_IDEMPOTENCY_KEY} header; expected one on each state change"
        for e in exchanges
        if e.method in STATE_CHANGING and not e.header(wire.HEADER_IDEMPOTENCY_KEY)
    ]
    for index, failed in enumerate(exchanges):
        if failed.fault not in {FaultKind.UNAVAILABLE, FaultKind.ANSWER_LOST}:
            continue
        retry = next(
            (e for e in exchanges[index + 1 :] if (e.method, e.path) == (failed.method, failed.path)), None
        )
        if retry is None:
            faults.append(
                f"{_where(failed)} got an injected {failed.status} and was never retried; "
                "expected a retry under the same key"
            )
            continue
        key, again = failed.header(wire.HEADER_IDEMPOTENCY_KEY), retry.header(wire.HEADER_IDEMPOTENCY_KEY)
        if key != again:
            faults.append(
                f"the retry of {_where(failed)} after an injected {failed.status} carried Idempotency-Key "
                f"{again!r}; "
                f"expected the first attempt's {key!r}"
            )
        if failed.body != retry.body:
            faults.append(
                f"the retry of {_where(failed)} after an injected {failed.status} sent another body "
                f"({len(retry.body)} bytes, first attempt {len(failed.body)} bytes); expected the same bytes"
            )
    return faults

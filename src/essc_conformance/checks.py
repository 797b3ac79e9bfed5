"""What the kit concludes from the requests the proxy recorded: one function per security property."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

import orjson

from essc.kit import envelope, wire
from essc.oidc.service import ASSERTION_TYPE, REQUEST_URI_PREFIX
from essc_conformance.proxy import HEADER_KIT_BROWSER, Exchange, FaultKind, body_json

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


# --- the relying-party plan ------------------------------------------------------------------------------

OAUTH_PATHS = ("/oidc/par", "/oidc/token")


def _form(exchange: Exchange) -> dict[str, list[str]]:
    try:
        return parse_qs(exchange.body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return {}


def _first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _path(exchange: Exchange) -> str:
    return urlsplit(exchange.path).path


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def jwt_claims(token: str) -> dict[str, object]:
    """A JWT's claims, unverified (the provider verified it; the kit only reads its jti)."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, orjson.JSONDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def relying_party_requests(exchanges: Iterable[Exchange]) -> list[Exchange]:
    """What the relying party itself sent (not the kit's stand-in for the holder's browser)."""
    return [e for e in exchanges if e.header(HEADER_KIT_BROWSER) is None]


def authorization_url_faults(url: str) -> list[str]:
    """The browser is sent to /authorize with client_id and a pushed request_uri only (PAR, RFC 9126)."""
    parts = urlsplit(url)
    names = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    faults = []
    extra = sorted(names - {"client_id", "request_uri"})
    if extra:
        faults.append(
            f"the authorization URL carried {', '.join(extra)} beside the pushed request; "
            "expected client_id and request_uri only (every parameter goes through PAR)"
        )
    request_uri = dict(parse_qsl(parts.query)).get("request_uri", "")
    if not request_uri.startswith(REQUEST_URI_PREFIX):
        faults.append(f"the authorization URL carried no request_uri of a pushed request ({url[:120]!r})")
    return faults


def par_faults(exchanges: Iterable[Exchange]) -> list[str]:
    """The relying party pushes every authorization request and never calls /authorize itself."""
    requests = relying_party_requests(exchanges)
    faults = [
        f"{_where(e)}: the relying party called the authorization endpoint itself; expected PAR"
        for e in requests
        if _path(e).startswith("/oidc/authorize")
    ]
    if not any(e.method == "POST" and _path(e) == "/oidc/par" for e in requests):
        faults.append("the relying party sent no POST /oidc/par; expected a pushed request for each login")
    return faults


def pkce_faults(exchanges: Iterable[Exchange]) -> list[str]:
    """S256 on every pushed request, a fresh verifier per login, and the token request's verifier matching."""
    requests = relying_party_requests(exchanges)
    faults: list[str] = []
    challenges: dict[str, Exchange] = {}
    for exchange in (e for e in requests if _path(e) == "/oidc/par" and e.status < 400):
        form = _form(exchange)
        method, challenge = _first(form, "code_challenge_method"), _first(form, "code_challenge")
        if method != "S256" or not challenge:
            faults.append(
                f"{_where(exchange)} pushed code_challenge_method {method!r}; expected S256 with a challenge"
            )
            continue
        earlier = challenges.get(challenge)
        if earlier is not None:
            faults.append(
                f"{_where(exchange)} pushed the code_challenge of {_where(earlier)} again; "
                "expected a fresh code_verifier for every login"
            )
        challenges[challenge] = exchange
    for exchange in (e for e in requests if _path(e) == "/oidc/token"):
        form = _form(exchange)
        if _first(form, "grant_type") != "authorization_code":
            continue
        verifier = _first(form, "code_verifier")
        if verifier is None:
            faults.append(f"{_where(exchange)} redeemed a code without a code_verifier; expected one")
        elif not verifier.isascii() or s256(verifier) not in challenges:
            faults.append(
                f"{_where(exchange)} sent a code_verifier whose S256 is no challenge it pushed; "
                "expected the verifier of that login"
            )
    return faults


def client_auth_faults(exchanges: Iterable[Exchange]) -> list[str]:
    """private_key_jwt on every PAR and token request, each assertion with a jti never sent before."""
    faults: list[str] = []
    jtis: dict[str, Exchange] = {}
    for exchange in relying_party_requests(exchanges):
        if exchange.method != "POST" or _path(exchange) not in OAUTH_PATHS:
            continue
        form = _form(exchange)
        if (exchange.header("authorization") or "").lower().startswith("basic") or "client_secret" in form:
            faults.append(f"{_where(exchange)} sent a client secret; expected private_key_jwt only")
        assertion = _first(form, "client_assertion")
        if _first(form, "client_assertion_type") != ASSERTION_TYPE or assertion is None:
            faults.append(
                f"{_where(exchange)} carried no client assertion; expected private_key_jwt "
                f"(client_assertion_type {ASSERTION_TYPE})"
            )
            continue
        jti = jwt_claims(assertion).get("jti")
        if not isinstance(jti, str):
            faults.append(f"{_where(exchange)} sent a client assertion without a jti; expected a fresh one")
            continue
        earlier = jtis.get(jti)
        if earlier is not None:
            faults.append(
                f"{_where(exchange)} sent the client assertion jti {jti!r} of {_where(earlier)} again; "
                "expected a fresh jti on every assertion"
            )
        jtis.setdefault(jti, exchange)
    return faults


def refresh_rotation_faults(exchanges: Iterable[Exchange]) -> list[str]:
    """Each refresh presents the refresh token the previous answer gave: none is presented twice."""
    faults: list[str] = []
    seen: dict[str, Exchange] = {}
    for exchange in relying_party_requests(exchanges):
        form = _form(exchange)
        if _path(exchange) != "/oidc/token" or _first(form, "grant_type") != "refresh_token":
            continue
        token = _first(form, "refresh_token") or ""
        earlier = seen.get(token)
        if earlier is not None:
            faults.append(
                f"{_where(exchange)} presented the refresh token of {_where(earlier)} again "
                f"(answered {exchange.status}); expected the rotated token of the previous answer"
            )
        seen.setdefault(token, exchange)
    return faults

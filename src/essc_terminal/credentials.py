"""Verifying electronic service credentials at an office, offline: the platform's keys and a status list.

A verifier needs nothing registered: the issuer's keys (``GET /.well-known/jwt-vc-issuer``) and the
status list tokens its credentials point to (``GET /v1/credentials/status-lists/{province}/{n}``) are
public. It fetches both while online and checks presentations without network until a status list's
``exp``; after the next refresh a credential of a card since lost or cancelled is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from essc.kit import sdjwt
from essc.kit.crypto.base import PublicKey
from essc.kit.errors import EsscError, MalformedKey
from essc_terminal.errors import InvalidArgument, PlatformUnreachable, StatusListRefused, TerminalError

__all__ = [
    "CredentialRefused",
    "VerifiedCredential",
    "fetch_issuer_keys",
    "fetch_status_list",
    "issuer_keys",
    "load_status_lists",
    "verify_credential",
]


class CredentialRefused(TerminalError):
    """The presentation was refused; `code` is essc.kit.sdjwt's (credential_revoked, key_binding_stale...)."""

    code = "credential_refused"


@dataclass(frozen=True, slots=True)
class VerifiedCredential:
    """A presentation that passed every check: the disclosed claims and the issuer's clear ones."""

    claims: dict[str, Any]
    disclosed: frozenset[str]
    key_bound: bool

    def as_json(self) -> dict[str, Any]:
        return {"verified": True, "disclosed": sorted(self.disclosed), "keyBound": self.key_bound} | {
            "claims": {name: value for name, value in self.claims.items() if name not in ("cnf", "status")}
        }


def issuer_keys(metadata: Mapping[str, Any]) -> dict[str, PublicKey]:
    """The credential keys (kid -> key) of SD-JWT VC issuer metadata; InvalidArgument when it is not that."""
    try:
        keys = metadata["jwks"]["keys"]
        found = {str(jwk["kid"]): sdjwt.public_key_of_jwk(jwk) for jwk in keys if jwk.get("crv") == "P-256"}
    except (KeyError, TypeError, AttributeError, MalformedKey) as exc:
        raise InvalidArgument("not SD-JWT VC issuer metadata with a jwks of P-256 keys") from exc
    if not found:
        raise InvalidArgument("the issuer metadata names no P-256 credential key")
    return found


def fetch_issuer_keys(http: httpx.Client, base_url: str) -> tuple[str, dict[str, PublicKey]]:
    """(issuer, keys) from the platform's /.well-known/jwt-vc-issuer."""
    metadata = _get(http, f"{base_url.rstrip('/')}/.well-known/jwt-vc-issuer").json()
    return str(metadata.get("issuer", "")), issuer_keys(metadata)


def fetch_status_list(http: httpx.Client, uri: str) -> str:
    """The status list token at uri (as a credential's status names it)."""
    return _get(http, uri).text


def _get(http: httpx.Client, url: str) -> httpx.Response:
    try:
        answer = http.get(url)
    except httpx.HTTPError as exc:
        raise PlatformUnreachable(f"GET {url}: {exc}") from exc
    if answer.status_code != 200:
        raise PlatformUnreachable(f"GET {url} answered {answer.status_code}")
    return answer


def load_status_lists(
    tokens: Iterable[str], keys: Mapping[str, PublicKey], now: int
) -> dict[str, sdjwt.StatusListToken]:
    """Verified status list tokens by URI; StatusListRefused names a token that does not verify."""
    held: dict[str, sdjwt.StatusListToken] = {}
    for token in tokens:
        try:
            verified = sdjwt.StatusListToken.verify(token, keys, now)
        except EsscError as exc:
            raise StatusListRefused(exc.detail, code=exc.code) from exc
        current = held.get(verified.uri)
        if current is None or verified.issued_at > current.issued_at:
            held[verified.uri] = verified
    return held


def verify_credential(
    presentation: str,
    platform_keys: Mapping[str, PublicKey],
    status_lists: Mapping[str, sdjwt.StatusListToken],
    now: int,
    *,
    expected_aud: str | None = None,
    expected_nonce: str | None = None,
    issuer: str | None = None,
) -> VerifiedCredential:
    """Check a presentation offline: the disclosed claims, or CredentialRefused with the kit's code."""
    try:
        verified = sdjwt.verify_presentation(
            presentation,
            platform_keys,
            now=now,
            status_lists=status_lists,
            expected_aud=expected_aud,
            expected_nonce=expected_nonce,
            issuer=issuer,
        )
    except EsscError as exc:
        raise CredentialRefused(exc.detail, code=exc.code) from exc
    return VerifiedCredential(verified.claims, verified.disclosed, verified.key_bound)

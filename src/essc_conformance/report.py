"""The signed report of one conformance run, its verification, and what it certifies.

The report is JSON. Its signature covers ``SCHEME`` and the canonical JSON (sorted keys, no spaces, UTF-8)
of every member except ``signature``, signed with the platform's signing key (the one that signs responses
and webhooks): anyone holding the platform's public keys (GET /v1/platform/keys) can check it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson

from essc.kit import wire
from essc.kit.crypto.base import CryptoSuite, PublicKey
from essc.kit.errors import CryptoError, EsscError
from essc.kit.keystore import Signer
from essc.shared.policy import Function

SCHEME = "ESSC-CONFORMANCE-1"
DEFAULT_VALIDITY = timedelta(days=180)


class Plan(StrEnum):
    FUNCTIONAL = "functional"
    SECURITY = "security"
    RELYING_PARTY = "relying-party"


class ReportSignatureInvalid(EsscError):
    status = 422
    code = "conformance_report_signature_invalid"
    title = "Conformance report signature does not verify"


class ReportExpired(EsscError):
    status = 422
    code = "conformance_report_expired"
    title = "Conformance report has expired"


class ReportBeforeKeyChange(EsscError):
    status = 422
    code = "conformance_report_before_key_change"
    title = "Conformance report was run before the channel's last key change"


class ReportKeyMismatch(EsscError):
    status = 422
    code = "conformance_report_key_mismatch"
    title = "Conformance report names none of the channel's current keys"


class ReportMalformed(EsscError):
    status = 422
    code = "conformance_report_malformed"
    title = "Conformance report is not a report"


@dataclass(frozen=True, slots=True)
class Case:
    """One test case's outcome; detail says what went wrong and what was expected, or what passed."""

    id: str
    plan: Plan
    title: str
    passed: bool
    detail: str
    functions: tuple[Function, ...] = ()  # the functions this case is needed for (all: the security plan)

    def as_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plan": self.plan.value,
            "title": self.title,
            "passed": self.passed,
            "detail": self.detail,
            "functions": [f.value for f in self.functions],
        }


@dataclass(frozen=True, slots=True)
class ChannelKey:
    key_id: str
    environment: str
    fingerprint: str

    def as_wire(self) -> dict[str, str]:
        return {"keyId": self.key_id, "environment": self.environment, "fingerprint": self.fingerprint}


def passed_functions(cases: list[Case], tested: tuple[Function, ...]) -> list[Function]:
    """Functions whose every case passed, provided the whole security plan passed."""
    if any(not c.passed for c in cases if c.plan is Plan.SECURITY):
        return []
    return [
        function
        for function in tested
        if all(c.passed for c in cases if c.plan is not Plan.SECURITY and function in c.functions)
    ]


def build(
    *,
    report_id: str,
    channel_no: str,
    environment: str,
    platform_url: str,
    keys: list[ChannelKey],
    signed_with: list[str],
    cases: list[Case],
    tested: tuple[Function, ...],
    started_at: datetime,
    finished_at: datetime,
    run_seconds: float,
    validity: timedelta = DEFAULT_VALIDITY,
) -> dict[str, Any]:
    """The unsigned report document."""
    functions = passed_functions(cases, tested)
    return {
        "scheme": SCHEME,
        "reportId": report_id,
        "channelNo": channel_no,
        "environment": environment,
        "platform": platform_url,
        "keys": [k.as_wire() for k in keys],
        "signedWith": sorted(set(signed_with)),
        "startedAt": started_at.astimezone(UTC).isoformat(),
        "finishedAt": finished_at.astimezone(UTC).isoformat(),
        "runSeconds": round(run_seconds, 3),
        "expiresAt": (finished_at + validity).astimezone(UTC).isoformat(),
        "passed": all(c.passed for c in cases),
        "summary": {
            "cases": len(cases),
            "failed": [c.id for c in cases if not c.passed],
        },
        "functionsTested": [f.value for f in tested],
        "functionsPassed": [f.value for f in functions],
        "cases": [c.as_wire() for c in cases],
    }


def build_relying_party(
    *,
    report_id: str,
    client_id: str,
    environment: str,
    platform_url: str,
    key_thumbprints: list[str],
    cases: list[Case],
    started_at: datetime,
    finished_at: datetime,
    run_seconds: float,
    validity: timedelta = DEFAULT_VALIDITY,
) -> dict[str, Any]:
    """The unsigned report of the relying-party plan: the login function, on the RP's signing keys."""
    functions = passed_functions(cases, (Function.LOGIN,))
    return {
        "scheme": SCHEME,
        "reportId": report_id,
        "clientId": client_id,
        "environment": environment,
        "platform": platform_url,
        "keyThumbprints": sorted(key_thumbprints),
        "startedAt": started_at.astimezone(UTC).isoformat(),
        "finishedAt": finished_at.astimezone(UTC).isoformat(),
        "runSeconds": round(run_seconds, 3),
        "expiresAt": (finished_at + validity).astimezone(UTC).isoformat(),
        "passed": all(c.passed for c in cases),
        "summary": {"cases": len(cases), "failed": [c.id for c in cases if not c.passed]},
        "functionsTested": [Function.LOGIN.value],
        "functionsPassed": [f.value for f in functions],
        "cases": [c.as_wire() for c in cases],
    }


def _canonical(report: Mapping[str, Any]) -> bytes:
    unsigned = {k: v for k, v in report.items() if k != "signature"}
    return SCHEME.encode() + b"\n" + orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS)


def sign(report: dict[str, Any], signer: Signer) -> dict[str, Any]:
    """The report with a signature of the platform's signing key."""
    signature = signer.sign(_canonical(report))
    return {**report, "signature": {"keyId": signer.key_id, "value": wire.encode_signature(signature)}}


def verify(report: Any, suite: CryptoSuite, platform_keys: Mapping[str, PublicKey]) -> dict[str, Any]:
    """Return the report when a platform key signed exactly it; ReportSignatureInvalid otherwise."""
    if not isinstance(report, dict) or report.get("scheme") != SCHEME:
        raise ReportMalformed(f"not a conformance report (scheme {SCHEME} expected)")
    signature = report.get("signature")
    if not isinstance(signature, dict):
        raise ReportSignatureInvalid("the report carries no signature")
    key_id = str(signature.get("keyId", ""))
    key = platform_keys.get(key_id)
    value = wire.decode_signature(str(signature.get("value", "")))
    if key is None or value is None:
        raise ReportSignatureInvalid(f"the report is not signed by a known platform key ({key_id!r})")
    try:
        suite.verify(key, _canonical(report), value)
    except CryptoError as exc:
        raise ReportSignatureInvalid(
            "the report's signature does not verify: it was changed after the platform signed it"
        ) from exc
    return report


@dataclass(frozen=True, slots=True)
class CertificationRow:
    """One certification a verified report grants: a function, on one of the channel's keys, until expiry."""

    channel_no: str
    function: Function
    environment: str
    key_fingerprint: str
    passed_at: datetime
    expires_at: datetime
    report_ref: str


def certification_rows(
    report: Mapping[str, Any], *, environment: str, now: datetime
) -> list[CertificationRow]:
    """What a verified report certifies for `environment`'s keys named in it; ReportExpired when too old."""
    try:
        finished = datetime.fromisoformat(str(report["finishedAt"]))
        expires = datetime.fromisoformat(str(report["expiresAt"]))
        functions = [Function(f) for f in report["functionsPassed"]]
        keys = [k for k in report["keys"] if k["environment"] == environment]
        channel_no, report_id = str(report["channelNo"]), str(report["reportId"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportMalformed(f"the report lacks a well-formed member: {exc}") from exc
    if expires <= now:
        raise ReportExpired(
            f"report {report_id} expired at {expires.isoformat()}; run the access tests again",
            expired_at=expires.isoformat(),
        )
    return [
        CertificationRow(
            channel_no, function, environment, str(key["fingerprint"]), finished, expires, report_id
        )
        for function in functions
        for key in keys
    ]

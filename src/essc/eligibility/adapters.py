"""The external systems of eligibility certification: each province's benefit system and the face check.

Each sits behind a small Protocol with a real adapter (HTTP, signed as the platform signs webhooks) and a
sandbox adapter with deterministic data, which the demo and the tests use.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

import httpx
import orjson
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from essc.core.platform import Platform
from essc.ecards.errors import AttestationRefused
from essc.ecards.schemas import Attestation
from essc.eligibility.errors import BenefitSystemUnavailable, FaceCheckUnavailable
from essc.eligibility.models import BenefitType
from essc.eligibility.schemas import DueLoad, DueRecord
from essc.kit.ids import new_id
from essc.webhooks.dispatcher import sign_delivery

MIN_FACE_SCORE = 80
FACE_CHECK_MAX_AGE = timedelta(minutes=10)
CERTIFICATIONS_PATH = "/certifications"
DUE_ITEMS_PATH = "/due-items"


@dataclass(frozen=True, slots=True)
class ResultDelivery:
    """One certification result for a province; `certification_id` is its idempotency key."""

    province: str
    certification_id: str
    body: bytes


class BenefitSystem(Protocol):
    """A province's benefit system: who must certify, and where results go."""

    def due_items(self, province: str, period: int) -> list[DueRecord]:
        """Everyone who must certify in the period; raises BenefitSystemUnavailable."""
        ...

    def deliver(self, delivery: ResultDelivery) -> str:
        """Hand over one result; returns the province's receipt, the same on a repeat of the same id."""
        ...


class HttpBenefitSystem:
    """The real adapter: the province's HTTPS endpoint, every request signed like a webhook (ESSC-HOOK-2)."""

    def __init__(self, platform: Platform, url: str, client: httpx.Client | None = None) -> None:
        self._platform = platform
        self._url = url.rstrip("/")
        self._client = client or httpx.Client(follow_redirects=False)

    def due_items(self, province: str, period: int) -> list[DueRecord]:
        url = f"{self._url}{DUE_ITEMS_PATH}?period={period}"
        signed = sign_delivery(self._platform, url, new_id(), b"", f"province/{province}")
        try:
            response = self._client.get(url, headers=signed.headers, timeout=self._timeout)
            if response.status_code != 200:
                raise BenefitSystemUnavailable(f"province {province} answered HTTP {response.status_code}")
            return list(DueLoad.model_validate_json(response.content).items)
        except (httpx.HTTPError, ValidationError) as exc:
            raise BenefitSystemUnavailable(f"province {province}: {type(exc).__name__}") from exc

    def deliver(self, delivery: ResultDelivery) -> str:
        url = f"{self._url}{CERTIFICATIONS_PATH}"
        signed = sign_delivery(
            self._platform, url, delivery.certification_id, delivery.body, f"province/{delivery.province}"
        )
        try:
            response = self._client.post(
                url, content=signed.body, headers=signed.headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise BenefitSystemUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise BenefitSystemUnavailable(f"HTTP {response.status_code}")
        return acknowledged_receipt(response.content, delivery.certification_id)

    @property
    def _timeout(self) -> float:
        return self._platform.settings.webhook_timeout_seconds


def acknowledged_receipt(answer: bytes, certification_id: str) -> str:
    """The receipt of a province's acknowledgement, which must name the certification it received."""
    try:
        parsed = orjson.loads(answer)
    except orjson.JSONDecodeError as exc:
        raise BenefitSystemUnavailable("the acknowledgement is not JSON") from exc
    if not isinstance(parsed, dict) or parsed.get("certificationId") != certification_id:
        raise BenefitSystemUnavailable("the acknowledgement names another certification")
    receipt = parsed.get("receipt")
    if not isinstance(receipt, str) or not 1 <= len(receipt) <= 128:
        raise BenefitSystemUnavailable("the acknowledgement carries no receipt (1-128 characters)")
    return receipt


@dataclass
class SandboxBenefitSystem:
    """A benefit system in memory: fixed due lists, results recorded once per id, failures on demand.

    `failures` makes the next deliveries fail (a flaky province); every call is counted in `attempts`.
    """

    due: dict[tuple[str, int], list[DueRecord]] = field(default_factory=dict)
    failures: int = 0
    received: dict[str, bytes] = field(default_factory=dict)
    attempts: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def due_items(self, province: str, period: int) -> list[DueRecord]:
        return list(self.due.get((province, period), []))

    def deliver(self, delivery: ResultDelivery) -> str:
        with self._lock:
            self.attempts.append(delivery.certification_id)
            if self.failures > 0:
                self.failures -= 1
                raise BenefitSystemUnavailable("sandbox benefit system: failing on purpose")
            # A repeat of an id is acknowledged again and recorded once, as a real province must do.
            self.received.setdefault(delivery.certification_id, delivery.body)
        return f"SBX-{delivery.certification_id}"


def sandbox_due_records(province: str, period: int, card_numbers: Sequence[str]) -> list[DueRecord]:
    """Deterministic due items for the given cards: benefit types in turn, due dates spread over the year."""
    benefits = list(BenefitType)
    opens = datetime(period, 1, 1, tzinfo=UTC)
    return [
        DueRecord(
            ref=f"SBX-{province}-{period}-{aaz500}",
            aaz500=aaz500,
            benefit_type=benefits[index % len(benefits)],
            opens_at=opens,
            due_at=datetime(period, 1 + index % 12, 28, tzinfo=UTC),
        )
        for index, aaz500 in enumerate(card_numbers)
    ]


class FaceOutcome(StrEnum):
    """What the face verification service said of a check: confirmed, not confirmed, or nothing."""

    CONFIRMED = "confirmed"
    NOT_CONFIRMED = "not_confirmed"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class FaceVerdict:
    """The face verification service's answer on a check: the evidence a certification records."""

    outcome: FaceOutcome
    method: str
    provider: str
    reference: str
    score: int
    checked_at: datetime


class FaceVerifier(Protocol):
    """Asks the face verification service that made a channel's face check whether it stands."""

    async def verify(self, attestation: Attestation) -> FaceVerdict:
        """Its verdict; a service that cannot be asked gives FaceOutcome.UNAVAILABLE, never an exception."""
        ...


def check_fresh(attestation: Attestation, now: datetime) -> None:
    """A face check good enough to rely on: score 80 or more, made within the last 10 minutes."""
    if attestation.score < MIN_FACE_SCORE:
        raise AttestationRefused(
            f"attestation score {attestation.score} is below {MIN_FACE_SCORE}", field="attestation.score"
        )
    if (
        attestation.checked_at > now + timedelta(minutes=1)
        or now - attestation.checked_at > FACE_CHECK_MAX_AGE
    ):
        raise AttestationRefused(
            "attestation.checkedAt must be within the last 10 minutes", field="attestation.checkedAt"
        )


def confirmed(verdict: FaceVerdict) -> FaceVerdict:
    """The verdict if the service confirmed the check; else the named refusal."""
    if verdict.outcome is FaceOutcome.UNAVAILABLE:
        raise FaceCheckUnavailable("the face verification service could not be asked; try again")
    if verdict.outcome is not FaceOutcome.CONFIRMED:
        raise AttestationRefused(
            "the face verification service does not confirm this check", field="attestation.reference"
        )
    return verdict


def _verdict(attestation: Attestation, outcome: FaceOutcome, score: int | None = None) -> FaceVerdict:
    return FaceVerdict(
        outcome,
        attestation.method,
        attestation.provider,
        attestation.reference,
        attestation.score if score is None else score,
        attestation.checked_at,
    )


class SandboxFaceVerifier:
    """Confirms every check except those whose reference starts `refused` (to try the refusal)."""

    async def verify(self, attestation: Attestation) -> FaceVerdict:
        refused = attestation.reference.startswith("refused")
        return _verdict(attestation, FaceOutcome.NOT_CONFIRMED if refused else FaceOutcome.CONFIRMED)


class HttpFaceVerifier:
    """The real adapter: POSTs {provider, reference} to the service's /verifications; it answers
    {verified, score}."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self._url = url.rstrip("/")
        self._timeout = timeout

    async def verify(self, attestation: Attestation) -> FaceVerdict:
        query = {"provider": attestation.provider, "reference": attestation.reference}
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(f"{self._url}/verifications", json=query)
            answer = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            answer = None
        if not isinstance(answer, dict):
            return _verdict(attestation, FaceOutcome.UNAVAILABLE)
        score = answer.get("score")
        if answer.get("verified") is not True or not isinstance(score, int) or score < MIN_FACE_SCORE:
            return _verdict(attestation, FaceOutcome.NOT_CONFIRMED)
        return _verdict(attestation, FaceOutcome.CONFIRMED, score)


class EligibilitySettings(BaseSettings):
    """The face verification service; unset, the sandbox verifier is used (demo and tests)."""

    model_config = SettingsConfigDict(env_prefix="ESSC_ELIGIBILITY_", env_file=None, extra="ignore")

    face_verifier_url: str | None = None


_configured: list[FaceVerifier] = []


def face_verifier() -> FaceVerifier:
    """The face verifier this process's settings name, made on first use."""
    if not _configured:
        url = EligibilitySettings().face_verifier_url
        _configured.append(HttpFaceVerifier(url) if url else SandboxFaceVerifier())
    return _configured[0]

"""Wire types of device enrolment and offline uploads."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from essc.kit.schemas import Instant, WireModel


class EnrolRequest(WireModel):
    device_public_key: str = Field(alias="devicePublicKey", description="PEM of the device's own key")
    busi_seq: str = Field(alias="busiSeq", description="busiSeq of purpose offline_device")


class Enrolment(WireModel):
    certificate: str = Field(description="base64 of the device certificate the device puts in its codes")
    serial: str = Field(description="hex serial of the certificate")
    not_after: datetime = Field(alias="notAfter")
    platform_key_id: str = Field(alias="platformKeyId")


class Acceptance(WireModel):
    code: str = Field(min_length=1, max_length=1024, description="the offline payload the terminal accepted")
    accepted_at: Instant = Field(alias="acceptedAt")


class UploadRequest(WireModel):
    acceptances: list[Acceptance]


class Outcome(StrEnum):
    CONFIRMED = "confirmed"  # first sighting of a valid code: settled
    ALREADY_UPLOADED = "already_uploaded"  # this terminal sent it before: nothing new
    REPLAYED = "replayed"  # another terminal accepted the same code first: the certificate is revoked
    REVOKED = "revoked"  # the certificate was revoked before the code was made (stale status list)
    REFUSED = "refused"  # not a valid code of a known certificate, or not granted to this terminal


class AcceptanceResult(WireModel):
    index: int
    outcome: Outcome
    serial: str | None = None
    counter: int | None = None
    reason: str | None = Field(default=None, description="the error code when refused")


class UploadResult(WireModel):
    results: list[AcceptanceResult]

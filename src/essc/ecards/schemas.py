"""Wire types of the e-card life cycle (names of docs/protocol.md, Glossary)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from essc.kit.schemas import Instant, PersonName, WireModel


class Purpose(StrEnum):
    """What a busiSeq may be spent on."""

    SIGN_LEVEL2 = "sign_level2"
    UNLINK = "unlink"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose name, not a secret
    LOGIN = "login"
    PAYMENT = "payment"
    QUERY = "query"
    BUSINESS = "business"
    OFFLINE_DEVICE = "offline_device"
    CREDENTIAL = "credential"  # an electronic service credential of the holder's identity (essc.credentials)

    ELIGIBILITY = "eligibility"  # 线上待遇资格认证: certify a due item
    ELIGIBILITY_DELEGATION = "eligibility_delegation"  # grant or revoke a relative's delegation


class Attestation(WireModel):
    """The channel's statement that it checked the holder's face and liveness."""

    method: Literal["face", "liveness"]
    provider: str = Field(min_length=1, max_length=64)
    reference: str = Field(min_length=1, max_length=128)
    score: int = Field(ge=0, le=100)
    checked_at: Instant = Field(alias="checkedAt")


class IssueRequest(WireModel):
    aab301: str = Field(pattern=r"^[0-9]{6}$")
    aac002: str = Field(min_length=18, max_length=18)
    aac003: PersonName
    aaz500: str = Field(pattern=r"^[A-Za-z0-9]{9}$")
    attestation: Attestation


class EcardView(WireModel):
    sign_no: str = Field(alias="signNo")
    sign_level: int = Field(alias="signLevel")
    status: Literal["active", "unlinked"]
    usable: bool
    card_status: str = Field(alias="cardStatus")
    aab301: str
    aac002: str  # masked
    aac003: str  # masked
    aaz500: str  # masked
    issued_at: datetime = Field(alias="issuedAt")


class IssueResponse(EcardView):
    created: bool


class PasswordSet(WireModel):
    password: str


class PasswordChange(WireModel):
    old_password: str = Field(alias="oldPassword")
    new_password: str = Field(alias="newPassword")


class PasswordReset(WireModel):
    busi_seq: str = Field(alias="busiSeq")
    new_password: str = Field(alias="newPassword")


class BusiSeqRequest(WireModel):
    purpose: Purpose
    method: Literal["password", "face"]
    password: str | None = None
    attestation: Attestation | None = None


class BusiSeqResponse(WireModel):
    busi_seq: str = Field(alias="busiSeq")
    purpose: Purpose
    expires_at: datetime = Field(alias="expiresAt")


class BusiSeqUse(WireModel):
    busi_seq: str = Field(alias="busiSeq")


class Done(WireModel):
    sign_no: str = Field(alias="signNo")
    result: str

"""Wire types of the channel registry."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from essc.kit.schemas import DisplayName, Instant, WireModel
from essc.shared.callers import Environment
from essc.shared.policy import Function

CHANNEL_NO = r"^[0-9]{10}$"
KEY_ID = r"^[A-Za-z0-9_.\-]{1,64}$"


class Contact(WireModel):
    """Someone the ministry can reach about the channel."""

    name: DisplayName = Field(min_length=1, max_length=64)
    role: DisplayName = Field(default="technical", min_length=1, max_length=32)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=128)


class KeyIn(WireModel):
    """An SM2 public key (PEM) under a key id, for the sandbox or production."""

    key_id: str = Field(alias="keyId", pattern=KEY_ID)
    public_key: str = Field(alias="publicKey", description="PEM of the SM2 public key")
    environment: Environment = Environment.PRODUCTION


class ChannelIn(WireModel):
    """A channel to register; a second-level one names its first-level parent and brings no keys."""

    channel_no: str = Field(alias="channelNo", pattern=CHANNEL_NO)
    name: DisplayName = Field(min_length=1, max_length=128)
    organisation: DisplayName = Field(min_length=1, max_length=128)
    channel_type: str = Field(alias="channelType", description="one of the six channel types")
    level: Literal[1, 2] = 1
    parent_channel_no: str | None = Field(default=None, alias="parentChannelNo", pattern=CHANNEL_NO)
    contacts: list[Contact] = Field(default_factory=list, max_length=10)
    webhook_url: str | None = Field(default=None, alias="webhookUrl", max_length=512)
    keys: list[KeyIn] = Field(default_factory=list, max_length=8)


class KeyOut(WireModel):
    key_id: str = Field(alias="keyId")
    environment: str
    status: str = Field(description="active, revoked, or retired after its overlap window")
    fingerprint: str
    created_at: datetime = Field(alias="createdAt")
    stops_at: datetime | None = Field(
        alias="stopsAt", description="end of the overlap window after a rotation"
    )
    revoked_at: datetime | None = Field(alias="revokedAt")


class CertificationOut(WireModel):
    function: Function
    environment: str
    passed_at: datetime = Field(alias="passedAt")
    expires_at: datetime = Field(alias="expiresAt")
    key_fingerprint: str = Field(alias="keyFingerprint")
    report_ref: str = Field(alias="reportRef")


class ChannelOut(WireModel):
    channel_no: str = Field(alias="channelNo")
    name: str
    organisation: str
    channel_type: str = Field(alias="channelType")
    level: int
    parent_channel_no: str | None = Field(alias="parentChannelNo")
    contacts: list[Contact]
    webhook_url: str | None = Field(alias="webhookUrl")
    status: str
    status_reason: str | None = Field(alias="statusReason")
    created_at: datetime = Field(alias="createdAt")
    keys: list[KeyOut]
    certifications: list[CertificationOut]
    certified_functions: list[Function] = Field(
        alias="certifiedFunctions", description="functions with a valid production certification now"
    )


class ChannelStatusChange(WireModel):
    status: Literal["testing", "certified", "active", "suspended", "terminated"]
    reason: DisplayName | None = Field(default=None, min_length=1, max_length=256)


class KeyRotation(WireModel):
    """A new key; naming the key it replaces schedules the old one to stop at the end of the overlap."""

    key_id: str = Field(alias="keyId", pattern=KEY_ID)
    public_key: str = Field(alias="publicKey")
    environment: Environment = Environment.PRODUCTION
    replaces: str | None = Field(default=None, pattern=KEY_ID)
    old_key_stops_at: Instant | None = Field(
        default=None, alias="oldKeyStopsAt", description="default: 7 days from now"
    )


class CertificationIn(WireModel):
    """A passed access test of a function (the conformance kit's signed report)."""

    function: Function
    environment: Environment = Environment.PRODUCTION
    passed_at: Instant = Field(alias="passedAt")
    expires_at: Instant = Field(alias="expiresAt")
    key_fingerprint: str = Field(alias="keyFingerprint", min_length=16, max_length=128)
    report_ref: str = Field(alias="reportRef", min_length=1, max_length=128)

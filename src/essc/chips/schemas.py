"""Wire types of chip keys and chip challenges."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from essc.ecards.schemas import Purpose
from essc.kit.schemas import WireModel


class ChipKeyIn(WireModel):
    public_key: str = Field(
        alias="publicKey", max_length=4096, description="PEM of the chip's SM2 public key"
    )


class ChipKeyOut(WireModel):
    aaz500: str
    generation: int
    fingerprint: str = Field(description="hex SM3 of the key's DER encoding")
    replaced: bool = Field(description="true when the card had another chip key before")


class ChallengeRequest(WireModel):
    purpose: Purpose = Field(default=Purpose.QUERY, description="purpose of the busiSeq a valid answer earns")


class ChallengeOut(WireModel):
    challenge_id: str = Field(alias="challengeId")
    challenge: str = Field(description="base64 of 32 random bytes for the chip to sign (see essc.chips.wire)")
    expires_at: datetime = Field(alias="expiresAt")


class ChallengeAnswer(WireModel):
    signature: str = Field(min_length=1, max_length=512, description="base64 of the chip's SM2 DER signature")

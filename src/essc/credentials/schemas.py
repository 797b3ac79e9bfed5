"""Wire types of credential issuance and the issuer's keys."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from essc.kit.schemas import WireModel

ClearClaim = Literal["aac002", "aac003"]


class CredentialRequest(WireModel):
    busi_seq: str = Field(alias="busiSeq", description="busiSeq of purpose credential: the holder confirmed")
    clear_claims: list[ClearClaim] = Field(
        default_factory=list,
        alias="clearClaims",
        max_length=2,
        description="clear claims to make disclosable as well (the holder still chooses what to present)",
    )


class StatusReference(WireModel):
    uri: str
    idx: int


class CredentialOut(WireModel):
    """An issued credential: the SD-JWT with its non-personal disclosures, and the personal ones sealed."""

    credential_id: str = Field(alias="credentialId")
    credential: str = Field(
        description="SD-JWT VC `<issuer JWT>~<disclosure>~...~` with the disclosures of the masked claims"
    )
    aac002: str | None = Field(
        default=None,
        description="the disclosure (not the value) of the clear ID number; arrives in `envelope`",
    )
    aac003: str | None = Field(
        default=None, description="the disclosure (not the value) of the clear name; arrives in `envelope`"
    )
    key_bound: bool = Field(alias="keyBound", description="cnf holds the device key: present with a KB-JWT")
    device_serial: str | None = Field(
        default=None, alias="deviceSerial", description="hex serial of that key"
    )
    status: StatusReference
    expires_at: datetime = Field(alias="expiresAt")

    @classmethod
    def clear_personal_fields(cls, body: Mapping[str, Any]) -> frozenset[str]:
        """The disclosures of clear personal claims are sealed to the channel."""
        return _CLEAR_FIELDS


_CLEAR_FIELDS = frozenset({"aac002", "aac003"})


class IssuerMetadata(WireModel):
    """SD-JWT VC issuer metadata (`/.well-known/jwt-vc-issuer`): the issuer and its credential keys."""

    issuer: str
    jwks: dict[str, list[dict[str, str]]]

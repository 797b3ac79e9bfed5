"""Wire types of online codes, their resolution and the usage history."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from essc.kit.schemas import WireModel
from essc.terminals.schemas import BusiType, Disclosure


class ImageFormat(StrEnum):
    PNG = "png"
    SVG = "svg"


class CodeRequest(WireModel):
    images: list[ImageFormat] = Field(
        default_factory=lambda: [ImageFormat.PNG, ImageFormat.SVG],
        description="QR images to return with the payload; [] for the payload only",
    )


class OnlineCodeOut(WireModel):
    code: str = Field(description="the payload to show: ESSC:1:<token>, nothing personal")
    expires_at: datetime = Field(alias="expiresAt")
    png: str | None = Field(default=None, description="base64 PNG of the QR code")
    svg: str | None = Field(default=None, description="SVG of the QR code")


class ResolveRequest(WireModel):
    code: str = Field(min_length=1, max_length=1024)
    busi_type: BusiType = Field(alias="busiType")


class Resolution(WireModel):
    """What the terminal learns: exactly the fields of its grant for this busiType."""

    resolution_id: str = Field(alias="resolutionId")
    busi_type: BusiType = Field(alias="busiType")
    disclosure: Disclosure
    usable: bool
    pseudonym: str = Field(description="stable per institution, different across institutions")
    sign_level: int = Field(alias="signLevel")
    aab301: str | None = None
    aac003: str | None = Field(
        default=None, description="masked or clear name, by grant; a clear one arrives inside `envelope`"
    )
    aac002: str | None = Field(
        default=None, description="masked or clear ID number, by grant; a clear one arrives inside `envelope`"
    )
    resolved_at: datetime = Field(alias="resolvedAt")

    @classmethod
    def clear_personal_fields(cls, body: Mapping[str, Any]) -> frozenset[str]:
        """The fields of an answer that are sealed to the terminal: those of a clear grant."""
        return _CLEAR_FIELDS if body.get("disclosure") == Disclosure.CLEAR.value else frozenset()


_CLEAR_FIELDS = frozenset({"aac002", "aac003"})


class UsageAudit(WireModel):
    """Where this use is in the province's audit log: its leaf and its inclusion proof (to `checkpoint`)."""

    log: str
    leaf_index: int = Field(alias="leafIndex")
    leaf: str = Field(description="base64 of the leaf's bytes: the audit entry of this use")
    proof: list[str] = Field(description="base64 hashes, leaf side first (RFC 9162 inclusion proof)")


class UsageOut(WireModel):
    at: datetime
    institution: str
    institution_kind: str = Field(alias="institutionKind")
    terminal_no: str = Field(alias="terminalNo")
    busi_type: BusiType = Field(alias="busiType")
    method: str
    disclosure: Disclosure
    audit: UsageAudit | None = Field(default=None, description="absent until the use is sequenced")


class UsageHistory(WireModel):
    usages: list[UsageOut]
    next_before: datetime | None = Field(alias="nextBefore", description="pass as ?before= for older entries")
    checkpoint: str | None = Field(
        default=None, description="the province log's signed checkpoint (C2SP note) the proofs lead to"
    )

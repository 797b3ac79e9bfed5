"""Wire types of channel authorisations and province business items."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from essc.kit.schemas import WireModel
from essc.shared.policy import Function


class GrantChange(WireModel):
    """Authorise (active) or suspend a function of a channel; takes effect on the channel's next request."""

    status: Literal["active", "suspended"]


class GrantOut(WireModel):
    channel_no: str = Field(alias="channelNo")
    function: Function
    province: str = Field(description='two-digit province code, "00" for a national grant by the ministry')
    status: str = Field(description="active, suspended, or revoked (in the answer to a revocation)")
    granted_by: str | None = Field(alias="grantedBy")
    updated_at: datetime | None = Field(alias="updatedAt")


class BusinessItemChange(WireModel):
    enabled: bool


class BusinessItemOut(WireModel):
    """Whether the province enabled a function for its cardholders (if not: refused for every channel)."""

    province: str
    function: Function
    enabled: bool

"""Wire types of the public list of authorised channel apps."""

from __future__ import annotations

from pydantic import Field

from essc.kit.schemas import WireModel
from essc.shared.policy import Function


class ChannelAppOut(WireModel):
    """A channel app that may serve the province's cardholders now, with the functions it may serve."""

    channel_no: str = Field(alias="channelNo")
    name: str
    organisation: str
    channel_type: str = Field(alias="channelType", description="one of the six channel types")
    level: int = Field(
        description="1: first-level; 2: second-level, reaching the platform through its parent"
    )
    functions: list[Function] = Field(description="the functions in force, sorted")


class ProvinceChannelAppsOut(WireModel):
    """The channel apps authorised for the cardholders of one province, by channelNo."""

    province: str = Field(description="two-digit GB/T 2260 province code")
    province_name: str = Field(alias="provinceName")
    channel_apps: list[ChannelAppOut] = Field(alias="channelApps")


class ChannelAppsOut(WireModel):
    """The channel apps authorised in every province, by province code."""

    provinces: list[ProvinceChannelAppsOut]

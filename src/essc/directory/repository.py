"""All SQL of the public list: the rows the authorisation rule reads, for one province or all at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, or_, select

from essc.authorisations.models import ChannelGrant, ProvinceBusinessItem
from essc.channels.models import Channel
from essc.core.db import Session
from essc.regions.models import Region
from essc.shared.policy import NATIONAL


@dataclass(frozen=True, slots=True)
class GrantRow:
    """One grant as it holds in one province ("00" grants repeat for every province), with its channel."""

    holder_province: str  # the province whose cardholders the row is about
    channel: Channel
    function: str
    province: str  # where the grant was made: holder_province or "00"
    status: str
    enabled: bool  # the holder province's business item for the function (absent: disabled)


def grant_rows(session: Session, provinces: Sequence[str]) -> list[GrantRow]:
    """Every grant that bears on the cardholders of `provinces`, with its channel and business item.

    One statement: the provinces (reference table) joined to their own and the national grants, the grants'
    channels, and the province's business item of the grant's function (outer: absent means disabled).
    """
    rows = session.execute(
        select(
            Region.province,
            Channel,
            ChannelGrant.function,
            ChannelGrant.province,
            ChannelGrant.status,
            ProvinceBusinessItem.enabled,
        )
        .select_from(Region)
        .join(ChannelGrant, or_(ChannelGrant.province == Region.province, ChannelGrant.province == NATIONAL))
        .join(Channel, Channel.id == ChannelGrant.channel_id)
        .outerjoin(
            ProvinceBusinessItem,
            and_(
                ProvinceBusinessItem.province == Region.province,
                ProvinceBusinessItem.function == ChannelGrant.function,
            ),
        )
        .where(Region.level == "province", Region.province.in_(provinces))
        .order_by(Region.province, Channel.channel_no, ChannelGrant.function)
    ).all()
    return [
        GrantRow(
            holder_province=holder,
            channel=channel,
            function=function,
            province=province,
            status=status,
            enabled=bool(enabled),
        )
        for holder, channel, function, province, status, enabled in rows
    ]

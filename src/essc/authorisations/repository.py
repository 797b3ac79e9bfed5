"""All SQL of channel authorisations and province business items."""

from __future__ import annotations

from sqlalchemy import select

from essc.authorisations.models import ChannelGrant, ProvinceBusinessItem
from essc.channels.models import Channel
from essc.core.db import Session


def grants_for(
    session: Session, channel_id: str, function: str, provinces: tuple[str, ...]
) -> list[ChannelGrant]:
    """A channel's grants of a function in the given provinces (a province and "00"): one index range."""
    return list(
        session.execute(
            select(ChannelGrant).where(
                ChannelGrant.channel_id == channel_id,
                ChannelGrant.function == function,
                ChannelGrant.province.in_(provinces),
            )
        ).scalars()
    )


def grant(session: Session, channel_id: str, function: str, province: str) -> ChannelGrant | None:
    return session.execute(
        select(ChannelGrant).where(
            ChannelGrant.channel_id == channel_id,
            ChannelGrant.function == function,
            ChannelGrant.province == province,
        )
    ).scalar_one_or_none()


def grants_of_channel(session: Session, channel_id: str) -> list[ChannelGrant]:
    return list(
        session.execute(
            select(ChannelGrant)
            .where(ChannelGrant.channel_id == channel_id)
            .order_by(ChannelGrant.province, ChannelGrant.function)
        ).scalars()
    )


def business_item(session: Session, province: str, function: str) -> ProvinceBusinessItem | None:
    return session.get(ProvinceBusinessItem, (province, function))


def business_items(session: Session, province: str) -> list[ProvinceBusinessItem]:
    return list(
        session.execute(
            select(ProvinceBusinessItem)
            .where(ProvinceBusinessItem.province == province)
            .order_by(ProvinceBusinessItem.function)
        ).scalars()
    )


def grants_in_province(session: Session, province: str) -> list[tuple[ChannelGrant, str]]:
    """The grants made in a province, with each channel's number."""
    rows = session.execute(
        select(ChannelGrant, Channel.channel_no)
        .join(Channel, Channel.id == ChannelGrant.channel_id)
        .where(ChannelGrant.province == province)
        .order_by(Channel.channel_no, ChannelGrant.function)
    ).all()
    return [(row[0], row[1]) for row in rows]

"""All SQL of channels and their certifications."""

from __future__ import annotations

from sqlalchemy import select

from essc.channels.models import Channel, ChannelCertification
from essc.core.db import Session


def by_caller(session: Session, caller_id: str) -> Channel | None:
    return session.execute(select(Channel).where(Channel.caller_id == caller_id)).scalar_one_or_none()


def by_number(session: Session, channel_no: str) -> Channel | None:
    return session.execute(select(Channel).where(Channel.channel_no == channel_no)).scalar_one_or_none()


def by_id(session: Session, channel_id: str) -> Channel | None:
    return session.get(Channel, channel_id)


def all_channels(session: Session) -> list[Channel]:
    return list(session.execute(select(Channel).order_by(Channel.channel_no)).scalars())


def children(session: Session, parent_id: str) -> list[Channel]:
    return list(
        session.execute(
            select(Channel).where(Channel.parent_id == parent_id).order_by(Channel.channel_no)
        ).scalars()
    )


def certifications(
    session: Session, channel_id: str, function: str, environment: str
) -> list[ChannelCertification]:
    """A channel's certifications of one function in one environment, newest first."""
    return list(
        session.execute(
            select(ChannelCertification)
            .where(
                ChannelCertification.channel_id == channel_id,
                ChannelCertification.function == function,
                ChannelCertification.environment == environment,
            )
            .order_by(ChannelCertification.passed_at.desc())
        ).scalars()
    )


def certifications_of(session: Session, channel_id: str) -> list[ChannelCertification]:
    return list(
        session.execute(
            select(ChannelCertification)
            .where(ChannelCertification.channel_id == channel_id)
            .order_by(ChannelCertification.passed_at)
        ).scalars()
    )

"""All SQL of channels."""

from __future__ import annotations

from sqlalchemy import select

from essc.channels.models import Channel
from essc.core.db import Session


def by_caller(session: Session, caller_id: str) -> Channel | None:
    return session.execute(select(Channel).where(Channel.caller_id == caller_id)).scalar_one_or_none()


def by_number(session: Session, channel_no: str) -> Channel | None:
    return session.execute(select(Channel).where(Channel.channel_no == channel_no)).scalar_one_or_none()


def by_id(session: Session, channel_id: str) -> Channel | None:
    return session.get(Channel, channel_id)


def all_channels(session: Session) -> list[Channel]:
    return list(session.execute(select(Channel).order_by(Channel.channel_no)).scalars())

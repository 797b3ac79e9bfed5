"""Minimal channel registry for issuance: a channel, its signing caller and its public key."""

from __future__ import annotations

from enum import StrEnum

from essc.access import service as access
from essc.channels import repository
from essc.channels.models import Channel
from essc.core.uow import UnitOfWork
from essc.kit.errors import Conflict, InvalidInput, NotFound


class ChannelType(StrEnum):
    HRSS_APP = "hrss_app"
    GOVERNMENT_APP = "government_app"
    NATIONAL_PARTNER = "national_partner"
    BANK = "bank"
    MEDICAL = "medical"
    SOCIAL_SERVICE = "social_service"


class ChannelNotFound(NotFound):
    code = "channel_not_found"
    title = "Channel not found"


def register(
    uow: UnitOfWork,
    channel_no: str,
    name: str,
    channel_type: ChannelType,
    *,
    public_key: bytes,
    key_id: str,
    webhook_url: str | None,
) -> Channel:
    """Register a channel with its first SM2 public key."""
    if len(channel_no) != 10 or not channel_no.isdigit():
        raise InvalidInput(f"channelNo must be 10 digits, got {channel_no!r}", field="channelNo")
    if repository.by_number(uow.session, channel_no) is not None:
        raise Conflict(f"channel {channel_no} is already registered")
    caller = access.register_caller(uow, "channel", channel_no, name)
    access.add_key(uow, caller, key_id, public_key)
    channel = Channel(
        id=caller.id,
        channel_no=channel_no,
        caller_id=caller.id,
        name=name,
        channel_type=channel_type.value,
        webhook_url=webhook_url,
        status="active",
        created_at=uow.clock.now(),
    )
    uow.session.add(channel)
    uow.session.flush()
    uow.audit(
        "channel.registered", "channel", channel.id, None, channel_no=channel_no, type=channel_type.value
    )
    return channel


def of_caller(uow: UnitOfWork, caller_id: str) -> Channel:
    channel = repository.by_caller(uow.session, caller_id)
    if channel is None:
        raise ChannelNotFound("the authenticated caller is not a channel")
    return channel

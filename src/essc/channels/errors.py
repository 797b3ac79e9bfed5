"""Errors of the channel registry and of a channel's standing on each request."""

from __future__ import annotations

from essc.kit.errors import Conflict, Forbidden, InvalidInput, NotFound


class ChannelNotFound(NotFound):
    code = "channel_not_found"
    title = "Channel not found"


class DuplicateChannel(Conflict):
    code = "duplicate_channel"
    title = "A channel with this channelNo is already registered"


class InvalidStatusTransition(Conflict):
    code = "invalid_channel_status_transition"
    title = "The channel cannot move from its status to the requested one"


class ChannelNotCertified(Conflict):
    code = "channel_not_certified"
    title = "The channel has no valid production certification"


class ParentChannelInvalid(InvalidInput):
    code = "parent_channel_invalid"
    title = "A second-level channel needs an active or registered first-level parent"


class SecondLevelHasNoKeys(InvalidInput):
    code = "second_level_has_no_keys"
    title = "A second-level channel reaches the platform through its parent and holds no keys"


class NotRelayedChannel(Forbidden):
    code = "not_relayed_channel"
    title = "The named channel is not a second-level channel of the caller"


class ChannelSuspended(Forbidden):
    code = "channel_suspended"
    title = "The channel is suspended"


class ChannelTerminated(Forbidden):
    code = "channel_terminated"
    title = "The channel was terminated"


class ChannelNotActive(Forbidden):
    code = "channel_not_active"
    title = "The channel is not active in this environment"


class KeyNotFound(NotFound):
    code = "channel_key_not_found"
    title = "The channel has no key with this key id"


# Why a channel's request cannot act (channels.service.acting_channel): every channel route may answer these.
ACTING_CHANNEL_REFUSALS = (
    ChannelNotFound,
    NotRelayedChannel,
    ChannelNotActive,
    ChannelSuspended,
    ChannelTerminated,
)

"""HTTP of the channel registry, for the ministry: registration, status, keys and certifications."""

from __future__ import annotations

from fastapi import status

from essc.access.errors import DuplicateCaller, PublicKeyInUse
from essc.channels import service
from essc.channels.errors import (
    ChannelNotCertified,
    ChannelNotFound,
    ChannelTerminated,
    DuplicateChannel,
    InvalidStatusTransition,
    KeyNotFound,
    ParentChannelInvalid,
    SecondLevelHasNoKeys,
)
from essc.channels.schemas import CertificationIn, ChannelIn, ChannelOut, ChannelStatusChange, KeyRotation
from essc.core.deps import MinistryUoW, requires
from essc.core.routing import api_router
from essc.kit.errors import InvalidInput, MalformedKey, NotFound
from essc.shared.policy import Party

router = api_router(prefix="/v1/ministry/channels", tags=["channels"])


@router.post(
    "",
    response_model=ChannelOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        requires(
            None,
            party=Party.MINISTRY,
            raises=(
                PublicKeyInUse,
                MalformedKey,
                DuplicateCaller,
                DuplicateChannel,
                InvalidInput,
                ParentChannelInvalid,
                SecondLevelHasNoKeys,
            ),
        )
    ],
)
async def register(body: ChannelIn, uow: MinistryUoW) -> ChannelOut:
    """Register a channel (status registered) with its sandbox and production keys."""
    channel = await uow.run(service.register_from_wire, body)
    return await uow.run(service.describe, channel)


@router.get("", response_model=list[ChannelOut], dependencies=[requires(None, party=Party.MINISTRY)])
async def list_channels(uow: MinistryUoW) -> list[ChannelOut]:
    return await uow.run(service.describe_all)


@router.get(
    "/{channel_no}",
    response_model=ChannelOut,
    dependencies=[requires(None, party=Party.MINISTRY, raises=(ChannelNotFound,))],
)
async def describe(channel_no: str, uow: MinistryUoW) -> ChannelOut:
    return await uow.run(service.describe, await uow.run(service.by_number, channel_no))


@router.put(
    "/{channel_no}/status",
    response_model=ChannelOut,
    dependencies=[
        requires(
            None,
            party=Party.MINISTRY,
            raises=(
                ChannelNotFound,
                ChannelNotCertified,
                InvalidStatusTransition,
                ParentChannelInvalid,
            ),
        )
    ],
)
async def set_status(channel_no: str, body: ChannelStatusChange, uow: MinistryUoW) -> ChannelOut:
    """Move the channel along registered → testing → certified → active ⇄ suspended, or terminate it."""
    channel = await uow.run(service.by_number, channel_no)
    channel = await uow.run(service.set_status, channel, service.ChannelStatus(body.status), body.reason)
    return await uow.run(service.describe, channel)


@router.post(
    "/{channel_no}/keys",
    response_model=ChannelOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        requires(
            None,
            party=Party.MINISTRY,
            raises=(
                PublicKeyInUse,
                MalformedKey,
                ChannelTerminated,
                KeyNotFound,
                ChannelNotFound,
                NotFound,
                DuplicateCaller,
                InvalidInput,
                SecondLevelHasNoKeys,
            ),
        )
    ],
)
async def add_key(channel_no: str, body: KeyRotation, uow: MinistryUoW) -> ChannelOut:
    """Add a key; with `replaces`, the old key keeps working until `oldKeyStopsAt` and is refused after."""
    channel = await uow.run(service.by_number, channel_no)
    await uow.run(
        service.add_key,
        channel,
        service.NewKey(body.key_id, body.public_key.encode(), body.environment),
        replaces=body.replaces,
        old_key_stops_at=body.old_key_stops_at,
    )
    return await uow.run(service.describe, channel)


@router.post(
    "/{channel_no}/keys/{key_id}/revocation",
    response_model=ChannelOut,
    dependencies=[
        requires(
            None,
            party=Party.MINISTRY,
            raises=(
                ChannelNotFound,
                NotFound,
            ),
        )
    ],
)
async def revoke_key(channel_no: str, key_id: str, uow: MinistryUoW) -> ChannelOut:
    """Revoke a key at once: requests signed with it and sessions it opened are refused from now on."""
    channel = await uow.run(service.by_number, channel_no)
    await uow.run(service.revoke_key, channel, key_id)
    return await uow.run(service.describe, channel)


@router.post(
    "/{channel_no}/certifications",
    response_model=ChannelOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        requires(
            None,
            party=Party.MINISTRY,
            raises=(
                ChannelNotFound,
                InvalidInput,
            ),
        )
    ],
)
async def certify(channel_no: str, body: CertificationIn, uow: MinistryUoW) -> ChannelOut:
    """Record a passed access test of a function (the conformance kit's report)."""
    channel = await uow.run(service.by_number, channel_no)
    await uow.run(
        service.record_certification,
        channel,
        body.function,
        body.environment,
        passed_at=body.passed_at,
        expires_at=body.expires_at,
        key_fingerprint=body.key_fingerprint,
        report_ref=body.report_ref,
    )
    return await uow.run(service.describe, channel)

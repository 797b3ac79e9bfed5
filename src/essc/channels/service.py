"""The channel registry: registration, keys per environment and their rotation, certifications, status."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from essc.access import repository as access_repository
from essc.access import service as access
from essc.access.models import Caller, CallerKey, KeyStatus
from essc.channels import repository
from essc.channels.errors import (
    ChannelNotActive,
    ChannelNotCertified,
    ChannelNotFound,
    ChannelSuspended,
    ChannelTerminated,
    DuplicateChannel,
    InvalidStatusTransition,
    KeyNotFound,
    NotRelayedChannel,
    ParentChannelInvalid,
    SecondLevelHasNoKeys,
)
from essc.channels.models import Channel, ChannelCertification
from essc.channels.schemas import CertificationOut, ChannelIn, ChannelOut, Contact, KeyOut
from essc.core.uow import UnitOfWork
from essc.kit import wire
from essc.kit.errors import Forbidden, InvalidInput
from essc.kit.ids import new_id
from essc.shared.callers import Environment
from essc.shared.policy import Function

__all__ = ["ChannelNotFound", "ChannelStatus", "ChannelType"]


class ChannelType(StrEnum):
    HRSS_APP = "hrss_app"
    GOVERNMENT_APP = "government_app"
    NATIONAL_PARTNER = "national_partner"
    BANK = "bank"
    MEDICAL = "medical"
    SOCIAL_SERVICE = "social_service"


class ChannelStatus(StrEnum):
    REGISTERED = "registered"
    TESTING = "testing"
    CERTIFIED = "certified"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


# registered → testing → certified → active ⇄ suspended; terminated from anywhere, and final.
TRANSITIONS: dict[ChannelStatus, frozenset[ChannelStatus]] = {
    ChannelStatus.REGISTERED: frozenset({ChannelStatus.TESTING, ChannelStatus.TERMINATED}),
    ChannelStatus.TESTING: frozenset({ChannelStatus.CERTIFIED, ChannelStatus.TERMINATED}),
    ChannelStatus.CERTIFIED: frozenset({ChannelStatus.ACTIVE, ChannelStatus.TERMINATED}),
    ChannelStatus.ACTIVE: frozenset({ChannelStatus.SUSPENDED, ChannelStatus.TERMINATED}),
    ChannelStatus.SUSPENDED: frozenset({ChannelStatus.ACTIVE, ChannelStatus.TERMINATED}),
    ChannelStatus.TERMINATED: frozenset(),
}
# Statuses in which a channel may call each environment: the sandbox is for the access tests.
SERVING = {
    Environment.SANDBOX.value: frozenset(
        {ChannelStatus.TESTING, ChannelStatus.CERTIFIED, ChannelStatus.ACTIVE}
    ),
    Environment.PRODUCTION.value: frozenset({ChannelStatus.ACTIVE}),
}
DEFAULT_OVERLAP = timedelta(days=7)


def next_status(current: ChannelStatus, target: ChannelStatus) -> ChannelStatus:
    """The status after a requested change, or the named refusal when the machine has no such edge."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none (final)"
        raise InvalidStatusTransition(
            f"a {current.value} channel cannot become {target.value}; allowed: {allowed}",
            current=current.value,
            requested=target.value,
        )
    return target


@dataclass(frozen=True, slots=True)
class NewKey:
    """A public key to register for one environment."""

    key_id: str
    public_key: bytes
    environment: Environment = Environment.PRODUCTION


def register(
    uow: UnitOfWork,
    channel_no: str,
    name: str,
    channel_type: ChannelType,
    *,
    public_key: bytes | None = None,
    key_id: str | None = None,
    webhook_url: str | None,
    organisation: str = "",
    level: int = 1,
    parent_no: str | None = None,
    contacts: Sequence[dict[str, str]] = (),
    keys: Sequence[NewKey] = (),
) -> Channel:
    """Register a channel (status registered) with its keys; a second-level one is attached to its parent."""
    if not wire.CALLER_REF_PATTERNS["channel"].match(channel_no):  # ASCII digits only, "²" is no digit
        raise InvalidInput(f"channelNo must be 10 digits, got {channel_no!r}", field="channelNo")
    if repository.by_number(uow.session, channel_no) is not None:
        raise DuplicateChannel(f"channel {channel_no} is already registered", field="channelNo")
    all_keys = list(keys)
    if public_key is not None:
        all_keys.insert(0, NewKey(key_id or "k1", public_key))
    parent = _parent(uow, level, parent_no)
    if parent is not None and all_keys:
        raise SecondLevelHasNoKeys(
            f"second-level channel {channel_no} signs nothing itself: its requests reach the platform "
            f"through its parent {parent.channel_no}'s keys",
            field="keys",
        )
    caller = access.register_caller(uow, "channel", channel_no, name)
    for key in all_keys:
        access.add_key(uow, caller, key.key_id, key.public_key, environment=key.environment)
    now = uow.clock.now()
    channel = Channel(
        id=caller.id,
        channel_no=channel_no,
        caller_id=caller.id,
        name=name,
        organisation=organisation,
        channel_type=channel_type.value,
        level=level,
        parent_id=parent.id if parent else None,
        contacts=[dict(c) for c in contacts],
        webhook_url=webhook_url,
        status=ChannelStatus.REGISTERED.value,
        status_reason=None,
        created_at=now,
        status_changed_at=now,
    )
    uow.session.add(channel)
    uow.session.flush()
    uow.audit(
        "channel.registered",
        "channel",
        channel.id,
        None,
        channel_no=channel_no,
        type=channel_type.value,
        level=level,
        parent=parent.channel_no if parent else None,
    )
    return channel


def _parent(uow: UnitOfWork, level: int, parent_no: str | None) -> Channel | None:
    if level not in (1, 2):
        raise InvalidInput(f"level must be 1 or 2, got {level}", field="level")
    if level == 1:
        if parent_no is not None:
            raise ParentChannelInvalid(
                "a first-level channel connects directly and has no parent", field="parent"
            )
        return None
    parent = repository.by_number(uow.session, parent_no) if parent_no else None
    if parent is None or parent.level != 1 or parent.status == ChannelStatus.TERMINATED:
        raise ParentChannelInvalid(
            f"a second-level channel needs a registered first-level parent; {parent_no!r} is not one",
            field="parent",
        )
    return parent


def by_number(uow: UnitOfWork, channel_no: str) -> Channel:
    channel = repository.by_number(uow.session, channel_no)
    if channel is None:
        raise ChannelNotFound(f"no channel {channel_no} is registered", field="channelNo")
    return channel


def parent_of(uow: UnitOfWork, channel: Channel) -> Channel | None:
    return repository.by_id(uow.session, channel.parent_id) if channel.parent_id else None


def all_channels(uow: UnitOfWork) -> list[Channel]:
    return repository.all_channels(uow.session)


def of_caller(uow: UnitOfWork, caller_id: str) -> Channel:
    channel = repository.by_caller(uow.session, caller_id)
    if channel is None:
        raise ChannelNotFound("the authenticated caller is not a channel")
    return channel


def acting_channel(uow: UnitOfWork, caller_id: str, on_behalf_of: str | None) -> Channel:
    """The channel a request acts for: the caller, or the second-level channel it relays for."""
    caller = of_caller(uow, caller_id)
    if on_behalf_of is None:
        return caller
    relayed = repository.by_number(uow.session, on_behalf_of)
    if relayed is None or relayed.parent_id != caller.id:
        raise NotRelayedChannel(
            f"channel {on_behalf_of} is not a second-level channel of {caller.channel_no}; a first-level "
            "channel relays only for its own second-level channels",
            channel=caller.channel_no,
            on_behalf_of=on_behalf_of,
        )
    # The relay itself must be serving: a suspended parent carries no traffic, its children's neither.
    refusal = serving_refusal(caller, uow.context.environment)
    if refusal is not None:
        raise refusal
    return relayed


def set_status(
    uow: UnitOfWork, channel: Channel, target: ChannelStatus, reason: str | None = None
) -> Channel:
    """Move a channel along its status machine; audited in this transaction, effective on the next request."""
    current = ChannelStatus(channel.status)
    next_status(current, target)
    if target in (ChannelStatus.CERTIFIED, ChannelStatus.ACTIVE) and current is not ChannelStatus.SUSPENDED:
        _ensure_may_go_live(uow, channel, target)
    now = uow.clock.now()
    channel.status, channel.status_reason, channel.status_changed_at = target.value, reason, now
    uow.session.flush()
    uow.audit(
        "channel.status_changed",
        "channel",
        channel.id,
        None,
        channel_no=channel.channel_no,
        previous=current.value,
        status=target.value,
        reason=reason,
    )
    if target is ChannelStatus.TERMINATED:
        # A second-level channel reaches the platform only through its parent: it cannot outlive it.
        for child in repository.children(uow.session, channel.id):
            if child.status != ChannelStatus.TERMINATED:
                set_status(uow, child, ChannelStatus.TERMINATED, f"parent {channel.channel_no} terminated")
    return channel


def _ensure_may_go_live(uow: UnitOfWork, channel: Channel, target: ChannelStatus) -> None:
    if channel.parent_id is not None:
        parent = repository.by_id(uow.session, channel.parent_id)
        if target is ChannelStatus.ACTIVE and (parent is None or parent.status != ChannelStatus.ACTIVE):
            raise ParentChannelInvalid(
                f"second-level channel {channel.channel_no} can be active only while its parent is active"
            )
        return
    if not certified_functions(uow, channel, Environment.PRODUCTION):
        raise ChannelNotCertified(
            f"channel {channel.channel_no} has no valid production certification (expired ones and ones made "
            "before its last key change do not count); it cannot become " + target.value,
            channel=channel.channel_no,
        )


def certified_functions(uow: UnitOfWork, channel: Channel, environment: Environment) -> list[Function]:
    return [f for f in Function if has_valid_certification(uow, channel, f, environment)]


def has_valid_certification(
    uow: UnitOfWork, channel: Channel, function: Function, environment: Environment
) -> bool:
    """A passed, unexpired certification made after the last key change, for a key still in use."""
    now = uow.clock.now()
    keys = [
        k for k in access_repository.keys_of(uow.session, channel.caller_id) if k.environment == environment
    ]
    usable = {_fingerprint(uow, k) for k in keys if _key_usable(k, now)}
    if not usable:
        return False
    last_change = max(_last_change(k, now) for k in keys)
    return any(
        cert.expires_at > now and cert.passed_at >= last_change and cert.key_fingerprint in usable
        for cert in repository.certifications(uow.session, channel.id, function.value, environment.value)
    )


def _key_usable(key: CallerKey, now: datetime) -> bool:
    return key.status == KeyStatus.ACTIVE and (key.not_after is None or key.not_after > now)


def _last_change(key: CallerKey, now: datetime) -> datetime:
    moments = [key.created_at]
    if key.revoked_at is not None:
        moments.append(key.revoked_at)
    if key.not_after is not None and key.not_after <= now:
        moments.append(key.not_after)
    return max(moments)


def _fingerprint(uow: UnitOfWork, key: CallerKey) -> str:
    return uow.platform.suite.load_public_key(key.public_key).fingerprint()


def record_certification(
    uow: UnitOfWork,
    channel: Channel,
    function: Function,
    environment: Environment,
    *,
    passed_at: datetime,
    expires_at: datetime,
    key_fingerprint: str,
    report_ref: str,
) -> ChannelCertification:
    """Record a passed access test of a function: the conformance kit's report or an operator's word."""
    if expires_at <= passed_at:
        raise InvalidInput("expiresAt must be after passedAt", field="expiresAt")
    row = ChannelCertification(
        id=new_id(),
        channel_id=channel.id,
        function=function.value,
        environment=environment.value,
        passed_at=passed_at,
        expires_at=expires_at,
        key_fingerprint=key_fingerprint,
        report_ref=report_ref,
        recorded_at=uow.clock.now(),
    )
    uow.session.add(row)
    uow.session.flush()
    uow.audit(
        "channel.certified",
        "channel",
        channel.id,
        None,
        channel_no=channel.channel_no,
        function=function.value,
        environment=environment.value,
        expires_at=expires_at.isoformat(),
        key_fingerprint=key_fingerprint,
        report=report_ref,
    )
    return row


def certifications(uow: UnitOfWork, channel: Channel) -> list[ChannelCertification]:
    return repository.certifications_of(uow.session, channel.id)


def keys(uow: UnitOfWork, channel: Channel) -> list[CallerKey]:
    return access_repository.keys_of(uow.session, channel.caller_id)


def add_key(
    uow: UnitOfWork,
    channel: Channel,
    new: NewKey,
    *,
    replaces: str | None = None,
    old_key_stops_at: datetime | None = None,
) -> CallerKey:
    """Add a key; when it replaces one, the old key keeps working until `old_key_stops_at` (the overlap)."""
    if channel.level != 1:
        raise SecondLevelHasNoKeys(f"second-level channel {channel.channel_no} holds no keys", field="keyId")
    if channel.status == ChannelStatus.TERMINATED:
        raise ChannelTerminated(f"channel {channel.channel_no} was terminated", channel=channel.channel_no)
    caller = _caller(uow, channel)
    old = None
    if replaces is not None:
        old = access_repository.caller_key(uow.session, caller.id, replaces)
        if old is None:
            raise KeyNotFound(f"channel {channel.channel_no} has no key {replaces!r}", field="replaces")
        if old.environment != new.environment.value:
            raise InvalidInput(
                f"key {replaces!r} is a {old.environment} key; "
                f"a {new.environment.value} key cannot replace it",
                field="replaces",
            )
    key = access.add_key(uow, caller, new.key_id, new.public_key, environment=new.environment)
    if old is not None:
        stops_at = old_key_stops_at or uow.clock.now() + DEFAULT_OVERLAP
        if stops_at <= uow.clock.now():
            raise InvalidInput("the old key's stop must be in the future; revoke it to stop it at once")
        access.schedule_key_stop(uow, caller, old.key_id, stops_at)
    return key


def revoke_key(uow: UnitOfWork, channel: Channel, key_id: str) -> None:
    """Revoke a key at once: the next request signed with it, and every session it opened, is refused."""
    access.revoke_key(uow, "channel", channel.channel_no, key_id)


def _caller(uow: UnitOfWork, channel: Channel) -> Caller:
    caller = access_repository.caller_by_ref(uow.session, "channel", channel.channel_no)
    assert caller is not None  # registered together with the channel
    return caller


def ensure_serving(channel: Channel, environment: str | None) -> None:
    """Raise the named reason unless the channel may serve requests in this environment right now."""
    refusal = serving_refusal(channel, environment)
    if refusal is not None:
        raise refusal


def serving_refusal(channel: Channel, environment: str | None) -> Forbidden | None:
    """Why the channel may not serve requests in this environment right now, or None when it may."""
    env = environment or Environment.PRODUCTION.value
    if channel.status in SERVING[env]:
        return None
    if channel.status == ChannelStatus.SUSPENDED:
        return ChannelSuspended(
            f"channel {channel.channel_no} is suspended"
            + (f": {channel.status_reason}" if channel.status_reason else ""),
            channel=channel.channel_no,
        )
    if channel.status == ChannelStatus.TERMINATED:
        return ChannelTerminated(f"channel {channel.channel_no} was terminated", channel=channel.channel_no)
    return ChannelNotActive(
        f"channel {channel.channel_no} is {channel.status}; in {env} it must be "
        + " or ".join(sorted(s.value for s in SERVING[env])),
        channel=channel.channel_no,
        environment=env,
    )


def commission(
    uow: UnitOfWork, channel: Channel, functions: Iterable[Function], *, attested_by: str, days: int = 365
) -> None:
    """Operator shortcut for demos, tests and benchmarks: certify functions on the current key, go active."""
    caller = _caller(uow, channel)
    now = uow.clock.now()
    production = [
        k
        for k in access_repository.keys_of(uow.session, caller.id)
        if k.environment == Environment.PRODUCTION and _key_usable(k, now)
    ]
    if channel.level == 1:
        if not production:
            raise ChannelNotCertified(f"channel {channel.channel_no} has no production key to certify")
        for function in functions:
            if has_valid_certification(uow, channel, function, Environment.PRODUCTION):
                continue
            record_certification(
                uow,
                channel,
                function,
                Environment.PRODUCTION,
                passed_at=now,
                expires_at=now + timedelta(days=days),
                key_fingerprint=_fingerprint(uow, production[-1]),
                report_ref=f"attested:{attested_by}",
            )
    for target in (ChannelStatus.TESTING, ChannelStatus.CERTIFIED, ChannelStatus.ACTIVE):
        if (
            ChannelStatus(channel.status) is not target
            and target in TRANSITIONS[ChannelStatus(channel.status)]
        ):
            set_status(uow, channel, target, f"commissioned by {attested_by}")


def key_status(key: CallerKey, now: datetime) -> str:
    if key.status != KeyStatus.ACTIVE:
        return key.status
    return "retired" if key.not_after is not None and key.not_after <= now else KeyStatus.ACTIVE


def describe_all(uow: UnitOfWork) -> list[ChannelOut]:
    """The registry entry of every channel."""
    return [describe(uow, channel) for channel in all_channels(uow)]


def describe(uow: UnitOfWork, channel: Channel) -> ChannelOut:
    """The registry entry of a channel: status, keys per environment, certifications."""
    now = uow.clock.now()
    parent = repository.by_id(uow.session, channel.parent_id) if channel.parent_id else None
    return ChannelOut(
        channel_no=channel.channel_no,
        name=channel.name,
        organisation=channel.organisation,
        channel_type=channel.channel_type,
        level=channel.level,
        parent_channel_no=parent.channel_no if parent else None,
        contacts=[Contact.model_validate(c) for c in channel.contacts or []],
        webhook_url=channel.webhook_url,
        status=channel.status,
        status_reason=channel.status_reason,
        created_at=channel.created_at,
        keys=[
            KeyOut(
                key_id=k.key_id,
                environment=k.environment,
                status=key_status(k, now),
                fingerprint=_fingerprint(uow, k),
                created_at=k.created_at,
                stops_at=k.not_after,
                revoked_at=k.revoked_at,
            )
            for k in keys(uow, channel)
        ],
        certifications=[
            CertificationOut(
                function=Function(c.function),
                environment=c.environment,
                passed_at=c.passed_at,
                expires_at=c.expires_at,
                key_fingerprint=c.key_fingerprint,
                report_ref=c.report_ref,
            )
            for c in certifications(uow, channel)
        ],
        certified_functions=certified_functions(uow, channel, Environment.PRODUCTION),
    )


def register_from_wire(uow: UnitOfWork, request: ChannelIn) -> Channel:
    """Register a channel from the ministry's request."""
    try:
        channel_type = ChannelType(request.channel_type)
    except ValueError:
        raise InvalidInput(
            f"channelType must be one of {', '.join(t.value for t in ChannelType)}", field="channelType"
        ) from None
    return register(
        uow,
        request.channel_no,
        request.name,
        channel_type,
        webhook_url=request.webhook_url,
        organisation=request.organisation,
        level=request.level,
        parent_no=request.parent_channel_no,
        contacts=[c.model_dump(by_alias=True, exclude_none=True) for c in request.contacts],
        keys=[NewKey(k.key_id, k.public_key.encode(), k.environment) for k in request.keys],
    )

"""Deny by default: the one place where a channel request for a holder of a province is authorised."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from essc.authorisations import repository
from essc.authorisations.errors import (
    FunctionDisabledInProvince,
    FunctionNotAuthorised,
    FunctionNotCertified,
    FunctionNotDeclared,
    FunctionSuspendedForChannel,
    GrantNotFound,
)
from essc.authorisations.models import ChannelGrant, GrantStatus, ProvinceBusinessItem
from essc.authorisations.repository import Standing
from essc.authorisations.schemas import BusinessItemOut, GrantOut
from essc.channels import service as channels
from essc.channels.errors import ChannelTerminated
from essc.channels.models import Channel
from essc.core.uow import UnitOfWork
from essc.kit.errors import Forbidden, InvalidInput
from essc.kit.ids import new_id
from essc.regions.data import province_codes
from essc.shared.callers import Environment
from essc.shared.policy import NATIONAL, Function

GRANT_STATUSES = tuple(status.value for status in GrantStatus)


def _scope(province: str) -> str:
    return "nationally" if province == NATIONAL else f"in province {province}"


class GrantFact(Protocol):
    """What the rule reads of a grant row: where it holds and whether it is active or suspended."""

    @property
    def province(self) -> str: ...

    @property
    def status(self) -> str: ...


def authorise(uow: UnitOfWork, channel: Channel, province: str) -> Function:
    """Authorise a channel request for a holder of `province`; returns the function it was allowed for.

    For requests that name no e-card (issuance): the standing is read here, in one statement. A request on
    a signNo reads it with the e-card instead (`ecards.service.authorise_sign_no`), then `authorise_standing`.
    """
    function = declared_function(uow)
    return authorise_standing(
        uow, channel, province, repository.standing(uow.session, channel.id, function.value, province)
    )


def authorise_standing(uow: UnitOfWork, channel: Channel, province: str, standing: Standing) -> Function:
    """Authorise on a standing already read: the route declared the function; `refusal` judges the rows."""
    function = declared_function(uow)
    found = refusal(
        channel,
        function,
        province,
        environment=uow.context.environment,
        grants=standing.grants,
        enabled=standing.enabled,
    )
    if found is not None:
        raise found
    return function


def declared_function(uow: UnitOfWork) -> Function:
    """The function the route declared (uow.context.function); a route that declared none is refused."""
    declared = uow.context.function
    if declared is None:
        raise FunctionNotDeclared(
            "this endpoint declares no function, so no channel may use it for a holder (deny by default)"
        )
    return Function(declared)


def refusal(
    channel: Channel,
    function: Function,
    province: str,
    *,
    environment: str | None,
    grants: Iterable[GrantFact],
    enabled: bool,
) -> Forbidden | None:
    """The one rule for a channel's function for holders of `province`: why it is refused, or None if allowed.

    The channel must serve in the environment (production: active), hold an active grant for the function in
    the province or nationally (`grants`: its rows of the function) with no suspension of it in either, and
    the province must have enabled the function (`enabled`: its business item; absent means disabled).
    """
    standing = channels.serving_refusal(channel, environment)
    if standing is not None:
        return standing
    facts = {"function": function.value, "province": province, "channel": channel.channel_no}
    relevant = [g for g in grants if g.province in (province, NATIONAL)]
    for grant in relevant:
        if grant.status == GrantStatus.SUSPENDED:
            return FunctionSuspendedForChannel(
                f"function {function.value} of channel {channel.channel_no} is suspended "
                f"{_scope(grant.province)}",
                **facts,
            )
    if not relevant:
        return FunctionNotAuthorised(
            f"channel {channel.channel_no} is not authorised for function {function.value} for "
            f"cardholders of province {province}; the province (or the ministry, nationally) grants it",
            **facts,
        )
    if not enabled:
        return FunctionDisabledInProvince(
            f"province {province} has not enabled business item {function.value} for its cardholders",
            **facts,
        )
    return None


def _check_province(province: str, *, national_allowed: bool) -> None:
    if province == NATIONAL and national_allowed:
        return
    if province not in province_codes():
        raise InvalidInput(f"{province!r} is not a GB/T 2260 province code", field="province")


def set_grant(
    uow: UnitOfWork, channel: Channel, province: str, function: Function, status: str, *, by: str
) -> ChannelGrant:
    """Authorise (active) or suspend a channel's function in a province ("00": nationally, the ministry)."""
    _check_province(province, national_allowed=True)
    if status not in GRANT_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(GRANT_STATUSES)}", field="status")
    if channel.status == channels.ChannelStatus.TERMINATED:
        raise ChannelTerminated(f"channel {channel.channel_no} was terminated", channel=channel.channel_no)
    if status == GrantStatus.ACTIVE and not _certified(uow, channel, function):
        raise FunctionNotCertified(
            f"channel {channel.channel_no} has no valid production certification for function "
            f"{function.value} (expired ones and ones made before its last key change do not count)",
            function=function.value,
            channel=channel.channel_no,
        )
    now = uow.clock.now()
    grant = repository.grant(uow.session, channel.id, function.value, province)
    previous = grant.status if grant else None
    if grant is None:
        # A suspension row without a grant is how a province suspends a national grant in its province.
        grant = ChannelGrant(
            id=new_id(),
            channel_id=channel.id,
            function=function.value,
            province=province,
            status=status,
            granted_by=by,
            granted_at=now,
            updated_at=now,
        )
        uow.session.add(grant)
    else:
        grant.status, grant.updated_at, grant.granted_by = status, now, by
    uow.session.flush()
    _audit_grant(
        uow, "channel.authorisation_set", channel, province, function, previous=previous, status=status
    )
    return grant


def _audit_grant(
    uow: UnitOfWork, action: str, channel: Channel, province: str, function: Function, **details: object
) -> None:
    """Audit a grant change in the province's stream, or the national one for a national grant."""
    uow.audit(
        action,
        "channel",
        channel.id,
        None if province == NATIONAL else province,
        channel_no=channel.channel_no,
        function=function.value,
        scope=province,
        **details,
    )


def _certified(uow: UnitOfWork, channel: Channel, function: Function) -> bool:
    if channel.parent_id is not None:
        # A second-level channel holds no keys; it is certified through its parent's connection.
        parent = channels.parent_of(uow, channel)
        return parent is not None and channels.has_valid_certification(
            uow, parent, function, Environment.PRODUCTION
        )
    return channels.has_valid_certification(uow, channel, function, Environment.PRODUCTION)


def revoke_grant(uow: UnitOfWork, channel: Channel, province: str, function: Function) -> None:
    """Withdraw an authorisation (or a suspension row); the next request is refused or judged anew."""
    grant = repository.grant(uow.session, channel.id, function.value, province)
    if grant is None:
        raise GrantNotFound(
            f"channel {channel.channel_no} has no authorisation for {function.value} {_scope(province)}"
        )
    uow.session.delete(grant)
    uow.session.flush()
    _audit_grant(uow, "channel.authorisation_revoked", channel, province, function)


def grants_of_channel(uow: UnitOfWork, channel: Channel) -> list[ChannelGrant]:
    return repository.grants_of_channel(uow.session, channel.id)


def set_business_item(
    uow: UnitOfWork, province: str, function: Function, enabled: bool, *, by: str
) -> ProvinceBusinessItem:
    """A province (department) enables or disables a function for its cardholders, for every channel."""
    _check_province(province, national_allowed=False)
    now = uow.clock.now()
    item = repository.business_item(uow.session, province, function.value)
    previous = item.enabled if item else None
    if item is None:
        item = ProvinceBusinessItem(
            province=province, function=function.value, enabled=enabled, updated_by=by, updated_at=now
        )
        uow.session.add(item)
    else:
        item.enabled, item.updated_by, item.updated_at = enabled, by, now
    uow.session.flush()
    uow.audit(
        "province.business_item_set",
        "province",
        province,
        province,
        function=function.value,
        previous=previous,
        enabled=enabled,
    )
    return item


def business_items(uow: UnitOfWork, province: str) -> dict[Function, bool]:
    """Every function with whether the province enabled it (absent rows are disabled: deny by default)."""
    _check_province(province, national_allowed=False)
    stored = {row.function: row.enabled for row in repository.business_items(uow.session, province)}
    return {f: stored.get(f.value, False) for f in Function}


def open_everywhere(
    uow: UnitOfWork, channel: Channel, functions: Iterable[Function], provinces: Iterable[str], *, by: str
) -> None:
    """Operator shortcut for demos, tests and benchmarks: national grants, and the provinces enable them."""
    wanted = list(functions)
    for function in wanted:
        set_grant(uow, channel, NATIONAL, function, GrantStatus.ACTIVE, by=by)
    for province in provinces:
        for function in wanted:
            item = repository.business_item(uow.session, province, function.value)
            if item is None or not item.enabled:
                set_business_item(uow, province, function, True, by=by)


def actor_label(uow: UnitOfWork) -> str:
    return f"{uow.context.actor.kind}/{uow.context.actor.id}"


def grant_view(grant: ChannelGrant, channel_no: str) -> GrantOut:
    return GrantOut(
        channel_no=channel_no,
        function=Function(grant.function),
        province=grant.province,
        status=grant.status,
        granted_by=grant.granted_by,
        updated_at=grant.updated_at,
    )


def revoked_view(channel: Channel, province: str, function: Function) -> GrantOut:
    return GrantOut(
        channel_no=channel.channel_no,
        function=function,
        province=province,
        status="revoked",
        granted_by=None,
        updated_at=None,
    )


def province_grants(uow: UnitOfWork, province: str) -> list[GrantOut]:
    """The authorisations a province made, and the ministry's national ones that also hold there."""
    rows = repository.grants_in_province(uow.session, province) + repository.grants_in_province(
        uow.session, NATIONAL
    )
    return [grant_view(grant, channel_no) for grant, channel_no in rows]


def channel_grants(uow: UnitOfWork, channel: Channel) -> list[GrantOut]:
    return [grant_view(g, channel.channel_no) for g in grants_of_channel(uow, channel)]


def business_item_views(uow: UnitOfWork, province: str) -> list[BusinessItemOut]:
    return [
        BusinessItemOut(province=province, function=f, enabled=e)
        for f, e in business_items(uow, province).items()
    ]

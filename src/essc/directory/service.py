"""The public list: per province, the channel apps and functions that `authorise` would let through now."""

from __future__ import annotations

from collections import defaultdict

from essc.authorisations.service import refusal
from essc.channels.models import Channel
from essc.core.uow import UnitOfWork
from essc.directory import repository
from essc.directory.errors import UnknownProvince
from essc.directory.schemas import ChannelAppOut, ChannelAppsOut, ProvinceChannelAppsOut
from essc.regions.data import load_regions
from essc.shared.callers import Environment
from essc.shared.policy import Function


def provinces() -> dict[str, str]:
    """Every province code with its name, in code order."""
    return {r.province: r.name for r in sorted(load_regions(), key=lambda r: r.code) if r.level == "province"}


def province_name(province: str) -> str:
    """The province's name, or the named refusal when the code is not a province."""
    name = provinces().get(province)
    if name is None:
        raise UnknownProvince(
            f"{province!r} is not a GB/T 2260 province code; use two digits such as 11 or 44 "
            "(GET /v1/regions lists them)",
            province=province,
        )
    return name


def channel_apps(uow: UnitOfWork, province: str) -> ProvinceChannelAppsOut:
    """The channel apps in force for the cardholders of one province."""
    name = province_name(province)
    return _lists(uow, {province: name})[0]


def all_channel_apps(uow: UnitOfWork) -> ChannelAppsOut:
    """The channel apps in force in every province (provinces without any are listed empty)."""
    return ChannelAppsOut(provinces=_lists(uow, provinces()))


def _lists(uow: UnitOfWork, names: dict[str, str]) -> list[ProvinceChannelAppsOut]:
    grouped: dict[tuple[str, str, str], list[repository.GrantRow]] = defaultdict(list)
    for row in repository.grant_rows(uow.session, list(names)):
        grouped[(row.holder_province, row.channel.id, row.function)].append(row)
    in_force: dict[str, dict[str, tuple[Channel, list[Function]]]] = defaultdict(dict)
    for (holder, _, function), rows in grouped.items():
        channel = rows[0].channel
        # Production: the public list is what the apps may do for real cardholders.
        verdict = refusal(
            channel,
            Function(function),
            holder,
            environment=Environment.PRODUCTION.value,
            grants=rows,
            enabled=rows[0].enabled,
        )
        if verdict is None:
            in_force[holder].setdefault(channel.channel_no, (channel, []))[1].append(Function(function))
    return [
        ProvinceChannelAppsOut(
            province=code,
            province_name=name,
            channel_apps=[
                _app(channel, functions) for _, (channel, functions) in sorted(in_force[code].items())
            ],
        )
        for code, name in names.items()
    ]


def _app(channel: Channel, functions: list[Function]) -> ChannelAppOut:
    return ChannelAppOut(
        channel_no=channel.channel_no,
        name=channel.name,
        organisation=channel.organisation,
        channel_type=channel.channel_type,
        level=channel.level,
        functions=sorted(functions),
    )

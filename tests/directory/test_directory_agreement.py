"""For any grants, suspensions, business items and channel statuses, the public list and `authorise` agree."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from essc.authorisations.models import ChannelGrant, ProvinceBusinessItem
from essc.authorisations.service import authorise
from essc.channels import service as channels
from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.directory import service as directory
from essc.kit.errors import EsscError
from essc.kit.ids import new_id
from essc.shared.callers import Environment
from essc.shared.policy import NATIONAL, Function
from factories import operator_uow

PROVINCES = ("44", "11")
FUNCTIONS = (Function.QR, Function.PAYMENT)
_numbers = itertools.count(4400900001)

grant_sets = st.dictionaries(
    st.tuples(st.sampled_from((*PROVINCES, NATIONAL)), st.sampled_from(FUNCTIONS)),
    st.sampled_from(("active", "active", "active", "suspended")),
    min_size=1,
    max_size=5,
)
channel_specs = st.lists(
    st.tuples(st.sampled_from(list(channels.ChannelStatus)), grant_sets), min_size=1, max_size=3
)
business_items = st.dictionaries(
    st.tuples(st.sampled_from(PROVINCES), st.sampled_from(FUNCTIONS)),
    st.sampled_from((True, True, False)),
    min_size=2,
)


def _authorised(platform: Platform, channel_no: str, function: Function, province: str) -> bool:
    context = RequestContext(
        actor=Actor(kind="channel", id=channel_no),
        function=function.value,
        environment=Environment.PRODUCTION.value,
    )
    with UnitOfWork(platform, context) as uow:
        try:
            authorise(uow, channels.by_number(uow, channel_no), province)
        except EsscError:
            return False
        return True


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=channel_specs, items=business_items)
@example(
    specs=[
        (channels.ChannelStatus.ACTIVE, {(NATIONAL, Function.QR): "active", ("11", Function.QR): "suspended"})
    ],
    items={("44", Function.QR): True, ("11", Function.QR): True},
)
def test_the_list_and_authorise_agree(
    platform: Platform,
    specs: list[tuple[channels.ChannelStatus, dict[tuple[str, Function], str]]],
    items: dict[tuple[str, Function], bool],
) -> None:
    numbers: list[str] = []
    with operator_uow(platform) as uow:
        uow.session.execute(delete(ProvinceBusinessItem))
        for (province, function), enabled in items.items():
            uow.session.add(
                ProvinceBusinessItem(
                    province=province,
                    function=function.value,
                    enabled=enabled,
                    updated_by="tests",
                    updated_at=uow.clock.now(),
                )
            )
        for status, grants in specs:
            number = str(next(_numbers))
            row = channels.register(uow, number, f"App {number}", channels.ChannelType.BANK, webhook_url=None)
            row.status = status.value  # every status, whether or not the registry's path led there
            for (province, function), grant_status in grants.items():
                uow.session.add(
                    ChannelGrant(
                        id=new_id(),
                        channel_id=row.id,
                        function=function.value,
                        province=province,
                        status=grant_status,
                        granted_by="tests",
                        granted_at=uow.clock.now(),
                        updated_at=uow.clock.now(),
                    )
                )
            numbers.append(number)
        uow.commit()

    with operator_uow(platform) as uow:
        listed = {
            (province, app.channel_no, function)
            for province in PROVINCES
            for app in directory.channel_apps(uow, province).channel_apps
            if app.channel_no in numbers
            for function in app.functions
        }
    expected = {
        (province, number, function)
        for province in PROVINCES
        for number in numbers
        for function in FUNCTIONS
        if _authorised(platform, number, function, province)
    }
    assert listed == expected

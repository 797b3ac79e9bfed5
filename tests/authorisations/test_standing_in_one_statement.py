"""The standing read with the e-card in one statement is judged exactly as the previous reads were.

Every combination of channel status, environment, grant in the holder's province, national grant, grant in
another province (which must not count) and business item (enabled, disabled, absent) is asked through
`authorise_sign_no` (one statement: e-card and standing), through `authorise` (issuance: the standing
alone), through `view_for_caller` and through `find_sign_no` for a caller acting for itself (one statement:
the channel, the e-card and the standing). Each answer must equal, refusal for refusal, what the previous
reads (the grants in the province and "00", then the business item) gave the same rule, and the code a model
written from the rules expects.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from essc.authorisations.models import ChannelGrant, ProvinceBusinessItem
from essc.authorisations.service import authorise, refusal
from essc.cardholders.models import Card, Person
from essc.channels import service as channels
from essc.channels.models import Channel
from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.ecards.models import Ecard, Issuance
from essc.ecards.service import (
    ChannelCaller,
    authorise_found,
    authorise_sign_no,
    find_sign_no,
    view_for_caller,
)
from essc.kit.errors import EsscError
from essc.kit.ids import new_id, random_code
from essc.shared.callers import Environment
from essc.shared.policy import NATIONAL, Function
from factories import holder, load, operator_uow, sent_statements

PROVINCE, ELSEWHERE = "44", "11"
GRANT_STATES = (None, "active", "suspended")
# The holder's province's business item of each function asked: enabled, disabled, absent.
ITEMS: dict[Function, bool | None] = {Function.QR: True, Function.PAYMENT: False, Function.LOGIN: None}
ENVIRONMENTS = (Environment.PRODUCTION.value, Environment.SANDBOX.value, None)
SERVING = {"production": {"active"}, "sandbox": {"testing", "certified", "active"}}
_numbers = itertools.count(4400700001)


@dataclass(frozen=True)
class Case:
    """One channel's standing: its status and its grant of every asked function in each scope."""

    status: channels.ChannelStatus
    in_province: str | None
    nationally: str | None
    elsewhere: str | None  # in another province: never counts for the holder's


CASES = [
    Case(*c) for c in itertools.product(channels.ChannelStatus, GRANT_STATES, GRANT_STATES, GRANT_STATES)
]


def expected_code(case: Case, function: Function, environment: str | None) -> str | None:
    """The oracle, written from the rules (ARCHITECTURE, Authorisation), not from the platform's code."""
    if case.status.value not in SERVING[environment or "production"]:
        named = {"suspended": "channel_suspended", "terminated": "channel_terminated"}
        return named.get(case.status.value, "channel_not_active")
    scopes = (case.in_province, case.nationally)
    if "suspended" in scopes:
        return "function_suspended"
    if "active" not in scopes:
        return "function_not_authorised"
    if not ITEMS[function]:
        return "function_disabled_in_province"
    return None


def previous_refusal(uow: UnitOfWork, channel: Channel, province: str) -> EsscError | None:
    """What `authorise` decided before: the grants in (province, "00") read, then the business item."""
    assert uow.context.function is not None
    function = Function(uow.context.function)
    grants = uow.session.execute(
        select(ChannelGrant).where(
            ChannelGrant.channel_id == channel.id,
            ChannelGrant.function == function.value,
            ChannelGrant.province.in_((province, NATIONAL)),
        )
    ).scalars()
    item = uow.session.get(ProvinceBusinessItem, (province, function.value))
    return refusal(
        channel,
        function,
        province,
        environment=uow.context.environment,
        grants=list(grants),
        enabled=item is not None and item.enabled,
    )


def raised(call: Callable[..., object], *args: object) -> EsscError | None:
    """The refusal `call(*args)` raised, or None."""
    try:
        call(*args)
    except EsscError as refused:
        return refused
    return None


def found_for_caller(uow: UnitOfWork, caller_id: str, sign_no: str) -> None:
    """A login's or busiSeq's path: the caller's channel and its signNo read together, then judged."""
    authorise_found(uow, find_sign_no(uow, ChannelCaller(caller_id), sign_no))


def shape(error: EsscError | None) -> tuple[Any, ...] | None:
    """All a caller sees of a refusal: its kind, code, detail and named facts."""
    return None if error is None else (type(error), error.code, error.detail, error.extensions)


def _grant(channel_id: str, function: Function, province: str, status: str, at: Any) -> ChannelGrant:
    return ChannelGrant(
        id=new_id(),
        channel_id=channel_id,
        function=function.value,
        province=province,
        status=status,
        granted_by="tests",
        granted_at=at,
        updated_at=at,
    )


def _scene(platform: Platform, cases: list[Case]) -> dict[Case, tuple[str, str]]:
    """A holder of the province issued in one channel per case; returns each case's (channelNo, signNo)."""
    load(platform, holder(PROVINCE))
    scene: dict[Case, tuple[str, str]] = {}
    with operator_uow(platform) as uow:
        now, session = uow.clock.now(), uow.session
        person = session.execute(select(Person)).scalar_one()
        card = session.execute(select(Card)).scalar_one()
        ecard = Ecard(
            province=PROVINCE,
            id=new_id(),
            essc_no=random_code(20),
            person_id=person.id,
            card_id=card.id,
            issued_at=now,
            updated_at=now,
        )
        session.add(ecard)
        # Business items the query must not mistake for the holder's: another province's, another function's.
        items = [(PROVINCE, f, enabled) for f, enabled in ITEMS.items() if enabled is not None]
        items += [(ELSEWHERE, Function.LOGIN, True), (ELSEWHERE, Function.PAYMENT, True)]
        items += [(PROVINCE, Function.ISSUANCE, True)]
        for province, function, enabled in items:
            session.add(
                ProvinceBusinessItem(
                    province=province,
                    function=function.value,
                    enabled=enabled,
                    updated_by="tests",
                    updated_at=now,
                )
            )
        for case in cases:
            number = str(next(_numbers))
            row = channels.register(uow, number, f"App {number}", channels.ChannelType.BANK, webhook_url=None)
            row.status = case.status.value  # every status, whether or not the registry's path led there
            sign_no = random_code(24)
            session.add(
                Issuance(
                    province=PROVINCE,
                    id=new_id(),
                    ecard_id=ecard.id,
                    channel_id=row.id,
                    sign_no=sign_no,
                    sign_level=1,
                    status="active",
                    issued_at=now,
                    level2_at=None,
                    unlinked_at=None,
                )
            )
            # National first: the previous read had no ORDER BY, so the rows come back in index order on
            # SQLite and may come in insertion order on PostgreSQL; both name the national suspension first.
            scopes = ((NATIONAL, case.nationally), (PROVINCE, case.in_province), (ELSEWHERE, case.elsewhere))
            for function in ITEMS:
                for scope, status in scopes:
                    if status is not None:
                        session.add(_grant(row.id, function, scope, status, now))
            # A grant of another function, in force everywhere: it must not stand in for the asked one.
            for scope in (PROVINCE, NATIONAL):
                session.add(_grant(row.id, Function.ISSUANCE, scope, "active", now))
            scene[case] = (number, sign_no)
        uow.commit()
    return scene


def _uow(platform: Platform, number: str, function: Function | None, environment: str | None) -> UnitOfWork:
    context = RequestContext(
        actor=Actor(kind="channel", id=number),
        function=function.value if function else None,
        environment=environment,
    )
    return UnitOfWork(platform, context)


def test_one_statement_judges_every_combination_as_the_previous_reads(platform: Platform) -> None:
    scene = _scene(platform, CASES)
    disagreements = []
    for (case, (number, sign_no)), function, environment in itertools.product(
        scene.items(), ITEMS, ENVIRONMENTS
    ):
        with _uow(platform, number, function, environment) as uow:
            channel = channels.by_number(uow, number)
            before = shape(previous_refusal(uow, channel, PROVINCE))
            with sent_statements(platform) as sent:
                on_sign_no = shape(raised(authorise_sign_no, uow, channel, sign_no))
            found_in = len(sent)
            with sent_statements(platform) as sent:
                on_issuance = shape(raised(authorise, uow, channel, PROVINCE))
            standing_in = len(sent)
            # A GET by the channel itself: the channel, the view's columns and the standing in one statement
            with sent_statements(platform) as sent:
                on_view = shape(raised(view_for_caller, uow, channel.caller_id, None, sign_no))
            viewed_in = len(sent)
            with sent_statements(platform) as sent:
                on_found = shape(raised(found_for_caller, uow, channel.caller_id, sign_no))
            found_for_caller_in = len(sent)
        expected = expected_code(case, function, environment)
        answers = (before, on_sign_no, on_issuance, on_view, on_found)
        counts = (found_in, standing_in, viewed_in, found_for_caller_in)
        if (
            on_sign_no != before
            or on_issuance != before
            or on_view != before
            or on_found != before
            or (before[1] if before else None) != expected
            or counts != (1, 1, 1, 1)
        ):
            disagreements.append((case, function, environment, expected, answers, counts))
    assert len(scene) == 6 * 3 * 3 * 3
    assert not disagreements, disagreements[:5]


def test_an_unknown_sign_no_is_refused_as_such_before_any_standing(platform: Platform) -> None:
    suspended = Case(channels.ChannelStatus.SUSPENDED, None, None, None)
    other = Case(channels.ChannelStatus.ACTIVE, "active", None, None)
    scene = _scene(platform, [suspended, other])
    number, _ = scene[suspended]
    for sign_no in ("NOT-A-SIGN-NO", scene[other][1]):  # unknown, and another channel's
        for function in (Function.QR, None):
            with _uow(platform, number, function, None) as uow:
                channel = channels.by_number(uow, number)
                with sent_statements(platform) as sent:
                    error = raised(authorise_sign_no, uow, channel, sign_no)
                with sent_statements(platform) as viewing:
                    on_view = raised(view_for_caller, uow, channel.caller_id, None, sign_no)
                with sent_statements(platform) as finding:
                    on_found = raised(found_for_caller, uow, channel.caller_id, sign_no)
            assert error is not None
            assert error.code == "sign_no_not_found"
            assert shape(on_view) == shape(error)
            assert shape(on_found) == shape(error)
            assert (len(sent), len(viewing), len(finding)) == (1, 1, 1)


def test_a_route_that_declares_no_function_is_refused_once_the_sign_no_is_found(platform: Platform) -> None:
    case = Case(channels.ChannelStatus.ACTIVE, "active", "active", None)
    number, sign_no = _scene(platform, [case])[case]
    with _uow(platform, number, None, None) as uow:
        channel = channels.by_number(uow, number)
        error = raised(authorise_sign_no, uow, channel, sign_no)
    assert error is not None
    assert error.code == "function_not_declared"


def test_the_rows_read_with_the_caller_s_channel_are_those_authorise_sign_no_loads(
    platform: Platform,
) -> None:
    case = Case(channels.ChannelStatus.ACTIVE, "active", None, None)
    number, sign_no = _scene(platform, [case])[case]
    with _uow(platform, number, Function.QR, None) as uow:
        channel = channels.by_number(uow, number)
        issuance, ecard, _person, card = authorise_sign_no(uow, channel, sign_no)
        found = find_sign_no(uow, ChannelCaller(channel.caller_id), sign_no)
        read_issuance, read_ecard, read_card = authorise_found(uow, found)
        columns = ("province", "id", "ecard_id", "channel_id", "sign_no", "sign_level", "status", "issued_at")
        assert [getattr(read_issuance, c) for c in columns] == [getattr(issuance, c) for c in columns]
        assert (read_ecard.province, read_ecard.id) == (ecard.province, ecard.id)
        assert (read_card.status, read_card.aab301, read_card.aaz500) == (
            card.status,
            card.aab301,
            card.aaz500,
        )
        assert (found.channel.id, found.channel.channel_no) == (channel.id, channel.channel_no)
        assert read_issuance not in uow.session  # read, not loaded: no change to it could be flushed


def test_a_caller_that_is_no_channel_is_refused_as_acting_channel_refuses_it(platform: Platform) -> None:
    with _uow(platform, "4400799999", Function.QR, None) as uow:
        error = raised(find_sign_no, uow, ChannelCaller("no-such-caller"), "ANY-SIGN-NO")
        before = raised(channels.acting_channel, uow, "no-such-caller", None)
    assert error is not None
    assert shape(error) == shape(before)
    assert error.code == "channel_not_found"
